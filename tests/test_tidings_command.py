"""``/tidings`` on Slack end to end: signed slash commands through real slack-bolt over HTTP,
``users.info`` and ``conversations.history`` answered by the mock Slack Web API, the real state
database and the real APScheduler, which takes a digest switched on or off at once."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import pytest_asyncio

from adapters.slack.bot import SlackBot
from core.digests.scheduling import DigestScheduler
from core.services import Services
from tests.slack_mock_server import TEAM_ID, MockSlack
from tests.slack_requests import send_command
from tests.trust_support import http_settings

pytestmark = pytest.mark.asyncio(loop_scope="session")

ADMIN = "U0ADMIN"
MEMBER = "U0MEMBER"
_keys = itertools.count(1)


@pytest_asyncio.fixture(loop_scope="session")
async def slack() -> AsyncIterator[MockSlack]:
    server = await MockSlack().start()
    server.workspace.users[ADMIN] = {"id": ADMIN, "name": "ada", "is_admin": True, "tz": "America/New_York"}
    server.workspace.users[MEMBER] = {"id": MEMBER, "name": "max", "is_admin": False, "tz": "Europe/Berlin"}
    server.workspace.channels["C0GENERAL"] = {"id": "C0GENERAL", "name": "general"}
    yield server
    await server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Running:
    def __init__(self, bot: SlackBot, scheduler: DigestScheduler, services: Services) -> None:
        self.bot, self.scheduler, self.services = bot, scheduler, services


@pytest_asyncio.fixture(loop_scope="session")
async def running(slack: MockSlack, make_services: Callable[..., Services]) -> AsyncIterator[Callable[[], Awaitable[Running]]]:
    started: list[Running] = []

    async def start(services: Services | None = None) -> Running:
        services = services or make_services()
        bot = SlackBot(settings=http_settings(slack, bot_token="xoxb-test-token"), services=services)
        await bot.start()
        assert services.summarizer is not None
        scheduler = DigestScheduler(
            settings=services.settings, state=services.state, summarizer=services.summarizer, platforms={"slack": bot.platform}
        )
        await scheduler.start()
        services.digest_listeners.append(scheduler.reload)  # as the runner does
        world = Running(bot, scheduler, services)
        started.append(world)
        return world

    yield start
    for world in started:
        await world.scheduler.stop()
        await world.bot.stop()


async def tidings(http: aiohttp.ClientSession, slack: MockSlack, world: Running, text: str, *, user: str = ADMIN, channel: str = "C0GENERAL") -> str:
    key = f"t{next(_keys)}"
    url = f"http://127.0.0.1:{world.bot.port}{world.bot.settings.path}"
    reply = await send_command(http, url, "/tidings", text, response_url=slack.response_url(key), user=user, channel=channel)
    assert reply.status == 200
    await slack.wait_until(lambda: any(r["key"] == key for r in slack.responses))
    [response] = [r for r in slack.responses if r["key"] == key]
    assert response.get("response_type") == "ephemeral"
    return str(response["text"])


def jobs(world: Running) -> dict[str, Any]:
    return {channel.job_id: (channel, when) for channel, when in world.scheduler.jobs()}


JOB = f"digest:slack:{TEAM_ID}:C0GENERAL"


async def test_digest_on_list_off_applies_to_the_running_scheduler_and_survives_a_restart(
    slack: MockSlack, http: aiohttp.ClientSession, running: Callable[[], Awaitable[Running]]
) -> None:
    world = await running()
    said = await tidings(http, slack, world, "digest on 08:30 Europe/Berlin")
    assert said.startswith("Daily digest of #general on, at 08:30 Europe/Berlin. Next:")
    channel, next_run = jobs(world)[JOB]
    assert (channel.cron, channel.timezone) == ("30 8 * * *", "Europe/Berlin")
    assert next_run.astimezone(ZoneInfo("Europe/Berlin")).strftime("%H:%M") == "08:30"
    assert world.scheduler._scheduler.get_job(JOB) is not None  # in APScheduler's job store now

    listed = await tidings(http, slack, world, "digest list", user=MEMBER)  # anyone may look
    assert "#general" in listed and "`30 8 * * *`" in listed and "from the chat" in listed

    # A restart: the subscription is in the state database, the new scheduler runs it.
    again = await running(world.services)
    assert JOB in jobs(again)
    await again.scheduler.stop()

    assert await tidings(http, slack, world, "digest off") == "Daily digest of #general switched off."
    assert JOB not in jobs(world) and world.scheduler._scheduler.get_job(JOB) is None
    assert world.services.state.digest_subscriptions() == []


async def test_digest_on_again_moves_the_digest_and_says_from_when(
    slack: MockSlack, http: aiohttp.ClientSession, running: Callable[[], Awaitable[Running]]
) -> None:
    world = await running()
    await tidings(http, slack, world, "digest on 08:30 Europe/Berlin")
    said = await tidings(http, slack, world, "digest on 18:15 Asia/Tokyo")
    assert said.startswith("Daily digest of #general moved to 18:15 Asia/Tokyo (was 08:30 Europe/Berlin). Next:")
    [subscription] = world.services.state.digest_subscriptions()  # moved, not a second one
    assert (subscription.cron, subscription.timezone) == ("15 18 * * *", "Asia/Tokyo")
    channel, next_run = jobs(world)[JOB]
    assert (channel.cron, next_run.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M")) == ("15 18 * * *", "18:15")
    # The same time again changes nothing and says it is on.
    assert (await tidings(http, slack, world, "digest on 18:15 Asia/Tokyo")).startswith("Daily digest of #general on, at 18:15")


async def test_the_default_is_17_00_in_the_askers_time_zone(
    slack: MockSlack, http: aiohttp.ClientSession, running: Callable[[], Awaitable[Running]]
) -> None:
    world = await running()
    said = await tidings(http, slack, world, "digest on")
    assert "at 17:00 America/New_York" in said
    [subscription] = world.services.state.digest_subscriptions()
    assert (subscription.cron, subscription.timezone, subscription.created_by) == ("0 17 * * *", "America/New_York", ADMIN)


@pytest.mark.parametrize(
    ("text", "user", "expected"),
    [
        ("digest on 25:99 Mars/Olympus", ADMIN, "25:99 is not a time of day"),
        ("digest on 17:00 Mars/Olympus", ADMIN, "Mars/Olympus is not a time zone I know"),
        ("digest sometimes", ADMIN, "Write `/tidings digest on [HH:MM] [Area/City]`"),
        ("frobnicate", ADMIN, "I don't know `/tidings frobnicate`. Try `/tidings help`."),
        ("digest on 09:00", MEMBER, "Only workspace admins and owners"),
        ("digest off", MEMBER, "Only workspace admins and owners"),
    ],
)
async def test_bad_input_and_people_who_may_not_get_a_clear_sentence_and_change_nothing(
    slack: MockSlack, http: aiohttp.ClientSession, running: Callable[[], Awaitable[Running]], text: str, user: str, expected: str
) -> None:
    world = await running()
    said = await tidings(http, slack, world, text, user=user)
    assert expected in said
    assert world.services.state.digest_subscriptions() == [] and JOB not in jobs(world)


async def test_digests_are_for_channels_not_direct_messages(
    slack: MockSlack, http: aiohttp.ClientSession, running: Callable[[], Awaitable[Running]]
) -> None:
    world = await running()
    said = await tidings(http, slack, world, "digest on", channel="D0DIRECT")
    assert said.startswith("Digests are for channels") and world.services.state.digest_subscriptions() == []


async def test_a_channel_the_bot_is_not_in_or_cannot_read(
    slack: MockSlack, http: aiohttp.ClientSession, running: Callable[[], Awaitable[Running]]
) -> None:
    world = await running()
    slack.workspace.not_member.add("C0PRIVATE")
    slack.workspace.needs_scope["G0SECRET"] = "groups:history"
    said = await tidings(http, slack, world, "digest on", channel="C0PRIVATE")
    assert "invite me first" in said
    said = await tidings(http, slack, world, "digest on", channel="G0SECRET")
    assert "`groups:history`" in said and "Nothing was changed" in said
    assert world.services.state.digest_subscriptions() == []


async def test_an_admin_listed_in_the_config_may_change_digests(
    slack: MockSlack, http: aiohttp.ClientSession, running: Callable[[], Awaitable[Running]], make_services: Callable[..., Services]
) -> None:
    world = await running(make_services(config_text=f'[access]\nadmins = ["{MEMBER}"]\n'))
    said = await tidings(http, slack, world, "digest on 07:00", user=MEMBER)
    assert "at 07:00 Europe/Berlin" in said and JOB in jobs(world)


async def test_a_config_file_digest_is_listed_as_such_and_not_changed_from_the_chat(
    slack: MockSlack, http: aiohttp.ClientSession, running: Callable[[], Awaitable[Running]], make_services: Callable[..., Services]
) -> None:
    config = f'[[digests.channels]]\nplatform = "slack"\nworkspace = "{TEAM_ID}"\nchannel = "C0GENERAL"\nname = "general"\n'
    world = await running(make_services(config_text=config))
    assert "set in the config file" in await tidings(http, slack, world, "digest off")
    assert "from the config" in await tidings(http, slack, world, "digest list")
    assert JOB in jobs(world)


async def test_help_sources_and_forget_me_with_a_confirmation(
    slack: MockSlack, http: aiohttp.ClientSession, running: Callable[[], Awaitable[Running]]
) -> None:
    world = await running()
    state = world.services.state
    assert "/tidings digest on [HH:MM] [Area/City]" in await tidings(http, slack, world, "help", user=MEMBER)
    assert "`public`" in await tidings(http, slack, world, "sources", user=MEMBER)

    state.remember_answer("a1", {"asker": MEMBER, "question": "my salary?", "answer": "…", "channel": "slack:T:C"})
    state.remember_answer("a2", {"asker": ADMIN, "question": "deploys?", "answer": "…", "channel": "slack:T:C"})
    state.record_feedback(answer_id="a1", platform="slack", channel="", user=ADMIN, rating=1)
    state.record_feedback(answer_id="a2", platform="slack", channel="", user=MEMBER, rating=-1)
    state.question_started("q1", {"platform": "slack", "channel": "C", "asker": MEMBER})

    asked = await tidings(http, slack, world, "forget me", user=MEMBER)
    assert "1 of your questions" in asked and "2 feedback records" in asked and "/tidings forget me confirm" in asked
    assert state.about_user(MEMBER) == {"answers": 1, "feedback": 2, "pending": 1}  # nothing deleted yet

    done = await tidings(http, slack, world, "forget me confirm", user=MEMBER)
    assert done.startswith("Done: I deleted 1 questions")
    assert state.about_user(MEMBER) == {"answers": 0, "feedback": 0, "pending": 0}
    assert state.recall_answer("a2") is not None and state.recall_answer("a1") is None  # the admin's own answer stays


async def test_unanswered_lists_this_channels_refused_questions_to_those_who_may_manage_it(
    slack: MockSlack, http: aiohttp.ClientSession, running: Callable[[], Awaitable[Running]]
) -> None:
    world = await running()
    here = f"slack:{TEAM_ID}:C0GENERAL"
    assert "was answered from the knowledge base" in await tidings(http, slack, world, "unanswered")
    for answer_id, question, channel, grounded in [
        ("u1", "What is the wifi password?", here, False),
        ("u2", "what is the  WiFi password?", here, False),
        ("u3", "How do I connect Slack?", here, True),  # answered
        ("u4", "Salary bands for 2027?", f"slack:{TEAM_ID}:G0SECRET", False),  # another channel's stays there
        ("u5", "Who is on call?", f"slack:{TEAM_ID}:C0GENERAL2", False),  # a channel whose id starts alike
    ]:
        world.services.state.remember_answer(answer_id, {"question": question, "answer": "…", "channel": channel, "grounded": grounded})
    said = await tidings(http, slack, world, "unanswered")
    assert said.startswith("Questions asked in #general in the last 7 days that the knowledge base could not answer:")
    assert "• what is the WiFi password? (asked 2 times, last " in said
    assert "connect Slack" not in said and "Salary" not in said and "on call" not in said
    assert "Only workspace admins" in await tidings(http, slack, world, "unanswered", user=MEMBER)
    assert "Type this in the channel" in await tidings(http, slack, world, "unanswered", channel="D0DIRECT")


# -- the App Home tab ----------------------------------------------------------------------------


async def open_home(http: aiohttp.ClientSession, slack: MockSlack, world: Running, user: str) -> dict[str, Any]:
    from tests.slack_requests import event_callback, send_event

    before = len(slack.calls_to("views.publish"))
    url = f"http://127.0.0.1:{world.bot.port}{world.bot.settings.path}"
    event = {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home", "event_ts": "1.1"}
    reply = await send_event(http, url, event_callback(event))
    assert reply.status == 200
    await slack.wait_for("views.publish", before + 1)
    call = slack.calls_to("views.publish")[before]
    assert call.params["user_id"] == user
    view = call.params["view"]
    return json.loads(view) if isinstance(view, str) else view  # type: ignore[no-any-return]


async def test_the_home_tab_shows_the_knowledge_base_digests_and_this_weeks_answers_within_block_kit_limits(
    slack: MockSlack, http: aiohttp.ClientSession, running: Callable[[], Awaitable[Running]], make_services: Callable[..., Services]
) -> None:
    from core.runtime.state import DigestSubscription
    from core.types import Chunk
    from tests.slack_mock_server import block_kit_problem

    config = f'[[digests.channels]]\nplatform = "slack"\nworkspace = "{TEAM_ID}"\nchannel = "C0CONFIG"\nname = "ops"\n'
    services = make_services(config_text=config)
    for n in range(40):  # more documents than one list shows
        services.knowledge_base.replace_source(
            f"doc-{n}.md", [Chunk(id=f"d{n}", source=f"doc-{n}.md", title=f"Runbook {n} " + "x" * 200, text=f"Step {n}.")]
        )
    services.knowledge_base.replace_source(
        "secret.md", [Chunk(id="s1", source="secret.md", title="Layoff plan", text="Private.", scope=f"slack:{TEAM_ID}:C0BOARD")]
    )
    state = services.state
    state.subscribe_digest(DigestSubscription("slack", TEAM_ID, "C0GENERAL", cron="0 17 * * *", timezone="Europe/Berlin", name="general"))
    state.subscribe_digest(DigestSubscription("slack", "T0OTHER", "C9", cron="0 9 * * *", timezone="UTC", name="elsewhere"))
    state.record_digest_run(f"digest:slack:{TEAM_ID}:C0CONFIG", platform="slack", result="failed: not_in_channel", failed=True)
    for n in range(60):  # many long refused and 👎-rated questions
        answer_id = f"a{n}"
        question = f"Question {n}: " + "why " * 900
        state.remember_answer(answer_id, {"asker": MEMBER, "question": question, "answer": "…", "grounded": n % 2 == 0, "channel": f"slack:{TEAM_ID}:C0GENERAL"})
        state.record_feedback(answer_id=answer_id, platform="slack", channel="", user=ADMIN, rating=1 if n % 3 else -1)
    state.remember_answer("other", {"asker": MEMBER, "question": "elsewhere", "answer": "…", "grounded": False, "channel": "slack:T0OTHER:C9"})
    world = await running(services)

    for user in (ADMIN, MEMBER):
        view = await open_home(http, slack, world, user)
        assert block_kit_problem(view) is None and len(view["blocks"]) <= 100
        assert slack.workspace.home_tabs[user] == view  # Slack accepted it
        text = json.dumps(view, ensure_ascii=False)
        assert "*41* sources, *41* chunks; last ingest:" in text and "last ingest: never" not in text
        assert "Runbook 0" in text and "and 25 more documents" in text and "Layoff plan" not in text
        assert "#general (chat): next" in text and "#ops (config): next" in text and "failed: not_in_channel" in text
        assert "#elsewhere" not in text  # another workspace's digests
        assert "*60* answers (30 said they didn't know); 👍 40  👎 20" in text
        assert ("Questions I could not answer" in text) == (user == ADMIN)
        assert ("Questions whose answers got 👎" in text) == (user == ADMIN)
        assert "elsewhere" not in text.replace("#elsewhere", "")


async def test_without_a_zone_from_the_command_or_the_platform_the_configured_one_is_used(
    slack: MockSlack, http: aiohttp.ClientSession, running: Callable[[], Awaitable[Running]], make_services: Callable[..., Services]
) -> None:
    from core.config import load_settings
    from core.errors import ConfigError

    slack.workspace.users["U0NOZONE"] = {"id": "U0NOZONE", "name": "zed", "is_owner": True}
    world = await running(make_services(config_text='[digests]\ntimezone = "Asia/Tokyo"\n'))
    assert "at 17:00 Asia/Tokyo" in await tidings(http, slack, world, "digest on", user="U0NOZONE")
    bad = world.services.settings.config_path
    assert bad is not None
    bad.write_text('[digests]\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="Mars/Olympus"):
        load_settings(bad, environ={})
