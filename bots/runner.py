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
from typing import Any

from core.config import Settings
from core.ports import ChatPlatform

log = logging.getLogger(__name__)


async def run(settings: Settings, *, connect_hint: str = "") -> int:
    from bots.wiring import build_services, ensure_default_knowledge_base
    from core.runtime.logs import configure

    configure(level=settings.observability.log_level, json_lines=settings.observability.log_json)
    # Signals first: a SIGTERM during start-up is a clean stop too.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)

    services = build_services(settings)
    await asyncio.to_thread(ensure_default_knowledge_base, services, cancelled=stop.is_set)
    if stop.is_set():
        services.worker.shutdown()
        services.state.close()
        return 0

    started: list[Any] = []  # things with an async stop/close, stopped in reverse order
    tasks: list[asyncio.Task[Any]] = []
    platforms: dict[str, ChatPlatform] = {}

    metrics = None
    if settings.observability.metrics_port:
        from core.runtime.observability import MetricsServer

        metrics = MetricsServer(
            host=settings.observability.metrics_host, port=settings.observability.metrics_port, services=services
        )
        await metrics.start()
        started.append(metrics)

    # Questions a previous process accepted but never answered: each platform tells its askers.
    unfinished: dict[str, list[dict[str, Any]]] = {}
    for entry in services.state.take_unfinished_questions():
        unfinished.setdefault(str(entry.get("platform", "")), []).append(entry)

    from bots.slack_bot import build_slack_bot, slack_settings

    if slack_settings(settings) is not None:
        slack = build_slack_bot(services=services)
        await slack.start()
        started.append(slack)
        platforms["slack"] = slack.platform
        if unfinished.get("slack"):
            await slack.tell_unfinished(unfinished["slack"])

    from bots.discord_bot import build_bot, discord_settings

    discord_config = discord_settings(settings)
    if discord_config is not None:
        bot = build_bot(services=services)
        if unfinished.get("discord"):
            bot.tell_unfinished(unfinished["discord"])
        tasks.append(asyncio.create_task(bot.start(discord_config.token), name="discord"))
        started.append(_Closing(bot))
        platforms["discord"] = bot.platform

    console_task: asyncio.Task[Any] | None = None
    if not platforms:
        from adapters.console.chat import ConsoleChat
        from adapters.console.platform import ConsolePlatform

        print(connect_hint, file=sys.stderr)
        console = ConsolePlatform(stdout=sys.stdout)
        platforms["console"] = console
        chat = ConsoleChat(services=services, stdin=sys.stdin, stdout=sys.stdout, platform=console)
        console_task = asyncio.create_task(chat.run(), name="console")

    scheduler = None
    if settings.digests.enabled and settings.digests.channels and services.summarizer is not None:
        from core.digests.scheduling import DigestScheduler

        scheduler = DigestScheduler(
            settings=settings, state=services.state, summarizer=services.summarizer, platforms=platforms
        )
        await scheduler.start()
        started.append(scheduler)

    waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait()), *tasks]
    if console_task is not None:
        waiters.append(console_task)
    done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    exit_code = 0
    for finished in done:
        if finished is not console_task and finished.done() and not finished.cancelled() and finished.exception():
            log.error("a platform stopped: %s", finished.exception(), exc_info=finished.exception())
            exit_code = 1

    for component in reversed(started):
        try:
            await asyncio.wait_for(component.stop(), timeout=15)
        except Exception:
            log.exception("error while stopping %s", type(component).__name__)
    for task in [*tasks, *( [console_task] if console_task else [])]:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
    services.worker.shutdown()
    services.state.close()
    log.info("shutdown complete")
    return exit_code


class _Closing:
    """Gives discord.py's ``close()`` the ``stop()`` name the runner uses for everything."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def stop(self) -> None:
        await self.client.close()
