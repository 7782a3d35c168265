"""A channel exported by DiscordChatExporter as CSV.

Columns ``AuthorID, Author, Date, Content, Attachments, Reactions`` separated by ``;`` or
``,`` (both exist in the wild), dates like ``06-Dec-19 04:10 AM`` (older versions) or ISO
8601 (newer ones). The exporter writes dates in the exporting machine's local time without
saying which; they are read as UTC.

CSV carries no message, channel or server ids, so:
- a message's id is ``<author id>-<unix time>-<row>`` (row = 1-based data row), stable
  across re-reads of the same file;
- dates are to the minute, and the rows are in the order they were posted: a row's time is
  its minute plus its row number in microseconds, so messages of one minute sort in the
  file's order (by id, a question would sort after its answer when the answerer's id is lower);
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.errors import LoaderError
from core.types import Author, ChannelMessage, ChannelRef

DISCORD_COLUMNS = ("authorid", "author", "date", "content")

MAX_CELL_CHARS = 131_072
"""The most characters one CSV cell may hold (the csv module's default field limit). A longer
cell is a paste gone wrong (an image as text, a log) or a quote left open, never one question,
answer or chat message: its row is left out, not the file."""

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


def read_csv_rows(text: str, name: str) -> tuple[list[list[str]], list[str]]:
    """(rows, what was left out): a row with a cell over ``MAX_CELL_CHARS`` becomes an empty
    row, which every reader skips, so the rows after it keep their numbers (an FAQ row's
    document key) and the file its other rows. ``name`` names the file in errors."""
    header_line = text.split("\n", 1)[0]
    delimiter = sniff_delimiter(header_line)
    # The csv module stops at a field over its process-wide limit (128 KiB) by raising in the
    # middle of a record; reading on from there would take the rest of a quoted cell for rows
    # of its own. No field is longer than the text, which the caller already holds (within
    # Limits.max_file_bytes), so the limit is raised to that and oversized cells judged below.
    if csv.field_size_limit() < len(text):
        csv.field_size_limit(len(text))
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise LoaderError(f"{name} is not a readable CSV file: {exc}.") from exc
    left_out: list[str] = []
    for index, row in enumerate(rows):
        longest = max((len(cell) for cell in row), default=0)
        if longest > MAX_CELL_CHARS:
            if index == 0:  # without its header no row can be told apart from another
                raise LoaderError(
                    f"{name} could not be read: a cell of its header row holds {longest:,} characters, "
                    f"more than the {MAX_CELL_CHARS:,} a cell may hold."
                )
            rows[index] = []
            left_out.append(
                f"Row {index + 1} was left out: one of its cells holds {longest:,} characters, "
                f"more than the {MAX_CELL_CHARS:,} a cell may hold."
            )
    return rows, left_out


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
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is a valid date whose UTC time is not
        return None


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
    rows, _ = read_csv_rows(text, path.name)
    header = normalized_header(rows[0])
    if not is_discord_header(header):
        raise LoaderError(
            f"{path.name} is not a DiscordChatExporter CSV: it lacks the AuthorID, Author, Date and Content columns."
        )
    messages, _ = discord_rows(path, header, rows[1:])
    return messages


def discord_rows(path: Path, header: list[str], rows: list[list[str]]) -> tuple[list[ChannelMessage], list[str]]:
    """(messages, rows left out). A row whose date cannot be read is left out and said so;
    when no row's date can be read the dates are in a format this reader does not know,
    and the file is refused with the first row's."""
    column = {name: header.index(name) for name in (*DISCORD_COLUMNS, "attachments") if name in header}
    channel = channel_from_file_name(path)
    messages: list[ChannelMessage] = []
    left_out: list[str] = []
    first_unreadable = ""
    for row_number, row in enumerate(rows, start=1):
        if not any(cell.strip() for cell in row):
            continue

        def cell(name: str, row: list[str] = row) -> str:
            index = column.get(name)
            return row[index] if index is not None and index < len(row) else ""

        when = parse_date(cell("date"))
        if when is None:
            # Row numbers count the header as row 1, as a spreadsheet shows them.
            date = cell("date")[:60]
            left_out.append(f"Row {row_number + 1} was left out: its date could not be read: {date!r}.")
            first_unreadable = first_unreadable or f"row {row_number + 1} has a date that could not be read: {date!r}."
            continue
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
                timestamp=when + timedelta(microseconds=row_number),
                kind=_SYSTEM_CONTENT.get(content, "message"),
            )
        )
    if first_unreadable and not messages:
        raise LoaderError(f"{path.name} {first_unreadable}")
    return messages, left_out


def _scope_safe(text: str) -> str:
    return _UNSAFE_SCOPE_CHARS.sub("-", text.strip()).strip("-").lower() or "discord"
