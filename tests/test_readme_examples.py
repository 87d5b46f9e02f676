"""Every command in the README's code blocks is accounted for: run here against a tiny lab model built in the
test (the offline examples that use runs/roadmap/lab-model, and other cheap ones), run by a named test, run by
`make demo`, or listed with the reason it cannot run offline in a test (a network, a GPU, a long run). A
README command in none of these lists fails the test, so a new example must come with a way to check it."""

import io
import re
import shlex
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
LAB = "runs/roadmap/lab-model"

# executed below, with runs/roadmap/lab-model replaced by a tiny lab model built by the lab model's own recipe
RUN_HERE = {
    "llmlab chat repl --model runs/roadmap/lab-model --session notes",
    "llmlab agents run 'What is 12 + 30?' --model runs/roadmap/lab-model --tools calculator",
    "llmlab agents run 'What is my locker code?' --model runs/roadmap/lab-model --tools memory --memory ada",
    "llmlab cot run --model runs/roadmap/lab-model --n 5",
    "llmlab icl run --model runs/roadmap/lab-model --n 5",
    "llmlab rag ask 'How do I leave a loop early?' --model runs/roadmap/lab-model",
    "llmlab chat list",
}
# run (with smaller settings or a tiny model) by these tests: the file, or file::test
BY_TEST = {
    "llmlab finetune sft --model tiny --data toy":
        "tests/test_finetune_posttrain.py::test_sft_then_dpo_then_grpo_through_the_cli",
    "llmlab finetune grpo --model runs/finetune/sft/model --data toy":
        "tests/test_finetune_posttrain.py::test_sft_then_dpo_then_grpo_through_the_cli",
    "llmlab dashboard": "tests/test_dashboard.py::test_the_dashboard_loads_in_a_browser",
    "llmlab data info python-docs": "tests/test_cli.py::test_data_info_json_offline",
    "llmlab transformer check": "tests/test_numpy_transformer_layers.py",
    "llmlab transformer train --preset shakespeare-char":
        "tests/test_numpy_transformer_train.py::test_cli_train_then_sample",
    "llmlab transformer sample --model runs/transformer/shakespeare-char/model --prompt ROMEO:":
        "tests/test_numpy_transformer_train.py::test_cli_train_then_sample",
    "llmlab tokenizer train --corpus python-docs --vocab-size 4096 --out runs/tokenizer/docs":
        "tests/test_tokenizer_cli.py",
    "llmlab tokenizer viz -t runs/tokenizer/docs 'def naïve(x):  return x  # 😀'":
        "tests/test_tokenizer_cli.py::test_encode_decode_viz_commands",
    "llmlab charlm compare-models --corpus python-docs --max-time 60": "tests/test_charlm.py",
    "llmlab finetune compare --model tiny --preset tiny --max-steps 200": "tests/test_finetune_train.py",
    "llmlab finetune parity": "tests/test_finetune_lora.py",
    "llmlab chat ui --model runs/roadmap/lab-model --quantize int8": "tests/test_chat_ui.py",
    "llmlab chat quantize --eval runs/roadmap/lab-model":
        "tests/test_chat_quant_eval.py::test_eval_command_table_sizes_and_repeatability",
    "llmlab rag index --corpus python-docs": "tests/test_rag_cli.py::test_index_search_eval_ask_summarize",
    "llmlab rag search 'how do I leave a loop early?' -k 5":
        "tests/test_rag_cli.py::test_index_search_eval_ask_summarize",
    "llmlab rag eval": "tests/test_rag_cli.py::test_index_search_eval_ask_summarize",
    "llmlab rag eval --eval-set test": "tests/test_rag_cli.py::test_eval_on_the_held_out_test_questions",
    "llmlab tokenizer train --corpus python-stdlib --vocab-size 8192 --out runs/tokenizer/stdlib-8k":
        "tests/test_tokenizer_cli.py",
    "llmlab data prepare --corpus python-stdlib --tokenizer runs/tokenizer/stdlib-8k --out data/stdlib":
        "tests/test_data_pipeline.py::test_prepare_cli_json",
    "llmlab pretrain train --preset gpt2-tiny --data data/stdlib --out runs/pretrain/tiny --max-time 60":
        "tests/test_pretrain.py",
    "llmlab serve --model runs/roadmap/lab-model --port 8000":
        "tests/test_serve_cli.py::test_llmlab_serve_runs_answers_and_shuts_down_gracefully",
    "LLMLAB_API_KEY=s3cret llmlab serve --model runs/roadmap/lab-model --host 0.0.0.0 --port 8000":
        "tests/test_serve_api.py::test_api_key",
    "llmlab bench serve --url http://127.0.0.1:8000 --num-prompts 200 --request-rate 20 --max-concurrency 64":
        "tests/test_serve_cli.py::test_bench_serve_starts_a_server_measures_it_and_writes_the_run",
    "llmlab agents train-toy --out runs/agents/toy": "tests/test_agents_toy.py",
    "llmlab cot train": "tests/test_experiments_train.py",
    "llmlab icl train": "tests/test_experiments_train.py",
    "llmlab roadmap --only transformer,charlm": "tests/test_roadmap.py",
    "llmlab attention emergence --seeds 3": "tests/test_attention_emergence.py",
    "make test": "tests/",
}
BY_DEMO = {"make demo", "llmlab roadmap --quick"}
CANNOT = {
    "llmlab finetune demo --seeds 0,1,2": "a long run (three seeds of SFT, DPO and GRPO: about 20 minutes)",
    "make container-test": "builds and runs a container image for minutes; .ci/run runs it after make test",
    "llmlab charlm train --arch transformer --corpus tinyshakespeare --max-time 120 --out runs/charlm/gpt":
        "downloads tinyshakespeare",
    "llmlab charlm compare-decoding --model runs/charlm/gpt --prompt ROMEO:":
        "needs the tinyshakespeare model above",
    "llmlab finetune train --model gpt2 --corpus python-docs --method lora --out runs/finetune/lora":
        "Hub model",
    "llmlab chat ui --model hf:TinyLlama/TinyLlama-1.1B-Chat-v1.0 --quantize int8": "Hub model",
    "llmlab chat repl --model gguf:tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf --session notes":
        "downloaded GGUF file",
    "llmlab chat quantize --model hf:gpt2 --json": "Hub model",
    "llmlab attention show --model gpt2 --text 'When Mary and John went to the store, John gave a drink to "
    "Mary'":
        "Hub model",
    "llmlab attention heads --model gpt2 --json": "Hub model",
    "llmlab attention compare --model gpt2 --text 'def add(a, b): return a + b' --text 'Once upon a time'":
        "Hub model",
    "llmlab attention patch --model gpt2": "Hub model",
    "llmlab rag ask 'How do I leave a loop early?' --model hf:TinyLlama/TinyLlama-1.1B-Chat-v1.0":
        "Hub model",
    "llmlab pretrain bench --preset gpt2-124m --batch-size 64 --json": "a GPU",
    "MODEL_DIR=$PWD/runs/roadmap/lab-model docker compose up": "Docker and a GPU",
    "llmlab agents run 'What is 4821 * 377?' --model openai:http://127.0.0.1:8000/v1 --tools "
    "calculator,clock":
        "a running server",
    "llmlab cot run --model hf:Qwen/Qwen2.5-0.5B-Instruct --chat --n 50": "Hub model",
    "llmlab icl run --model hf:Qwen/Qwen2.5-0.5B-Instruct --chat --shots 0,1,2,4,8": "Hub model",
    "llmlab roadmap --full": "the long runs (tens of minutes)",
}


def readme_commands() -> list[str]:
    """Each command line of the README's bash blocks, comments dropped, quoted the same way every time."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(" ".join(f"'{w}'" if " " in w else w for w in words))
    return commands


def test_every_readme_command_is_checked_somewhere():
    lists = {"run here": RUN_HERE, "by a test": set(BY_TEST), "by make demo": BY_DEMO, "cannot": set(CANNOT)}
    for command in readme_commands():
        where = [name for name, commands in lists.items() if command in commands]
        assert len(where) == 1, f"README command {command!r} is in {where or 'no list'}: add it to one"
    for command, target in BY_TEST.items():
        path, _, name = target.partition("::")
        assert (README.parent / path).exists(), f"{command!r} is said to be run by {path}, which is missing"
        if name:
            source = (README.parent / path).read_text(encoding="utf-8")
            assert f"def {name}(" in source, f"{target} is missing"
    # the lists hold no stale entries
    assert set(readme_commands()) == set().union(*lists.values())


def test_offline_examples_name_the_lab_model():
    # a model made by an earlier command of the same block, or a preset name, is not the lab model
    own = {c for c in BY_TEST if "runs/transformer/" in c or "runs/finetune/sft/" in c or "--model tiny" in c}
    offline = [c for c in readme_commands() if "--model" in c and c not in CANNOT and c not in own]
    assert len(offline) >= 6 and all(LAB in c for c in offline), [c for c in offline if LAB not in c]


@pytest.fixture(scope="module")
def lab_model(tmp_path_factory):
    """A lab model made by the real recipe, shrunk: a 300-token BPE, one layer, 5 drill and 20 dialogue steps;
    same window."""
    import torch
    from transformers import AutoModelForCausalLM

    from llmlab.chat.lab_model import LabModelConfig, build_lab_model

    out = tmp_path_factory.mktemp("lab-model")
    build_lab_model(out, LabModelConfig(vocab_size=300, n_layer=1, n_head=2, n_embd=32, block_size=96,
                                        batch_size=4, drill_steps=5, max_steps=20, corpus_chars=20_000))
    # every answer then ends at once with EOS: with the layers' outputs zeroed the last hidden state is the
    # current token's embedding, and every embedding points the same way, EOS's ten times longer (the
    # unembedding is the same matrix). What is checked is that each command takes the model with its default
    # lengths, not 256 tokens of decoding per call
    model = AutoModelForCausalLM.from_pretrained(str(out))
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embeddings = model.model.embed_tokens.weight
        embeddings.fill_(1.0)
        embeddings[model.config.eos_token_id] *= 10
    model.save_pretrained(str(out))
    return out


@pytest.fixture(scope="module")
def rag_index(tmp_path_factory):
    """`llmlab rag index` on three small documents (the README's index is the whole of python-docs)."""
    from llmlab.cli import main

    docs = tmp_path_factory.mktemp("docs")
    (docs / "loops.txt").write_text("Loops\n\nThe break statement leaves the nearest enclosing loop at once.")
    (docs / "files.txt").write_text("Files\n\nUse open() to read a file, and a with statement to close it.")
    out = tmp_path_factory.mktemp("index")
    assert main(["rag", "index", "--corpus", str(docs), "--out", str(out)]) == 0
    return out


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(RUN_HERE))
def test_offline_example_runs(command, lab_model, rag_index, runs_dir, monkeypatch, capsys):
    from llmlab.cli import main

    args = shlex.split(command.replace(LAB, str(lab_model)))[1:]
    if args[:2] == ["rag", "ask"]:
        args += ["--index", str(rag_index)]
    monkeypatch.setattr("sys.stdin", io.StringIO("My locker code is 4821.\n/quit\n"))
    assert main(args) == 0, capsys.readouterr().err
    assert "error" not in capsys.readouterr().err.lower()
