"""`llmlab learn run transformer --mine`: llmlab's own pieces copied into the workspace reproduce the
reference losses exactly; a piece that does not pass falls back to llmlab's, and the output says so."""

from llmlab.cli import main
from llmlab.learn.catalog import project
from llmlab.learn.check import check_project
from llmlab.learn.mine_transformer import run_transformer


def _solve(root, skip=()):
    proj = project("transformer")
    main(["learn", "start", "transformer", "--dir", str(root)])
    for ex in proj.exercises:
        if ex.name not in skip:
            (root / "transformer" / ex.stub).write_text(proj.solved_text(ex))


def test_llmlabs_pieces_in_the_workspace_reproduce_the_reference_losses_exactly(tmp_path):
    _solve(tmp_path)
    _, modules = check_project(tmp_path, project("transformer"))
    assert sorted(modules) == sorted(ex.name for ex in project("transformer").exercises)
    result = run_transformer(tmp_path / "transformer", modules, steps=8, log=lambda m: None)
    assert len(result["reference"]) == 8 and result["identical"]
    assert result["reference"][-1] < result["reference"][0]


def test_the_learners_pieces_are_the_ones_that_run(tmp_path):
    """A passing LayerNorm of the learner's that counts its calls: the run must call it."""
    _solve(tmp_path)
    path = tmp_path / "transformer" / "layernorm.py"
    path.write_text(path.read_text() + "\n\nCALLS = []\n_forward = LayerNorm.forward\n\n\n"
                    "def _counted(self, x):\n    CALLS.append(1)\n    return _forward(self, x)\n\n\n"
                    "LayerNorm.forward = _counted\n")
    _, modules = check_project(tmp_path, project("transformer"), "layernorm")
    modules["layernorm"].CALLS.clear()
    run_transformer(tmp_path / "transformer", modules, steps=2, log=lambda m: None)
    assert len(modules["layernorm"].CALLS) > 0


def test_a_stubbed_piece_falls_back_and_says_so(tmp_path, capsys):
    _solve(tmp_path, skip=("gelu",))
    assert main(["learn", "run", "transformer", "--mine", "--steps", "4", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "llmlab’s  gelu" in out and "yours     layernorm" in out
    assert "identical" in out     # llmlab's GELU + llmlab's code copied for the rest: still the same run
    assert "run --mine (4 steps; mine: adamw, attention, cross_entropy, kv_cache, layernorm, softmax)" in \
        (tmp_path / "PROGRESS.md").read_text()


def test_bpe_run_mine_with_llmlabs_pieces_gives_the_same_merges_and_ids(tmp_path, capsys):
    proj = project("tokenizer")
    main(["learn", "start", "bpe", "--dir", str(tmp_path)])
    for ex in proj.exercises:
        if ex.name != "decode":
            (tmp_path / "tokenizer" / ex.stub).write_text(proj.solved_text(ex))
    assert main(["learn", "run", "bpe", "--mine", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "llmlab’s  decode" in out and "yours     train" in out
    assert "same merges: True; same ids: True" in out
    assert "identical merges and ids" in (tmp_path / "PROGRESS.md").read_text()
