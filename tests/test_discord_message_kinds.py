"""One classification of Discord messages for the live bot and for DiscordChatExporter exports
(core.knowledge.loaders.discord_messages)."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest

from core.knowledge.loaders.discord_json import read_discord_json
from core.knowledge.loaders.discord_messages import TYPE_NAMES, message_kind, type_name

LIVE = [
    (discord.MessageType.default, "message"),
    (discord.MessageType.reply, "message"),
    (discord.MessageType.thread_starter_message, "message"),
    (discord.MessageType.new_member, "join"),
    (discord.MessageType.recipient_add, "join"),
    (discord.MessageType.recipient_remove, "leave"),
    (discord.MessageType.pins_add, "pin"),
    (discord.MessageType.channel_name_change, "topic"),
    (discord.MessageType.thread_created, "system"),
    (discord.MessageType.call, "system"),
    (discord.MessageType.poll_result, "system"),  # a type not named here
]


@pytest.mark.parametrize(("message_type", "kind"), LIVE, ids=[t.name for t, _ in LIVE])
def test_the_live_bot_and_an_export_classify_a_type_alike(message_type: discord.MessageType, kind: str, tmp_path: Path) -> None:
    assert message_kind(type_name(message_type.value), is_bot=False) == kind
    export = {
        "guild": {"id": "1", "name": "Acme"},
        "channel": {"id": "2", "type": "GuildTextChat", "name": "support"},
        "messages": [
            {"id": "3", "type": type_name(message_type.value), "timestamp": "2025-01-01T10:00:00+00:00",
             "content": "hello", "author": {"id": "4", "name": "ann", "isBot": False}},
        ],
    }
    [message] = read_discord_json(tmp_path / "export.json", export)
    assert message.kind == kind


def test_what_a_bot_says_is_bot_talk() -> None:
    for message_type in (discord.MessageType.default, discord.MessageType.chat_input_command, discord.MessageType.context_menu_command):
        assert message_kind(type_name(message_type.value), is_bot=True) == "bot"
    assert message_kind(type_name(discord.MessageType.new_member.value), is_bot=True) == "join"


def test_the_type_numbers_are_discords() -> None:
    for number, name in TYPE_NAMES.items():
        assert discord.MessageType(number).value == number, name
