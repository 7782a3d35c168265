"""Peak memory (RSS) of ``tidings ask`` with the default models.

Runs the real command line in child processes against a fresh data folder: first
``tidings ingest docs/`` (Tidings' own documentation, the out-of-the-box knowledge base),
then ``tidings ask`` with one question, then ``tidings ask`` in batch mode (several questions
on stdin, models loaded once). Each child's peak resident set size comes from ``wait4``
(the kernel's ``ru_maxrss`` for exactly that process). The packaged GGUF is assembled once into
the default model cache and pointed to with ``TIDINGS_LLM__MODEL_PATH``, so the figure is the
steady state, not the one-off unpacking. Target: ``tidings ask`` under 1.5 GB.

    .venv/bin/python bench/bench_memory.py [--json]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import REPO, base_parser, emit, machine, packaged_model_file

TARGET_MB = 1500.0
QUESTION = "How do I connect Tidings to Slack?"
BATCH = (
    "How do I connect Tidings to Slack?",
    "How do I add documents to the knowledge base?",
    "How do I schedule a daily digest?",
    "Which model does Tidings use by default?",
    "How do I run Tidings on Discord?",
)


def tidings(args: list[str], *, home: Path, stdin: str | None = None) -> dict[str, Any]:
    """Run ``tidings ARGS`` and return its output, exit status, wall time and peak RSS."""
    env = {
        **os.environ,
        "TIDINGS_HOME": str(home),
        "TIDINGS_LLM__MODEL_PATH": str(packaged_model_file()),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    # The installed ``tidings`` entry point, exactly as a user runs it.
    command = [str(Path(sys.executable).parent / "tidings"), *args]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=out, stderr=err
        )
        assert child.stdin is not None
        child.stdin.write((stdin or "").encode())
        child.stdin.close()
        # wait4 reports the peak RSS of this one child, not the largest of all children so far.
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        return {
            "command": "tidings " + " ".join(args),
            "rc": child.returncode,
            "seconds": round(seconds, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports kilobytes
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace")[-2000:],
        }


def run() -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="tidings-bench-memory-"))
    ingest = tidings(["ingest", str(REPO / "docs"), "--json"], home=home)
    ask = tidings(["ask", QUESTION, "--json"], home=home)
    batch = tidings(["ask", "--json"], home=home, stdin="\n".join(BATCH) + "\n")
    shutil.rmtree(home, ignore_errors=True)
    answers = [json.loads(line) for line in batch["stdout"].splitlines() if line.strip().startswith("{")]
    try:
        single = json.loads(ask["stdout"])
    except json.JSONDecodeError:
        single = {}
    reached_model = (single.get("timings") or {}).get("generate_ms", 0) > 0
    runs = {
        "ingest_docs": ingest,
        "ask_one": ask,
        "ask_batch": {**batch, "questions": len(BATCH), "answered": len(answers)},
    }
    failed = [name for name, r in runs.items() if r["rc"] != 0]
    peak = max(ask["peak_rss_mb"], batch["peak_rss_mb"])
    return {
        "benchmark": "memory",
        "runs": {name: {k: v for k, v in r.items() if k not in {"stdout", "stderr"}} for name, r in runs.items()},
        "errors": {name: runs[name]["stderr"] for name in failed},
        "ask_reached_model": reached_model,
        "ask_grounded": bool(single.get("grounded")),
        "ask_peak_rss_mb": peak,
        "target_mb": TARGET_MB,
        "met": not failed and reached_model and peak < TARGET_MB,
        "machine": machine(),
    }


def main() -> int:
    parser = base_parser(__doc__ or "")
    args = parser.parse_args()
    result = run()
    summary = ["Peak RSS of the tidings command (default models, fresh data folder)"]
    for r in result["runs"].values():
        summary.append(f"  {r['command'][:60]:60}  {r['peak_rss_mb']:8.1f} MB  {r['seconds']:6.1f} s  rc {r['rc']}")
    summary.append(
        f"  tidings ask peak {result['ask_peak_rss_mb']:.0f} MB (answer reached the model: {result['ask_reached_model']}, "
        f"grounded: {result['ask_grounded']}); target < {TARGET_MB:.0f} MB: {'met' if result['met'] else 'NOT met'}"
    )
    for name, error in result["errors"].items():
        summary.append(f"  {name} failed: {error.strip()[-400:]}")
    summary.append(f"  machine: {result['machine']}")
    emit(result, summary, as_json=args.json)
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
