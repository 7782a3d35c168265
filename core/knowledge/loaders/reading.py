"""Careful reading of untrusted files: bounded size, text decoding, JSON parsing.

Every loader goes through these helpers so that a huge, binary, badly encoded or deeply
nested file becomes one clear ``LoaderError`` instead of a crash or an exhausted machine.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import LoaderError

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How much a loader may read before it refuses a file.

    ``max_file_bytes`` bounds every single file and every member of an archive;
    ``max_export_bytes`` and ``max_export_files`` bound a whole chat export (zip or folder);
    ``max_export_messages`` bounds the messages read from one export, which is what its memory
    grows with (a message costs far more as an object than as JSON);
    ``max_compression_ratio`` rejects zip archives and members that inflate suspiciously (zip bombs).
    """

    max_file_bytes: int = 50 * MIB
    max_export_bytes: int = 1024 * MIB
    max_export_files: int = 100_000
    max_export_messages: int = 2_000_000
    max_compression_ratio: float = 200.0


DEFAULT_LIMITS = Limits()

# Byte-order marks decide the encoding outright; checked longest first (UTF-32 LE starts like UTF-16 LE).
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def describe_size(n_bytes: int) -> str:
    if n_bytes >= MIB:
        return f"{n_bytes / MIB:.1f} MB"
    if n_bytes >= 1024:
        return f"{n_bytes / 1024:.1f} KB"
    return f"{n_bytes} bytes"


def read_bytes(path: Path, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The file's bytes, refusing files over ``limits.max_file_bytes`` without reading them whole."""
    try:
        with path.open("rb") as handle:
            # Read one byte past the limit instead of trusting stat(): the file may grow
            # while we read, or be a device or pipe whose size stat() cannot tell.
            data = handle.read(limits.max_file_bytes + 1)
    except IsADirectoryError as exc:
        raise LoaderError(f"{path.name} is a folder, not a file.") from exc
    except OSError as exc:
        raise LoaderError(f"{path.name} could not be read: {exc.strerror or exc}.") from exc
    if len(data) > limits.max_file_bytes:
        raise LoaderError(f"{path.name} is larger than the {describe_size(limits.max_file_bytes)} limit for one file.")
    return data


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decode_text(data: bytes, name: str) -> str:
    """Decode a text file: a byte-order mark wins, then UTF-8, then Windows-1252, then Latin-1.

    Text with NUL characters is binary data under a text suffix (an image renamed .txt, a
    UTF-16 file without a BOM); indexing it would only fill the knowledge base with noise.
    """
    text: str | None = None
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as exc:
                raise LoaderError(
                    f"{name} starts with a {encoding} byte-order mark but is not valid {encoding}."
                ) from exc
            break
    if text is None:
        for encoding in ("utf-8", "cp1252", "latin-1"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    # Latin-1 decodes every byte sequence, so text is always set here.
    assert text is not None
    if "\x00" in text:
        raise LoaderError(f"{name} looks like a binary file, not text (it contains NUL bytes).")
    # A second BOM (text re-saved by a tool that added its own) is not content either.
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def parse_json(text: str, name: str) -> Any:
    """Parse JSON, turning every way it can fail (syntax, absurd nesting) into a LoaderError."""
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise LoaderError(f"{name} is JSON nested too deeply to read.") from exc
    except ValueError as exc:
        raise LoaderError(f"{name} is not valid JSON: {exc}.") from exc
