"""The ``tidings`` command.

Heavy libraries (torch, llama.cpp, LanceDB) load only inside the commands that need them, so
``tidings --help`` is instant.
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from core.errors import ConfigError, TidingsError, UserFacingError

log = logging.getLogger("tidings")

CONNECT_HINT = (
    "No Slack or Discord token is set, so Tidings is chatting here in the console. "
    "To connect Slack or Discord, put SLACK_BOT_TOKEN (and SLACK_APP_TOKEN) or DISCORD_TOKEN in .env "
    "and run again (see docs/slack.md and docs/discord.md)."
)


# -- shared helpers -------------------------------------------------------------------------


def load_dotenv_file() -> None:
    """Secrets may live in ``.env`` beside the config; real environment variables win."""
    try:
        from dotenv import load_dotenv
    except ImportError:  # pragma: no cover - dependency missing
        return
    load_dotenv(Path(".env"), override=False)


def settings_from(args: argparse.Namespace) -> Any:
    from core.config import load_settings

    return load_settings(args.config, home=args.home)


def services_from(args: argparse.Namespace) -> Any:
    from bots.wiring import build_services

    return build_services(settings_from(args))


def queries(argument: str | None, stream: TextIO) -> Iterator[str]:
    """The query from the command line, or one per non-empty line of stdin (batch mode)."""
    if argument is not None:
        yield argument
        return
    for line in stream:
        if line.strip():
            yield line.rstrip("\n")


def scopes_for_cli(services: Any, scope: str | None) -> frozenset[str]:
    # The shell is the terminal, as the chat is: a question asked there reads the bundled guide too.
    from core.answers.access import terminal_scopes

    return terminal_scopes(scope, services.settings.access.grants)


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on or hide (control codes, escape
    sequences, bidi overrides, zero-width marks, bytes that are not UTF-8) written as its
    backslash escape: a file name must not be able to rewrite the line that reports it."""
    from core.knowledge.loaders import valid_text

    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in valid_text(text))


def print_ingest_report(report: Any, console: Any) -> None:
    """The plain ingest report. Paths and reasons go out as rich ``Text``, never as markup:
    a file named ``[/] a.md`` or ``:smile:.md`` is printed as it is named."""
    from rich.text import Text

    # soft_wrap: one line per entry, and a path is copied and pasted, so it is never broken over lines.
    console.print(
        f"Ingested {report.files} file(s): {report.added} chunk(s) added, "
        f"{report.unchanged} unchanged, {report.removed} removed.",
        soft_wrap=True,
    )
    for skipped in report.skipped:
        line = Text.assemble(("Skipped", "yellow"), f" {printable(skipped.path)}: {printable(skipped.reason)}")
        console.print(line, soft_wrap=True)
    for part in report.left_out:
        line = Text.assemble(("Left out", "yellow"), f" of {printable(part.path)}: {printable(part.reason)}")
        console.print(line, soft_wrap=True)


def print_json(payload: Any) -> None:
    text = json.dumps(payload, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A path whose name is not UTF-8 holds lone surrogates, which no UTF-8 stream can carry;
        # as \u escapes they can, and json.loads then gives back the very path os.fsencode maps
        # to the file's bytes.
        text = json.dumps(payload)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def answer_payload(answer: Any) -> dict[str, Any]:
    return {
        "question": answer.question,
        "answer": answer.text,
        "grounded": answer.grounded,
        "style": answer.style,
        "citations": [
            {"n": c.n, "source": c.source, "title": c.title, "snippet": c.snippet, "score": c.score, "url": c.url}
            for c in answer.citations
        ],
        "timings": {
            "retrieve_ms": round(answer.timings.retrieve_ms, 1),
            "generate_ms": round(answer.timings.generate_ms, 1),
            "prompt_tokens": answer.timings.prompt_tokens,
            "completion_tokens": answer.timings.completion_tokens,
        },
    }


# -- commands -------------------------------------------------------------------------------


def cmd_ingest(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from core.knowledge.embedding import every_core
    from core.knowledge.ingesting import ingest

    services = services_from(args)
    kb_settings = services.settings.knowledge_base
    console = Console(stderr=True)
    show_progress = not args.json and console.is_terminal
    with Progress(
        TextColumn("[bold]Ingesting[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}", markup=False),
        console=console,
        disable=not show_progress,
        transient=True,
    ) as bar:
        task = bar.add_task("", total=None)

        def progress(current: str, done: int, total: int) -> None:
            name = printable(Path(current).name) if current else ""
            bar.update(task, completed=done, total=total, description=name)

        with every_core(services.embedder):  # embedding is all `tidings ingest` does
            report = ingest(
                args.paths,
                knowledge_base=services.knowledge_base,
                embedder=services.embedder,
                scope=args.scope,
                chunk_tokens=kb_settings.chunk_tokens,
                overlap_sentences=kb_settings.overlap_sentences,
                conversation_window=kb_settings.conversation_window,
                progress=progress,
            )
    if args.json:
        print_json(report.as_dict())
    else:
        print_ingest_report(report, Console())
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    services = services_from(args)
    scopes = scopes_for_cli(services, args.scope)
    batch = args.query is None
    for query in queries(args.query, sys.stdin):
        hits = services.knowledge_base.search(query, scopes=scopes, k=args.k, mode=args.mode)
        results = [
            {
                "rank": rank,
                "score": round(hit.score, 6),
                "similarity": None if hit.similarity is None else round(hit.similarity, 4),
                "source": hit.chunk.source,
                "title": hit.chunk.title,
                "text": hit.chunk.text,
                "scope": hit.chunk.scope,
                "url": hit.chunk.url,
            }
            for rank, hit in enumerate(hits, start=1)
        ]
        if args.json or batch:
            print_json({"query": query, "results": results})
        else:
            if not results:
                print("Nothing found.")
            for r in results:
                print(f"{r['rank']}. {r['title']}  ({r['source']}, {r['scope']}, similarity {r['similarity']})")
                print("   " + " ".join(r["text"].split())[:240])
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from adapters.console.chat import format_answer
    from core.types import Question

    services = services_from(args)
    scopes = scopes_for_cli(services, args.scope)
    batch = args.question is None

    async def run() -> None:
        for text in queries(args.question, sys.stdin):
            try:
                answer = await services.answerer.answer(Question(text=text, scopes=scopes))
            except UserFacingError as error:
                if args.json or batch:
                    print_json({"question": text, "error": error.user_message})
                else:
                    print(error.user_message)
                continue
            if args.json or batch:
                print_json(answer_payload(answer))
            else:
                print(format_answer(answer))

    asyncio.run(run())
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from adapters.console.chat import ConsoleChat
    from bots.wiring import ensure_default_knowledge_base

    services = services_from(args)
    ensure_default_knowledge_base(services)
    chat = ConsoleChat(services=services, stdin=sys.stdin, stdout=sys.stdout, scope=args.scope)
    asyncio.run(chat.run())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from bots.runner import run

    # A crash in native code (llama.cpp, LanceDB, torch) leaves the Python stack in the log.
    faulthandler.enable()
    return asyncio.run(run(settings_from(args), connect_hint=CONNECT_HINT))


def cmd_kb_stats(args: argparse.Namespace) -> int:
    services = services_from(args)
    sources = services.knowledge_base.sources()
    scopes: dict[str, int] = {}
    for s in sources:
        for scope in s.scopes:
            scopes[scope] = scopes.get(scope, 0) + s.chunks
    payload = {
        "uri": services.settings.kb_uri,
        "sources": len(sources),
        "chunks": services.knowledge_base.count(),
        "scopes": scopes,
        "by_source": [{"source": s.source, "chunks": s.chunks, "scopes": list(s.scopes)} for s in sources],
    }
    if args.json:
        print_json(payload)
        return 0
    print(f"Knowledge base at {payload['uri']}: {payload['sources']} source(s), {payload['chunks']} chunk(s).")
    for scope, count in sorted(scopes.items()):
        print(f"  scope {scope}: {count} chunk(s)")
    for s in sources:
        print(f"  {s.chunks:6d}  {s.source}")
    return 0


def cmd_kb_forget(args: argparse.Namespace) -> int:
    services = services_from(args)
    removed = services.knowledge_base.forget(args.source)
    if removed:
        services.knowledge_base.refresh_indexes()
        print(f"Removed {removed} chunk(s) of {args.source}.")
        return 0
    print(f"No source named {args.source} in the knowledge base (see `tidings kb stats`).")
    return 1


def cmd_forget(args: argparse.Namespace) -> int:
    """``tidings forget --user ID``: what ``/tidings forget me confirm`` does, from the shell."""
    from core.config import load_settings
    from core.runtime.state import StateStore

    user = (args.user or "").strip()
    if not user:
        print("Give the user id to forget: tidings forget --user U0123ABCD (Slack) or a Discord user id.", file=sys.stderr)
        return 2
    settings = load_settings(args.config, home=args.home)
    state = StateStore(settings.state_path)
    try:
        removed = state.forget_user(user)
    finally:
        state.close()
    if args.json:
        print(json.dumps({"user": user, **removed}))
    else:
        print(
            f"Deleted what was stored about {user}: {removed['answers']} questions with their answers, "
            f"{removed['feedback']} feedback records, {removed['pending']} questions in progress."
        )
    return 0


def cmd_feedback_export(args: argparse.Namespace) -> int:
    from core.config import load_settings
    from core.runtime.state import StateStore

    settings = load_settings(args.config, home=args.home)
    rows = StateStore(settings.state_url, claim_lease_s=settings.state.claim_lease_s).feedback()
    out: TextIO = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if args.output:
        print(f"Wrote {len(rows)} feedback record(s) to {args.output}.", file=sys.stderr)
    return 0


def cmd_feedback_unanswered(args: argparse.Namespace) -> int:
    from core.config import load_settings
    from core.runtime.state import StateStore

    if args.days <= 0:
        print("--days needs a whole number of days above 0, for example --days 30.", file=sys.stderr)
        return 2
    settings = load_settings(args.config, home=args.home)
    state = StateStore(settings.state_url, claim_lease_s=settings.state.claim_lease_s)
    try:
        questions = state.unanswered_questions(since=datetime.now(UTC) - timedelta(days=args.days))
    finally:
        state.close()
    if args.json:
        for q in questions:
            row = {"question": q.question, "times": q.times, "last_asked": q.last_asked.isoformat(), "channels": list(q.channels)}
            print(json.dumps(row, ensure_ascii=False))
        return 0
    period = "the last day" if args.days == 1 else f"the last {args.days} days"
    if not questions:
        print(f"No question went unanswered in {period}.")
        return 0
    print(f"{len(questions)} question(s) Tidings could not answer from the knowledge base in {period}, most asked first:")
    for q in questions:
        times = f"{q.times}x" if q.times > 1 else "  "
        print(f"  {times:>4}  {q.question}  ({q.last_asked:%Y-%m-%d %H:%M} UTC, {', '.join(q.channels)})")
    print("Add documents that answer them with `tidings ingest PATH`, then ask again to check.")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from core.config import load_settings
    from core.runtime.migrations import upgrade
    from core.runtime.state import StateStore

    settings = load_settings(args.config, home=args.home)
    store = StateStore(settings.state_url, migrate=False)
    try:
        before, after = upgrade(store.engine)
    finally:
        store.close()
    where = make_url(store.url).render_as_string(hide_password=True)
    if before == after:
        print(f"{where}: schema already at {after}.")
    else:
        print(f"{where}: schema upgraded from {before or 'empty'} to {after}.")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from bots.doctor import run_doctor

    return run_doctor(args)


def cmd_discord_invite(args: argparse.Namespace) -> int:
    from bots.discord_bot import invite_url

    application_id = args.application_id or os.environ.get("DISCORD_APPLICATION_ID", "")
    if not application_id:
        print(
            "Give the application id: `tidings discord invite-url --application-id ID` "
            "(Discord developer portal > your app > General Information), or set DISCORD_APPLICATION_ID."
        )
        return 2
    print(invite_url(application_id))
    return 0


# -- parser ---------------------------------------------------------------------------------


def installed_version() -> str:
    """The installed distribution's version, as pip and a bug report would name it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tidings")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tidings",
        description="A self-hosted knowledge bot for Slack and Discord: grounded answers and daily digests.",
    )
    parser.add_argument("--home", default=None, help="data directory (default: $TIDINGS_HOME or .tidings)")
    parser.add_argument("--config", default=None, help="TOML config file (default: $TIDINGS_CONFIG or config/tidings.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    parser.add_argument("--version", action="version", version=f"tidings {installed_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("run", help="start every configured platform plus the digest scheduler (console chat if none)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("chat", help="chat in the terminal; reads questions from stdin")
    p.add_argument("--scope", default=None, help="ask as if in this channel scope (without it: public and Tidings' own guide)")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("ingest", help="add files and folders to the knowledge base")
    p.add_argument("paths", nargs="+", help="files or folders (recursive)")
    p.add_argument("--scope", default=None, help="scope for documents (default: public; chat exports keep their channel)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="search the knowledge base (no QUERY: one query per stdin line)")
    p.add_argument("query", nargs="?", default=None)
    p.add_argument("--k", type=int, default=5, help="results per query")
    p.add_argument("--scope", default=None, help="search as a question asked in this channel scope does (without it: public and Tidings' own guide)")
    p.add_argument("--mode", choices=["hybrid", "vector", "text"], default="hybrid")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("ask", help="ask a grounded question (no QUESTION: one per stdin line)")
    p.add_argument("question", nargs="?", default=None)
    p.add_argument("--scope", default=None, help="ask as if in this channel scope (without it: public and Tidings' own guide)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    kb = sub.add_parser("kb", help="inspect or edit the knowledge base")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="KB_COMMAND", required=True)
    p = kb_sub.add_parser("stats", help="sources, chunks and scopes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_kb_stats)
    p = kb_sub.add_parser("forget", help="remove a source")
    p.add_argument("source")
    p.set_defaults(func=cmd_kb_forget)

    p = sub.add_parser("forget", help="delete everything stored about one user (their questions, answers, feedback)")
    p.add_argument("--user", required=True, help="the Slack or Discord user id")
    p.add_argument("--json", action="store_true", help="print the counts as JSON")
    p.set_defaults(func=cmd_forget)

    fb = sub.add_parser("feedback", help="answers rated with 👍/👎, and questions that went unanswered")
    fb_sub = fb.add_subparsers(dest="feedback_command", metavar="FEEDBACK_COMMAND", required=True)
    p = fb_sub.add_parser("export", help="write feedback as JSONL")
    p.add_argument("--output", "-o", default=None, help="file to write (default: stdout)")
    p.set_defaults(func=cmd_feedback_export)
    p = fb_sub.add_parser(
        "unanswered", help="the questions Tidings could not answer from the knowledge base: what to add to it"
    )
    p.add_argument("--days", type=int, default=7, help="how far back to look (default 7; answers are kept [state] keep_days)")
    p.add_argument("--json", action="store_true", help="one JSON object per question")
    p.set_defaults(func=cmd_feedback_unanswered)

    db = sub.add_parser("db", help="the state database (SQLite file or PostgreSQL)")
    db_sub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    p = db_sub.add_parser("upgrade", help="apply the schema migrations (also done on every start), under a database lock")
    p.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("doctor", help="check models, knowledge base, config and platform tokens")
    p.add_argument("--offline", action="store_true", help="skip the checks that call Slack or Discord")
    p.set_defaults(func=cmd_doctor)

    dc = sub.add_parser("discord", help="Discord helpers")
    dc_sub = dc.add_subparsers(dest="discord_command", metavar="DISCORD_COMMAND", required=True)
    p = dc_sub.add_parser("invite-url", help="print the OAuth2 URL that adds the bot to a server")
    p.add_argument("--application-id", default=None)
    p.set_defaults(func=cmd_discord_invite)

    for module in ("bots.cli_digest", "bots.cli_eval", "bots.cli_reliability"):
        try:
            registered = __import__(module, fromlist=["register"])
        except ModuleNotFoundError as error:
            if error.name != module:
                raise
            continue
        registered.register(sub)
    return parser


def configure_logging(verbose: bool) -> None:
    from core.runtime.logs import configure

    configure(level="DEBUG" if verbose else os.environ.get("TIDINGS_OBSERVABILITY__LOG_LEVEL", "WARNING"))


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    load_dotenv_file()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except ConfigError as error:
        print(f"Configuration problem: {error}", file=sys.stderr)
        return 2
    except TidingsError as error:
        print(f"tidings: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted. Run the same command again to finish; nothing written so far is lost.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
