"""Pure translation between Slack payloads and the core's types.

Nothing here talks to Slack: these functions turn event dicts into ``ChannelMessage`` /
``Turn`` / question text, and turn ``Answer`` / ``Digest`` into Block Kit that is safe to post:
mrkdwn control characters escaped, no way for a source or the model to ping ``@channel`` or a
person, and every block under Slack's limits (3,000 characters of text per section, 10 context
elements, 50 blocks per message).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from core.commands.home import WorkspaceOverview
from core.digests.format import coverage_note, window_label
from core.knowledge.loaders.slack_messages import SlackDirectory, author_of, slack_message, slack_text
from core.knowledge.loaders.slack_messages import is_from_person as is_from_person
from core.types import Answer, ChannelMessage, ChannelRef, Citation, Digest, MessageLink, Turn

SECTION_LIMIT = 3000
"""Characters of text Slack accepts in one section block."""

BLOCKS_LIMIT = 50
"""Blocks Slack accepts in one message."""

CONTEXT_ELEMENTS_LIMIT = 10
HEADER_LIMIT = 150
FALLBACK_LIMIT = 3000
"""The notification text beside the blocks; Slack truncates long ones anyway."""

FEEDBACK_UP = "tidings_feedback_up"
FEEDBACK_DOWN = "tidings_feedback_down"
SHARE_ANSWER = "tidings_share_answer"

Event = Mapping[str, Any]

# -- timestamps and links -----------------------------------------------------------------


def datetime_to_ts(moment: datetime) -> str:
    """An aware (or UTC-naive) datetime as a Slack timestamp string with microseconds."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # Decimal keeps the six digits exact; float formatting can round a microsecond away and
    # make an inclusive bound exclusive.
    seconds = Decimal(int(moment.timestamp())) + Decimal(moment.microsecond) / Decimal(1_000_000)
    return f"{seconds:.6f}"


# -- escaping and neutralising ------------------------------------------------------------

_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_ZERO_WIDTH = "\u200b"


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack treats as control characters.

    With ``<`` and ``>`` escaped, nothing in ``text`` can become a mention (``<!channel>``,
    ``<!here>``, ``<@U123>``, ``<!subteam^S1>``) or a link; ``@here`` typed as plain words is
    broken with a zero-width space so clients that auto-link it don't notify anyone.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@" + _ZERO_WIDTH + m.group(1), escaped)


def _safe_url(url: str) -> str | None:
    """A URL fit to sit inside ``<url|label>``: web links only, no characters that end the link."""
    url = url.strip()
    if not re.match(r"^https?://", url, re.IGNORECASE):
        return None
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")


def link(url: str | None, label: str) -> str:
    """``<url|label>`` with the label escaped, or the escaped label when there is no usable URL."""
    safe_label = escape_mrkdwn(label).replace("|", "\u2758")
    safe = _safe_url(url) if url else None
    if not safe:
        return safe_label
    return f"<{safe.replace('&', '&amp;')}|{safe_label}>"


_MD_LINK = re.compile(r"\[([^\]\n]{1,300})\]\((https?://[^)\s]{1,2000})\)")
_MD_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_MD_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def markdown_to_mrkdwn(text: str) -> str:
    """The model writes Markdown; Slack reads mrkdwn. Escape first (so nothing the model
    wrote can mention anyone), then turn the few Markdown forms into their mrkdwn twins."""
    links: list[str] = []

    def keep_link(match: re.Match[str]) -> str:
        links.append(link(match.group(2), match.group(1)))
        return f"\x00{len(links) - 1}\x00"

    text = _MD_LINK.sub(keep_link, text)
    text = escape_mrkdwn(text)
    text = _MD_HEADING.sub(lambda m: f"*{m.group(1)}*", text)
    text = _MD_BOLD.sub(lambda m: f"*{m.group(1)}*", text)
    return re.sub("\x00(\\d+)\x00", lambda m: links[int(m.group(1))], text)


# -- incoming text --------------------------------------------------------------------------


def plain_text(text: str, names: Mapping[str, str] | None = None) -> str:
    """Slack's wire text as a person reads it (``<@U1>`` -> ``@alice``, links -> ``label (url)``,
    broadcasts without their ``<!``): the core's Slack message model renders it."""
    return slack_text(text, SlackDirectory(users=names or {}))


def question_text(text: str, bot_user_id: str, names: Mapping[str, str] | None = None) -> str:
    """What was asked, without the mention(s) of the bot that addressed it."""
    without_bot = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text) if bot_user_id else text
    return re.sub(r"\s+", " ", plain_text(without_bot, names)).strip()


_SUMMARIZE = re.compile(r"^(?:please\s+)?(?:summari[sz]e|tl;?dr)\b[\s:,.!?]*(.*)$", re.IGNORECASE | re.DOTALL)


def summarize_request(question: str) -> str | None:
    """``"summarize yesterday"`` -> ``"yesterday"``; None when the text is not a request to
    summarize (then it is a question)."""
    match = _SUMMARIZE.match(question.strip())
    return match.group(1).strip() if match else None


# -- events -> core types -------------------------------------------------------------------

# Kind, author, thread and text of an incoming message are the core's Slack message model
# (core.knowledge.loaders.slack_messages), shared with the export and events-log loaders so
# that a message reads the same in the knowledge base and in a digest. ``is_from_person``,
# ``message_kind``, ``attachment_text`` and ``author_of`` are re-exported from there.


def to_channel_message(
    event: Event,
    channel: ChannelRef,
    *,
    names: Mapping[str, str] | None = None,
    workspace_url: str = "",
    channel_names: Mapping[str, str] | None = None,
) -> ChannelMessage:
    """One Slack message (an Events API ``message`` or a ``conversations.history`` item);
    ValueError when it has no usable timestamp."""
    directory = SlackDirectory(users=names or {}, channels=channel_names or {}, workspace_url=workspace_url)
    message = slack_message(event, channel, directory)
    if message is None:
        raise ValueError(f"{event.get('ts')!r} is not a Slack timestamp")
    return message


def thread_turns(
    messages: Iterable[Event],
    *,
    before_ts: str,
    bot_user_id: str,
    names: Mapping[str, str] | None = None,
    bot_name: str = "Tidings",
    limit: int = 20,
) -> tuple[Turn, ...]:
    """Earlier messages of a thread as conversation turns, oldest first.

    The bot's own answers stay in (they are the other half of the conversation) under its
    name; other bots, joins and edits are dropped. Only the last ``limit`` are kept; the
    answerer trims further to its token budget.
    """
    directory = SlackDirectory(users=names or {})
    turns: list[Turn] = []
    for message in messages:
        ts = str(message.get("ts") or "")
        if not ts or float(ts) >= float(before_ts):
            continue
        is_own = bool(bot_user_id) and message.get("user") == bot_user_id
        if not is_own and not is_from_person(message):
            continue
        text = question_text(str(message.get("text") or ""), bot_user_id, directory.users)
        if not text:
            continue
        author = bot_name if is_own else author_of(message, directory).name
        turns.append(Turn(author=author, text=text, by_bot=is_own))
    return tuple(turns[-limit:])


# -- splitting ------------------------------------------------------------------------------


def _cut_point(text: str, limit: int) -> int:
    """Where to cut ``text`` (longer than ``limit``): the last paragraph, line, sentence or
    word boundary that fits, never inside ``<...>`` or an ``&entity;``."""
    window = text[: limit + 1]
    for pattern in ("\n\n", "\n", ". ", " "):
        at = window.rfind(pattern, 0, limit)
        if at > limit // 3:
            cut = at + len(pattern) if pattern == ". " else at
            if _inside_token(text, cut):
                continue
            return cut
    cut = limit
    while cut > 1 and _inside_token(text, cut):
        cut -= 1
    return cut if cut > 1 else limit


def _inside_token(text: str, cut: int) -> bool:
    opening = text.rfind("<", 0, cut)
    if opening != -1 and text.rfind(">", opening, cut) == -1 and text.find(">", cut) != -1:
        return True
    amp = text.rfind("&", max(0, cut - 8), cut)
    return amp != -1 and ";" not in text[amp:cut] and ";" in text[cut : amp + 9]


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split already-escaped mrkdwn into pieces of at most ``limit`` characters each."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if piece:
            pieces.append(piece)
    if rest:
        pieces.append(rest)
    return pieces


# -- Block Kit ------------------------------------------------------------------------------

Block = dict[str, Any]


def section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def sections(mrkdwn: str) -> list[Block]:
    return [section(piece) for piece in split_text(mrkdwn)]


def context(elements: Sequence[str]) -> list[Block]:
    """Context blocks of at most 10 mrkdwn elements, each under the text limit."""
    texts = [piece for element in elements for piece in split_text(element)]
    return [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": t} for t in texts[i : i + CONTEXT_ELEMENTS_LIMIT]]}
        for i in range(0, len(texts), CONTEXT_ELEMENTS_LIMIT)
    ]


def citation_line(citation: Citation) -> str:
    return f"[{citation.n}] {link(citation.url, citation.title or citation.source)}"


def feedback_buttons(answer_id: str) -> Block:
    return {
        "type": "actions",
        "block_id": "tidings_feedback",
        "elements": [
            {
                "type": "button",
                "action_id": FEEDBACK_UP,
                "text": {"type": "plain_text", "text": "👍", "emoji": True},
                "value": answer_id,
            },
            {
                "type": "button",
                "action_id": FEEDBACK_DOWN,
                "text": {"type": "plain_text", "text": "👎", "emoji": True},
                "value": answer_id,
            },
        ],
    }


def share_button(answer_id: str) -> Block:
    return {
        "type": "actions",
        "block_id": "tidings_share",
        "elements": [
            {
                "type": "button",
                "action_id": SHARE_ANSWER,
                "text": {"type": "plain_text", "text": "Share in channel"},
                "value": answer_id,
            }
        ],
    }


@dataclass(frozen=True)
class SlackMessage:
    """One message to post: blocks plus the plain text Slack shows in notifications."""

    text: str
    blocks: tuple[Block, ...]


def fallback_text(text: str) -> str:
    flat = escape_mrkdwn(text.strip()) or "…"
    return flat if len(flat) <= FALLBACK_LIMIT else flat[: FALLBACK_LIMIT - 1].rstrip() + "…"


def paginate(blocks: Sequence[Block], text: str, *, tail: Sequence[Block] = ()) -> list[SlackMessage]:
    """Spread ``blocks`` over as many messages as needed (50 blocks each); ``tail`` (sources,
    buttons) goes at the end of the last one."""
    body = list(blocks)
    if len(tail) >= BLOCKS_LIMIT:
        tail = list(tail)[: BLOCKS_LIMIT - 1]
    messages: list[SlackMessage] = []
    while len(body) + len(tail) > BLOCKS_LIMIT:
        page, body = body[:BLOCKS_LIMIT], body[BLOCKS_LIMIT:]
        messages.append(SlackMessage(text=text if not messages else "(continued)", blocks=tuple(page)))
    messages.append(SlackMessage(text=text if not messages else "(continued)", blocks=(*body, *tail)))
    return messages


def streaming_message(text_so_far: str) -> SlackMessage:
    """The answer while the model is still writing it: only the text, with a cursor."""
    shown = markdown_to_mrkdwn(text_so_far.strip()) + " ▍"
    return SlackMessage(text=fallback_text(text_so_far), blocks=tuple(sections(shown)[: BLOCKS_LIMIT - 1]))


def answer_messages(answer: Answer, *, actions: Block | None = None) -> list[SlackMessage]:
    """The finished answer: mrkdwn text, a context block of sources, then ``actions`` (the
    👍/👎 buttons, or the share button of an ephemeral answer). Usually one message; a very
    long answer continues in more, with sources and buttons on the last."""
    body = quote_sections(answer) if answer.quotes else sections(markdown_to_mrkdwn(answer.text.strip() or "…"))
    tail: list[Block] = []
    if answer.citations:
        label = "Sources" if answer.grounded else "Closest sources (not enough to answer)"
        tail.extend(context([f"*{label}:*", *(citation_line(c) for c in answer.citations)]))
    if actions is not None:
        tail.append(actions)
    return paginate(body, fallback_text(answer.text), tail=tail)


def quote_sections(answer: Answer) -> list[Block]:
    """A quote answer: each quoted passage as a block quote, followed by the link to the
    source it came from."""
    by_number = {c.n: c for c in answer.citations}
    blocks: list[Block] = []
    for passage in answer.quotes:
        quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in markdown_to_mrkdwn(passage.text).splitlines())
        citation = by_number.get(passage.n)
        cite = link(citation.url, f"[{passage.n}] {citation.title or citation.source}") if citation else f"[{passage.n}]"
        blocks.extend(sections(f"{quoted}\n— {cite}"))
    return blocks


def notice_message(text: str) -> SlackMessage:
    """A short message of the bot's own words (queued notice, polite refusal)."""
    return SlackMessage(text=fallback_text(text), blocks=tuple(sections(escape_mrkdwn(text))))


def queued_message(position: int) -> SlackMessage:
    ahead = "1 question" if position == 1 else f"{position} questions"
    return notice_message(f"Queued, position {position}: I'll answer after {ahead} ahead of yours.")


def _source_link(source: MessageLink) -> str:
    return link(source.link, f"{source.author} {source.timestamp:%H:%M}".strip())


def digest_messages(digest: Digest) -> list[SlackMessage]:
    """A digest as Block Kit: a header, the headline, one section per topic with its bullets
    (each linked to the messages it came from), and the coverage note when not everything fit."""
    title = window_label(digest)
    header = f"Digest of {title}" if title else "Digest"
    if len(header) > HEADER_LIMIT:
        header = header[: HEADER_LIMIT - 1] + "…"
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}}]
    blocks.extend(sections(markdown_to_mrkdwn(digest.headline.strip() or "Nothing to report.")))
    for topic in digest.sections:
        if not topic.bullets:
            continue
        lines = [f"*{escape_mrkdwn(topic.title)}*"]
        for bullet in topic.bullets:
            line = f"• {markdown_to_mrkdwn(bullet.text.strip())}"
            if bullet.sources:
                line += " (" + ", ".join(_source_link(s) for s in bullet.sources) + ")"
            lines.append(line)
        blocks.extend(sections("\n".join(lines)))
    note = coverage_note(digest)
    tail = context([f"_{escape_mrkdwn(note)}_"]) if note else []
    return paginate(blocks, fallback_text(f"{header}: {digest.headline}"), tail=tail)


# -- the App Home tab ----------------------------------------------------------------------------

VIEW_BLOCKS_LIMIT = 100
"""Blocks Slack accepts in one view (a Home tab)."""
HOME_LIST_LIMIT = 15
"""Lines one list of the Home tab shows; the rest is counted."""


def _when(moment: datetime | None, zone: Any = None) -> str:
    if moment is None:
        return "never"
    shown = moment.astimezone(zone) if zone is not None else moment
    return shown.strftime("%a %d %b %H:%M %Z")


def _bullets(lines: Sequence[str], *, more: str) -> list[Block]:
    shown = [f"• {escape_mrkdwn(line)}" for line in lines[:HOME_LIST_LIMIT]]
    if len(lines) > HOME_LIST_LIMIT:
        shown.append(f"… and {len(lines) - HOME_LIST_LIMIT} {more}")
    return sections("\n".join(shown)) if shown else []


def home_view(overview: WorkspaceOverview) -> dict[str, Any]:
    """The Home tab as a ``views.publish`` view, within Block Kit's limits: at most 100
    blocks, headers under 150 characters, section text under 3,000 (long lists are cut to
    ``HOME_LIST_LIMIT`` lines and counted)."""
    from zoneinfo import ZoneInfo

    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": "Tidings"[:HEADER_LIMIT]}}]
    blocks.append({"type": "header", "text": {"type": "plain_text", "text": "Knowledge base"}})
    blocks += sections(
        f"*{overview.sources:,}* sources, *{overview.chunks:,}* chunks; last ingest: {_when(overview.last_ingest)}."
    )
    blocks += _bullets(list(overview.public_sources), more="more documents everyone may read")
    blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": {"type": "plain_text", "text": "Digests in this workspace"}})
    if overview.digests:
        lines = []
        for entry in overview.digests:
            channel = entry.channel
            zone = ZoneInfo(channel.timezone)
            label = f"#{channel.name}" if channel.name else channel.channel
            last = f"{_when(entry.last_run, zone)}: {entry.last_result}" if entry.last_run else "none yet"
            lines.append(f"{label} ({entry.source}): next {_when(entry.next_run, zone)}; last {last}")
        blocks += _bullets(lines, more="more digests (`tidings digest list`)")
    else:
        blocks += sections("None yet. Type `/tidings digest on` in a channel to start one.")
    blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": {"type": "plain_text", "text": "This week"}})
    blocks += sections(
        f"*{overview.answers:,}* answers ({overview.refusals:,} said they didn't know); "
        f"👍 {overview.up:,}  👎 {overview.down:,}"
    )
    if overview.is_admin:
        if overview.refused_questions:
            blocks += sections("*Questions I could not answer* (admins only)")
            blocks += _bullets(list(overview.refused_questions), more="more")
        if overview.down_questions:
            blocks += sections("*Questions whose answers got 👎* (admins only)")
            blocks += _bullets(list(overview.down_questions), more="more")
    blocks += context(["`/tidings help` shows what you can set up from Slack."])
    return {"type": "home", "blocks": blocks[:VIEW_BLOCKS_LIMIT]}
