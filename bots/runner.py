"""``tidings run``: one asyncio loop running every configured platform plus the digest
scheduler, with a clean shutdown on SIGINT/SIGTERM.

With no Slack or Discord token it runs the console chat instead, after building the default
knowledge base from Tidings' own docs on first start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.config import Settings
from core.ports import ChatPlatform

if TYPE_CHECKING:
    from core.services import Services

log = logging.getLogger(__name__)


async def run(settings: Settings, *, connect_hint: str = "") -> int:
    from bots.wiring import build_services, ensure_default_knowledge_base
    from core.runtime.logs import configure

    configure(level=settings.observability.log_level, json_lines=settings.observability.log_json)
    # Signals first: a SIGTERM during start-up is a clean stop too.
    stop = _stop_on_signals()
    services = build_services(settings)
    # The embedder loads while the rest starts: loaded lazily, the first question after every
    # start waited about ten seconds for sentence-transformers to import and load.
    warming = asyncio.create_task(asyncio.to_thread(warm_up, services))
    await asyncio.to_thread(ensure_default_knowledge_base, services, cancelled=stop.is_set)
    if stop.is_set():
        await warming
        _close(services)
        return 0
    running = _Running(settings=settings, services=services)
    await running.start(connect_hint)
    exit_code = await running.wait(stop)
    await running.stop()
    await warming
    _close(services)
    log.info("shutdown complete")
    return exit_code


def warm_up(services: Services) -> None:
    """Load the embedding model now (the language model stays on its worker thread, which
    loads it with its first job). A model that cannot load is reported here and again, with
    the user's message, at the first question."""
    if services.embedder is None:
        return
    try:
        services.embedder.embed(["warm up"])
    except Exception as error:
        log.warning("the embedding model did not load at start: %s", error)


def _stop_on_signals() -> asyncio.Event:
    """An event SIGINT and SIGTERM set (where the loop can handle signals)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


def _close(services: Services) -> None:
    services.worker.shutdown()
    services.state.close()


@dataclass
class _Running:
    """What ``tidings run`` started: components with an async ``stop()`` (stopped in reverse
    order), the platforms' tasks, and the console chat when no platform is configured."""

    settings: Settings
    services: Services
    started: list[Any] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    platforms: dict[str, ChatPlatform] = field(default_factory=dict)
    console: asyncio.Task[Any] | None = None
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    async def start(self, connect_hint: str) -> None:
        await self._start_metrics()
        # Questions a previous process accepted but never answered: each platform tells its own askers.
        unfinished = self.services.state.take_unfinished_questions()
        await self._start_slack(unfinished)
        self._start_discord(unfinished)
        if not self.platforms:
            self._start_console(connect_hint)
        await self._start_scheduler()
        await self._start_pruning()
        if getattr(self.services.state, "dialect", "sqlite") == "postgresql":
            self.background.append(asyncio.create_task(self._tell_unfinished_after_a_lease(), name="unfinished"))

    async def _tell_unfinished_after_a_lease(self) -> None:
        """With shared state, questions whose replica may still be alive are left at start; a
        replica killed just before this one started still holds a lease then. One lease later
        what is still unfinished belongs to a dead replica: tell those askers."""
        await asyncio.sleep(self.settings.state.claim_lease_s + 1)
        unfinished = await asyncio.to_thread(self.services.state.take_unfinished_questions)
        if not unfinished:
            return
        slack = next((c for c in self.started if hasattr(c, "tell_unfinished") and hasattr(c, "workspaces")), None)
        if slack is not None:
            await slack.tell_unfinished(unfinished)

    async def _start_metrics(self) -> None:
        observability = self.settings.observability
        if not observability.metrics_port:
            return
        from core.runtime.observability import MetricsServer

        metrics = MetricsServer(host=observability.metrics_host, port=observability.metrics_port, services=self.services)
        await metrics.start()
        self.started.append(metrics)

    async def _start_slack(self, unfinished: list[dict[str, Any]]) -> None:
        from bots.slack_bot import build_slack_bot, slack_settings

        if slack_settings(self.settings) is None:
            return
        slack = build_slack_bot(services=self.services)
        await slack.start()
        self.started.append(slack)
        self.platforms["slack"] = slack.chat_platform
        if unfinished:
            await slack.tell_unfinished(unfinished)

    def _start_discord(self, unfinished: list[dict[str, Any]]) -> None:
        from bots.discord_bot import build_bot, discord_settings

        config = discord_settings(self.settings)
        if config is None:
            return
        bot = build_bot(services=self.services)
        if unfinished:
            bot.tell_unfinished(unfinished)
        self.tasks.append(asyncio.create_task(bot.start(config.token), name="discord"))
        self.started.append(_Closing(bot))
        self.platforms["discord"] = bot.platform

    def _start_console(self, connect_hint: str) -> None:
        from adapters.console.chat import ConsoleChat
        from adapters.console.platform import ConsolePlatform

        print(connect_hint, file=sys.stderr)
        console = ConsolePlatform(stdout=sys.stdout)
        self.platforms["console"] = console
        chat = ConsoleChat(services=self.services, stdin=sys.stdin, stdout=sys.stdout, platform=console)
        self.console = asyncio.create_task(chat.run(), name="console")

    async def _start_scheduler(self) -> None:
        digests = self.settings.digests
        # Started whenever digests are on: a digest may be switched on from the chat at any time.
        if not (digests.enabled and self.services.summarizer is not None):
            return
        from core.digests.scheduling import DigestScheduler

        scheduler = DigestScheduler(
            settings=self.settings, state=self.services.state, summarizer=self.services.summarizer, platforms=self.platforms
        )
        await scheduler.start()
        self.services.digest_listeners.append(scheduler.reload)  # /tidings digest on|off applies at once
        self.started.append(scheduler)

    async def _start_pruning(self) -> None:
        from core.runtime.retention import DailyPruning

        pruning = DailyPruning(state=self.services.state, keep_days=self.settings.state.keep_days)
        await pruning.start()
        self.started.append(pruning)

    async def wait(self, stop: asyncio.Event) -> int:
        """Until a signal, the console chat ending or a platform stopping: 1 when a platform
        stopped with an error, else 0."""
        waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait()), *self.tasks]
        if self.console is not None:
            waiters.append(self.console)
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        exit_code = 0
        for finished in done:
            if finished is not self.console and not finished.cancelled() and finished.exception():
                log.error("a platform stopped: %s", finished.exception(), exc_info=finished.exception())
                exit_code = 1
        return exit_code

    async def stop(self) -> None:
        for component in reversed(self.started):
            try:
                await asyncio.wait_for(component.stop(), timeout=15)
            except Exception:
                log.exception("error while stopping %s", type(component).__name__)
        for task in [*self.background, *self.tasks, *([self.console] if self.console else [])]:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class _Closing:
    """Gives discord.py's ``close()`` the ``stop()`` name the runner uses for everything."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def stop(self) -> None:
        await self.client.close()
