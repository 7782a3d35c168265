"""What one hostile or huge input costs to ingest, against its size (issue 17, defects 2 to 4).

Four series, each input twice the size of the one before, each measured in its own child
process so that its peak memory is its own:

- ``line of words``: a .txt file that is one line of words and no full stop, loaded and
  chunked with the real MiniLM tokenizer counting the tokens (what ``tidings ingest`` does
  before it embeds);
- ``line of "a,"``: the issue's input, one unbroken run, loaded and chunked the same way;
- ``huge thread``: a Slack export zip whose one thread holds every message, read and grouped
  into conversation documents;
- ``large archive``: a Slack export zip of many channels and day files, read and grouped.

Embedding is left out on purpose: it costs the same per chunk whatever the input, and at
about 4 chunks a second on a shared 2-core machine it would hide what grew without bound.
Reported per size: wall and CPU seconds, the child's peak RSS above what it held before
reading (the models and libraries; sampled every 5 ms), and for the text series the tokenizer calls and the
characters they read. Linear growth shows as ratios near 2 from one size to the next;
ratios are only meaningful within one run. The issue's zip bomb (1,000 members of just under
1 MiB, 1 GB from about 1 MB) is loaded once at the end: refused, at what cost.

    .venv/bin/python bench/bench_ingest_bounds.py [--steps 4] [--scale 1.0] [--json]
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import REPO, base_parser, emit, machine

MIB = 1024 * 1024
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
WORDS = ["deploy", "pipeline", "flaky", "test", "retry", "the", "on-call", "rota", "rollback", "approval"]

# series -> (first size, its unit)
SERIES: dict[str, tuple[float, str]] = {
    "line of words": (1.0, "MB"),
    'line of "a,"': (0.25, "MB"),
    "huge thread": (125_000, "messages"),
    "large archive": (16.0, "MB"),
}


# --- inputs --------------------------------------------------------------------------------


def write_line_of_words(path: Path, megabytes: float) -> None:
    size = int(megabytes * 1_000_000)
    unit = " ".join(f"{WORDS[i % len(WORDS)]}{i % 97}" for i in range(1000)) + " "
    path.write_text((unit * (size // len(unit) + 1))[:size], encoding="utf-8")


def write_line_of_commas(path: Path, megabytes: float) -> None:
    path.write_text("a," * int(megabytes * 500_000), encoding="utf-8")


def _slack_zip(path: Path, days: Callable[[], Any]) -> None:
    """A Slack export zip whose day files come from ``days()`` as (name, messages) pairs."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        users = [{"id": f"U{i}", "name": f"user{i}", "team_id": "T1"} for i in range(20)]
        archive.writestr("users.json", json.dumps(users))
        archive.writestr("channels.json", json.dumps([{"id": f"C{i}", "name": f"channel-{i}"} for i in range(64)]))
        for name, messages in days():
            archive.writestr(name, json.dumps(messages, indent=1))


def _message(i: int, ts: float, thread: str | None) -> dict[str, Any]:
    text = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(12)) + f" (number {i})."
    message: dict[str, Any] = {"type": "message", "user": f"U{i % 20}", "text": text, "ts": f"{ts:.6f}", "team": "T1"}
    if thread:
        message["thread_ts"] = thread
    return message


def write_huge_thread(path: Path, messages: float) -> None:
    count, per_day, start = int(messages), 10_000, 1_600_000_000.0
    root = f"{start:.6f}"

    def days() -> Any:
        for first in range(0, count, per_day):
            day = time.gmtime(start + first // per_day * 86_400)
            batch = [_message(i, start + i, root) for i in range(first, min(count, first + per_day))]
            yield f"channel-0/{day.tm_year:04d}-{day.tm_mon:02d}-{day.tm_mday:02d}.json", batch

    _slack_zip(path, days)


def write_large_archive(path: Path, megabytes: float) -> None:
    """Day files of 400 messages each, spread over 64 channels, until the JSON adds up to
    ``megabytes`` (the size the archive inflates to)."""
    target, start = int(megabytes * 1_000_000), 1_600_000_000.0

    def days() -> Any:
        written, number = 0, 0
        while written < target:
            channel, day_index = number % 64, number // 64
            day = time.gmtime(start + day_index * 86_400)
            base = start + day_index * 86_400
            batch = [_message(number * 400 + i, base + i * 60, None) for i in range(400)]
            written += len(json.dumps(batch, indent=1))
            number += 1
            yield f"channel-{channel}/{day.tm_year:04d}-{day.tm_mon:02d}-{day.tm_mday:02d}.json", batch

    _slack_zip(path, days)


def write_zip_bomb(path: Path) -> None:
    """1,000 day files of just under 1 MiB each (the per-member check starts at 1 MiB).

    Written byte by byte with one compressed payload reused: zipfile would compress the
    gigabyte all over again."""
    payload = b"[" + b" " * (MIB - 3) + b"]"
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)  # a raw deflate stream, as zip members hold
    packed = compressor.compress(payload) + compressor.flush()
    entries = [("channels.json", b"[]", 0, zlib.crc32(b"[]"), 2)]
    entries += [(f"c{n:04d}/2020-12-07.json", packed, 8, zlib.crc32(payload), len(payload)) for n in range(1000)]
    body, directory = bytearray(), bytearray()
    for name, data, method, crc, size in entries:
        encoded = name.encode()
        fields = (20, 0, method, 0, 0x21, crc, len(data), size, len(encoded))
        offset = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + encoded + data
        directory += struct.pack("<IH", 0x02014B50, 20) + struct.pack("<HHHHHIIIHH", *fields, 0)
        directory += struct.pack("<HHHII", 0, 0, 0, 0, offset) + encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), len(body), 0)
    path.write_bytes(bytes(body + directory + end))


def write_markdown_with_image(path: Path) -> None:
    """The issue's 1 MB Markdown file: some prose around a base64 ``data:`` image."""
    prose = " ".join(f"The {WORDS[i % len(WORDS)]} step number {i} is explained here." for i in range(200))
    image = "iVBORw0KGgoAAAANSUhEUgAA" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo" * 30_000
    path.write_text(f"# Report\n\n{prose}\n\n![chart](data:image/png;base64,{image})\n\n{prose}\n", encoding="utf-8")


WRITERS: dict[str, Callable[[Path, float], None]] = {
    "line of words": write_line_of_words,
    'line of "a,"': write_line_of_commas,
    "huge thread": write_huge_thread,
    "large archive": write_large_archive,
}


# --- one measurement, in a child process -------------------------------------------------------


class CountingTokens:
    """The embedder's token counter, with its calls and the characters they read added up."""

    def __init__(self, count: Callable[[str], int]) -> None:
        self.count = count
        self.calls = 0
        self.chars = 0

    def __call__(self, text: str) -> int:
        self.calls += 1
        self.chars += len(text)
        return self.count(text)


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES / MIB


class PeakRss(threading.Thread):
    """The highest resident set size seen while it runs, sampled every few milliseconds.

    The kernel's own peak (``ru_maxrss``) cannot be reset, and loading the model set it far
    above what reading a small input adds; sampling measures the input's own peak."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.start_mb = rss_mb()
        self.peak_mb = self.start_mb
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.005):
            self.peak_mb = max(self.peak_mb, rss_mb())

    def stop(self) -> float:
        self._done.set()
        self.join()
        return max(self.peak_mb, rss_mb()) - self.start_mb


def measure(series: str, path: Path) -> dict[str, Any]:
    from core.errors import LoaderError
    from core.knowledge.chunking import chunk_document
    from core.knowledge.loaders import load_file

    counter: CountingTokens | None = None
    if not path.name.endswith(".zip"):
        from core.knowledge.embedding import SentenceTransformerEmbedder

        embedder = SentenceTransformerEmbedder()
        embedder.count_tokens("warm up")
        counter = CountingTokens(embedder.count_tokens)
    sampler = PeakRss()
    sampler.start()
    cpu_started = time.process_time()
    started = time.perf_counter()
    result: dict[str, Any] = {}
    try:
        loaded = load_file(path)
        result["documents"] = len(loaded.documents)
        if counter is not None:
            left_out: list[str] = []
            chunks = [c for d in loaded.documents for c in chunk_document(d, count_tokens=counter, left_out=left_out)]
            result.update(chunks=len(chunks), tokenizer_calls=counter.calls, chars_tokenized=counter.chars)
            result["left_out"] = left_out
    except LoaderError as error:
        result["refused"] = str(error)
    result["wall_s"] = round(time.perf_counter() - started, 2)
    result["cpu_s"] = round(time.process_time() - cpu_started, 2)
    result["peak_rss_added_mb"] = round(sampler.stop(), 1)
    return result


def in_child(series: str, path: Path) -> dict[str, Any]:
    child = subprocess.run(
        [sys.executable, __file__, "--child", series, str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=False,
    )
    if child.returncode != 0:
        return {"error": child.stderr.strip().splitlines()[-1:] or [f"exit {child.returncode}"]}
    return dict(json.loads(child.stdout.strip().splitlines()[-1]))


# --- the run -------------------------------------------------------------------------------


def ratio(new: float, old: float) -> float | None:
    return round(new / old, 2) if old > 0 else None


def run(*, steps: int, scale: float, only: list[str]) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="tidings-bench-bounds-"))
    series_out: dict[str, Any] = {}
    try:
        for series, (first, unit) in SERIES.items():
            if only and not any(word in series for word in only):
                continue
            rows: list[dict[str, Any]] = []
            for step in range(steps):
                size = first * scale * 2**step
                suffix = ".txt" if series.startswith("line") else ".zip"
                path = workdir / f"input-{len(series_out)}-{step}{suffix}"
                WRITERS[series](path, size)
                row: dict[str, Any] = {"size": size, "unit": unit, "file_mb": round(path.stat().st_size / 1e6, 2)}
                if suffix == ".zip":
                    with zipfile.ZipFile(path) as archive:
                        row["inflated_mb"] = round(sum(i.file_size for i in archive.infolist()) / 1e6, 1)
                row.update(in_child(series, path))
                path.unlink()
                if rows and "error" not in row and "error" not in rows[-1]:
                    previous = rows[-1]
                    row["ratios"] = {
                        key: ratio(row[key], previous[key])
                        for key in ("wall_s", "cpu_s", "peak_rss_added_mb", "chars_tokenized")
                        if key in row and key in previous
                    }
                rows.append(row)
            series_out[series] = rows
        singles: dict[str, Any] = {}
        for name, suffix, write in (
            ("the issue's zip bomb (1,000 members of just under 1 MiB)", ".zip", write_zip_bomb),
            ("the issue's 50 MB single-line text file", ".txt", lambda path: write_line_of_words(path, 50 * scale)),
            ("the issue's 1 MB Markdown file with a base64 data: image", ".md", write_markdown_with_image),
        ):
            if only and not any(word in name for word in only):
                continue
            path = workdir / f"single{suffix}"
            write(path)
            singles[name] = {"file_mb": round(path.stat().st_size / 1e6, 2), **in_child("single", path)}
            path.unlink()
    finally:
        for leftover in workdir.glob("*"):
            leftover.unlink()
        workdir.rmdir()
    return {"benchmark": "ingest_bounds", "series": series_out, "single_inputs": singles, "machine": machine()}


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = ["Ingest cost against input size (each size twice the one before; ratios to the previous size)"]
    for series, rows in result["series"].items():
        lines.append(f"  {series}")
        for row in rows:
            if "error" in row:
                lines.append(f"    {row['size']:>12,g} {row['unit']:<8} failed: {row['error']}")
                continue
            r = row.get("ratios", {})
            work = f"  {row['chars_tokenized']:>12,} chars tokenized (x{r.get('chars_tokenized')})" if "chars_tokenized" in row else ""
            lines.append(
                f"    {row['size']:>12,g} {row['unit']:<8} {row['wall_s']:7.2f} s (x{r.get('wall_s')})  "
                f"cpu {row['cpu_s']:7.2f} s (x{r.get('cpu_s')})  +{row['peak_rss_added_mb']:7.1f} MB RSS "
                f"(x{r.get('peak_rss_added_mb')}){work}"
            )
    for name, row in result["single_inputs"].items():
        if "error" in row:
            lines.append(f"  {name}: failed: {row['error']}")
            continue
        outcome = f"refused: {row['refused']}" if "refused" in row else f"{row.get('chunks', row.get('documents'))} chunks"
        lines.append(f"  {name} ({row['file_mb']} MB): {row['wall_s']} s, cpu {row['cpu_s']} s, +{row['peak_rss_added_mb']} MB RSS, {outcome}")
        lines.extend(f"      left out: {reason}" for reason in row.get("left_out", []))
    return lines


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(measure(sys.argv[2], Path(sys.argv[3]))))
        return 0
    parser = base_parser(__doc__ or "")
    parser.add_argument("--steps", type=int, default=4, help="sizes per series, each twice the one before")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size (0.25 for a quick run)")
    parser.add_argument("--only", nargs="*", default=[], help="run only the series whose name holds one of these words")
    args = parser.parse_args()
    result = run(steps=args.steps, scale=args.scale, only=args.only)
    emit(result, summary_lines(result), as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
