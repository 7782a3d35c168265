"""Zip archives built byte by byte, for the tests that feed loaders hostile archives.

``zipfile`` writes only honest archives, and compresses every member it writes: a thousand
members of a megabyte each would cost a gigabyte of compressing per test. Here a member's
payload is compressed once (by ``zipfile`` itself, so every method comes out the way readers
expect) and its bytes are reused, and each member may declare whatever sizes it likes.
"""

from __future__ import annotations

import functools
import io
import struct
import zipfile
from dataclasses import dataclass


@dataclass(frozen=True)
class Packed:
    """One payload as it sits in an archive: compressed bytes, CRC, true size, method."""

    data: bytes
    crc: int
    size: int
    method: int


@dataclass(frozen=True)
class Member:
    name: str
    packed: Packed
    declared_size: int | None = None  # None: the true size
    declared_compressed: int | None = None  # None: the true compressed size


@functools.cache
def pack(payload: bytes, method: int = zipfile.ZIP_DEFLATED) -> Packed:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=method) as archive:
        archive.writestr("m", payload)
    raw = buffer.getvalue()
    info = zipfile.ZipFile(io.BytesIO(raw)).infolist()[0]
    name_length, extra_length = struct.unpack_from("<HH", raw, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    return Packed(raw[start : start + info.compress_size], info.CRC, info.file_size, method)


def forge(members: list[Member]) -> bytes:
    """An archive of ``members`` in order, each declaring the sizes it was given."""
    out = bytearray()
    directory = bytearray()
    for member in members:
        name = member.name.encode("utf-8")
        size = member.packed.size if member.declared_size is None else member.declared_size
        compressed = len(member.packed.data) if member.declared_compressed is None else member.declared_compressed
        fields = (20, 0x800, member.packed.method, 0, 0x21, member.packed.crc, compressed, size, len(name))
        offset = len(out)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + name + member.packed.data
        directory += struct.pack("<IH", 0x02014B50, 20) + struct.pack("<HHHHHIIIHH", *fields, 0)
        directory += struct.pack("<HHHII", 0, 0, 0, 0, offset) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), len(out), 0)
    return bytes(out + directory + end)
