"""`llmlab serve --model DIR` (the OpenAI-compatible server) and `llmlab bench serve` (its load generator).

    llmlab serve --model runs/pretrain/tiny --port 8000 --api-key s3cret
    LLMLAB_API_KEY=s3cret llmlab serve --model runs/pretrain/tiny --host 0.0.0.0   # beyond this machine: use
    a key llmlab bench serve --url http://127.0.0.1:8000 --num-prompts 200 --request-rate 20 --max-concurrency
    64 llmlab bench serve --model runs/pretrain/tiny --num-prompts 50      # starts a server here, then
    measures it llmlab serve --model DIR --speculative draft:SMALLER_DIR     # or --speculative ngram (prompt
    lookup)
"""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import typer

from llmlab.console import print_summary


def serve(model: Path = typer.Option(..., "--model",
                                     help="a Hugging Face model directory (GPT-2 or Llama family)"),
          host: str = typer.Option("127.0.0.1", "--host", help="0.0.0.0 to listen on every interface"),
          port: int = typer.Option(8000, "--port"),
          device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:1"),
          dtype: str = typer.Option("auto", "--dtype", help="auto | float32 | bfloat16 | float16"),
          api_key: str = typer.Option("", "--api-key", envvar="LLMLAB_API_KEY",
                                      help="require 'Authorization: Bearer KEY' on /v1 (or set "
                                           "LLMLAB_API_KEY)"),
          max_queue: int = typer.Option(256, "--max-queue", help="waiting requests beyond this get 429"),
          max_body_mb: float = typer.Option(4.0, "--max-body-mb", help="request bodies beyond this get 413"),
          served_name: str = typer.Option("", "--served-model-name",
                                          help="the model id clients use (default: folder name)"),
          max_num_seqs: int = typer.Option(128, "--max-num-seqs",
                                           help="requests in the running batch at most"),
          kv_cache_gb: float = typer.Option(0.0, "--kv-cache-gb", help="KV-cache memory (0: automatic)"),
          no_prefix_cache: bool = typer.Option(False, "--no-prefix-cache",
                                               help="turn automatic prefix caching off"),
          speculative: str = typer.Option("", "--speculative",
                                          help="ngram (prompt lookup) or draft:DIR (smaller, same "
                                               "tokenizer)"),
          overrides: list[str] = typer.Option([], "--set",
                                              help="any EngineConfig field, e.g. --set block_size=32"),
          log_level: str = typer.Option("info", "--log-level")) -> None:
    """Serve a model over an OpenAI-compatible HTTP API (continuous batching, paged KV cache, prefix
    cache)."""
    from llmlab.config import apply_overrides
    from llmlab.errors import LabError
    from llmlab.serve.async_engine import EngineDeadError
    from llmlab.serve.config import EngineConfig
    from llmlab.serve.engine import Engine
    from llmlab.serve.server import run_server

    if not max_body_mb > 0:
        raise LabError(f"--max-body-mb must be positive, got {max_body_mb}",
                       hint="a few MB, e.g. --max-body-mb 4")
    cfg = EngineConfig(model=str(model), device=device, dtype=dtype, max_num_seqs=max_num_seqs,
                       kv_cache_gb=kv_cache_gb, enable_prefix_caching=not no_prefix_cache,
                       speculative=speculative)
    engine = Engine(apply_overrides(cfg, overrides))
    c = engine.config
    print(f"llmlab serve: {model} on {c.device} ({c.dtype}), context {c.max_model_len}, "
          f"{c.num_blocks - 1} KV blocks of {c.block_size} tokens, attention: {engine.runner.kernel_note}"
          f"{', API key required' if api_key else ''} — http://{host}:{port}/v1", file=sys.stderr, flush=True)
    if not api_key and not _loopback(host):
        print(f"warning: listening on {host} without an API key: anyone who can reach this port can use the "
              f"model "
              "(set --api-key or LLMLAB_API_KEY)", file=sys.stderr, flush=True)
    try:
        run_server(engine, host, port, model_name=served_name or None, api_key=api_key or None,
                   max_queue=max_queue,
                   log_level=log_level, max_body_bytes=int(max_body_mb * (1 << 20)))
    except EngineDeadError:
        print("error: engine stopped (its traceback is in the log above); exiting with status 1 so that a "
              "supervisor restarts the server", file=sys.stderr, flush=True)
        raise typer.Exit(1) from None


def _loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (a name other than localhost counts as reachable)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bench_serve(url: str = typer.Option("", "--url", help="a running OpenAI-compatible server"),
                model: Path = typer.Option(None, "--model",
                                           help="or: a model directory to serve here for the run"),
                num_prompts: int = typer.Option(100, "--num-prompts"),
                input_len: int = typer.Option(None, "--input-len",
                                              help="random prompts of this many token ids "
                                              "(default: 128, or less to fit the served model's context)"),
                output_len: int = typer.Option(None, "--output-len",
                                               help="tokens per answer (default: as --input-len)"),
                prefix_len: int = typer.Option(0, "--prefix-len",
                                               help="a random prefix shared by all prompts"),
                prompts: Path = typer.Option(None, "--prompts",
                                             help="prompts from a .txt or .jsonl file instead"),
                request_rate: float = typer.Option(float("inf"), "--request-rate",
                                                   help="requests/s (inf: all at once)"),
                arrival: str = typer.Option("poisson", "--arrival", help="poisson | fixed"),
                max_concurrency: int = typer.Option(0, "--max-concurrency",
                                                    help="requests in flight at most (0: no cap)"),
                api_key: str = typer.Option("", "--api-key", envvar="LLMLAB_API_KEY"),
                device: str = typer.Option("auto", "--device", help="with --model"),
                speculative: str = typer.Option("", "--speculative", help="with --model: ngram or draft:DIR"),
                seed: int = typer.Option(0, "--seed"),
                out: Path = typer.Option(None, "--out", help="run folder (default runs/serve/bench-<time>)"),
                as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Measure a server: TTFT, TPOT, ITL, E2E (mean, median, p99), throughput, prefix-cache hit rate."""
    from llmlab.errors import LabError

    if not url and model is None:
        raise LabError("nothing to measure",
                       hint="pass --url of a running server, or --model DIR to start one here")
    if arrival not in ("poisson", "fixed"):
        raise LabError(f"unknown arrival process {arrival!r}", hint="use poisson or fixed")
    from llmlab.serve.bench import run_benchmark
    from llmlab.serve.load_generator import LoadConfig

    cfg = LoadConfig(url=url, num_prompts=num_prompts, input_len=input_len, output_len=output_len,
                     prefix_len=prefix_len, prompts_file=str(prompts or ""), request_rate=request_rate,
                     arrival=arrival, max_concurrency=max_concurrency, api_key=api_key, seed=seed)
    summary = run_benchmark(cfg, model_dir=model, device=device, out=out, speculative=speculative)
    print_summary(summary, as_json=as_json, title="llmlab bench serve")
    if summary["failed"]:
        raise LabError(f"{summary['failed']} of {summary['requests']} requests failed; the first: "
                       f"{summary['first_error']}",
                       hint=f"every request's outcome is in {summary['run']}/requests.jsonl")


def register(root: typer.Typer) -> None:
    """`llmlab serve` and `llmlab bench serve` sit at the top level, not under a project group."""
    root.command("serve")(serve)
    bench = typer.Typer(help="Benchmarks of running services (`llmlab bench serve`).", no_args_is_help=True)
    bench.command("serve")(bench_serve)
    root.add_typer(bench, name="bench")
