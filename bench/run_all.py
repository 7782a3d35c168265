"""Run every benchmark (``bench/bench_*.py``) in turn with its default, short size.

Each runs in its own process (so each loads its models afresh and one crash cannot take the
rest down); its output is shown as it arrives and kept in ``bench/results/<name>.txt``. A
benchmark that fails or misses its target does not stop the others; the summary at the end
says which did what, and the exit status is non-zero if any did not pass. With ``--json`` each
benchmark runs with ``--json`` too, and the summary holds the JSON object each one printed.

    .venv/bin/python bench/run_all.py [--only ingest retrieval] [--timeout 900] [--json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"


def benchmarks(only: list[str]) -> list[Path]:
    found = sorted(BENCH.glob("bench_*.py"))
    if only:
        found = [path for path in found if any(word in path.stem for word in only)]
    return found


def last_json_object(lines: list[str]) -> object:
    """The last line of a benchmark's output that is a JSON object (its ``--json`` result)."""
    for line in reversed(lines):
        text = line.strip()
        if text.startswith("{"):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                continue
    return None


def run_one(path: Path, timeout: float, *, as_json: bool = False) -> dict[str, object]:
    print(f"\n=== {path.stem} ===", flush=True)
    started = time.perf_counter()
    lines: list[str] = []
    child = subprocess.Popen(
        [sys.executable, str(path), *(["--json"] if as_json else [])],
        cwd=BENCH.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    assert child.stdout is not None
    # A benchmark that hangs silently is killed by the timer, not by waiting for its output.
    timer = threading.Timer(timeout, child.kill)
    timer.start()
    try:
        for line in child.stdout:
            print(line, end="", flush=True)
            lines.append(line)
        child.wait()
    finally:
        timer.cancel()
    if child.returncode == 0:
        status = "passed"
    elif child.returncode < 0 and time.perf_counter() - started >= timeout:
        status = f"timed out after {timeout:.0f} s"
    else:
        status = f"failed (exit {child.returncode})"
    seconds = time.perf_counter() - started
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{path.stem}.txt").write_text("".join(lines), encoding="utf-8")
    result: dict[str, object] = {"benchmark": path.stem, "status": status, "seconds": round(seconds, 1)}
    if as_json:
        result["result"] = last_json_object(lines)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", default=[], help="run only benchmarks whose name contains one of these")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per benchmark")
    parser.add_argument("--json", action="store_true", help="end with the summary as one JSON object")
    args = parser.parse_args()
    results = [run_one(path, args.timeout, as_json=args.json) for path in benchmarks(args.only)]
    print("\n=== summary ===")
    for r in results:
        print(f"  {r['benchmark']:28} {r['status']:28} {r['seconds']:7.1f} s")
    print(f"  outputs kept in {RESULTS.relative_to(BENCH.parent)}/")
    if args.json:
        print(json.dumps({"results": results}))
    return 0 if all(r["status"] == "passed" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
