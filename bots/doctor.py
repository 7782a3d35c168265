"""``tidings doctor``: check config, data directory, models, knowledge base and platform tokens,
and say what is wrong and how to fix it, one line each."""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import ConfigError
from core.types import DOCS_SCOPE

if TYPE_CHECKING:
    from core.config import Settings
    from core.knowledge.embedding import SentenceTransformerEmbedder


@dataclass
class Report:
    lines: list[tuple[bool, str]] = field(default_factory=list)

    def ok(self, text: str) -> None:
        self.lines.append((True, text))

    def problem(self, text: str) -> None:
        self.lines.append((False, text))

    @property
    def healthy(self) -> bool:
        return all(ok for ok, _ in self.lines)

    def render(self) -> str:
        return "\n".join(f"{'ok ' if ok else 'FIX'}  {text}" for ok, text in self.lines)


def _check(report: Report, label: str, action: Callable[[], str]) -> Any:
    try:
        detail = action()
    except Exception as error:
        report.problem(f"{label}: {error}")
        return False
    report.ok(f"{label}: {detail}")
    return True


def run_doctor(args: argparse.Namespace) -> int:
    from core.config import load_settings

    report = Report()
    try:
        settings = load_settings(args.config, home=args.home)
    except ConfigError as error:
        report.problem(f"config: {error}")
        print(report.render())
        return 1
    report.ok(f"config: {settings.config_path or 'built-in defaults (no config file found)'}")
    _check(report, "data directory", partial(_data_directory, settings))
    _check(report, "state database", partial(_state_database, settings))

    from bots.wiring import build_embedder

    embedder = build_embedder(settings)
    _check(report, "embedding model", partial(_embedding_model, embedder))
    _check(report, "language model", partial(_language_model, settings))
    _check(report, "knowledge base", partial(_knowledge_base, settings, embedder))
    _check_slack(report, settings, offline=args.offline)
    _check_discord(report, settings, offline=args.offline)
    _check_env_file(report)

    print(report.render())
    print("All good." if report.healthy else "Some checks need attention (lines marked FIX).")
    return 0 if report.healthy else 1


def _data_directory(settings: Settings) -> str:
    settings.home.mkdir(parents=True, exist_ok=True)
    probe = settings.home / ".doctor-probe"
    probe.write_text("ok")
    probe.unlink()
    return f"{settings.home.resolve()} is writable"


def _state_database(settings: Settings) -> str:
    """Reachable, and at the schema this version needs (nothing is changed: `tidings db upgrade` or a start migrates)."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from core.runtime.migrations import head_revision
    from core.runtime.state import StateStore

    store = StateStore(settings.state_url, migrate=False)
    try:
        started = time.perf_counter()
        with store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        elapsed_ms = (time.perf_counter() - started) * 1000
        where = make_url(store.url).render_as_string(hide_password=True)
        revision, head = store.schema_revision(), head_revision()
    finally:
        store.close()
    if revision is None:
        return f"{where} ({store.dialect}) is reachable and empty; the first start (or `tidings db upgrade`) creates schema {head}"
    if revision != head:
        raise RuntimeError(f"{where} is at schema {revision or 'none'}, this version needs {head}: run `tidings db upgrade` (or start the bot)")
    return f"{where} ({store.dialect}, schema {revision}, answered in {elapsed_ms:.0f} ms)"


def _embedding_model(embedder: SentenceTransformerEmbedder) -> str:
    started = time.perf_counter()
    dimension = embedder.dimension
    return f"{embedder.model_path} ({dimension} dimensions, reads {embedder.max_tokens} word pieces, loaded in {time.perf_counter() - started:.1f} s)"


def _language_model(settings: Settings) -> str:
    """Loaded and writing: one token is generated, because a model server that is down still
    counts tokens (by an estimate) and would otherwise be found only by the first question."""
    from bots.wiring import build_model
    from core.errors import ModelError
    from core.ports import Prompt

    model = build_model(settings)
    started = time.perf_counter()
    tokens = model.count_tokens("Tidings doctor")
    try:
        model.generate(Prompt("", "Tidings doctor", ""), max_tokens=1)
    except ModelError as error:
        if not settings.llm.server_url:
            raise
        raise ModelError(f"{error} Start it or correct `[llm] server_url`; until then answers quote their sources.") from error
    template = getattr(model, "has_chat_template", None)
    kind = "chat template" if template else "completion prompt"
    return f"{model.name} (n_ctx {model.n_ctx}, {kind}, {tokens} tokens counted and one written in {time.perf_counter() - started:.1f} s)"


def _knowledge_base(settings: Settings, embedder: SentenceTransformerEmbedder) -> str:
    from bots.wiring import build_knowledge_base

    kb = build_knowledge_base(settings, embedder)
    count = kb.count()
    sources = len(kb.sources()) if count else 0
    if not count:
        return f"{settings.kb_uri} is empty; `tidings run` indexes docs/ on first start, `tidings ingest PATH` adds yours"
    held = f"{settings.kb_uri}: {sources} source(s), {count} chunk(s)"
    if kb.count({DOCS_SCOPE}) == count:
        # A new team's first question in a channel would find nothing it may read.
        return f"{held}, all of them Tidings' own guide (`{DOCS_SCOPE}`), which channels do not read; `tidings ingest PATH` adds yours"
    return held


def _check_slack(report: Report, settings: Settings, *, offline: bool) -> None:
    from bots.slack_bot import check_slack, slack_settings

    slack = slack_settings(settings)
    if slack is None:
        report.ok("slack: not configured (set SLACK_BOT_TOKEN and SLACK_APP_TOKEN to connect; docs/slack.md)")
    elif offline:
        report.ok(f"slack: tokens set ({slack.mode} mode); token check skipped (--offline)")
    elif slack.oauth and not slack.bot_token:
        report.ok(f"slack: OAuth installs on (SLACK_CLIENT_ID); workspaces install at {slack.install_path}")
    else:
        problems = asyncio.run(check_slack(slack))
        for problem in problems:
            report.problem(f"slack: {problem}")
        if not problems:
            report.ok(f"slack: token accepted, scopes complete ({slack.mode} mode)")


def _check_discord(report: Report, settings: Settings, *, offline: bool) -> None:
    from bots.discord_bot import check_discord, discord_settings

    discord = discord_settings(settings)
    if discord is None:
        report.ok("discord: not configured (set DISCORD_TOKEN to connect; docs/discord.md)")
    elif offline:
        report.ok("discord: token set; token check skipped (--offline)")
    else:
        problems = asyncio.run(check_discord(discord.token))
        for problem in problems:
            report.problem(f"discord: {problem}")
        if not problems:
            report.ok("discord: token accepted, Message Content intent enabled")


def _check_env_file(report: Report) -> None:
    env_file = Path(".env")
    if env_file.exists() and os.name == "posix" and env_file.stat().st_mode & 0o077:
        report.problem(".env: readable by other users; run `chmod 600 .env`")
