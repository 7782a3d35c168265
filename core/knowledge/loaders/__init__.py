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

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass(frozen=True)
class LoadedFile:
    source: str
    documents: tuple[Document, ...]
    fingerprint: str


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
        path = Path(given)
        if not path.exists():
            skipped.append(SkippedFile(str(given), "The path does not exist."))
        elif path.is_dir():
            if is_slack_export_folder(path):
                add(path)
                continue
            for item, reason in _search_folder(path):
                if reason is None:
                    add(item)
                else:
                    skipped.append(SkippedFile(str(item), reason))
        elif path.name.startswith("."):
            skipped.append(SkippedFile(str(given), "Hidden files are not ingested."))
        else:
            reason = _unsupported_reason(path)
            if reason is None:
                add(path)
            else:
                skipped.append(SkippedFile(str(given), reason))
    return found, skipped


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
        return _load_file(path, scope, conversation_window, limits)


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


def _load_file(path: Path, scope: str | None, conversation_window: int, limits: Limits) -> LoadedFile:
    source = str(path.resolve())
    if path.is_dir():
        if not is_slack_export_folder(path):
            raise LoaderError(f"{path.name} is a folder, not a Slack export; ingest the files inside it instead.")
        return _chat_file(path, source, scope, conversation_window, limits)
    if not path.exists():
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
    elif suffix in (".md", ".markdown"):
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
    rows = read_csv_rows(text, path.name)
    header = normalized_header(rows[0])
    if is_discord_header(header):
        messages = discord_rows(path, header, rows[1:])
        return LoadedFile(source, conversation_documents(messages, source=source, scope=scope, window=window), digest)
    if faq_columns(header) is not None:
        return LoadedFile(source, faq_documents(header, rows[1:], source=source, scope=scope or PUBLIC_SCOPE), digest)
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
        if parent != folder and file.name == "channels.json" and is_slack_export_folder(parent):
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
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):
        return os.path.abspath(path)
