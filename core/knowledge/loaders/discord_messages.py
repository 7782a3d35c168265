"""Discord's message types, read once: which message is something a person said.

Discord says what a message is by its type: a number in the API (what discord.py's
``MessageType`` carries as ``value``) and a name in DiscordChatExporter's exports
(``"GuildMemberJoin"``). The export loader (``discord_json``) and the live bot
(``adapters.discord.convert``: digests and thread context) both classify here, so a
message is the same kind however it arrived.

- Joins, leaves, pins and renames are events around the conversation (``TYPE_KINDS``).
- A person's types (``SPOKEN_TYPES``: plain messages, replies, a thread's starter, and the
  messages slash commands leave) are ``"message"``, or ``"bot"`` when a bot or a webhook
  sent them. Any other type, including those Discord adds later, is ``"system"``.
"""

from __future__ import annotations

TYPE_NAMES = {
    0: "Default",
    1: "RecipientAdd",
    2: "RecipientRemove",
    3: "Call",
    4: "ChannelNameChange",
    5: "ChannelIconChange",
    6: "ChannelPinnedMessage",
    7: "GuildMemberJoin",
    18: "ThreadCreated",
    19: "Reply",
    20: "ChatInputCommand",
    21: "ThreadStarterMessage",
    23: "ContextMenuCommand",
}
"""Discord's type numbers under DiscordChatExporter's names (the types classified here)."""

SPOKEN_TYPES = frozenset({"", "Default", "Reply", "ThreadStarterMessage", "ChatInputCommand", "ContextMenuCommand"})
TYPE_KINDS = {
    "GuildMemberJoin": "join",
    "RecipientAdd": "join",
    "RecipientRemove": "leave",
    "ChannelPinnedMessage": "pin",
    "ChannelNameChange": "topic",
}


def type_name(number: int) -> str:
    """The exporter's name for Discord's type ``number`` (``"Type44"`` for one not named here)."""
    return TYPE_NAMES.get(number, f"Type{number}")


def message_kind(message_type: str, *, is_bot: bool) -> str:
    """``message`` for something a person said; otherwise what kind of noise it is.
    ``message_type`` is the exporter's name (``type_name`` turns the API's number into it)."""
    kind = TYPE_KINDS.get(message_type)
    if kind is not None:
        return kind
    if message_type not in SPOKEN_TYPES:
        return "system"
    return "bot" if is_bot else "message"
