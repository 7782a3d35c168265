"""The files of a chat export, from a zip archive or a folder, read with bounds.

A zip is never extracted: members are read into memory one at a time, after the archive
as a whole passed the checks that stop zip bombs and path traversal (absolute names, ``..``):
member count, total declared size, compression ratio of each large member and of the archive
as a whole (declared sizes against the bytes actually on disk, so many small members or
members sharing one compressed stream cannot add up to a bomb), and compression methods
whose output can be bounded while inflating. The declared sizes are not trusted either:
members are inflated block by block, and reading stops once a member passes the per-file
limit or everything read from the archive passes the per-export limit.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Protocol

from core.errors import LoaderError
from core.knowledge.loaders.reading import DEFAULT_LIMITS, Limits, describe_size, read_bytes

# Ratios this high appear in honest archives only for tiny members, which cost nothing to
# inflate; past this size a suspicious ratio is treated as a bomb.
_RATIO_CHECK_FROM_BYTES = 1024 * 1024
# How much of a member is inflated at a time. zipfile asks zlib for at most this much output
# per call, so a block of compressed input can never become more than this in memory.
_BLOCK_BYTES = 1024 * 1024
# zipfile inflates bzip2 and LZMA members a whole compressed block at a time, with no bound
# on the output: 4 KB of bzip2 can become gigabytes before any size check runs. Exports are
# stored or deflated (Slack's, and every common zip tool's default).
_READABLE_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
_UNBOUNDED_METHODS = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}

# Everything zipfile and its decompressors raise on a damaged or hostile archive.
ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    RuntimeError,
    EOFError,
    OSError,
    ValueError,
    struct.error,
    KeyError,
    IndexError,
    OverflowError,
)

_DRIVE = re.compile(r"^[A-Za-z]:")


class ExportFiles(Protocol):
    """Read access to the files of an export, named by relative POSIX paths."""

    name: str

    def names(self) -> list[str]: ...

    def read(self, name: str) -> bytes: ...

    def fingerprint(self) -> str: ...

    def close(self) -> None: ...


def is_ignored(name: str) -> bool:
    """Hidden files and folders and macOS resource forks are never part of an export."""
    return any(part.startswith(".") or part == "__MACOSX" for part in PurePosixPath(name).parts)


def unsafe_member_name(name: str) -> bool:
    """Absolute paths, drive letters and ``..`` would escape a folder if ever extracted."""
    normal = name.replace("\\", "/")
    if normal.startswith("/") or _DRIVE.match(normal):
        return True
    return any(part == ".." for part in normal.split("/"))


class ZipExport:
    """A zip archive read member by member into memory, within ``limits``."""

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.name = path.name
        self.path = path
        self.limits = limits
        self._digest, self._archive_bytes = _hash_file(path, limits)
        self._inflated = 0  # bytes read out of the archive so far, across members
        try:
            self._zip = zipfile.ZipFile(path)
            infos = self._zip.infolist()
        except ZIP_ERRORS as exc:
            raise LoaderError(f"{path.name} is not a readable zip archive ({_reason(exc)}).") from exc
        self._members = self._check(infos)

    def _check(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        limits = self.limits
        if len(infos) > limits.max_export_files:
            raise LoaderError(
                f"{self.name} holds {len(infos)} files, more than the limit of {limits.max_export_files}."
            )
        members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        compressed = 0
        for info in infos:
            if unsafe_member_name(info.filename):
                raise LoaderError(f"{self.name} contains an unsafe path ({info.filename!r}); it was not read.")
            if info.is_dir() or is_ignored(info.filename):
                continue
            if info.compress_type not in _READABLE_METHODS:
                raise LoaderError(f"{info.filename!r} in {self.name} could not be read: {_method_reason(info)}")
            total += info.file_size
            compressed += info.compress_size
            if info.file_size >= _RATIO_CHECK_FROM_BYTES and (
                info.compress_size <= 0 or info.file_size / info.compress_size > limits.max_compression_ratio
            ):
                raise LoaderError(
                    f"{self.name} looks like a zip bomb: {info.filename!r} would inflate to "
                    f"{describe_size(info.file_size)} from {describe_size(info.compress_size)}."
                )
            members[info.filename] = info
        if total > limits.max_export_bytes:
            raise LoaderError(
                f"{self.name} would inflate to {describe_size(total)}, more than the "
                f"{describe_size(limits.max_export_bytes)} limit for an export."
            )
        # The whole archive's ratio, against the smaller of what its members declare and what
        # is really on disk: a thousand members just under the per-member check, or members
        # declaring big compressed sizes they do not have, still add up here.
        packed = max(1, min(compressed, self._archive_bytes))
        if total >= _RATIO_CHECK_FROM_BYTES and total / packed > limits.max_compression_ratio:
            raise LoaderError(
                f"{self.name} looks like a zip bomb: its {len(members)} files would inflate to "
                f"{describe_size(total)} from {describe_size(packed)}."
            )
        return members

    def names(self) -> list[str]:
        return sorted(self._members)

    def read(self, name: str) -> bytes:
        info = self._members[name]
        limit = self.limits.max_file_bytes
        if info.file_size > limit:
            raise LoaderError(f"{name} in {self.name} is larger than the {describe_size(limit)} limit for one file.")
        blocks: list[bytes] = []
        size = 0
        try:
            with self._zip.open(info) as member:
                while block := member.read(_BLOCK_BYTES):
                    size += len(block)
                    self._inflated += len(block)
                    if size > limit:
                        raise LoaderError(
                            f"{name} in {self.name} is larger than the {describe_size(limit)} limit for one file."
                        )
                    if self._inflated > self.limits.max_export_bytes:
                        raise LoaderError(
                            f"{self.name} inflates to more than the {describe_size(self.limits.max_export_bytes)} "
                            "limit for an export."
                        )
                    blocks.append(block)
        except ZIP_ERRORS as exc:
            raise LoaderError(f"{name} in {self.name} could not be read ({_reason(exc)}).") from exc
        return b"".join(blocks)

    def fingerprint(self) -> str:
        return self._digest

    def close(self) -> None:
        self._zip.close()


class FolderExport:
    """An export already unpacked into a folder; symlinked folders are not followed."""

    def __init__(self, path: Path, limits: Limits = DEFAULT_LIMITS) -> None:
        self.name = path.name
        self.path = path
        self.limits = limits
        self._names = self._walk()

    def _walk(self) -> list[str]:
        names: list[str] = []
        total = 0
        for file in walk_files(self.path):
            relative = file.relative_to(self.path).as_posix()
            if is_ignored(relative):
                continue
            names.append(relative)
            if len(names) > self.limits.max_export_files:
                raise LoaderError(f"{self.name} holds more than the limit of {self.limits.max_export_files} files.")
            try:
                total += file.stat().st_size
            except OSError as exc:
                raise LoaderError(f"{relative} in {self.name} could not be read: {exc.strerror or exc}.") from exc
        if total > self.limits.max_export_bytes:
            raise LoaderError(
                f"{self.name} holds {describe_size(total)}, more than the "
                f"{describe_size(self.limits.max_export_bytes)} limit for an export."
            )
        return sorted(names)

    def names(self) -> list[str]:
        return list(self._names)

    def read(self, name: str) -> bytes:
        return read_bytes(self.path / name, self.limits)

    def close(self) -> None:
        """Nothing to release: files are opened one read at a time."""

    def fingerprint(self) -> str:
        # Names are part of the hash: renaming a channel folder changes what the export says.
        digest = hashlib.sha256()
        for name in self._names:
            digest.update(name.encode("utf-8", "surrogateescape") + b"\0")
            digest.update(hashlib.sha256(self.read(name)).digest())
        return digest.hexdigest()


def walk_files(root: Path) -> Iterator[Path]:
    """Every file under ``root`` in a stable order, skipping hidden folders, not following symlinked folders."""
    for folder, subfolders, files in os.walk(root, followlinks=False):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for file in sorted(files):
            yield Path(folder) / file


def _hash_file(path: Path, limits: Limits) -> tuple[str, int]:
    """(sha256, size) of the file, read once: the size on disk is the one size that cannot lie."""
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(1024 * 1024):
                size += len(block)
                if size > limits.max_export_bytes:
                    raise LoaderError(
                        f"{path.name} is larger than the {describe_size(limits.max_export_bytes)} limit for an export."
                    )
                digest.update(block)
    except OSError as exc:
        raise LoaderError(f"{path.name} could not be read: {exc.strerror or exc}.") from exc
    return digest.hexdigest(), size


def _method_reason(info: zipfile.ZipInfo) -> str:
    method = _UNBOUNDED_METHODS.get(info.compress_type)
    if method:
        return (
            f"it is compressed with {method}, which can inflate without bound before any size check; "
            "zip the export again with the usual deflate."
        )
    return f"it uses compression method {info.compress_type}, which Tidings does not read."


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".")
    return text or type(exc).__name__
