"""Property tests: what one input may cost (issue 17, defects 2 to 4), over generated inputs.

- Zip archives of many members, high ratios, sizes that lie and every compression method:
  the loader answers or raises LoaderError, Python never holds more than a fixed bound, and
  an archive that loads never inflated more than the ratio allows of the bytes on disk.
- Long texts without a break (repeated units, encoded data, headings of spaces): every chunk
  fits, the tokenizer never reads more than a bounded window, encoded data never reaches a
  chunk, and doubling the text at most about doubles the work and the memory.
- Over-long ordinary sentences and headings are read exactly as before (chunk ids stay).
- Threads split into windows: keys are unique, the same as before, and cost linear work.

Work and memory are counted (characters tokenized, lines run, tracemalloc), never timed.
"""

from __future__ import annotations

import functools
import io
import json
import re
import sys
import tempfile
import tracemalloc
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from fixtures_loaders import slack_export_files, zip_bytes
from hypothesis import example, given
from hypothesis import strategies as st
from zip_forge import Member, Packed, forge, pack

from core.digests.conversations import group_conversations
from core.errors import LoaderError
from core.knowledge.chunking import SPECIAL_TOKENS, _heading, _Notes, _split_long, chunk_document
from core.knowledge.loaders import Limits, load_file
from core.knowledge.loaders.chat import conversation_documents
from core.types import Author, ChannelMessage, ChannelRef, Document
from tests.reliability import fuzz

MIB = 1024 * 1024



def traced(call: Callable[[], Any]) -> tuple[Any, int]:
    """(what ``call`` returned or raised, the peak bytes Python allocated meanwhile)."""
    tracemalloc.start()
    try:
        try:
            outcome: Any = call()
        except LoaderError as error:
            outcome = error
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- zip archives ---------------------------------------------------------------------------

LIMITS = Limits(max_file_bytes=2 * MIB, max_export_bytes=8 * MIB, max_export_files=400, max_export_messages=20_000)
MEMORY_BOUND = 48 * MIB
RATIO = LIMITS.max_compression_ratio


def _day(count: int) -> bytes:
    start = datetime(2021, 1, 1, tzinfo=UTC).timestamp()
    return json.dumps(
        [{"type": "message", "user": "U1", "text": f"message {i}", "ts": f"{start + i:.6f}", "thread_ts": f"{start:.6f}"} for i in range(count)]
    ).encode()


PAYLOADS: dict[str, Callable[[], bytes]] = {
    "messages": lambda: _day(50),
    "spaces 64 KB": lambda: b"[" + b" " * (64 * 1024) + b"]",
    "spaces just under 1 MiB": lambda: b"[" + b" " * (MIB - 3) + b"]",
    "spaces 3 MiB": lambda: b"[" + b" " * (3 * MIB) + b"]",
    "spaces 64 MiB": lambda: b"[" + b" " * (64 * MIB) + b"]",
    "zeros": lambda: b"\0" * (256 * 1024),
    "nested zip": lambda: zip_bytes(slack_export_files()),
    "garbage": lambda: bytes(range(256)) * 4,
}
METHODS = [zipfile.ZIP_DEFLATED, zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]
NAMES = ["day", "day", "day", "other", "hidden", "unsafe", "folder"]
SIZE_LIES = ["true", "true", "tiny", "half", "double", "zero"]
COMPRESSED_LIES = ["true", "true", "tiny", "huge"]


@functools.cache
def packed(payload: str, method: int) -> Packed:
    if payload == "spaces 64 MiB" and method == zipfile.ZIP_STORED:
        method = zipfile.ZIP_DEFLATED  # 64 MiB stored would be 64 MiB on disk: no bomb, just slow
    return pack(PAYLOADS[payload](), method)


Plan = tuple[str, str, int, str, str, int]
plans = st.tuples(
    st.sampled_from(NAMES),
    st.sampled_from(sorted(PAYLOADS)),
    st.sampled_from(METHODS),
    st.sampled_from(SIZE_LIES),
    st.sampled_from(COMPRESSED_LIES),
    st.integers(min_value=1, max_value=40),
)


def _name(kind: str, index: int) -> str:
    return {
        "day": f"c{index % 7}/2021-01-{1 + index // 7 % 28:02d}.json",
        "other": f"c{index % 7}/notes-{index}.bin",
        "hidden": f"__MACOSX/c{index}/2021-01-01.json",
        "unsafe": f"../c{index}/2021-01-01.json",
        "folder": f"c{index}/",
    }[kind]


def _archive(groups: list[Plan]) -> tuple[bytes, int]:
    """The archive, and the true bytes of its day files (what a loader must inflate)."""
    members = [Member(name, pack(data)) for name, data in slack_export_files().items() if name.endswith("s.json")]
    day_bytes = 0
    index = 0
    for kind, payload, method, size_lie, compressed_lie, repeat in groups:
        blob = packed(payload, method)
        size = {"true": None, "tiny": 1, "half": blob.size // 2, "double": blob.size * 2, "zero": 0}[size_lie]
        compressed = {"true": None, "tiny": 1, "huge": 2**31}[compressed_lie]
        for _ in range(repeat):
            name = _name(kind, index)
            index += 1
            members.append(Member(name, blob if kind != "folder" else pack(b""), size, compressed))
            if kind == "day":
                day_bytes += blob.size
    return forge(members), day_bytes


@fuzz(40)
@given(groups=st.lists(plans, min_size=1, max_size=8))
@example(groups=[("day", "spaces just under 1 MiB", zipfile.ZIP_DEFLATED, "true", "true", 8)])  # the bomb, scaled
@example(groups=[("day", "spaces 64 MiB", zipfile.ZIP_BZIP2, "tiny", "true", 1)])  # bzip2 lying about its size
@example(groups=[("day", "spaces 64 MiB", zipfile.ZIP_DEFLATED, "tiny", "true", 2)])
@example(groups=[("day", "messages", zipfile.ZIP_STORED, "true", "huge", 40), ("unsafe", "messages", zipfile.ZIP_DEFLATED, "true", "true", 1)])
def test_generated_archives_stay_within_their_bounds(groups: list[Plan]) -> None:
    data, day_bytes = _archive(groups)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.zip"
        path.write_bytes(data)
        outcome, peak = traced(lambda: load_file(path, limits=LIMITS))
    assert peak < MEMORY_BOUND, f"{peak / MIB:.1f} MiB held while reading"
    if isinstance(outcome, LoaderError):
        assert str(outcome).strip(), "a refused archive says why"
    else:
        # It loaded: everything it had to inflate was within the ratio of what is on disk.
        assert day_bytes <= LIMITS.max_export_bytes
        assert day_bytes < MIB or day_bytes <= RATIO * len(data), (day_bytes, len(data))


# --- long texts without a break --------------------------------------------------------------


class Counting:
    """A tokenizer stand-in that counts its work. ``kind`` picks how it counts:
    ``chars``: one token per character that is not a space (MiniLM on "a,a,a,");
    ``words``: one per word; ``pieces``: one per run of letters and digits, however long (as
    MiniLM makes one unknown token of a run past 100 characters), and one per other character."""

    _PIECE = re.compile(r"\w+|[^\w\s]")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.chars = 0
        self.longest = 0

    def __call__(self, text: str) -> int:
        self.chars += len(text)
        self.longest = max(self.longest, len(text))
        if self.kind == "chars":
            return sum(1 for ch in text if not ch.isspace()) + SPECIAL_TOKENS
        if self.kind == "words":
            return len(text.split()) + SPECIAL_TOKENS
        return len(self._PIECE.findall(text)) + SPECIAL_TOKENS


UNITS = [
    "a,",
    "a",
    "ab1+/",
    "é",
    "漢",
    "=",
    "a ",
    "word ",
    "x" * 3000 + " ",
    " \t",
    "data:image/png;base64," + "QUJD" * 300 + " ",
    "A sentence ends here. ",
]
units = st.one_of(st.sampled_from(UNITS), st.text(min_size=1, max_size=6))


def _chunked(text: str, kind: str, max_tokens: int) -> tuple[Counting, list[Any], int]:
    counter = Counting(kind)
    document = Document(source="s", title="Generated", text=text)
    left_out: list[str] = []
    chunks, peak = traced(lambda: chunk_document(document, count_tokens=counter, max_tokens=max_tokens, left_out=left_out))
    return counter, chunks, peak


@fuzz(25)
@given(
    unit=units,
    length=st.integers(min_value=5_000, max_value=20_000),
    kind=st.sampled_from(["chars", "words", "pieces"]),
    max_tokens=st.integers(min_value=32, max_value=254),
    heading=st.booleans(),
)
@example(unit="a,", length=32_000, kind="chars", max_tokens=200, heading=False)
def test_long_texts_are_split_with_linear_work_and_bounded_windows(
    unit: str, length: int, kind: str, max_tokens: int, heading: bool
) -> None:
    text = unit * max(1, length // len(unit))
    if heading:
        # Ends with a line break, so the doubled text has two headings, not one run-on body.
        text = f"# {text}\n\nSome text under the heading.\n"
    small, chunks, small_peak = _chunked(text, kind, max_tokens)
    large, _, large_peak = _chunked(text + text, kind, max_tokens)
    for chunk in chunks:
        # What the chunker promises: the text fits what the title leaves of the limit (at
        # least 16 tokens); +1 as a sentence split at words may fill its whole budget, one
        # token over what _pack leaves a sentence (as before, so ordinary chunks keep their ids).
        count = Counting(kind)
        budget = max(16, max_tokens - (count(chunk.title) - SPECIAL_TOKENS) - 1)
        assert count(chunk.text) - SPECIAL_TOKENS <= budget + 1
        assert not re.search(r"[A-Za-z0-9+/]{1024}", chunk.text), "encoded data reached a chunk"
        assert len(chunk.title) <= 1_000
    assert large.longest <= 100_000 + 1_000, "the tokenizer read an unbounded window"
    assert large.chars <= 2.5 * small.chars + 20_000, (small.chars, large.chars)
    assert large_peak <= 2.5 * small_peak + MIB, (small_peak, large_peak)


def _split_long_before(sentence: str, limit: int, count: Callable[[str], int]) -> list[str]:
    """``_split_long`` as it was before issue 17 (quadratic): the reference for ordinary text."""
    words = sentence.split()
    pieces: list[str] = []
    current: list[str] = []
    for word in words:
        candidate = " ".join([*current, word])
        if current and count(candidate) - SPECIAL_TOKENS > limit:
            pieces.append(" ".join(current))
            current = [word]
        else:
            current.append(word)
    if current:
        pieces.append(" ".join(current))
    out: list[str] = []
    for piece in pieces:
        while count(piece) - SPECIAL_TOKENS > limit and len(piece) > 1:
            cut = max(1, len(piece) * limit // max(1, count(piece)))
            out.append(piece[:cut])
            piece = piece[cut:]
        out.append(piece)
    return out


ordinary_words = st.lists(
    st.one_of(
        st.text(alphabet="abcdefghij,.;-é漢", min_size=1, max_size=12),
        st.text(alphabet="abc/:?=&%.", min_size=20, max_size=600),  # URLs and the like
    ),
    min_size=1,
    max_size=300,
)


@fuzz(150)
@given(
    words=ordinary_words,
    separators=st.lists(st.sampled_from([" ", "  ", "\t", " \u00a0", "\n"]), min_size=1, max_size=5),
    kind=st.sampled_from(["chars", "words", "pieces"]),
    limit=st.integers(min_value=16, max_value=254),
)
def test_ordinary_over_long_sentences_are_split_as_before(
    words: list[str], separators: list[str], kind: str, limit: int
) -> None:
    sentence = "".join(word + separators[i % len(separators)] for i, word in enumerate(words)).strip()
    counter = Counting(kind)
    pieces = list(_split_long(sentence, limit, counter, _Notes()))
    assert [text for text, _ in pieces] == _split_long_before(sentence, limit, Counting(kind))
    assert all(size == Counting(kind)(text) - SPECIAL_TOKENS for text, size in pieces)


_HEADING_BEFORE = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


@fuzz(400)
@given(line=st.text(alphabet="## \t\u00a0\u2003a.b", max_size=30))
def test_headings_are_read_as_the_old_pattern_read_them(line: str) -> None:
    match = _HEADING_BEFORE.match(line)
    expected = None if match is None else (len(match.group(1)), match.group(2).strip())
    assert _heading(line) == expected


# --- threads -------------------------------------------------------------------------------


def _keys_before(messages: list[ChannelMessage], window: int) -> list[str]:
    """Document keys as ``conversation_documents`` gave them before issue 17 (quadratic)."""
    used: set[str] = set()
    keys = []
    for conversation in group_conversations(messages, max_messages=max(1, window)):
        key = conversation.id
        if key in used:
            key = f"{conversation.channel.channel}:{conversation.id}"
        suffix, base = 2, key
        while key in used:
            key = f"{base}-{suffix}"
            suffix += 1
        used.add(key)
        keys.append(key)
    return keys


threads = st.lists(
    st.tuples(st.integers(min_value=0, max_value=2), st.sampled_from(["0.0", "1.0", "0.5", None]), st.integers(min_value=1, max_value=40)),
    min_size=1,
    max_size=5,
)


def _messages(groups: list[tuple[int, str | None, int]]) -> list[ChannelMessage]:
    start = datetime(2021, 1, 1, tzinfo=UTC)
    author = Author(id="U1", name="alice")
    messages = []
    in_channel = [0, 0, 0]
    for number, (channel, thread, count) in enumerate(groups):
        ref = ChannelRef(platform="slack", workspace="T1", channel=f"C{channel}", name=f"c{channel}")
        # Ids repeat across channels on purpose (two channels may share a timestamp id), never
        # within one; groups lie days apart, so growing one never merges it with the next.
        group = in_channel[channel]
        in_channel[channel] += 1
        for i in range(count):
            when = start + timedelta(days=number * 10, seconds=i)
            messages.append(
                ChannelMessage(id=f"{group}.{i}", channel=ref, author=author, text=f"m{i}", timestamp=when, thread_id=thread)
            )
    return messages


def _lines_in(code: Any, call: Callable[[], Any]) -> tuple[Any, int]:
    lines = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal lines
        lines += event == "line"
        return local

    sys.settrace(lambda frame, event, arg: local if frame.f_code is code else None)
    try:
        return call(), lines
    finally:
        sys.settrace(None)


@fuzz(30)
@given(groups=threads, window=st.integers(min_value=1, max_value=4))
def test_thread_windows_get_unique_keys_as_before_in_linear_work(
    groups: list[tuple[int, str | None, int]], window: int
) -> None:
    messages = _messages(groups)
    documents = conversation_documents(messages, source="s", window=window)
    keys = [document.key for document in documents]
    assert len(set(keys)) == len(keys)
    assert keys == _keys_before(messages, window)
    # The same threads grown tenfold, then twice that: the work at most about doubles.
    code = conversation_documents.__code__
    bigger = [(c, t, n * 10) for c, t, n in groups]
    doubled = [(c, t, n * 20) for c, t, n in groups]
    _, small = _lines_in(code, lambda: conversation_documents(_messages(bigger), source="s", window=window))
    _, large = _lines_in(code, lambda: conversation_documents(_messages(doubled), source="s", window=window))
    assert large <= 2.5 * small, (small, large)


def test_the_generated_archives_are_well_formed() -> None:
    """The forger's archives read back as what they claim when they do not lie."""
    data, day_bytes = _archive([("day", "messages", zipfile.ZIP_DEFLATED, "true", "true", 3)])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        assert archive.testzip() is None
        assert len(archive.read(names[-1])) == len(_day(50))
    assert day_bytes == 3 * len(_day(50))
