"""Property tests: whatever bytes, shapes, names and trees are thrown at the loaders, only a
LoaderError comes out, and nothing is ever written to disk while loading.

The reliability plugin counts the cases each property ran and reports them at the end of the
session (and in docs/reliability.md); every counted case reached the loaders.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

from fixtures_loaders import (
    DISCORD_CSV_SEMICOLON,
    FAQ_CSV,
    csv_text,
    jsonl,
    slack_export_files,
    valid_samples,
    zip_bytes,
)
from hypothesis import given
from hypothesis import strategies as st

from core.errors import LoaderError
from core.knowledge.loaders import SUPPORTED, Limits, discover, load_file, read_messages
from tests.reliability import fuzz

# Small limits so the size checks are exercised too, not only the parsers.
SMALL = Limits(max_file_bytes=64 * 1024, max_export_bytes=256 * 1024, max_export_files=64)
SUFFIXES = sorted({*SUPPORTED, ".jsonl"})
SAMPLES = valid_samples()

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


@contextmanager
def nothing_written() -> Iterator[list[str]]:
    """Record every attempt to open a file for writing or to make a folder while loading."""
    writes: list[str] = []
    real_open, real_os_open, real_mkdir = io.open, os.open, os.mkdir

    def guarded_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(mode, str) and any(flag in mode for flag in "wax+"):
            writes.append(f"open({file!r}, {mode!r})")
        return real_open(file, mode, *args, **kwargs)

    def guarded_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & _WRITE_FLAGS:
            writes.append(f"os.open({path!r})")
        return real_os_open(path, flags, *args, **kwargs)

    def guarded_mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        writes.append(f"mkdir({path!r})")
        real_mkdir(path, *args, **kwargs)

    with (
        mock.patch.object(io, "open", guarded_open),
        mock.patch.object(builtins, "open", guarded_open),
        mock.patch.object(os, "open", guarded_os_open),
        mock.patch.object(os, "mkdir", guarded_mkdir),
    ):
        yield writes
    assert writes == [], f"a loader wrote to disk: {writes}"


def only_loader_errors(path: Path, *, limits: Limits = SMALL) -> None:
    """Both entry points either answer or raise LoaderError; anything else fails the test."""
    with nothing_written():
        for call in (load_file, read_messages):
            try:
                call(path, limits=limits)
            except LoaderError as error:
                assert str(error).strip(), "a LoaderError must say what is wrong"


def in_tmp(name: str, data: bytes, check: Callable[[Path], None] = only_loader_errors) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        check(path)
        assert sorted(p.name for p in Path(folder).iterdir()) == [name], "the loader left files behind"


# --- bytes -------------------------------------------------------------------------------


@fuzz(1000)
@given(suffix=st.sampled_from(SUFFIXES), data=st.binary(max_size=4096))
def test_random_bytes_under_every_suffix(suffix: str, data: bytes) -> None:
    in_tmp(f"input{suffix}", data)


def _mutate(data: bytes, operations: list[tuple[int, int, int, bytes]]) -> bytes:
    buffer = bytearray(data)
    for kind, position, length, payload in operations:
        at = position % (len(buffer) + 1)
        if kind == 0:  # truncate
            del buffer[at:]
        elif kind == 1 and buffer:  # flip a byte
            buffer[at % len(buffer)] ^= 1 + length % 255
        elif kind == 2:  # insert junk
            buffer[at:at] = payload
        elif kind == 3:  # delete a slice
            del buffer[at : at + length]
        else:  # duplicate a slice
            buffer[at:at] = buffer[at : at + length]
    return bytes(buffer)


@fuzz(1200)
@given(
    name=st.sampled_from(sorted(SAMPLES)),
    operations=st.lists(
        st.tuples(st.integers(0, 4), st.integers(0, 1 << 20), st.integers(0, 256), st.binary(min_size=1, max_size=32)),
        min_size=1,
        max_size=6,
    ),
)
def test_mutated_valid_files(name: str, operations: list[tuple[int, int, int, bytes]]) -> None:
    in_tmp(name, _mutate(SAMPLES[name], operations))


# --- shapes ------------------------------------------------------------------------------

KEYS = [
    "id", "name", "ts", "user", "text", "thread_ts", "subtype", "type", "team", "team_id", "files", "file",
    "attachments", "permalink", "profile", "display_name", "user_profile", "bot_id", "bot_profile", "message",
    "deleted_ts", "timestamp", "author", "content", "reference", "messageId", "isBot", "nickname", "channel",
    "messages", "guild", "categoryId", "category", "url", "title", "pretext", "fallback", "event",
]  # fmt: skip
TS_LIKE = st.sampled_from(["1607340000.000100", "-1", "1e300", "nan", "", "0", "99999999999999999999", "x"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | TS_LIKE,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(KEYS), children, max_size=6),
    max_leaves=25,
)


@fuzz(150)
@given(
    channels=JSON_VALUES,
    users=JSON_VALUES,
    day=st.lists(st.dictionaries(st.sampled_from(KEYS), JSON_VALUES, max_size=8), max_size=6) | JSON_VALUES,
    folder=st.sampled_from(["general", "secret-plans", "unknown-folder"]),
)
def test_slack_export_with_arbitrary_json(channels: Any, users: Any, day: Any, folder: str) -> None:
    files = slack_export_files()
    files["channels.json"] = json.dumps(channels).encode()
    files["users.json"] = json.dumps(users).encode()
    files[f"{folder}/2020-12-09.json"] = json.dumps(day).encode()
    in_tmp("export.zip", zip_bytes(files))


@fuzz(150)
@given(
    guild=JSON_VALUES,
    channel=st.dictionaries(st.sampled_from(KEYS), JSON_VALUES, max_size=6),
    messages=st.lists(st.dictionaries(st.sampled_from(KEYS), JSON_VALUES, max_size=8), max_size=6),
)
def test_discord_json_with_arbitrary_fields(guild: Any, channel: dict[str, Any], messages: list[Any]) -> None:
    in_tmp("channel.json", json.dumps({"guild": guild, "channel": channel, "messages": messages}).encode())


@fuzz(150)
@given(
    events=st.lists(
        st.dictionaries(st.sampled_from(KEYS), JSON_VALUES, max_size=8).map(lambda e: {"type": "message", **e}),
        max_size=8,
    ),
    junk_lines=st.lists(st.text(max_size=20), max_size=2),
)
def test_slack_events_log_with_arbitrary_events(events: list[dict[str, Any]], junk_lines: list[str]) -> None:
    data = jsonl(events) + "".join(line.replace("\n", " ") + "\n" for line in junk_lines).encode()
    in_tmp("log.jsonl", data)


CELLS = st.text(st.characters(blacklist_categories=["Cs"]), max_size=30)


@fuzz(600)
@given(
    header=st.sampled_from(
        [
            DISCORD_CSV_SEMICOLON.splitlines()[0].split(";"),
            FAQ_CSV.splitlines()[0].split(","),
            ["q", "a"],
            ["x", "y", "z"],
        ]
    ),
    rows=st.lists(st.lists(CELLS, max_size=8), max_size=8),
    delimiter=st.sampled_from([",", ";", "\t"]),
)
def test_csv_with_arbitrary_cells(header: list[str], rows: list[list[str]], delimiter: str) -> None:
    in_tmp("komodo-support-2019-Dec-06.csv", csv_text([header, *rows], delimiter).encode("utf-8", "replace"))


MARKUP_TOKENS = st.sampled_from(
    [
        "<p",
        ">",
        "</",
        "<!--",
        "-->",
        "<h1>",
        "</h1>",
        "<h3 class='x'>",
        "<script>",
        "</script>",
        "<nav>",
        "<br>",
        "<title>",
        "</title>",
        "&amp;",
        "&#",
        "<![CDATA[",
        "]]>",
        "\n",
        "# ",
        "## ",
        "---\n",
        "title: ",
        "===\n",
        ".. note::\n",
        ".. code-block:: py\n",
        "   ",
        "::\n",
        ":ref:`x <y>`",
        "``",
        ":::tip\n",
        "!!! note\n",
        "![a](b)",
        "<footer>",
        "{% x %}",
        "```\n",
        "    ",
        "\t",
        "word ",
        "<div>",
        "</div>",
        "<pre>",
        "\ufeff",
        "\u00a0",
        "\r\n",
    ]
)


@fuzz(800)
@given(
    suffix=st.sampled_from([".html", ".md", ".rst", ".txt"]),
    tokens=st.lists(MARKUP_TOKENS, max_size=60),
    encoding=st.sampled_from(["utf-8", "utf-16", "cp1252", "latin-1"]),
)
def test_markup_soup(suffix: str, tokens: list[str], encoding: str) -> None:
    in_tmp(f"page{suffix}", "".join(tokens).encode(encoding, "replace"))


@fuzz(300)
@given(
    operations=st.lists(
        st.tuples(st.integers(1, 4), st.integers(0, 1 << 20), st.integers(0, 64), st.binary(min_size=1, max_size=16)),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_pdfs(operations: list[tuple[int, int, int, bytes]]) -> None:
    in_tmp("manual.pdf", _mutate(SAMPLES["manual.pdf"], operations))


# --- archives and trees ------------------------------------------------------------------

def zipfile_can_write(name: str) -> bool:
    """zipfile cuts a member name at its first NUL and cannot write an empty one (IndexError):
    such a zip cannot exist, so it is not drawn (it used to be a case that loaded nothing)."""
    return name.split("\x00", 1)[0] != ""


MEMBER_NAMES = st.one_of(
    # zipfile cuts a name at its first NUL and cannot write an empty one.
    st.text(min_size=1, max_size=20).filter(lambda name: name.split("\x00", 1)[0] != ""),
    st.sampled_from(["../x.json", "/abs.json", "a/../../b.json", "C:\\x", "general/../../up", "./channels.json"]),
    st.builds(lambda a, b: f"{a}/{b}.json", st.sampled_from(["general", "..", "", "."]), st.text(max_size=8)),
).filter(zipfile_can_write)


@fuzz(300)
@given(
    members=st.dictionaries(MEMBER_NAMES, st.binary(max_size=256), max_size=6),
    compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]),
)
def test_zip_with_arbitrary_members(members: dict[str, bytes], compression: int) -> None:
    files = {**slack_export_files(), **members}
    in_tmp("export.zip", zip_bytes(files, compression=compression))


TREE_NAMES = st.sampled_from(
    ["a.md", ".hidden.md", "b.txt", "c.csv", "d.json", "e.zip", "f.pdf", "g.html", "h.jsonl", "i.png", "noext", "j.rst"]
)


@fuzz(100)
@given(
    tree=st.lists(
        st.tuples(st.sampled_from(["", "sub/", ".git/", "deep/er/", "export/"]), TREE_NAMES, st.binary(max_size=512)),
        max_size=8,
    ),
    with_export=st.booleans(),
)
def test_discover_then_load_every_item(tree: list[tuple[str, str, bytes]], with_export: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        if with_export:
            for name, data in slack_export_files().items():
                (root / "export" / name).parent.mkdir(parents=True, exist_ok=True)
                (root / "export" / name).write_bytes(data)
        for prefix, name, data in tree:
            path = root / prefix / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        before = sorted(root.rglob("*"))
        with nothing_written():
            found, skipped = discover([root, root / "missing"])
        assert all(root in path.parents for path in found)
        assert all(item.reason for item in skipped)
        for path in found:
            only_loader_errors(path)
        assert sorted(root.rglob("*")) == before

