"""Retention: ``[state] keep_days`` prunes answers, feedback text, digest notes and questions in
progress (the real state file); ``tidings forget --user`` deletes one person's records."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bots.cli import main
from core.config import load_settings
from core.runtime.retention import DailyPruning, prune_state
from core.runtime.state import StateStore


def filled(path: Path) -> StateStore:
    state = StateStore(path)
    state.remember_answer("a1", {"asker": "U1", "question": "What is my salary?", "answer": "Ask HR.", "channel": "slack:T:C"})
    state.record_feedback(answer_id="a1", platform="slack", channel="", user="U2", rating=-1)
    state.cache_notes("notes-1", {"bullets": ["Alice said the deploy is broken"]})
    state.question_started("q1", {"platform": "slack", "channel": "C", "asker": "U1"})
    return state


def test_keep_days_prunes_what_is_older_and_keeps_the_rest(tmp_path: Path) -> None:
    state = filled(tmp_path / "state.sqlite3")
    now = datetime.now(UTC)
    assert prune_state(state, keep_days=90, now=now + timedelta(days=89)) == {"answers": 0, "feedback": 0, "notes": 0, "pending": 0}
    assert state.recall_answer("a1") is not None

    removed = prune_state(state, keep_days=90, now=now + timedelta(days=91))
    assert removed == {"answers": 1, "feedback": 1, "notes": 1, "pending": 1}
    assert state.recall_answer("a1") is None and state.cached_notes("notes-1") is None
    assert state.unfinished_questions() == []
    [feedback] = state.feedback_records()
    assert (feedback.rating, feedback.question, feedback.answer, feedback.citations) == (-1, "", "", [])  # the count stays
    assert prune_state(state, keep_days=0, now=now + timedelta(days=999)) == {}  # 0: keep forever
    state.close()


def test_keep_days_is_a_setting_with_a_default_of_90(tmp_path: Path) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text("", encoding="utf-8")
    assert load_settings(config, environ={}).state.keep_days == 90
    assert load_settings(config, environ={"TIDINGS_STATE__KEEP_DAYS": "30"}).state.keep_days == 30


async def test_the_running_bot_prunes_at_start_and_daily(tmp_path: Path) -> None:
    state = filled(tmp_path / "state.sqlite3")
    later = datetime.now(UTC) + timedelta(days=100)
    pruning = DailyPruning(state=state, keep_days=90, interval_s=0.05, clock=lambda: later)
    await pruning.start()
    for _ in range(100):
        if pruning.runs >= 2:
            break
        await asyncio.sleep(0.02)
    await pruning.stop()
    assert pruning.runs >= 2 and state.recall_answer("a1") is None
    state.close()


def test_forget_user_from_the_shell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    filled(home / "state.sqlite3").close()
    config = tmp_path / "tidings.toml"
    config.write_text("", encoding="utf-8")
    assert main(["--config", str(config), "--home", str(home), "forget", "--user", "U1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"user": "U1", "answers": 1, "feedback": 1, "pending": 1}
    state = StateStore(home / "state.sqlite3")
    assert state.about_user("U1") == {"answers": 0, "feedback": 0, "pending": 0}
    state.close()
    assert main(["--config", str(config), "--home", str(home), "forget", "--user", " "]) == 2
    assert "Give the user id" in capsys.readouterr().err
