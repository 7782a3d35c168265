"""Property tests: bad input costs only itself.

Whatever a folder holds (names with rich markup, terminal escapes or bytes that are not UTF-8,
symlink loops, broken and unsupported files, CSV rows with oversized cells or dates that do
not convert to UTC), every good file is ingested, every bad one is reported by its path, and
the plain report prints each path on its own line as it is named.

Each property draws only inputs it can judge, so every case Hypothesis runs (and
``tests/reliability_plugin.py`` counts) checks something; nothing returns early.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fixtures_loaders import csv_text
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from bots.cli import print_ingest_report, printable
from core.errors import LoaderError
from core.knowledge.ingesting import IngestReport, ingest
from core.knowledge.loaders import SkippedFile, load_file, read_messages, valid_text
from core.knowledge.loaders.discord_csv import MAX_CELL_CHARS, parse_date
from core.ports import SourceChange
from core.types import Chunk
from tests.reliability import fuzz


@dataclass
class RecordingKnowledgeBase:
    """A :class:`core.knowledge.ingesting.WritesSources` keeping what it is given, checked as LanceDB
    would check it (every string valid UTF-8). The real write path is ``test_ingest.py``'s;
    here the ingest's bookkeeping runs hundreds of times a second."""

    sources: dict[str, list[Chunk]] = field(default_factory=dict)

    def replace_source(self, source: str, chunks: Sequence[Chunk]) -> SourceChange:
        for chunk in chunks:
            for text in (chunk.id, chunk.source, chunk.title, chunk.text, chunk.scope, chunk.doc_key):
                text.encode("utf-8")  # what pyarrow does to every string it stores
        removed = len(self.sources.get(source, []))
        self.sources[source] = list(chunks)
        return SourceChange(source=source, added=len(chunks), unchanged=0, removed=removed)

    def refresh_indexes(self) -> None:
        """Nothing to index in memory."""


class WordCounter:
    def count_tokens(self, text: str) -> int:
        return len(text.split())


OVERFLOWING = "0001-01-01T00:00:00+14:00"
HUGE_ANSWER = 'He said "stop", then;\n' * (MAX_CELL_CHARS // 20)


def discord_json(*messages: tuple[str, str]) -> bytes:
    return json.dumps(
        {
            "guild": {"id": "1", "name": "Acme"},
            "channel": {"id": "2", "name": "help"},
            "messages": [
                {"id": str(i + 1), "timestamp": when, "content": text, "author": {"id": "7", "name": "ana"}}
                for i, (when, text) in enumerate(messages)
            ],
        }
    ).encode()


@dataclass(frozen=True)
class Kind:
    suffix: str
    content: bytes | None  # None: a symlink, to ``link`` (itself when empty)
    good: bool
    partial: bool = False  # good, with a row left out
    link: str = ""


KINDS = {
    "markdown": Kind(".md", b"# Parking\nVisitors park in bay 4.", good=True),
    "text": Kind(".txt", "Caf\u00e9 opens at nine.".encode(), good=True),
    "faq": Kind(".csv", b"question,answer\nWhy?,Because.\n", good=True),
    "faq with an oversized cell": Kind(
        ".csv", csv_text([["q", "a"], ["Big?", HUGE_ANSWER], ["Small?", "Yes."]]).encode(), good=True, partial=True
    ),
    "discord csv with an overflowing date": Kind(
        ".csv",
        f"AuthorID,Author,Date,Content\n7,ana,{OVERFLOWING},Early.\n7,ana,2024-03-01 09:00,On time.\n".encode(),
        good=True,
        partial=True,
    ),
    "discord json with an overflowing date": Kind(
        ".json", discord_json((OVERFLOWING, "Early."), ("2024-03-01T09:00:00+00:00", "On time.")), good=True
    ),
    "broken pdf": Kind(".pdf", b"%PDF-1.7 not really", good=False),
    "binary text": Kind(".txt", b"\x00\x01\x02binary", good=False),
    "unsupported": Kind(".xyz", b"x", good=False),
    "no suffix": Kind("", b"x", good=False),
    "empty": Kind(".md", b"", good=False),
    "symlink loop": Kind(".md", None, good=False),
    "dangling symlink": Kind(".md", None, good=False, link="no-such-target.md"),
}

# Pieces of file names: anything a file system allows, with the characters that broke the
# report (rich markup, emoji codes) or could abuse a terminal (escapes, bidi overrides).
HOSTILE = st.sampled_from(
    ["[", "]", "[/]", "[bold]", "[/bold]", "[link=https://x.example]", ":smile:", "\x1b[2J", "\x1b]8;;x\x07", "\n", "\r",
     "\t", "\u202e", "\u200b", "%s", "{}", "\\", " ", "\ufeff", "\udcff"]
)  # fmt: skip
NAME_PIECES = st.one_of(
    HOSTILE,
    st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00/"), min_size=1, max_size=10),
    st.binary(min_size=1, max_size=6).map(os.fsdecode),  # bytes that are not UTF-8 arrive as lone surrogates
)
FOLDERS = st.sampled_from(["", "[", "[bold]x", ":smile:", "sub/\x1b[31mred", "a b/c"])


def file_name(pieces: list[str], kind: Kind) -> str:
    """A name the file system takes: no ``/`` or NUL, not hidden (hidden files are ignored by
    design), at most 255 bytes, and keeping ``kind``'s suffix as its own."""
    base = "".join(pieces).replace("/", "_").replace("\x00", "_")
    if not kind.suffix:
        base = "noext " + base.replace(".", "_")  # "noext": never a folder's name
    elif base.startswith("."):
        base = "f" + base
    raw = os.fsencode(base)[: 250 - len(kind.suffix)]
    return os.fsdecode(raw) + kind.suffix


ENTRIES = st.lists(
    st.tuples(FOLDERS, st.lists(NAME_PIECES, min_size=1, max_size=4), st.sampled_from(sorted(KINDS))).map(
        lambda entry: (entry[0], file_name(entry[1], KINDS[entry[2]]), entry[2])
    ),
    min_size=1,
    max_size=8,
    unique_by=lambda entry: os.fsencode(os.path.join(entry[0], entry[1])),
)


@fuzz(250)
@given(entries=ENTRIES)
def test_every_good_file_ingests_and_every_bad_one_is_reported_by_its_path(entries: list[tuple[str, str, str]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "docs"
        good: set[Path] = set()
        bad: set[Path] = set()
        partial: set[Path] = set()
        for subfolder, name, kind_name in entries:
            kind = KINDS[kind_name]
            path = root / subfolder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind.content is None:
                os.symlink(kind.link or name, path)
            else:
                path.write_bytes(kind.content)
            (good if kind.good else bad).add(path)
            if kind.partial:
                partial.add(path)

        kb = RecordingKnowledgeBase()
        report = ingest([root], knowledge_base=kb, embedder=WordCounter())

        assert set(kb.sources) == {valid_text(str(path.resolve())) for path in good}
        assert report.files == len(good)
        skipped = {s.path: s.reason for s in report.skipped}
        assert set(skipped) == {str(path) for path in bad}
        assert all(reason.strip() for reason in skipped.values())
        assert {s.path for s in report.left_out} == {str(path) for path in partial}

        # The plain report: one line per entry, each path shown whole, no escape reaching the terminal.
        out = io.StringIO()
        print_ingest_report(report, Console(file=out, width=60))
        lines = out.getvalue().splitlines()
        assert len(lines) == 1 + len(report.skipped) + len(report.left_out)
        for line, item in zip(lines[1:], report.skipped, strict=False):
            assert line.startswith(f"Skipped {printable(item.path)}: ")
        assert "\x1b" not in out.getvalue()


REPORT_TEXT = st.lists(st.one_of(HOSTILE, st.text(max_size=20), st.binary(max_size=8).map(os.fsdecode)), max_size=8).map("".join)


@fuzz(600)
@given(
    skipped=st.lists(st.builds(SkippedFile, REPORT_TEXT, REPORT_TEXT), max_size=5),
    left_out=st.lists(st.builds(SkippedFile, REPORT_TEXT, REPORT_TEXT), max_size=3),
    width=st.integers(10, 200),
)
def test_the_plain_report_prints_any_path_and_reason_on_one_line_as_given(
    skipped: list[SkippedFile], left_out: list[SkippedFile], width: int
) -> None:
    out = io.StringIO()
    print_ingest_report(IngestReport(skipped=skipped, left_out=left_out), Console(file=out, width=width))
    lines = out.getvalue().splitlines()
    expected = [f"Skipped {printable(s.path)}: {printable(s.reason)}" for s in skipped]
    expected += [f"Left out of {printable(s.path)}: {printable(s.reason)}" for s in left_out]
    # rich trims trailing spaces from a line; everything else is printed as given.
    assert [line.rstrip() for line in lines[1:]] == [line.rstrip() for line in expected]
    assert all(ch == "\n" or ch.isprintable() for ch in out.getvalue())


# --- CSV rows ------------------------------------------------------------------------------

# Cell text with the characters CSV quoting exists for; no NUL (a binary file) and no \r
# (read as a line break, as every spreadsheet writes one).
CELL = st.text(
    st.one_of(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r"), st.sampled_from(',;\t"\n')),
    max_size=24,
)
WORD = st.sampled_from(["What", "Why", "Où", "如何", "x"])
HUGE = st.builds(
    lambda filler, extra: (filler * (MAX_CELL_CHARS // len(filler) + 1))[: MAX_CELL_CHARS + extra],
    st.sampled_from(["x", 'say "hi", ok\n', ";,\t", 'q,a\n"fake","row"\n']),
    st.integers(1, 4000),
)


@fuzz(200)
@given(
    rows=st.lists(
        st.tuples(st.builds(str.__add__, WORD, CELL), st.builds(str.__add__, WORD, CELL), st.sampled_from([None, 0, 1])),
        min_size=1,
        max_size=6,
    ),
    huge=HUGE,
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_faq_rows_beside_oversized_cells_are_kept_under_their_own_keys(
    rows: list[tuple[str, str, int | None]], huge: str, delimiter: str
) -> None:
    """``oversized`` (the third item) puts the huge text in the question (0) or answer (1) cell."""
    table = [["question", "answer"]]
    for question, answer, oversized in rows:
        cells = [question, answer]
        if oversized is not None:
            cells[oversized] = huge
        table.append(cells)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "faq.csv"
        path.write_text(csv_text(table, delimiter), encoding="utf-8")
        loaded = load_file(path)
    kept = [(f"row-{n}", q.strip(), a.strip()) for n, (q, a, oversized) in enumerate(rows, start=1) if oversized is None]
    assert [(d.key, d.title, d.text) for d in loaded.documents] == kept
    left_out_rows = [n + 1 for n, (_, _, oversized) in enumerate(rows, start=1) if oversized is not None]
    assert [note.split(" was left out")[0] for note in loaded.left_out] == [f"Row {n}" for n in left_out_rows]


GOOD_DATES = st.builds(lambda m: f"2024-03-01 {m // 60:02d}:{m % 60:02d}", st.integers(0, 24 * 60 - 1))
BAD_DATES = st.sampled_from([OVERFLOWING, "9999-12-31T23:59:59-14:00", "yesterday", "", "2024-13-45 99:99"])


@fuzz(200)
@given(
    rows=st.lists(
        st.tuples(st.one_of(GOOD_DATES, BAD_DATES), st.builds(str.__add__, WORD, CELL), st.booleans()),
        min_size=1,
        max_size=6,
    ),
    huge=HUGE,
    delimiter=st.sampled_from([",", ";"]),
)
def test_discord_rows_beside_oversized_cells_and_unreadable_dates_are_kept(
    rows: list[tuple[str, str, bool]], huge: str, delimiter: str
) -> None:
    table = [["AuthorID", "Author", "Date", "Content"]]
    table += [["7", "ana", date, huge if oversized else content] for date, content, oversized in rows]
    kept = [content.strip() for date, content, oversized in rows if not oversized and parse_date(date) is not None]
    unreadable = [n + 1 for n, (date, _, oversized) in enumerate(rows, start=1) if not oversized and parse_date(date) is None]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "help.csv"
        path.write_text(csv_text(table, delimiter), encoding="utf-8")
        if unreadable and not kept:  # no date in the file is one this reader knows: refused, naming the first
            for read in (read_messages, load_file):
                with pytest.raises(LoaderError, match=f"row {unreadable[0]} has a date that could not be read"):
                    read(path)
        else:
            assert [m.text for m in read_messages(path)] == kept
            oversized_rows = [n + 1 for n, (_, _, oversized) in enumerate(rows, start=1) if oversized]
            notes = load_file(path).left_out
            assert sorted(int(note.split()[1]) for note in notes) == sorted(oversized_rows + unreadable)


# --- dates ---------------------------------------------------------------------------------


@fuzz(3000)
@given(
    when=st.datetimes(),
    offset=st.integers(-(24 * 60 - 1), 24 * 60 - 1),
    separator=st.sampled_from(["T", " "]),
)
def test_any_iso_time_with_any_offset_reads_as_its_utc_time_or_as_unreadable(
    when: datetime, offset: int, separator: str
) -> None:
    sign = "-" if offset < 0 else "+"
    text = f"{when.isoformat(sep=separator)}{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    try:
        expected: datetime | None = when - timedelta(minutes=offset)
    except OverflowError:  # before 0001-01-01 or after 9999-12-31 in UTC
        expected = None
    parsed = parse_date(text)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None and parsed.tzinfo is UTC and parsed.replace(tzinfo=None) == expected
