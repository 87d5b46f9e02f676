"""Test-wide settings: offline, CPU, no progress bars, and GPU tests skipped without a GPU."""

import os

import pytest
from hypothesis import settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("LLMLAB_NO_PROGRESS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Property tests search with a fixed seed so a red run reproduces and CI cannot flake on a lucky
# draw; HYPOTHESIS_PROFILE=explore searches afresh on a developer's machine.
settings.register_profile("derandomized", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "derandomized"))


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if has_gpu:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def runs_dir(tmp_path, monkeypatch):
    """Every run folder a test makes goes under its own tmp_path."""
    monkeypatch.setenv("LLMLAB_RUNS", str(tmp_path / "runs"))
    return tmp_path / "runs"


CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    """A real headless Chromium (Debian's, driven by Playwright); skips with the reason when absent.

    Playwright cannot download its own browser offline, so it is pointed at the system one with
    `executable_path`; the background-networking flags stop Chromium dialling out on a closed network.
    Module-scoped: Playwright's sync API keeps an asyncio loop running in the main thread while it is
    open, and later tests that call asyncio.run() (the API server, bench serve) must not inherit it.
    """
    import shutil

    exe = os.environ.get("LLMLAB_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        pytest.skip("no chromium on this machine (make test installs Debian's package when it can)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (it is in the dev extra: make test installs it)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
