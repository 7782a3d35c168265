"""Discord <-> core: messages in, answers, digests and source lists out.

Pure functions only: nothing here talks to Discord. Messages come in as discord.py objects
(only their attributes are read); what goes out is text and ``discord.Embed`` objects sized
to Discord's limits, so a send can never be rejected for length.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import discord

from core.answers.questions import truncate
from core.answers.quoting import cited
from core.digests.format import bullet_to_markdown, coverage_note, window_label
from core.knowledge.loaders.discord_messages import message_kind, type_name
from core.types import PUBLIC_SCOPE, Answer, Author, ChannelMessage, ChannelRef, Citation, Digest, Turn

PLATFORM = "discord"

# Discord's documented limits (https://discord.com/developers/docs/resources/message).
MESSAGE_LIMIT = 2000
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELDS_LIMIT = 25
EMBED_FIELD_NAME_LIMIT = 256
EMBED_FIELD_VALUE_LIMIT = 1024
EMBED_FOOTER_LIMIT = 2048
EMBED_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10

CURSOR = " ▌"
ANSWER_COLOUR = discord.Colour.blurple()
UNGROUNDED_COLOUR = discord.Colour.light_grey()

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_CHANNEL_MENTION = re.compile(r"<#(\d+)>")
_MASS_MENTION = re.compile(r"@(everyone|here)\b")


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to send: text under 2,000 characters and embeds within Discord's limits."""

    content: str = ""
    embeds: tuple[discord.Embed, ...] = field(default=())


# -- text ----------------------------------------------------------------------------------


_SENTENCE_END = re.compile(r"[.!?…][\"')\]]*\s+")


def _best_cut(text: str, limit: int) -> int:
    """Where to end a part of at most ``limit`` characters: a paragraph, line, sentence or
    word boundary, preferring one in the second half so parts stay reasonably full."""
    window = text[:limit]
    floor = limit // 2
    for boundary in ("\n\n", "\n"):
        at = window.rfind(boundary)
        if at >= floor:
            return at + len(boundary)
    sentence_ends = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() >= floor]
    if sentence_ends:
        return sentence_ends[-1]
    space = window.rfind(" ")
    if space >= floor:
        return space + 1
    for boundary in ("\n", " "):
        at = window.rfind(boundary)
        if at > 0:
            return at + 1
    return limit


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split ``text`` into parts of at most ``limit`` characters at paragraph, line, sentence
    or word boundaries (mid-word only for a word longer than ``limit``). A code block cut in
    two is closed at the end of one part and reopened at the start of the next, so both
    render as code."""
    if limit <= 2 * _FENCE_RESERVE:
        raise ValueError("limit is too small to split messages")
    return _split(text, lambda parts: limit)


_FENCE = "```"
_FENCE_RESERVE = len(_FENCE) + 1


def _split(text: str, limit_of: Callable[[Sequence[str]], int]) -> list[str]:
    """``split_message`` with a limit per part: ``limit_of(parts so far)`` gives the next
    part's (always more than ``2 * _FENCE_RESERVE``)."""
    parts: list[str] = []
    rest = text.strip()
    reopen = ""
    while rest:
        room = limit_of(parts) - len(reopen)
        if len(rest) <= room and (reopen + rest).count(_FENCE) % 2 == 0:
            parts.append(reopen + rest)
            break
        budget = room - _FENCE_RESERVE
        cut = _best_cut(rest, budget) if len(rest) > budget else len(rest)
        part = (reopen + rest[:cut]).rstrip()
        rest = rest[cut:]
        if part.count(_FENCE) % 2 == 1:
            # The cut fell inside a code block: close it here, reopen it in the next part
            # (keeping the next line's indentation, which matters in code).
            part += "\n" + _FENCE
            reopen = _FENCE + "\n"
            rest = rest.lstrip("\n")
        else:
            reopen = ""
            rest = rest.lstrip()
        if part.strip():
            parts.append(part)
    return parts


def stream_preview(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """What a streaming answer shows while the model writes: the text so far and a cursor,
    within one message (the final edit splits the whole answer properly)."""
    body = text.strip()
    if not body:
        return "…"
    room = limit - len(CURSOR)
    if len(body) > room:
        body = split_message(body, room)[0]
    return body + CURSOR


def queued_text(position: int) -> str:
    if position <= 1:
        return "⏳ The model is answering someone else; you're next. I'll post the answer right here."
    return f"⏳ The model is busy; your question is number {position} in the queue. I'll post the answer right here."


# -- messages in ---------------------------------------------------------------------------


def replace_mentions(
    text: str,
    *,
    users: Mapping[int, str] | None = None,
    roles: Mapping[int, str] | None = None,
    channels: Mapping[int, str] | None = None,
) -> str:
    """Mention tokens (``<@123>``, ``<@&4>``, ``<#5>``) as the names people see, and
    ``@everyone``/``@here`` defused, so text read by the model or shown back never pings."""
    users, roles, channels = users or {}, roles or {}, channels or {}

    def user(match: re.Match[str]) -> str:
        return f"@{users.get(int(match.group(1)), 'someone')}"

    def role(match: re.Match[str]) -> str:
        return f"@{roles.get(int(match.group(1)), 'role')}"

    def channel(match: re.Match[str]) -> str:
        return f"#{channels.get(int(match.group(1)), 'channel')}"

    text = _USER_MENTION.sub(user, text)
    text = _ROLE_MENTION.sub(role, text)
    text = _CHANNEL_MENTION.sub(channel, text)
    return _MASS_MENTION.sub("@\u200b\\1", text)


def strip_bot_mention(text: str, bot_id: int) -> str:
    """The question in ``@Tidings what is X?``: the bot's own mention removed."""
    return re.sub(rf"\s*<@!?{bot_id}>\s*", " ", text).strip()


def _mention_names(message: discord.Message) -> dict[str, dict[int, str]]:
    users = {member.id: member.display_name for member in message.mentions}
    roles = {role.id: role.name for role in getattr(message, "role_mentions", [])}
    channels: dict[int, str] = {}
    guild = message.guild
    if guild is not None:
        for raw_id in message.raw_channel_mentions:
            found = guild.get_channel_or_thread(raw_id)
            if found is not None:
                channels[raw_id] = found.name
    return {"users": users, "roles": roles, "channels": channels}


def message_text(message: discord.Message, *, without_mention_of: int | None = None) -> str:
    """The message as people read it: mentions as names, attachments named, embeds' text
    kept (bots and link previews carry their content there), footers included: a Tidings
    digest says its window only in its footer, and the scheduler finds a digest it posted
    before a crash by that window (``core.digests.scheduling``, ``window_text``)."""
    content = message.content or ""
    if without_mention_of is not None:
        content = strip_bot_mention(content, without_mention_of)
    text = replace_mentions(content, **_mention_names(message)).strip()
    extras: list[str] = []
    for embed in message.embeds:
        piece = " ".join(part for part in (embed.title, embed.description, embed.footer.text) if part)
        if piece:
            extras.append(replace_mentions(piece))
    for attachment in message.attachments:
        extras.append(f"[attachment: {attachment.filename}]")
    return "\n".join(part for part in (text, *extras) if part)


def _kind(message: discord.Message) -> str:
    """What the message is (``core.knowledge.loaders.discord_messages``, as for exports)."""
    return message_kind(type_name(message.type.value), is_bot=bool(message.author.bot) or message.webhook_id is not None)


def channel_ref(channel: Any) -> ChannelRef:
    """Where ``channel`` lives; a thread keeps its parent channel (its scope) and names itself
    in ``thread``. DMs have no guild: their workspace is ``@me``."""
    guild = getattr(channel, "guild", None)
    workspace = str(guild.id) if guild is not None else "@me"
    parent_id = getattr(channel, "parent_id", None)
    if isinstance(channel, discord.Thread) and parent_id is not None:
        parent = channel.parent
        return ChannelRef(
            platform=PLATFORM,
            workspace=workspace,
            channel=str(parent_id),
            name=getattr(parent, "name", "") or "",
            thread=str(channel.id),
        )
    return ChannelRef(
        platform=PLATFORM,
        workspace=workspace,
        channel=str(channel.id),
        name=getattr(channel, "name", None) or "",
    )


def thread_root_id(message: discord.Message) -> str | None:
    """The thread a message belongs to: a message inside a thread belongs to that thread; a
    message that started a thread (its id is the thread's id) is the thread's root."""
    if isinstance(message.channel, discord.Thread):
        return str(message.channel.id)
    thread = getattr(message, "thread", None)
    if thread is not None:
        return str(thread.id)
    return None


def to_channel_message(message: discord.Message) -> ChannelMessage:
    reference = message.reference
    reply_to = (
        str(reference.message_id)
        if reference is not None and reference.message_id is not None and message.type == discord.MessageType.reply
        else None
    )
    author = message.author
    return ChannelMessage(
        id=str(message.id),
        channel=channel_ref(message.channel),
        author=Author(id=str(author.id), name=author.display_name, is_bot=bool(author.bot)),
        text=message_text(message),
        timestamp=message.created_at.astimezone(UTC),
        thread_id=thread_root_id(message),
        reply_to=reply_to,
        permalink=message.jump_url,
        kind=_kind(message),
    )


def to_turn(message: discord.Message, *, bot_id: int, bot_name: str = "Tidings") -> Turn | None:
    """A thread message as conversation context; None for joins, pins and empty messages."""
    if message.author.id == bot_id:
        text = message.content.strip()
        return Turn(author=bot_name, text=text, by_bot=True) if text else None
    if _kind(message) not in {"message", "bot"}:
        return None
    text = message_text(message, without_mention_of=bot_id)
    return Turn(author=message.author.display_name, text=text) if text else None


# -- answers out ---------------------------------------------------------------------------


def _citation_field(citation: Citation, *, snippet: bool = True) -> tuple[str, str]:
    title = citation.title.strip() or citation.source
    name = truncate(f"[{citation.n}] {title}", EMBED_FIELD_NAME_LIMIT)
    text = " ".join(citation.snippet.split()) if snippet else ""
    link = f"[{truncate(citation.source, 200)}]({citation.url})" if citation.url else f"`{truncate(citation.source, 200)}`"
    room = EMBED_FIELD_VALUE_LIMIT - len(link) - 1
    value = link + ("\n" + truncate(text, min(room, 300)) if text and room > 20 else "")
    return name, value or "—"


def sources_embed(answer: Answer, *, max_citations: int = 10, snippets: bool = True) -> discord.Embed | None:
    """The cited sources of an answer as one embed: a field per source with its title,
    its link (or file name) and, unless ``snippets`` is false, a snippet; None when nothing
    was cited."""
    if not answer.citations:
        return None
    title = "Sources" if answer.grounded else "Closest sources I found"
    embed = discord.Embed(title=title, colour=_answer_colour(answer))
    for citation in answer.citations[: min(max_citations, EMBED_FIELDS_LIMIT)]:
        name, value = _citation_field(citation, snippet=snippets)
        embed.add_field(name=name, value=value, inline=False)
        if len(embed) > EMBED_TOTAL_LIMIT:
            embed.remove_field(-1)
            break
    return embed


def _answer_colour(answer: Answer) -> discord.Colour:
    return ANSWER_COLOUR if answer.grounded else UNGROUNDED_COLOUR


NO_ANSWER = "(no answer)"


def quoted_text(answer: Answer) -> str:
    """A quote answer as Discord markdown: each passage a block quote followed by its citation
    number; the sources embed below shows each source with the passage quoted from it."""
    return "\n".join(
        "\n".join(f"> {line}" if line.strip() else ">" for line in cited(quote.text, quote.n).splitlines())
        for quote in answer.quotes
    )


def answer_messages(answer: Answer) -> list[OutgoingMessage]:
    """The answer as channel messages (an @mention's reply and what follows it): the text
    split under 2,000 characters, and the sources embed on the last part (so it sits next to
    the 👍/👎 buttons). Each is a channel message with a nonce (``enforce_nonce``), so a
    retried send cannot double it; and text stays in ``content``, which needs no Embed
    Links permission. A quote answer's passages are block quotes."""
    parts = split_message(quoted_text(answer) if answer.quotes else answer.text) or [NO_ANSWER]
    embed = sources_embed(answer)
    messages = [OutgoingMessage(content=part) for part in parts]
    if embed is not None:
        messages[-1] = OutgoingMessage(content=messages[-1].content, embeds=(embed,))
    return messages


# An embed holding less than this is not worth opening in a full message: the text goes on
# in the next message instead of in a sliver.
_MIN_EMBED_PART = 200


def answer_response(answer: Answer) -> list[OutgoingMessage]:
    """The answer to ``/ask``: one message whenever Discord's limits allow, because it is
    shown by *editing* the interaction's response, which discord.py may retry on a 5xx
    without doubling anything. A follow-up (a webhook message) takes no nonce, so a retried
    one that Discord had created shows twice: follow-ups are left for answers beyond one
    message.

    One message holds 2,000 characters of ``content`` and at most 10 embeds of 6,000
    characters together (an embed description at most 4,096). The text fills ``content``,
    goes on in description-only embeds, and the sources embed comes last, beside the
    buttons: about ``2,000 + 6,000 - len(sources embed)`` characters of answer, a little
    less where the cuts fall on paragraph or sentence boundaries. When the text does not
    fit beside the full sources embed, the sources give up their snippets (titles and links
    stay) before the answer spills over. With four cited sources that is about 6,500
    characters, 7,700 without snippets (docs/discord.md compares it with the longest answer
    ``[llm] max_answer_tokens`` allows); beyond that the rest goes into further messages of
    the same shape and the sources embed sits on the last one. A quote answer's passages are
    block quotes."""
    text = (quoted_text(answer) if answer.quotes else answer.text).strip() or NO_ANSWER
    sources = sources_embed(answer)
    layout = _answer_layout(text, reserve=sources)
    if len(layout) > 1 and sources is not None:
        compact = sources_embed(answer, snippets=False)
        shorter = _answer_layout(text, reserve=compact)
        if len(shorter) < len(layout):
            layout, sources = shorter, compact
    colour = _answer_colour(answer)
    messages = [
        OutgoingMessage(content=content, embeds=tuple(discord.Embed(description=part, colour=colour) for part in parts))
        for content, parts in layout
    ]
    if sources is not None:
        messages[-1] = OutgoingMessage(content=messages[-1].content, embeds=(*messages[-1].embeds, sources))
    return messages


def _answer_layout(text: str, *, reserve: discord.Embed | None) -> list[tuple[str, list[str]]]:
    """``text`` as messages of (content, embed descriptions), each leaving room for
    ``reserve`` (the sources embed) within the per-message embed limits."""
    budget = EMBED_TOTAL_LIMIT - (len(reserve) if reserve is not None else 0)
    slots = EMBEDS_PER_MESSAGE - (1 if reserve is not None else 0)
    opens: list[bool] = []  # per part: does it start a message (as its content)?

    def limit_of(parts: Sequence[str]) -> int:
        del opens[len(parts) :]  # a part the splitter planned but dropped (only whitespace)
        used = count = 0
        for starts, part in zip(opens, parts, strict=True):
            used, count = (0, 0) if starts else (used + len(part), count + 1)
        room = min(EMBED_DESCRIPTION_LIMIT, budget - used)
        starts = not parts or count >= slots or room < _MIN_EMBED_PART
        opens.append(starts)
        return MESSAGE_LIMIT if starts else room

    layout: list[tuple[str, list[str]]] = []
    for starts, part in zip(opens, _split(text, limit_of), strict=False):
        if starts:
            layout.append((part, []))
        else:
            layout[-1][1].append(part)
    return layout


# -- digests and source lists out ----------------------------------------------------------


def _pack_lines(lines: Sequence[str], limit: int) -> list[str]:
    """Join lines into blocks of at most ``limit`` characters without breaking a line (a line
    longer than ``limit`` is cut)."""
    blocks: list[str] = []
    current = ""
    for line in lines:
        line = truncate(line, limit)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            blocks.append(current)
            current = line
        else:
            current = candidate
    if current:
        blocks.append(current)
    return blocks


def _pack_embeds(embeds: Sequence[discord.Embed], *, content: str = "") -> list[OutgoingMessage]:
    """Group embeds into messages of at most 10 embeds and 6,000 characters each."""
    messages: list[OutgoingMessage] = []
    batch: list[discord.Embed] = []
    size = 0
    for embed in embeds:
        if batch and (len(batch) == EMBEDS_PER_MESSAGE or size + len(embed) > EMBED_TOTAL_LIMIT):
            messages.append(OutgoingMessage(content=content if not messages else "", embeds=tuple(batch)))
            batch, size = [], 0
        batch.append(embed)
        size += len(embed)
    if batch or not messages:
        messages.append(OutgoingMessage(content=content if not messages else "", embeds=tuple(batch)))
    return messages


def _digest_footer(digest: Digest) -> str:
    parts = [f"{digest.coverage.messages} messages", f"{digest.coverage.conversations} conversations"]
    label = window_label(digest)
    if label:
        parts.append(label)
    note = coverage_note(digest)
    footer = " · ".join(parts) + (f"\n{note}" if note else "")
    return truncate(footer, EMBED_FOOTER_LIMIT)


def digest_messages(digest: Digest, *, content: str = "") -> list[OutgoingMessage]:
    """A digest as embeds: the headline as title, each section a bold heading followed by its
    bullets (each linking to the messages behind it), packed into as many embeds and
    messages as Discord's limits need; the footer says what was covered."""
    lines: list[str] = []
    for section in digest.sections:
        if not section.bullets:
            continue
        if lines:
            lines.append("")
        lines.append(f"**{truncate(section.title.strip(), 200)}**")
        lines.extend(bullet_to_markdown(bullet) for bullet in section.bullets)
    headline = digest.headline.strip() or "Digest"
    if not lines:
        lines = ["Nothing worth summarizing happened in this window."]
    blocks = _pack_lines(lines, EMBED_DESCRIPTION_LIMIT)
    embeds: list[discord.Embed] = []
    for index, block in enumerate(blocks):
        embed = discord.Embed(description=block, colour=ANSWER_COLOUR)
        if index == 0:
            embed.title = truncate(headline, EMBED_TITLE_LIMIT)
        embeds.append(embed)
    embeds[-1].set_footer(text=_digest_footer(digest))
    # A single block can still be near 4,096 and a title + footer push the sum past 6,000 only
    # in pathological cases; _pack_embeds keeps each message under the total.
    return _pack_embeds(embeds, content=truncate(content, MESSAGE_LIMIT))


def scope_label(scope: str, *, here: str) -> str:
    if scope == PUBLIC_SCOPE:
        return "public"
    if scope == here:
        return "this channel"
    return scope


def sources_list_embeds(sources: Sequence[Any], *, scopes: Iterable[str], here: str) -> list[discord.Embed]:
    """What ``/sources`` shows: each source the knowledge base holds for these scopes, with
    its chunk count and the scopes it belongs to, in as many embeds as needed (at most 10)."""
    scopes = sorted(scopes)
    if not sources:
        embed = discord.Embed(
            title="Knowledge base",
            description="I don't hold any documents that can be used in this channel yet. "
            "An admin can add some with `tidings ingest`.",
            colour=UNGROUNDED_COLOUR,
        )
        return [embed]
    lines = []
    for info in sorted(sources, key=lambda s: (s.title or s.source).lower()):
        name = truncate(" ".join((info.title or info.source).split()), 120)
        where = ", ".join(scope_label(s, here=here) for s in info.scopes)
        lines.append(f"• **{name}** — {info.chunks} chunks ({where})")
    blocks = _pack_lines(lines, EMBED_DESCRIPTION_LIMIT)
    total = sum(info.chunks for info in sources)
    embeds: list[discord.Embed] = []
    used = 0
    for index, block in enumerate(blocks):
        embed = discord.Embed(description=block, colour=ANSWER_COLOUR)
        if index == 0:
            embed.title = f"Knowledge base: {len(sources)} sources, {total} chunks"
        last_slot = len(embeds) == EMBEDS_PER_MESSAGE - 1 and index < len(blocks) - 1
        # Leave room for the "… and N more" note and the footer within the 6,000 total.
        if last_slot or used + len(embed) > EMBED_TOTAL_LIMIT - 200:
            shown = sum(block.count("\n") + 1 for block in blocks[:index])
            embeds.append(discord.Embed(description=f"… and {len(sources) - shown} more sources.", colour=ANSWER_COLOUR))
            break
        embeds.append(embed)
        used += len(embed)
    visible = ", ".join(scope_label(s, here=here) for s in scopes)
    embeds[-1].set_footer(text=truncate(f"Scopes searched from here: {visible}", EMBED_FOOTER_LIMIT))
    return embeds


def snowflake_time(snowflake: int | str) -> datetime:
    """When a Discord id was created (ids encode their creation time)."""
    return discord.utils.snowflake_time(int(snowflake))
