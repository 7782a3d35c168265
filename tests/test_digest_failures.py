"""A scheduled digest that fails says so: one short notice in the channel (or in
``[digests] admin_channel``), a count in ``/metrics``, and its last run and result in
``tidings digest list --json``. The real APScheduler fires the job from its job store."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.config import DigestChannel, DigestSettings, Settings
from core.digests.scheduling import DigestScheduler, cron_trigger, digest_listing, latest_fire_time
from core.digests.summarizing import Summarizer
from core.model.worker import ModelWorker
from core.runtime.observability import Metrics, ServicesCollector
from core.runtime.state import DigestSubscription, StateStore
from core.types import ChannelMessage, ChannelRef
from tests.digest_support import MemoryPlatform, WordModel, message
from tests.test_scheduling import set_next_run_time

GENERAL = DigestChannel(platform="slack", channel="C1", workspace="T1", name="general", cron="0 17 * * *", timezone="Europe/Berlin", min_messages=1)
REF = ChannelRef("slack", "T1", "C1", name="general")


class UnreadablePlatform(MemoryPlatform):
    """Slack answering ``not_in_channel`` when the channel's history is read."""

    async def fetch_history(self, channel: ChannelRef, since: datetime, until: datetime) -> list[ChannelMessage]:
        class SlackRefusal(Exception):
            def __init__(self) -> None:
                super().__init__("The request to the Slack API failed.")
                self.response = {"ok": False, "error": "not_in_channel"}

        raise SlackRefusal()


def scheduler_for(home: Path, platform: MemoryPlatform, state: StateStore, **digests: object) -> DigestScheduler:
    settings = Settings(home=home, digests=DigestSettings(channels=(GENERAL,), **digests))  # type: ignore[arg-type]
    summarizer = Summarizer(model=WordModel(), worker=ModelWorker(), state=state, settings=settings.digests)
    return DigestScheduler(settings=settings, state=state, summarizer=summarizer, platforms={"slack": platform})


async def fire_now(scheduler: DigestScheduler, home: Path, platform: MemoryPlatform) -> None:
    """Make the job due (as after downtime) and let the real scheduler fire it."""
    await scheduler.start()
    await scheduler.stop()
    set_next_run_time(home / "jobs.sqlite3", GENERAL.job_id, datetime.now(UTC) - timedelta(minutes=1))
    await scheduler.start()
    for _ in range(300):
        if GENERAL.job_id in scheduler.state.digest_runs():
            break
        await asyncio.sleep(0.02)
    await scheduler.stop()


@pytest.mark.parametrize("admin_channel", ["", "COPS", "slack:T1:COPS"])
async def test_a_failed_digest_posts_one_notice_counts_and_is_listed(tmp_path: Path, admin_channel: str) -> None:
    state = StateStore(tmp_path / "state.sqlite3")
    platform = UnreadablePlatform()
    scheduler = scheduler_for(tmp_path, platform, state, admin_channel=admin_channel)
    await fire_now(scheduler, tmp_path, platform)

    [notice] = platform.posts
    assert notice.channel.channel == (admin_channel.rsplit(":", 1)[-1] or "C1")
    assert notice.text.startswith("⚠️ Today's digest of #general could not be made") and "not_in_channel" in notice.text
    assert len(notice.text) < 200 and notice.digest is None

    [entry] = digest_listing(scheduler.settings, state, now=datetime.now(UTC))
    assert entry.source == "config" and entry.last_result == "failed: SlackRefusal (not_in_channel)"
    assert entry.last_run is not None and entry.next_run is not None and entry.next_run > entry.last_run

    metrics = Metrics()

    class Services:  # what the collector reads: the state store, the worker and the knowledge base
        def __init__(self) -> None:
            self.state = state
            self.worker = ModelWorker()

            class NoKnowledge:
                def count(self) -> int:
                    return 0

            self.knowledge_base = NoKnowledge()

    metrics.registry.register(ServicesCollector(Services()))  # type: ignore[arg-type]
    assert 'tidings_digests_failed_total{platform="slack"} 1.0' in metrics.exposition().decode()
    state.close()


async def test_a_good_run_records_its_result_and_clears_nothing_else(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.sqlite3")
    platform = MemoryPlatform()
    until = latest_fire_time(cron_trigger(GENERAL), datetime.now(UTC))
    assert until is not None
    platform.add(message(1, "bob", "The deploy pipeline moved to the new runners.", at=until - timedelta(hours=2), channel=REF))
    scheduler = scheduler_for(tmp_path, platform, state)
    await fire_now(scheduler, tmp_path, platform)
    assert [post.digest is not None for post in platform.posts] == [True]
    assert state.digest_runs()[GENERAL.job_id].last_result == "posted"
    assert state.digest_runs()[GENERAL.job_id].failures == 0
    state.close()


def test_digest_list_json_shows_config_and_chat_digests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bots.cli import main

    config = tmp_path / "tidings.toml"
    config.write_text(
        '[knowledge_base]\nbuild_default = false\n[[digests.channels]]\nplatform = "slack"\nworkspace = "T1"\n'
        'channel = "C1"\nname = "general"\ncron = "0 17 * * *"\ntimezone = "Europe/Berlin"\n',
        encoding="utf-8",
    )
    home = tmp_path / "home"
    state = StateStore(home / "state.sqlite3")
    state.subscribe_digest(DigestSubscription("discord", "G1", "42", cron="30 8 * * *", timezone="Asia/Tokyo", name="support"))
    state.record_digest_run("digest:slack:T1:C1", platform="slack", result="failed: not_in_channel", failed=True)
    state.close()
    assert main(["--config", str(config), "--home", str(home), "digest", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [sorted(entry) for entry in listed] == [
        sorted(["platform", "workspace", "channel", "name", "cron", "timezone", "source", "next_run", "last_run", "last_result"])
    ] * 2
    config_entry, chat_entry = listed
    assert (config_entry["source"], config_entry["last_result"]) == ("config", "failed: not_in_channel")
    assert config_entry["last_run"] is not None and datetime.fromisoformat(config_entry["next_run"]) > datetime.now(UTC)
    assert (chat_entry["platform"], chat_entry["workspace"], chat_entry["channel"]) == ("discord", "G1", "42")
    assert (chat_entry["source"], chat_entry["cron"], chat_entry["timezone"]) == ("chat", "30 8 * * *", "Asia/Tokyo")
    assert chat_entry["last_run"] is None and chat_entry["last_result"] is None
    assert datetime.fromisoformat(chat_entry["next_run"]).astimezone(UTC).hour == 23  # 08:30 in Tokyo


async def test_a_model_server_that_is_down_costs_the_digest_its_wording_not_its_items(caplog: pytest.LogCaptureFixture) -> None:
    from core.model.server import OpenAICompatibleModel
    from tests.digest_support import release_day
    from tests.servers import free_port

    down = OpenAICompatibleModel(base_url=f"http://127.0.0.1:{free_port()}/v1", n_ctx=2048)
    digest = await Summarizer(model=down, worker=ModelWorker(), state=None, settings=DigestSettings()).summarize(release_day())
    sections = {section.title: [bullet.text for bullet in section.bullets] for section in digest.sections}
    # The rules' items stand, each linked to its message; the log names the server.
    assert any("ship release 2.1 on Friday" in text for text in sections["Decisions"])
    assert any("finish the changelog" in text for text in sections["Action items"])
    assert all(bullet.sources for section in digest.sections for bullet in section.bullets)
    assert "digest model call failed" in caplog.text and "cannot be reached" in caplog.text
