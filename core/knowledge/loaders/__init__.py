"""Files in, Documents (knowledge base) or ChannelMessages (digests) out.

Pure: no knowledge base, no models, nothing written anywhere. Every way a file can be
wrong (missing, huge, binary, badly encoded, truncated, nested absurdly, a zip bomb, an
archive with ``..`` in its member names) ends as one ``LoaderError`` whose message is a
sentence fit for an ingest report; no other exception escapes ``load_file`` or
``read_messages``.

- ``discover(paths)`` expands files and folders into the items to load, and says why it
  skipped the rest.
- ``load_file(path)`` turns one item into Documents: one per file (Markdown, text, HTML),
  per page (PDF), per row (FAQ CSV), or per conversation (chat exports, scoped to their
  channel).
- ``read_messages(path)`` reads a chat export (Slack export, DiscordChatExporter JSON/CSV,
  a Slack Events API JSONL log) as messages for digests.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path

from core.errors import LoaderError
from core.knowledge.loaders.archive import walk_files
from core.knowledge.loaders.chat import conversation_documents
from core.knowledge.loaders.discord_csv import (
    discord_rows,
    is_discord_header,
    normalized_header,
    read_csv_rows,
    read_discord_csv,
)
from core.knowledge.loaders.discord_json import read_discord_json
from core.knowledge.loaders.faq_csv import faq_columns, faq_documents
from core.knowledge.loaders.html_page import decode_html, html_title_and_text
from core.knowledge.loaders.markdown import markdown_title_and_text
from core.knowledge.loaders.pdf import pdf_pages
from core.knowledge.loaders.plain_text import text_title_and_text
from core.knowledge.loaders.reading import DEFAULT_LIMITS, Limits, decode_text, fingerprint, parse_json, read_bytes
from core.knowledge.loaders.slack_events import read_slack_events
from core.knowledge.loaders.slack_export import is_slack_export_folder, read_slack_export
from core.types import PUBLIC_SCOPE, ChannelMessage, Document

__all__ = [
    "DEFAULT_LIMITS",
    "SUPPORTED",
    "Limits",
    "LoadedFile",
    "SkippedFile",
    "discover",
    "load_file",
    "read_messages",
]

# What ``tidings ingest`` reads, by file suffix; a folder holding a Slack export
# (channels.json plus one folder of day files per channel) is read as one export too.
SUPPORTED: dict[str, str] = {
    ".md": "Markdown",
    ".markdown": "Markdown",
    ".mdx": "Markdown",  # a docs site's MDX: its imports and call-out fences are left out
    ".txt": "plain text",
    ".rst": "reStructuredText",
    ".html": "HTML",
    ".htm": "HTML",
    ".pdf": "PDF",
    ".csv": "FAQ CSV (question and answer columns) or DiscordChatExporter CSV",
    ".json": "DiscordChatExporter JSON",
    ".zip": "Slack workspace export",
}

# Chat logs ``read_messages`` also reads, which are not knowledge-base material.
MESSAGE_ONLY = {".jsonl": "Slack Events API log", ".ndjson": "Slack Events API log"}
# A web address given as a path ("https://wiki.example.com/handbook"): nothing is downloaded.
WEB_ADDRESS = re.compile(r"^(?:https?|ftp)://", re.IGNORECASE)


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class LoadedFile:
    source: str
    documents: tuple[Document, ...]
    fingerprint: str
    left_out: tuple[str, ...] = ()
    """Parts of the file that could not be read while the rest was (a CSV row), one sentence each."""


def supported_formats_sentence() -> str:
    kinds = sorted(set(SUPPORTED.values()))
    return "Tidings reads " + ", ".join(kinds) + ", and Slack export folders."


def discover(paths: Sequence[str | Path]) -> tuple[list[Path], list[SkippedFile]]:
    """The loadable items under ``paths`` (folders searched recursively), and what was skipped and why.

    A Slack export folder is one item. Hidden files and folders (``.git``, ``.DS_Store``)
    met while searching a folder are ignored silently; a hidden file named explicitly is
    reported as skipped.
    """
    found: list[Path] = []
    skipped: list[SkippedFile] = []
    seen: set[str] = set()

    def add(path: Path) -> None:
        key = _identity(path)
        if key not in seen:
            seen.add(key)
            found.append(path)

    for given in paths:
        try:
            _discover_one(Path(given), str(given), add, skipped)
        except OSError as exc:  # one path the system refuses (permissions) is skipped, not the whole ingest
            skipped.append(SkippedFile(str(given), f"The path could not be read: {exc.strerror or exc}."))
    return found, skipped


def _discover_one(path: Path, given: str, add: Callable[[Path], None], skipped: list[SkippedFile]) -> None:
    """``given`` is the path as the user wrote it, which is how a skipped path is reported."""
    if not path.exists():
        reason = "The path does not exist."
        if WEB_ADDRESS.match(given):
            reason = (
                "Tidings reads files and folders, not web addresses: save the page (as HTML or PDF) "
                "or export the site, then ingest the file."
            )
        elif path.is_symlink():
            reason = "The path is a symbolic link to nothing: its target is missing, or it loops back on itself."
        skipped.append(SkippedFile(given, reason))
    elif path.is_dir():
        if is_slack_export_folder(path):
            add(path)
            return
        for item, reason_or_none in _search_folder(path):
            if reason_or_none is None:
                add(item)
            else:
                skipped.append(SkippedFile(str(item), reason_or_none))
    elif path.name.startswith("."):
        skipped.append(SkippedFile(given, "Hidden files are not ingested."))
    else:
        unsupported = _unsupported_reason(path)
        if unsupported is None:
            add(path)
        else:
            skipped.append(SkippedFile(given, unsupported))


def load_file(
    path: Path,
    *,
    scope: str | None = None,
    conversation_window: int = 12,
    limits: Limits = DEFAULT_LIMITS,
) -> LoadedFile:
    """One file (or Slack export folder) as Documents.

    Files default to the ``public`` scope and chat exports to their channel's scope;
    ``scope`` overrides both.
    """
    path = Path(path)
    with _as_loader_errors(path):
        loaded = _load_file(path, scope, conversation_window, limits)
    return _in_valid_text(loaded)


def read_messages(path: Path, *, limits: Limits = DEFAULT_LIMITS) -> list[ChannelMessage]:
    """The messages of a chat export, oldest first, noise (joins, bots, edits) marked by ``kind``."""
    path = Path(path)
    with _as_loader_errors(path):
        messages, _ = _read_chat(path, limits)
    return messages


@contextmanager
def _as_loader_errors(path: Path) -> Iterator[None]:
    """The operating system's refusals (permissions, vanished files, symlink loops) and
    absurd nesting become LoaderErrors like every other reason a file cannot be read."""
    try:
        yield
    except OSError as exc:
        raise LoaderError(f"{path.name or path} could not be read: {exc.strerror or exc}.") from exc
    except RecursionError as exc:
        raise LoaderError(f"{path.name or path} is nested too deeply to read.") from exc


def valid_text(value: str) -> str:
    """``value`` as text that can be written as UTF-8. A file name whose bytes are not UTF-8
    reaches Python with each such byte as a lone surrogate (``caf\udce9.md``), and a JSON
    ``\ud800`` escape gives one too; neither can be hashed, embedded or stored, so each
    becomes its backslash escape (``caf\xe9.md``), the same every time the file is read."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # surrogates that are not escaped bytes
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def _in_valid_text(loaded: LoadedFile) -> LoadedFile:
    def document(doc: Document) -> Document:
        changes: dict[str, str] = {}
        for field in fields(doc):
            value = getattr(doc, field.name)
            if isinstance(value, str) and (text := valid_text(value)) is not value:
                changes[field.name] = text
        return replace(doc, **changes) if changes else doc

    return replace(
        loaded,
        source=valid_text(loaded.source),
        documents=tuple(document(doc) for doc in loaded.documents),
        left_out=tuple(valid_text(note) for note in loaded.left_out),
    )


def _resolved(path: Path) -> Path:
    """The absolute path with symlinks followed. A link that loops back on itself raises
    RuntimeError from Path.resolve up to Python 3.12 and OSError (ELOOP) from 3.13."""
    try:
        return path.resolve()
    except RuntimeError as exc:
        raise LoaderError(f"{path.name or path} is a symbolic link that loops back on itself.") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LoaderError(f"{path.name or path} is a symbolic link that loops back on itself.") from exc
        raise


def _load_file(path: Path, scope: str | None, conversation_window: int, limits: Limits) -> LoadedFile:
    source = str(_resolved(path))
    if path.is_dir():
        if not is_slack_export_folder(path):
            raise LoaderError(f"{path.name} is a folder, not a Slack export; ingest the files inside it instead.")
        return _chat_file(path, source, scope, conversation_window, limits)
    if not path.exists():
        if path.is_symlink():
            raise LoaderError(f"{path.name} is a symbolic link to a file that does not exist.")
        raise LoaderError(f"{path} does not exist.")

    suffix = path.suffix.lower()
    if suffix in (".zip", ".json", ".csv"):
        return _chat_or_table_file(path, suffix, source, scope, conversation_window, limits)
    if suffix not in SUPPORTED:
        raise LoaderError(_unsupported_reason(path) or f"{path.name} is not a supported file.")

    data = read_bytes(path, limits)
    digest = fingerprint(data)
    if not data.strip():
        return LoadedFile(source, (), digest)
    document_scope = scope or PUBLIC_SCOPE
    if suffix == ".pdf":
        return LoadedFile(source, _pdf_documents(data, path, source, document_scope), digest)
    if suffix in (".html", ".htm"):
        title, text = html_title_and_text(decode_html(data, path.name), path.stem, path.name)
    elif suffix in (".md", ".markdown", ".mdx"):
        title, text = markdown_title_and_text(decode_text(data, path.name), path.stem)
    else:
        title, text = text_title_and_text(decode_text(data, path.name), path.stem, restructured=suffix == ".rst")
    if not text:
        return LoadedFile(source, (), digest)
    return LoadedFile(source, (Document(source=source, title=title, text=text, scope=document_scope),), digest)


def _read_chat(path: Path, limits: Limits) -> tuple[list[ChannelMessage], str]:
    """(messages, fingerprint) of a chat export; LoaderError when the file is not one."""
    if path.is_dir():
        if not is_slack_export_folder(path):
            raise LoaderError(f"{path.name} is a folder but not a Slack export (no channels.json and channel folders).")
        export = read_slack_export(path, limits)
        return export.messages, export.fingerprint
    if not path.exists():
        raise LoaderError(f"{path} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".zip":
        export = read_slack_export(path, limits)
        return export.messages, export.fingerprint
    if suffix in MESSAGE_ONLY:
        data = read_bytes(path, limits)
        return read_slack_events(path, data, limits), fingerprint(data)
    if suffix in (".csv", ".json"):
        data = read_bytes(path, limits)
        text = decode_text(data, path.name)
        if not text.strip():
            return [], fingerprint(data)
        if suffix == ".csv":
            return read_discord_csv(path, text), fingerprint(data)
        return read_discord_json(path, parse_json(text, path.name)), fingerprint(data)
    raise LoaderError(
        f"{path.name} is not a chat export; messages are read from Slack exports (.zip or folder), "
        "DiscordChatExporter JSON or CSV, and Slack Events API logs (.jsonl)."
    )


def _chat_file(path: Path, source: str, scope: str | None, window: int, limits: Limits) -> LoadedFile:
    messages, digest = _read_chat(path, limits)
    return LoadedFile(source, conversation_documents(messages, source=source, scope=scope, window=window), digest)


def _chat_or_table_file(
    path: Path, suffix: str, source: str, scope: str | None, window: int, limits: Limits
) -> LoadedFile:
    """.zip and .json are chat exports; a .csv is an FAQ or a Discord export, told apart by its header."""
    if suffix != ".csv":
        if path.stat().st_size == 0:
            return LoadedFile(source, (), fingerprint(b""))
        return _chat_file(path, source, scope, window, limits)
    data = read_bytes(path, limits)
    digest = fingerprint(data)
    text = decode_text(data, path.name)
    if not text.strip():
        return LoadedFile(source, (), digest)
    rows, left_out = read_csv_rows(text, path.name)
    header = normalized_header(rows[0])
    if is_discord_header(header):
        messages, unreadable = discord_rows(path, header, rows[1:])
        documents = conversation_documents(messages, source=source, scope=scope, window=window)
        return LoadedFile(source, documents, digest, (*left_out, *unreadable))
    if faq_columns(header) is not None:
        documents = faq_documents(header, rows[1:], source=source, scope=scope or PUBLIC_SCOPE)
        return LoadedFile(source, documents, digest, tuple(left_out))
    shown = ", ".join(cell for cell in header[:8] if cell) or "none"
    raise LoaderError(
        f"{path.name} is neither an FAQ (question and answer columns) nor a DiscordChatExporter CSV "
        f"(AuthorID, Author, Date, Content columns); its columns are: {shown}."
    )


def _pdf_documents(data: bytes, path: Path, source: str, scope: str) -> tuple[Document, ...]:
    declared_title, pages = pdf_pages(data, path.name)
    title = declared_title or path.stem
    if len(pages) == 1:
        number, text = pages[0]
        return (Document(source=source, title=title, text=text, scope=scope, key=f"page-{number}"),)
    return tuple(
        Document(source=source, title=f"{title}, page {number}", text=text, scope=scope, key=f"page-{number}")
        for number, text in pages
    )


def _search_folder(folder: Path) -> list[tuple[Path, str | None]]:
    """(path, None) for each loadable item in ``folder``, (path, reason) for each skipped file."""
    results: list[tuple[Path, str | None]] = []
    export_roots: list[Path] = []
    for file in walk_files(folder):
        if any(part.startswith(".") for part in file.relative_to(folder).parts):
            continue
        if any(root in file.parents for root in export_roots):
            continue
        parent = file.parent
        try:
            is_export = parent != folder and file.name == "channels.json" and is_slack_export_folder(parent)
        except OSError as exc:  # a folder that refuses to be listed is one skipped item, not a failed ingest
            results.append((parent, f"The folder could not be read: {exc.strerror or exc}."))
            continue
        if is_export:
            export_roots.append(parent)
            results.append((parent, None))
            continue
        results.append((file, _unsupported_reason(file)))
    # A channels.json sorts after the channel folders that precede it alphabetically;
    # drop what was listed from inside an export before its root was seen.
    return [(path, reason) for path, reason in results if not any(root in path.parents for root in export_roots)]


def _unsupported_reason(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in SUPPORTED:
        return None
    if suffix in MESSAGE_ONLY:
        return f"{MESSAGE_ONLY[suffix]}s ({suffix}) are read for digests, not ingested into the knowledge base."
    if not suffix:
        return f"The file has no extension, so its format is unknown. {supported_formats_sentence()}"
    return f"Files of type {suffix} are not supported. {supported_formats_sentence()}"


def _identity(path: Path) -> str:
    """One key per file, so a file reached twice (named and inside a named folder, or through a
    symlink) is loaded once. Strict: links to a missing target keep their own keys, each reported."""
    try:
        return str(path.resolve(strict=True))
    except (OSError, RuntimeError):
        return os.path.abspath(path)
