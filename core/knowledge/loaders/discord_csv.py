"""A channel exported by DiscordChatExporter as CSV.

Columns ``AuthorID, Author, Date, Content, Attachments, Reactions`` separated by ``;`` or
``,`` (both exist in the wild), dates like ``06-Dec-19 04:10 AM`` (older versions) or ISO
8601 (newer ones). The exporter writes dates in the exporting machine's local time without
saying which; they are read as UTC.

CSV carries no message, channel or server ids, so:
- a message's id is ``<author id>-<unix time>-<row>`` (row = 1-based data row), stable
  across re-reads of the same file;
- the channel comes from the file name. DiscordChatExporter's default name
  ``Server - Category - channel [123].csv`` gives server, channel name and channel id;
  any other name is used whole, without a trailing date, as both workspace and channel
  (``komodo-support-2019-Dec-13.csv`` -> ``discord:komodo-support:komodo-support``), so
  the daily files of one channel share one scope.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from pathlib import Path

from core.errors import LoaderError
from core.types import Author, ChannelMessage, ChannelRef

DISCORD_COLUMNS = ("authorid", "author", "date", "content")

_DATE_FORMATS = (
    "%d-%b-%y %I:%M %p",
    "%d-%b-%Y %I:%M %p",
    "%d-%b-%y %H:%M",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%y %I:%M %p",
    "%d/%m/%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
)
_EXPORTER_NAME = re.compile(r"^(?P<guild>.+?) - (?:.+ - )?(?P<channel>[^-\[\]]+?) \[(?P<id>\d+)\]")
_TRAILING_DATE = re.compile(
    r"[-_ .]*(\d{4}[-_ .]?([A-Za-z]{3}|\d{1,2})[-_ .]?\d{1,2}|\d{1,2}[-_ .]?[A-Za-z]{3}[-_ .]?\d{2,4})$"
)
_UNSAFE_SCOPE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
_DISCRIMINATOR = re.compile(r"#\d{4}$")
# DiscordChatExporter writes system messages into Content as these sentences.
_SYSTEM_CONTENT = {"Pinned a message.": "pin", "Joined the server.": "join", "Started a thread.": "system"}


def sniff_delimiter(header_line: str) -> str:
    """The separator that splits the header line into the most columns."""
    return max(";,\t", key=lambda d: len(next(csv.reader([header_line], delimiter=d), [])))


def read_csv_rows(text: str, name: str) -> list[list[str]]:
    header_line = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(header_line)
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise LoaderError(f"{name} is not a readable CSV file: {exc}.") from exc


def normalized_header(row: list[str]) -> list[str]:
    return [cell.strip().lstrip("\ufeff").strip().lower() for cell in row]


def is_discord_header(header: list[str]) -> bool:
    return all(column in header for column in DISCORD_COLUMNS)


def parse_date(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
        for pattern in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(value, pattern)
                break
            except ValueError:
                continue
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def channel_from_file_name(path: Path) -> ChannelRef:
    stem = path.stem
    match = _EXPORTER_NAME.match(stem)
    if match:
        return ChannelRef(
            platform="discord",
            workspace=_scope_safe(match.group("guild")),
            channel=match.group("id"),
            name=match.group("channel").strip(),
        )
    label = _scope_safe(_TRAILING_DATE.sub("", stem) or stem)
    return ChannelRef(platform="discord", workspace=label, channel=label, name=label)


def read_discord_csv(path: Path, text: str) -> list[ChannelMessage]:
    if not text.strip():
        return []
    rows = read_csv_rows(text, path.name)
    header = normalized_header(rows[0])
    if not is_discord_header(header):
        raise LoaderError(
            f"{path.name} is not a DiscordChatExporter CSV: it lacks the AuthorID, Author, Date and Content columns."
        )
    return discord_rows(path, header, rows[1:])


def discord_rows(path: Path, header: list[str], rows: list[list[str]]) -> list[ChannelMessage]:
    column = {name: header.index(name) for name in (*DISCORD_COLUMNS, "attachments") if name in header}
    channel = channel_from_file_name(path)
    messages: list[ChannelMessage] = []
    for row_number, row in enumerate(rows, start=1):
        if not any(cell.strip() for cell in row):
            continue

        def cell(name: str, row: list[str] = row) -> str:
            index = column.get(name)
            return row[index] if index is not None and index < len(row) else ""

        when = parse_date(cell("date"))
        if when is None:
            raise LoaderError(f"{path.name} row {row_number + 1} has a date that could not be read: {cell('date')!r}.")
        author_id = cell("authorid").strip()
        content = cell("content").strip()
        attachments = [url for url in re.split(r"[,\s]+", cell("attachments")) if url.startswith("http")]
        text = "\n".join([content, *(f"(attachment: {url})" for url in attachments)]).strip()
        messages.append(
            ChannelMessage(
                id=f"{author_id}-{int(when.timestamp())}-{row_number}",
                channel=channel,
                author=Author(id=author_id, name=_DISCRIMINATOR.sub("", cell("author").strip()) or author_id),
                text=text,
                timestamp=when,
                kind=_SYSTEM_CONTENT.get(content, "message"),
            )
        )
    return messages


def _scope_safe(text: str) -> str:
    return _UNSAFE_SCOPE_CHARS.sub("-", text.strip()).strip("-").lower() or "discord"
