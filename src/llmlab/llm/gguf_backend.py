"""`gguf:<file>` — a GGUF model (llama.cpp's format, usually already quantised: Q4_K_M, Q8_0, ...).

    llm = load_llm("gguf:tinyllama-1.1b-chat.Q4_K_M.gguf", n_ctx=2048, n_gpu_layers=0)     # llama.cpp
    llm = load_llm("gguf:tiny.Q8_0.gguf", runtime="transformers")      # no llama.cpp: transformers reads the
    file

runtime "llama.cpp" (default) runs the file in llama.cpp through llama-cpp-python, an optional install
(`pip install 'llmlab[gguf]'`; it compiles llama.cpp, which takes minutes): llama.cpp tokenises, samples
(temperature, top-k, top-p, repetition penalty, seed) and runs the quantised kernels; this class only turns
its token stream into llmlab's Deltas with the same stop rules as every other backend. The chat template is
the one stored in the file (`tokenizer.chat_template`), rendered with jinja2 as transformers renders it.
runtime "transformers" loads the file with `from_pretrained(gguf_file=...)` (the weights are dequantised to
float) and decodes with llmlab.generation, as the hf backend does.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator, Sequence
from pathlib import Path

from llmlab.errors import LabError
from llmlab.generation import SamplingParams, StopChecker, eos_token_ids
from llmlab.llm.base import Delta
from llmlab.llm.local import TokenizerLLM, text_deltas

RUNTIMES = ("llama.cpp", "transformers")
INSTALL_HINT = ("pip install llama-cpp-python (or pip install 'llmlab[gguf]'; it compiles llama.cpp for a "
                "few "
                "minutes), or load the file without llama.cpp: load_llm('gguf:FILE', "
                "runtime='transformers'), "
                "--opt runtime=transformers on llmlab chat")


class LlamaCppTokenizer:
    """The slice of a Hugging Face tokenizer that TokenizerLLM and render_chat use, on llama.cpp's
    tokenizer."""

    def __init__(self, llama):
        self.llama = llama
        meta = getattr(llama, "metadata", None) or {}
        self.chat_template = meta.get("tokenizer.chat_template")
        self.eos_token_id = llama.token_eos()
        self.bos_token_id = llama.token_bos()
        self.add_bos = str(meta.get("tokenizer.ggml.add_bos_token", "true")).lower() != "false"

    def _text(self, token: int) -> str:
        if token is None or token < 0:
            return ""
        return self.llama.detokenize([token], special=True).decode("utf-8", errors="replace")

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        # special=True: a chat template's "<|user|>" or "</s>" text becomes the one special token it names
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=add_special_tokens and self.add_bos,
                                        special=True))

    def decode(self, ids: Sequence[int]) -> str:
        return self.llama.detokenize(list(ids)).decode("utf-8", errors="replace")

    def apply_chat_template(self, messages, tokenize: bool = False,
                            add_generation_prompt: bool = True) -> str:
        from jinja2.exceptions import TemplateError
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        def raise_exception(message):
            raise TemplateError(message)

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = raise_exception
        return env.from_string(self.chat_template).render(
            messages=messages, add_generation_prompt=add_generation_prompt,
            bos_token=self._text(self.bos_token_id), eos_token=self._text(self.eos_token_id))


class GGUFLLM(TokenizerLLM):
    def __init__(self, target: str, runtime: str = "llama.cpp", n_ctx: int = 0, n_threads: int | None = None,
                 n_gpu_layers: int = 0, verbose: bool = False, **options):
        path = Path(target).expanduser()
        if not path.is_file():
            raise LabError(f"no GGUF file {target!r}",
                           hint="give the path of a .gguf file (e.g. one of TheBloke's TinyLlama-1.1B-Chat "
                                "files, or one written by llmlab chat export-gguf)")
        if runtime not in RUNTIMES:
            raise LabError(f"unknown GGUF runtime {runtime!r}", hint=f"use one of {', '.join(RUNTIMES)}")
        self.name, self.runtime, self._hf = f"gguf:{target}", runtime, None
        if runtime == "transformers":
            self._load_transformers(path, **options)
            return
        try:
            from llama_cpp import Llama
        except ImportError:
            raise LabError("the gguf: backend runs llama.cpp through llama-cpp-python, which is not "
                           "installed",
                           hint=INSTALL_HINT) from None
        # n_ctx 0 = the model's trained context length
        self.llama = Llama(model_path=str(path), n_ctx=int(n_ctx), n_threads=n_threads,
                           n_gpu_layers=int(n_gpu_layers), verbose=verbose, **options)
        self.tokenizer = LlamaCppTokenizer(self.llama)

    def _load_transformers(self, path: Path, device: str = "cpu", **options) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from llmlab.llm.hf_backend import HFLLM

        try:
            model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, **options)
            tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        except ImportError as exc:
            raise LabError(f"transformers cannot read GGUF here: {exc}", hint="pip install gguf") from None
        except (ValueError, OSError) as exc:
            raise LabError(f"transformers cannot load {path.name}: {str(exc).splitlines()[0]}",
                           hint="runtime=llama.cpp reads every GGUF llama.cpp writes") from None
        self._hf = HFLLM.from_model(model.to(device), tokenizer, name=self.name)
        self.model, self.tokenizer = self._hf.model, tokenizer

    @property
    def context_window(self) -> int:
        return self._hf.context_window if self._hf is not None else int(self.llama.n_ctx())

    def _generate_ids(self, prompt_ids: list[int], params: SamplingParams) -> Iterator[Delta]:
        if self._hf is not None:
            yield from self._hf._generate_ids(prompt_ids, params)
            return
        llama = self.llama
        if params.seed is not None:
            llama.set_seed(int(params.seed))
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")   # a character may span two tokens
        tokens = llama.generate(prompt_ids, top_k=params.top_k, top_p=params.top_p, min_p=0.0,
                                temp=params.temperature, repeat_penalty=params.repetition_penalty, reset=True)
        checker = StopChecker(params, eos_token_ids(self.tokenizer),
                              piece=lambda tok: utf8.decode(llama.detokenize([tok])),
                              flush=lambda: utf8.decode(b"", final=True))
        yield from text_deltas(tokens, checker, len(prompt_ids))

    def close(self) -> None:
        if getattr(self, "llama", None) is not None and hasattr(self.llama, "close"):
            self.llama.close()
