"""Channel scoping applied to digests and summaries, over real Slack HTTP.

A digest carries its channel's content, so it obeys the rule retrieval obeys: it is posted
only where a question could see that channel's scope. A digest of private channel A may go
to a digest channel only when ``[access.grants]`` grants that channel A's scope; without the
grant the config is refused at load, and the scheduler refuses too (settings built in code).

The probes run the real scheduler, summarizer and packaged model against the mock Slack Web
API: the digest of channel B, "@Tidings summarize" in B and in a thread of B must hold
nothing of A (text, author, or a link to A's messages). The positive control, A's digest in
its granted digest channel, shows the markers would be caught.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from adapters.slack.bot import make_client
from adapters.slack.platform import SlackPlatform
from core.config import DigestChannel, load_settings
from core.digests.scheduling import DigestScheduler
from core.errors import ConfigError
from core.services import Services
from core.types import channel_scope
from tests.reliability import record
from tests.slack_mock_server import TEAM_ID
from tests.trust_support import slack_world

pytestmark = pytest.mark.slow

A = "C0BOARD"  # private: the secret lives here
B = "C0GENERAL"  # where people ask for summaries
DIGESTS = "C0DIGESTS"  # granted A's scope: A's digest may go here
A_SCOPE = channel_scope("slack", TEAM_ID, A)
DIGESTS_SCOPE = channel_scope("slack", TEAM_ID, DIGESTS)

A_CHAT = (
    ("U0CEO", "The board approved buying Zephyrine Robotics for 42 million euros."),
    ("U0CFO", "Signing is on March 3rd; the deal codename is BLUEFIN-7731."),
    ("U0CEO", "Decision: nobody outside this channel hears about Zephyrine before the signing."),
    ("U0CFO", "Action item: I will prepare the Zephyrine term sheet by Friday."),
    ("U0CEO", "Who tells the auditors about BLUEFIN-7731, and when?"),
)
B_CHAT = (
    ("U0ANN", "The team lunch moves to Thursday at noon in the big kitchen."),
    ("U0BOB", "Decision: deploys go out from the main branch after two approvals."),
    ("U0ANN", "Action item: I will update the deploy checklist tomorrow."),
    ("U0BOB", "Can someone book the meeting room for the lunch talk?"),
    ("U0ANN", "I booked room 4 for the lunch talk."),
    ("U0BOB", "The coffee machine on the second floor is fixed."),
)
A_MARKERS = ("Zephyrine", "BLUEFIN", "7731", "42 million", "March 3rd", A, "U0CEO", "U0CFO")

CONFIG = f"""
[llm]
max_answer_tokens = 48
[[digests.channels]]
platform = "slack"
workspace = "{TEAM_ID}"
channel = "{B}"
name = "general"
min_messages = 2
[[digests.channels]]
platform = "slack"
workspace = "{TEAM_ID}"
channel = "{A}"
name = "board"
min_messages = 2
target_channel = "{DIGESTS}"
"""
GRANT = f'[access.grants]\n"{DIGESTS_SCOPE}" = ["{A_SCOPE}"]\n'


def test_a_digest_may_only_go_where_its_channel_can_be_seen(tmp_path: Path) -> None:
    config = tmp_path / "tidings.toml"
    config.write_text(CONFIG, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"may not see #board's content\. Grant it in \[access\.grants\]") as refused:
        load_settings(config, home=tmp_path / "home", environ={})
    assert f'"{DIGESTS_SCOPE}" = ["{A_SCOPE}"]' in str(refused.value)  # the exact line to add

    config.write_text(CONFIG + GRANT, encoding="utf-8")
    settings = load_settings(config, home=tmp_path / "home", environ={})
    assert [c.target_channel for c in settings.digests.channels] == ["", DIGESTS]

    by_name = tmp_path / "by-name.toml"  # a grant keyed by the bare channel id works as it does for questions
    by_name.write_text(CONFIG + f'[access.grants]\n"{DIGESTS}" = ["{A_SCOPE}"]\n', encoding="utf-8")
    load_settings(by_name, home=tmp_path / "home", environ={})


def chat(world_slack: Any, channel: str, lines: tuple[tuple[str, str], ...], *, thread: bool = False) -> str:
    """Post ``lines`` into ``channel`` over the last hour (as replies of the first when
    ``thread``); returns the first message's ts."""
    start = time.time() - 3600
    first = ""
    for i, (user, text) in enumerate(lines):
        ts = f"{start + 60 * i:.6f}"
        message: dict[str, Any] = {"ts": ts, "user": user, "text": text}
        if thread:
            first = first or ts
            message["thread_ts"] = first
        world_slack.workspace.add_message(channel, message)
        first = first or ts
    return first


def posted_text(world_slack: Any, channel: str) -> str:
    """Everything the bot posted in ``channel`` (text and blocks, as last edited)."""
    bot_posts = [m for m in world_slack.workspace.messages.get(channel, []) if m.get("bot_id")]
    return " ".join(str(m.get("text")) + json.dumps(m.get("blocks")) for m in bot_posts)


def leaks(text: str) -> list[str]:
    # Whole words only: "7731" also turns up inside a message timestamp in a permalink
    # (p1796187731...) whenever the clock reads so, which is no leak.
    return [m for m in A_MARKERS if re.search(rf"(?<!\w){re.escape(m)}(?!\w)", text, re.IGNORECASE)]


async def test_real_slack_digests_and_summaries_keep_to_their_channel(
    make_services: Callable[..., Services], tmp_path: Path
) -> None:
    services = make_services(config_text=CONFIG + GRANT)
    found: list[list[str]] = []  # per probe: A's markers in what it made the bot post
    async with slack_world(services) as world:
        slack = world.slack
        chat(slack, A, A_CHAT)
        chat(slack, B, B_CHAT)
        thread_ts = chat(slack, B, B_CHAT[:4], thread=True)
        platform = SlackPlatform(make_client(world.bot.settings))
        general, board = services.settings.digests.channels
        scheduler = DigestScheduler(
            settings=services.settings,
            state=services.state,
            summarizer=services.summarizer,
            platforms={"slack": platform},
        )
        until = datetime.now(UTC)
        since = until - timedelta(hours=2)

        # The scheduled digest of B, posted in B.
        assert await scheduler.run_digest(general, since=since, until=until) is not None
        in_b = posted_text(slack, B)
        assert "lunch" in in_b.lower() or "deploy" in in_b.lower()
        found.append(leaks(in_b))

        # "@Tidings summarize" in B, for the channel and inside a thread of B.
        # "2h", not "today": the chat spans the last hour, which crosses midnight in the hour after it.
        for text, thread in (("summarize 2h", None), ("summarize", thread_ts)):
            event_count = len(world.asked)
            reply = await world.ask(text, channel=B, thread_ts=thread)
            assert reply.status == 200
            event = world.asked[event_count]
            await world.wait_all_finished([event], timeout=180)
            summary = world.text_of(event)
            assert "lunch" in summary.lower() or "deploy" in summary.lower(), summary[:300]
            found.append(leaks(summary) + leaks(posted_text(slack, B)))

        # Positive control: A's digest goes to the granted digest channel and carries A.
        assert await scheduler.run_digest(board, since=since, until=until) is not None
        assert leaks(posted_text(slack, DIGESTS)), "A's digest should carry A's content (the markers can fail)"
        in_b_after_a = posted_text(slack, B)

        # Settings built in code skip the config check; the scheduler still refuses.
        ungranted = DigestChannel(platform="slack", workspace=TEAM_ID, channel=A, name="board", min_messages=2, target_channel=B)
        before = len(slack.calls_to("chat.postMessage"))
        with pytest.raises(ConfigError, match="may not see #board's content"):
            await scheduler.run_digest(ungranted, since=since, until=until)
        assert len(slack.calls_to("chat.postMessage")) == before
        found.append(leaks(in_b_after_a) + leaks(posted_text(slack, B)))
    record(
        "Access",
        surface="Slack digests and summaries (real HTTP, packaged model)",
        probe="digest of B, summarize in B and in a thread of B, a digest of A aimed at B without a grant",
        probes=len(found),
        leaks=sum(map(bool, found)),
    )
    assert found == [[]] * 4, found
