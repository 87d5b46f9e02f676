"""`make container-test`: build the CPU serving image with buildah, run it, probe it, stop it.

    make container-test                      # needs root and buildah (apt-get install buildah debootstrap)
    python deploy/container_test.py --gpu    # also build ./Dockerfile's stages (see docs/serve.md)

With no registry at hand the image is built FROM a local Debian base (deploy/debian-base.sh) and the torch
CPU wheel pip finds on this machine, copied into a temporary build context; with a registry, IMAGE_BASE and
the wheel are simply the Dockerfile's defaults. The run uses `buildah run --isolation chroot` as the
runtime (it shares the network namespace, so the run happens in a fresh one made with unshare when it can):
the image's own entrypoint and command as its own user, a tiny random model mounted at /models/model, an
API key set. Checked: /health, a completion, a streamed chat completion, a bad key (401), the image's
HEALTHCHECK command, a stream still in flight when SIGTERM arrives finishing in full, exit status 0, and
the image config (user, port, volume, health check, stop signal, entrypoint) against the Dockerfile.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILDAH = ["buildah", "--storage-driver", "vfs"]
BASE = os.environ.get("BASE", "localhost/llmlab-debian-python:bookworm")
KEY = "container-test-key"
CPU_TAG = "localhost/llmlab-serve-cpu:test"
WHEELS = "torch-wheels"          # the folder in the build context that TORCH_WHEELS names


def say(msg: str) -> None:
    print(f"container-test: {msg}", flush=True)


def fail(msg: str) -> None:
    sys.exit(f"container-test: FAILED: {msg}")


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kw)


def buildah_out(*args: str) -> str:
    return sh([*BUILDAH, *args], capture_output=True).stdout.strip()


# ---------------------------------------------------------------- build


def build_context(dockerfiles: list[str], base_python: str) -> Path:
    """A temporary context with only what the Dockerfiles copy, plus the torch CPU wheel when pip has one."""
    ctx = Path(tempfile.mkdtemp(prefix="llmlab-context-", dir=os.environ.get("TMPDIR", "/var/tmp")))
    for name in ("pyproject.toml", "constraints.txt", "README.md", ".dockerignore", *dockerfiles):
        shutil.copy2(ROOT / name, ctx / name)
    shutil.copytree(ROOT / "src", ctx / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pin = re.search(r"^torch==(\S+)", (ROOT / "constraints.txt").read_text(), re.M).group(1)
    # the wheel for the base's Python, wherever this machine's pip finds it (a local folder, an index, PyPI)
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                           "--python-version", base_python, "--implementation", "cp",
                           "--platform", "manylinux_2_28_x86_64", "-d", str(ctx / WHEELS), f"torch=={pin}"],
                          capture_output=True, text=True)
    wheels = list((ctx / WHEELS).glob("torch-*+cpu-*.whl")) if proc.returncode == 0 else []
    if not wheels:               # none here, or only PyPI's CUDA build: the Dockerfile's index URL decides
        shutil.rmtree(ctx / WHEELS, ignore_errors=True)
        say(f"no torch {pin}+cpu wheel for Python {base_python} here: the build uses the Dockerfile's index")
    else:
        say(f"torch wheel for the build: {wheels[0].name}")
    return ctx


def build(ctx: Path, dockerfile: str, tag: str, base_arg: str) -> float:
    args = ["--build-arg", f"{base_arg}={BASE}"]
    if (ctx / WHEELS).is_dir():
        args += ["--build-arg", f"TORCH_WHEELS={WHEELS}"]
    # vfs keeps whole copies: a previous image of this tag would stay behind, untagged, ~2 GB each run
    subprocess.run([*BUILDAH, "rmi", tag], capture_output=True)
    say(f"building {dockerfile} as {tag} (FROM {BASE})")
    start = time.monotonic()
    # docker format: the OCI format has no HEALTHCHECK, STOPSIGNAL kept aside, SHELL ignored
    sh(["nice", *BUILDAH, "bud", "--quiet", "--isolation", "chroot", "--format", "docker", "-f", dockerfile,
        *args, "-t", tag, str(ctx)], stdout=subprocess.DEVNULL)
    took = time.monotonic() - start
    # the image's size unpacked: the sum of its layers (the base's and one per stage's changes)
    manifest = json.loads(json.loads(buildah_out("inspect", "--type", "image", tag))["Manifest"])
    size = sum(layer["size"] for layer in manifest["layers"])
    say(f"built {tag} in {took:.0f} s; image size {size / 1e9:.2f} GB ({size / 2**30:.2f} GiB) "
        f"in {len(manifest['layers'])} layers")
    return took


# ---------------------------------------------------------------- the image config against the Dockerfile


def final_stage_says(dockerfile: str) -> dict:
    """USER, EXPOSE, VOLUME, the HEALTHCHECK command, STOPSIGNAL, ENTRYPOINT and CMD of the last stage."""
    text = (ROOT / dockerfile).read_text().replace("\\\n", " ")
    stage = text.split("\nFROM ")[-1]
    said = {}
    for line in stage.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word in ("USER", "EXPOSE", "STOPSIGNAL"):
            said[word] = rest.strip()
        elif word in ("VOLUME", "ENTRYPOINT", "CMD"):
            said[word] = json.loads(rest)
        elif word == "HEALTHCHECK":
            said[word] = json.loads(rest.split(" CMD ", 1)[1])
    return said


def check_config(tag: str, dockerfile: str) -> dict:
    config = json.loads(buildah_out("inspect", "--type", "image", tag))["Docker"]["config"]
    said = final_stage_says(dockerfile)
    ports = config.get("ExposedPorts") or {}
    got = {"USER": config.get("User"), "EXPOSE": " ".join(p.split("/")[0] for p in ports),
           "VOLUME": list(config.get("Volumes") or {}), "STOPSIGNAL": config.get("StopSignal"),
           "HEALTHCHECK": (config.get("Healthcheck") or {}).get("Test", [None])[1:],
           "ENTRYPOINT": config.get("Entrypoint"), "CMD": config.get("Cmd")}
    for key, want in said.items():
        if got[key] != want:
            fail(f"image config {key} is {got[key]!r}; {dockerfile} says {want!r}")
    say(f"image config matches {dockerfile}: user {got['USER']}, port {got['EXPOSE']}, "
        f"volume {got['VOLUME']}, stop signal {got['STOPSIGNAL']}, "
        f"health check {' '.join(got['HEALTHCHECK'])[:48]}...")
    return config


# ---------------------------------------------------------------- run and probe


def request(path: str, body: dict | None = None, key: str | None = KEY, timeout: float = 60):
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {key}"} if key else {})}
    data = json.dumps(body).encode() if body else None
    req = urllib.request.Request("http://127.0.0.1:8000" + path, data=data, headers=headers)
    return urllib.request.urlopen(req, timeout=timeout)


def sse_events(resp):
    for raw in resp:
        line = raw.decode().strip()
        if line.startswith("data: "):
            yield line[len("data: "):]


def wait_healthy(server: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            fail(f"the server exited ({server.returncode}) before /health answered:\n"
                 f"{log.read_text()[-3000:]}")
        try:
            if request("/health", key=None, timeout=2).status == 200:
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    fail(f"/health did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def probe(model_name: str) -> None:
    body = json.load(request("/v1/completions", {"model": model_name, "prompt": "The", "max_tokens": 4}))
    if body["usage"]["completion_tokens"] != 4 or not isinstance(body["choices"][0]["text"], str):
        fail(f"completion: {body}")
    say(f"completion: 200, 4 tokens {body['choices'][0]['text']!r}")
    chat = {"model": model_name, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 6,
            "stream": True}
    events = list(sse_events(request("/v1/chat/completions", chat)))
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    if events[-1] != "[DONE]" or chunks[0]["object"] != "chat.completion.chunk" or not text:
        fail(f"streamed chat: {events[:3]} ... {events[-2:]}")
    say(f"streamed chat completion: {len(chunks)} chunks, then [DONE]: {text!r}")
    try:
        request("/v1/completions", {"model": model_name, "prompt": "The", "max_tokens": 1}, key="wrong")
        fail("a wrong API key was accepted")
    except urllib.error.HTTPError as exc:
        if exc.code != 401:
            fail(f"a wrong API key got {exc.code}, not 401")
    say("wrong API key: 401")


def healthcheck(ctr: str, config: dict) -> int:
    test = config["Healthcheck"]["Test"]
    cmd = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
    return subprocess.run([*BUILDAH, "run", "--isolation", "chroot", ctr, "--", *cmd],
                          capture_output=True).returncode


def stop_during_a_stream(server: subprocess.Popen, pid: int, model_name: str) -> None:
    """SIGTERM while a stream is in flight: it must still finish in full, then the server exits 0."""
    max_tokens = 200
    body = {"model": model_name, "prompt": "The", "max_tokens": max_tokens, "stream": True}
    resp = request("/v1/completions", body)
    events = sse_events(resp)
    first = json.loads(next(events))
    os.kill(pid, signal.SIGTERM)                # what `docker stop` sends (STOPSIGNAL SIGTERM) to PID 1
    rest = list(events)
    if rest[-1] != "[DONE]":
        fail(f"the stream in flight at SIGTERM was cut: it ended with {rest[-1:]}")
    chunks = [first, *(json.loads(e) for e in rest[:-1])]
    usage = next((c["usage"] for c in reversed(chunks) if c.get("usage")), None)
    reason = next((c["choices"][0]["finish_reason"] for c in reversed(chunks) if c["choices"]), None)
    if reason != "length":
        fail(f"the stream in flight at SIGTERM finished with {reason!r}, not 'length' ({usage})")
    say(f"SIGTERM sent with a {max_tokens}-token stream in flight: {len(rest) - 1} chunks arrived after it, "
        f"finish_reason {reason!r}")
    try:
        code = server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        fail("the server did not exit within 60 s of SIGTERM")
    if code != 0:
        fail(f"the server exited {code} after SIGTERM, not 0")


def run_phase(tag: str, model: Path, log: Path) -> None:
    """Start the image's entrypoint + command, probe it, stop it. Runs in its own network namespace."""
    config = json.loads(buildah_out("inspect", "--type", "image", tag))["Docker"]["config"]
    ctr = buildah_out("from", "--quiet", tag)
    try:
        argv = [*config["Entrypoint"], *config["Cmd"]]
        say(f"starting `{' '.join(argv)}` as user {config['User']} with {model.name} at /models/model")
        with log.open("w") as out:
            # no --user: buildah run takes the image's USER, as docker run does
            server = subprocess.Popen([*BUILDAH, "run", "--isolation", "chroot",
                                       "-v", f"{model}:/models/model:ro", "-e", f"LLMLAB_API_KEY={KEY}",
                                       ctr, "--", *argv], stdout=out, stderr=subprocess.STDOUT,
                                      start_new_session=True)   # its own group: cleaned up as one
        try:
            start = time.monotonic()
            wait_healthy(server, log)
            say(f"/health answered after {time.monotonic() - start:.0f} s")
            pid = int(re.search(r"Started server process \[(\d+)\]", log.read_text()).group(1))
            uid = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("Uid:"))
            if str(uid) != config["User"]:
                fail(f"the server runs as uid {uid}, not the image's USER {config['User']}")
            say(f"server process {pid} runs as uid {uid}")
            model_name = json.load(request("/v1/models"))["data"][0]["id"]
            probe(model_name)
            if healthcheck(ctr, config) != 0:
                fail("the image's HEALTHCHECK command failed against the running server")
            say("HEALTHCHECK command inside the image: exit 0")
            stop_during_a_stream(server, pid, model_name)
        finally:
            # killing buildah run alone would leave the server inside running: the whole group goes
            try:
                os.killpg(server.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            server.wait()
        text = log.read_text()
        if "Application shutdown complete" not in text:
            fail(f"no graceful shutdown in the server's log:\n{text[-3000:]}")
        say("server drained and exited 0 (uvicorn: Application shutdown complete)")
        if healthcheck(ctr, config) == 0:
            fail("the HEALTHCHECK command passes with no server running")
        say("HEALTHCHECK command with the server stopped: non-zero, as it must")
    finally:
        subprocess.run([*BUILDAH, "rm", ctr], capture_output=True)


def run_isolated(tag: str, model: Path, log: Path) -> None:
    """The run phase in a new network namespace (port 8000 of this machine may be taken), else on this one."""
    me = [sys.executable, __file__, "--run-phase", tag, str(model), str(log)]
    probe_ns = subprocess.run(["unshare", "--net", "true"], capture_output=True)
    if probe_ns.returncode == 0 and shutil.which("ip"):
        me = ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *me]
    else:
        say("no new network namespace here (unshare --net failed): running on this machine's port 8000")
    if subprocess.run(me).returncode != 0:
        sys.exit(1)              # the run phase said why


def make_model(where: Path) -> Path:
    sys.path.insert(0, str(ROOT / "src"))
    from llmlab.console import quiet_libraries
    from llmlab.serve.random_model import make_model_dir

    quiet_libraries(True)
    model = make_model_dir(where / "tiny-gpt2", family="gpt2", n_layer=1, n_embd=32)
    where.chmod(0o755)                           # readable by the image's non-root user through the mount
    for path in model.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    model.chmod(0o755)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpu", action="store_true",
                        help="also build ./Dockerfile's stages on the local base")
    parser.add_argument("--reuse-image", action="store_true", help="skip the CPU build when its image exists")
    parser.add_argument("--run-phase", nargs=3, metavar=("TAG", "MODEL", "LOG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_phase:
        tag, model, log = args.run_phase
        return run_phase(tag, Path(model), Path(log))
    if os.geteuid() != 0 or not shutil.which("buildah"):
        fail("needs root and buildah: apt-get install buildah debootstrap (as root), "
             "then make container-test")
    start = time.monotonic()
    sh(["bash", str(ROOT / "deploy" / "debian-base.sh")], env={**os.environ, "BASE": BASE})
    probe_ctr = buildah_out("from", "--quiet", BASE)
    base_python = buildah_out("run", "--isolation", "chroot", probe_ctr, "--",
                              "python3", "-c", "import sys; print('%d.%d' % sys.version_info[:2])")
    subprocess.run([*BUILDAH, "rm", probe_ctr], capture_output=True)
    dockerfiles = ["Dockerfile.cpu", *(["Dockerfile"] if args.gpu else [])]
    ctx = build_context(dockerfiles, base_python)
    work = Path(tempfile.mkdtemp(prefix="llmlab-container-test-"))
    try:
        if not (args.reuse_image and subprocess.run([*BUILDAH, "inspect", "--type", "image", CPU_TAG],
                                                    capture_output=True).returncode == 0):
            build(ctx, "Dockerfile.cpu", CPU_TAG, "BASE_IMAGE")
        check_config(CPU_TAG, "Dockerfile.cpu")
        run_isolated(CPU_TAG, make_model(work), work / "server.log")
        if args.gpu:
            build(ctx, "Dockerfile", "localhost/llmlab-serve-gpu-stages:test", "BASE_IMAGE")
            check_config("localhost/llmlab-serve-gpu-stages:test", "Dockerfile")
    except subprocess.CalledProcessError as exc:
        fail(f"{' '.join(map(str, exc.cmd))[:200]} exited {exc.returncode}")
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    say(f"passed in {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
