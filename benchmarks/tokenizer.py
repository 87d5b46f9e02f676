"""BPE training and encoding, side by side in one run: llmlab vs HF tokenizers vs a naive trainer vs tiktoken.

    python benchmarks/tokenizer.py            # tinyshakespeare (vocab 1024) + python-stdlib (vocab 32768),
    ~3-5 min python benchmarks/tokenizer.py --quick    # tinyshakespeare only, one repeat
    python benchmarks/tokenizer.py --json     # the figures as JSON

Training: the same texts, GPT-2 pattern, same vocab size; the median of interleaved repeats.
HF's trainer uses every core, llmlab one. The naive trainer (recount every pair before each merge)
is timed for its first merges and projected to the full run (its cost per merge barely falls).
Encoding: one thread each, MB/s of UTF-8 input; llmlab "cold" starts from an empty chunk cache.
Goals (issue 4): training <= 3x HF's time; cold encoding >= 1/4 of tiktoken's throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

from llmlab.data import load_corpus  # noqa: E402
from llmlab.tokenizer import BPETokenizer  # noqa: E402
from llmlab.tokenizer.compare import encode_speeds, hf_train, median_times, parity, vocab_difference  # noqa: E402
from llmlab.tokenizer.merges import learn_merges, learn_merges_naive  # noqa: E402
from llmlab.tokenizer.pretokenize import count_chunks  # noqa: E402

CASES = [  # corpus, vocab size, naive merges timed, encoding texts
    ("tinyshakespeare", 1024, 100, "all"),
    ("python-stdlib", 32768, 6, "val"),
]


def bench_case(corpus_name: str, vocab_size: int, naive_merges: int, encode_on: str, repeats: int,
               batch: bool) -> dict:
    corpus = load_corpus(corpus_name)
    texts = [d.text for d in corpus.documents]
    made: dict = {}
    train_s = median_times({
        "llmlab": lambda: made.__setitem__("ours", BPETokenizer.train(texts, vocab_size, "gpt2",
                                                                      progress=False)),
        "hf": lambda: made.__setitem__("hf", hf_train(texts, vocab_size, "gpt2")),
    }, repeats)
    ours = made["ours"]

    start = time.perf_counter()
    chunks = count_chunks(texts, "gpt2")
    count_s = time.perf_counter() - start
    start = time.perf_counter()
    learn_merges(chunks, vocab_size)
    merge_s = time.perf_counter() - start
    start = time.perf_counter()
    learn_merges_naive(chunks, vocab_size, max_merges=naive_merges)
    naive_per_merge = (time.perf_counter() - start) / naive_merges
    naive_total = count_s + naive_per_merge * len(ours.merges)

    enc_texts = texts if encode_on == "all" else [d.text for d in corpus.split()[1].documents]
    speeds = encode_speeds(ours, enc_texts, repeats)
    held_out = [d.text for d in load_corpus("python-docs").documents]     # a different kind of text
    enc = ours.to_tiktoken()
    row = {
        "corpus": corpus_name, "corpus_mb": round(corpus.n_bytes / 1e6, 2), "vocab_size": vocab_size,
        "unique_chunks": len(chunks),
        "train_s": {"llmlab": round(train_s["llmlab"], 2), "hf": round(train_s["hf"], 2),
                    "llmlab_count_chunks": round(count_s, 2), "llmlab_merges": round(merge_s, 2),
                    "naive_projected": round(naive_total, 1), "naive_s_per_merge": round(naive_per_merge, 4)},
        "train_vs_hf": round(train_s["llmlab"] / train_s["hf"], 2),
        "naive_vs_llmlab": round(naive_total / train_s["llmlab"], 1),
        "vocab_difference_vs_hf": vocab_difference(ours, made["hf"]),
        "encode_text_mb": round(sum(len(t.encode("utf-8")) for t in enc_texts) / 1e6, 2),
        "encode_mb_per_s": {k: round(v, 2) for k, v in speeds.items()},
        "encode_vs_tiktoken_cold": round(speeds["llmlab_cold"] / speeds["tiktoken"], 2),
        "encode_vs_tiktoken_warm": round(speeds["llmlab_warm"] / speeds["tiktoken"], 2),
        "ids_equal_tiktoken_whole_corpus": all(ours.encode_ordinary(t) == enc.encode_ordinary(t)
                                               for t in texts),
        "ids_equal_held_out": parity(ours, held_out),
        "ids_equal_hf_on_encoded_texts": parity(ours, enc_texts)["hf_ids_equal"],
    }
    if batch:   # what the data pipeline does: encode_batch over worker processes, whole corpus
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        start = time.perf_counter()
        ours.encode_batch(texts, num_workers=workers, disallowed_special=())
        ours_batch = time.perf_counter() - start
        start = time.perf_counter()
        enc.encode_ordinary_batch(texts, num_threads=workers)
        tik_batch = time.perf_counter() - start
        row["encode_batch_mb_per_s"] = {"workers": workers,
                                        "llmlab_processes": round(corpus.n_bytes / 1e6 / ours_batch, 2),
                                        "tiktoken_threads": round(corpus.n_bytes / 1e6 / tik_batch, 2)}
    return row


def print_table(rows: list[dict], header: dict) -> None:
    """One column per corpus, one row per measure (fits a terminal)."""
    from rich.console import Console
    from rich.table import Table

    def same_ids(r: dict) -> str:
        ok = (r["ids_equal_tiktoken_whole_corpus"] and all(r["ids_equal_held_out"].values())
              and r["ids_equal_hf_on_encoded_texts"])
        return "yes" if ok else "NO"

    measures = [
        ("corpus MB / unique chunks", lambda r: f"{r['corpus_mb']} / {r['unique_chunks']:,}", ""),
        ("train s: llmlab (count + merges, once)",
         lambda r: f"{r['train_s']['llmlab']} ({r['train_s']['llmlab_count_chunks']}"
                                                     f" + {r['train_s']['llmlab_merges']})", ""),
        ("train s: HF tokenizers", lambda r: str(r["train_s"]["hf"]), ""),
        ("train time llmlab / HF", lambda r: f"{r['train_vs_hf']}x", "<= 3x"),
        ("train s: naive recount (projected)", lambda r: str(r["train_s"]["naive_projected"]), ""),
        ("train time naive / llmlab", lambda r: f"{r['naive_vs_llmlab']}x", ""),
        ("vocab differences vs HF (ours/theirs)",
         lambda r: "{only_llmlab} / {only_hf}".format(**r["vocab_difference_vs_hf"]), ""),
        ("encoded text MB", lambda r: str(r["encode_text_mb"]), ""),
        ("encode MB/s llmlab cold / warm", lambda r: f"{r['encode_mb_per_s']['llmlab_cold']} / "
                                                    f"{r['encode_mb_per_s']['llmlab_warm']}", ""),
        ("encode MB/s tiktoken", lambda r: str(r["encode_mb_per_s"]["tiktoken"]), ""),
        ("encode MB/s HF tokenizers", lambda r: str(r["encode_mb_per_s"]["hf"]), ""),
        ("encode llmlab cold / tiktoken", lambda r: f"{r['encode_vs_tiktoken_cold']}x", ">= 0.25x"),
        ("encode llmlab warm / tiktoken", lambda r: f"{r['encode_vs_tiktoken_warm']}x", ""),
        ("ids = tiktoken's and HF's", same_ids, "yes"),
    ]
    table = Table(title="byte-level BPE: llmlab vs the references, measured in this run")
    table.add_column("measure")
    for r in rows:
        table.add_column(f"{r['corpus']} ({r['vocab_size']})", justify="right")
    table.add_column("goal")
    for name, cell, goal in measures:
        table.add_row(name, *[cell(r) for r in rows], goal)
    Console(width=max(100, Console().width)).print(table)
    for r in rows:
        if "encode_batch_mb_per_s" in r:
            b = r["encode_batch_mb_per_s"]
            print(f"{r['corpus']}, whole corpus: encode_batch over {b['workers']} processes "
                  f"{b['llmlab_processes']} MB/s; "
                  f"tiktoken encode_ordinary_batch over {b['workers']} threads {b['tiktoken_threads']} MB/s")
    print(json.dumps(header))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tinyshakespeare only, one repeat")
    parser.add_argument("--repeats", type=int, default=None,
                        help="interleaved repeats (default 3; 1 with --quick)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    header = {"machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "cpus": os.cpu_count(),
              "python": platform.python_version(), "load_avg_before": [round(x, 2) for x in os.getloadavg()],
              "repeats": repeats}
    start = time.perf_counter()
    rows = [
        bench_case(*case, repeats=repeats, batch=not args.quick)
        for case in (CASES[:1] if args.quick else CASES)
    ]
    header["load_avg_after"] = [round(x, 2) for x in os.getloadavg()]
    header["seconds"] = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps({"header": header, "rows": rows}, indent=2))
    else:
        print_table(rows, header)


if __name__ == "__main__":
    main()
