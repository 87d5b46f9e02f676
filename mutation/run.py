"""Mutation testing: plant each bug of mutants.py in a copy of src/ and check that its tests notice.

    python mutation/run.py                       # every mutant (about half an hour on two cores)
    python mutation/run.py --only bm25,rrf       # the mutants whose name contains one of these
    python mutation/run.py --list                # the mutants, their suites, and any snippet not found

src/, tests/ and pyproject.toml are copied to a temporary folder once; each mutant is written into the
copy, its suite runs there (`pytest -x -q`, PYTHONPATH pointing at the copy first, no bytecode written so a
restored file is never shadowed by a stale .pyc), and the file is restored. The working tree is never
touched. Each suite first runs unmutated: a red baseline would make every mutant look killed, so its
mutants are skipped instead. A mutant is killed when its suite fails, survives when it passes, and times
out when it runs past three times its baseline (a hang is caught too; it counts as detected). The report,
report.json and report.md, goes to runs/mutation/<date-time>/ (LLMLAB_RUNS moves runs/).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mutants import MUTANTS, SUITES, Mutant

from llmlab.runs import runs_root, write_text_atomic

REPO = Path(__file__).resolve().parents[1]
COPIED = ("src", "tests", "pyproject.toml")
PYTEST = ["-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header", "-o", "addopts=",
          "--timeout=600"]
DETECTED = ("killed", "timeout")


def copy_tree(dest: Path) -> None:
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", "*.egg-info")
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=skip)
        else:
            shutil.copy2(src, dest / name)


def suite_args(suite: str, root: Path) -> tuple[list[str], list[str]]:
    """The suite's pytest arguments, less test files that do not exist (returned second, for the report)."""
    args, missing = [], []
    for a in SUITES[suite]:
        if a.startswith("tests/") and not (root / a).exists():
            missing.append(a)
        else:
            args.append(a)
    return args, missing


def run_pytest(root: Path, args: list[str], timeout: float) -> tuple[str, float, str]:
    """(passed | failed | timeout, seconds, the output's tail), the test process group killed on timeout."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root / "src"),
                                                                    os.environ.get("PYTHONPATH")])),
               PYTHONDONTWRITEBYTECODE="1", LLMLAB_RUNS=str(root / "runs"), LLMLAB_NO_PROGRESS="1")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, *PYTEST, *args], cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        status = "passed" if proc.returncode == 0 else "failed"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        status = "timeout"
    except BaseException:       # Ctrl-C: the tests run in their own session, so end them too
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return status, time.perf_counter() - start, "\n".join((out or "").strip().splitlines()[-15:])


def first_failure(tail: str) -> str:
    for line in tail.splitlines():
        if line.startswith(("FAILED", "ERROR")):
            return line.split(" - ")[0].removeprefix("FAILED ").removeprefix("ERROR ")
    return ""


def check_copy_is_imported(root: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(root / "src"), PYTHONDONTWRITEBYTECODE="1")
    where = subprocess.run([sys.executable, "-c", "import llmlab; print(llmlab.__file__)"], env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not where.startswith(str(root)):
        sys.exit(f"the tests would import llmlab from {where}, not from the mutated copy in {root}")


def run(mutants: list[Mutant], out_dir: Path) -> dict:
    results, baselines = [], {}
    with tempfile.TemporaryDirectory(prefix="llmlab-mutation-") as tmp:
        root = Path(tmp)
        copy_tree(root)
        check_copy_is_imported(root)
        for suite in dict.fromkeys(m.suite for m in mutants):
            args, missing = suite_args(suite, root)
            status, secs, tail = run_pytest(root, args, timeout=1200)
            baselines[suite] = {"status": status, "seconds": round(secs, 1), "missing": missing,
                                "tail": tail if status != "passed" else ""}
            print(
                f"baseline {suite:13s} {status:8s} {secs:6.1f} s"
                + (f"  (missing {missing})" if missing else ""),
                flush=True,
            )
        for i, m in enumerate(mutants, 1):
            path = root / "src" / "llmlab" / m.file
            text = path.read_text(encoding="utf-8")
            row = {"name": m.name, "file": m.file, "suite": m.suite, "why": m.why, "equivalent": m.equivalent,
                   "original": m.original, "mutated": m.mutated}
            base = baselines[m.suite]
            if text.count(m.original) != 1:
                row.update(status="error",
                           detail=f"the original snippet occurs {text.count(m.original)} times")
            elif base["status"] != "passed":
                row.update(status="skipped", detail="the suite fails without the mutant")
            else:
                path.write_text(text.replace(m.original, m.mutated), encoding="utf-8")
                try:
                    status, secs, tail = run_pytest(root, suite_args(m.suite, root)[0],
                                                    timeout=3 * base["seconds"] + 30)
                finally:
                    path.write_text(text, encoding="utf-8")
                status = {"failed": "killed", "passed": "survived"}.get(status, status)
                row.update(status=status, seconds=round(secs, 1),
                           detail=first_failure(tail) if status == "killed" else tail.splitlines()[-1:] and
                           tail.splitlines()[-1])
            results.append(row)
            print(f"[{i:3d}/{len(mutants)}] {row['status']:8s} {row.get('seconds', 0):6.1f} s  {m.name}"
                  + (f"  — {row['detail']}" if row["status"] in ("killed", "error") else ""), flush=True)
    report = summarise(results, baselines)
    out_dir.mkdir(parents=True, exist_ok=False)
    write_text_atomic(out_dir / "report.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(out_dir / "report.md", markdown(report))
    return report


def summarise(results: list[dict], baselines: dict) -> dict:
    count = lambda *states: sum(r["status"] in states for r in results)   # noqa: E731
    equivalent = [r for r in results if r["status"] == "survived" and r["equivalent"]]
    judged = [r for r in results if r["status"] in (*DETECTED, "survived") and not
              (r["status"] == "survived" and r["equivalent"])]
    detected = sum(r["status"] in DETECTED for r in judged)
    return {"mutants": len(results), "killed": count("killed"), "timeout": count("timeout"),
            "survived": count("survived"), "equivalent_survivors": len(equivalent),
            "errors": count("error", "skipped"),
            "kill_rate": round(detected / len(judged), 4) if judged else None,
            "seconds": round(sum(r.get("seconds", 0) for r in results)
                             + sum(b["seconds"] for b in baselines.values()), 1),
            "baselines": baselines, "results": results}


def markdown(report: dict) -> str:
    rate = report["kill_rate"]
    lines = ["# Mutation run", "",
             f"{report['mutants']} mutants: {report['killed']} killed, {report['timeout']} timed out, "
             f"{report['survived']} survived ({report['equivalent_survivors']} judged equivalent), "
             f"{report['errors']} not run. Kill rate without the equivalents: "
             + (f"{rate:.1%}" if rate is not None else "n/a") + f". {report['seconds'] / 60:.1f} min.", "",
             "| mutant | file | suite | status | s | bug it imitates |", "|---|---|---|---|---|---|"]
    for r in report["results"]:
        why = r["why"] + (f" — equivalent: {r['equivalent']}" if r["equivalent"] else "")
        lines.append(f"| {r['name']} | {r['file']} | {r['suite']} | {r['status']} | {r.get('seconds', '')} | "
                     f"{why} |")
    survivors = [r for r in report["results"] if r["status"] == "survived" and not r["equivalent"]]
    if survivors:
        lines += ["", "## Survivors that need a test", ""]
        lines += [f"- {r['name']} ({r['file']}): `{r['original'].strip()}` → `{r['mutated'].strip()}`"
                  for r in survivors]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="", help="comma-separated parts of mutant names to run")
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument("--out", default=None, help="report folder (default runs/mutation/<date-time>)")
    args = parser.parse_args(argv)
    wanted = [w for w in args.only.split(",") if w]
    mutants = [m for m in MUTANTS if not wanted or any(w in m.name for w in wanted)]
    if not mutants:
        print(f"no mutant name contains any of {wanted}; see --list", file=sys.stderr)
        return 2
    if args.list:
        for m in mutants:   # and whether each snippet still occurs exactly once in src/
            n = (REPO / "src" / "llmlab" / m.file).read_text(encoding="utf-8").count(m.original)
            print(f"{m.name:32s} {m.suite:13s} {m.file}" + ("" if n == 1 else f"   <- snippet found {n} "
                                                                              f"times"))
        return 0
    out = Path(args.out) if args.out else runs_root() / "mutation" / time.strftime("%Y%m%d-%H%M%S")
    if out.exists():
        print(f"{out} already exists: choose another --out (earlier reports are never overwritten)",
              file=sys.stderr)
        return 2
    report = run(mutants, out)
    print(markdown(report).split("\n\n")[1])
    print(f"report: {out}/report.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
