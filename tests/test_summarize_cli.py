"""``tidings summarize`` and ``tidings digest`` from the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bots.cli import main
from bots.cli_digest import find_channel, select_messages
from core.config import load_settings
from core.errors import UserFacingError
from tests.digest_support import CHANNEL, message

CSV = '''AuthorID,Author,Date,Content,Attachments,Reactions
"1","alice#0001","01-May-24 09:00 AM","Our nightly build fails on ARM since the openssl 3.2 update, any idea why?","",""
"2","bob#0002","01-May-24 09:04 AM","The openssl 3.2 update broke ARM builds. Pin openssl to 3.0 in the Dockerfile for now.","",""
"1","alice#0001","01-May-24 09:10 AM","Pinning openssl to 3.0 fixed the ARM build. I'll open a PR to pin it properly.","",""
"3","carol#0003","01-May-24 09:15 AM","We decided to upgrade openssl properly next sprint.","",""
"4","dave#0004","02-May-24 03:00 PM","Does anyone know how to rotate the wallet backup keys?","",""
'''


def write_config(tmp_path: Path, model_path: Path) -> Path:
    config = tmp_path / "tidings.toml"
    config.write_text(
        f'[llm]\nmodel_path = "{model_path}"\nn_ctx = 512\n\n'
        '[[digests.channels]]\nplatform = "slack"\nchannel = "C1"\nworkspace = "T1"\nname = "general"\n'
        'cron = "0 17 * * 1-5"\ntimezone = "America/New_York"\n',
        encoding="utf-8",
    )
    return config


def test_select_messages_by_channel_and_day() -> None:
    other = CHANNEL.__class__("slack", "T1", "C2", name="random")
    messages = [message(1, "alice", "hello there everyone"), message(2, "bob", "other channel", channel=other)]
    groups, window = select_messages(messages, channel="#general", day="2024-05-01", now=datetime(2024, 5, 3, tzinfo=UTC))
    assert list(groups) == [CHANNEL.scope] and [m.id for m in groups[CHANNEL.scope]] == ["m1"]
    assert window == (datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 2, tzinfo=UTC))
    groups, _ = select_messages(messages, channel=None, day="2024-04-30", now=datetime(2024, 5, 3, tzinfo=UTC))
    assert groups == {}
    with pytest.raises(UserFacingError):
        select_messages(messages, channel=None, day="last tuesday")


def test_find_channel_by_name_or_id(tmp_path: Path) -> None:
    config = tmp_path / "t.toml"
    config.write_text('[[digests.channels]]\nplatform = "slack"\nchannel = "C1"\nname = "general"\n', encoding="utf-8")
    settings = load_settings(config, home=tmp_path, environ={})
    assert find_channel(settings, "#general").channel == "C1"
    assert find_channel(settings, "C1").name == "general"
    with pytest.raises(UserFacingError, match="set: general"):
        find_channel(settings, "random")


def test_digest_list_shows_next_run_in_the_channel_time_zone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "t.toml"
    config.write_text(
        '[[digests.channels]]\nplatform = "slack"\nchannel = "C1"\nname = "general"\ncron = "0 17 * * *"\ntimezone = "America/New_York"\n',
        encoding="utf-8",
    )
    assert main(["--config", str(config), "--home", str(tmp_path / "home"), "digest", "list"]) == 0
    out = capsys.readouterr().out
    assert "slack #general" in out and "cron '0 17 * * *'" in out and "17:00 E" in out and "none yet" in out


def test_summarize_unknown_day_is_a_usage_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    export = tmp_path / "support.csv"
    export.write_text(CSV, encoding="utf-8")
    assert main(["--home", str(tmp_path), "summarize", str(export), "--day", "1999-01-01"]) == 1
    assert "No messages on 1999-01-01" in capsys.readouterr().err


@pytest.mark.slow
def test_summarize_a_discord_export_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], small_language_model) -> None:  # type: ignore[no-untyped-def]
    export = tmp_path / "support.csv"
    export.write_text(CSV, encoding="utf-8")
    config = write_config(tmp_path, small_language_model.model_path)
    assert main(["--config", str(config), "--home", str(tmp_path / "home"), "summarize", str(export), "--day", "2024-05-01", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"headline", "sections", "coverage", "stats"}
    assert [s["title"] for s in data["sections"]] == ["Topics", "Decisions", "Action items", "Open questions"]
    assert data["coverage"] == {"messages": 4, "conversations": 1, "covered_messages": 4}
    assert data["stats"]["model_calls"] >= 1 and data["stats"]["prompt_tokens"] > 0
    for section in data["sections"]:
        for bullet in section["bullets"]:
            assert bullet["sources"]
            for source in bullet["sources"]:
                assert set(source) == {"message_id", "author", "timestamp", "link"}
                assert source["timestamp"].startswith("2024-05-01T09:")
    decisions = [b["text"] for s in data["sections"] if s["title"] == "Decisions" for b in s["bullets"]]
    assert any("upgrade openssl" in text.lower() for text in decisions)
    actions = [b["text"] for s in data["sections"] if s["title"] == "Action items" for b in s["bullets"]]
    assert any(text.startswith("alice") and "PR" in text for text in actions)

    # Markdown by default, the same digest.
    assert main(["--config", str(config), "--home", str(tmp_path / "home"), "summarize", str(export), "--day", "2024-05-01"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("**Digest of") and "**Decisions**" in text
