"""The local console chat: questions from stdin, grounded answers to stdout.

It runs when no chat platform is configured, and as ``tidings chat``; ``echo "question" |
tidings chat`` answers and exits. On a terminal it streams the answer as the model writes it.
"""

from __future__ import annotations

import asyncio
from typing import TextIO

from adapters.console.platform import ConsolePlatform
from core.answers.access import terminal_scopes
from core.answers.questions import ThreadContext
from core.errors import GENERIC_APOLOGY, UserFacingError
from core.services import Services
from core.types import Answer, Question, Turn

PROMPT = "you> "
EXIT_WORDS = frozenset({"exit", "quit", ":q", "/exit", "/quit"})


def format_answer(answer: Answer) -> str:
    lines = [answer.text]
    if answer.citations:
        lines.append("Sources:" if answer.grounded else "Nearest sources:")
        lines.extend(f"  [{c.n}] {c.title} ({c.url or c.source})" for c in answer.citations)
    return "\n".join(lines)


class ConsoleChat:
    def __init__(
        self,
        *,
        services: Services,
        stdin: TextIO,
        stdout: TextIO,
        scope: str | None = None,
        platform: ConsolePlatform | None = None,
    ) -> None:
        self.services = services
        self.platform = platform
        self.stdin = stdin
        self.stdout = stdout
        self.scopes = terminal_scopes(scope, services.settings.access.grants)
        self.interactive = bool(getattr(stdin, "isatty", lambda: False)())
        self.history: list[Turn] = []
        # The chat so far is this conversation's thread, kept within the same limits.
        self.thread_context = ThreadContext.limits(services.settings.answers)

    def write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()

    async def read_line(self) -> str | None:
        if self.interactive:
            self.write(PROMPT)
        line = await asyncio.to_thread(self.stdin.readline)
        return None if line == "" else line.strip()

    async def run(self) -> None:
        if self.interactive:
            self.write("Ask me anything about your knowledge base (Ctrl-D or 'exit' to leave).\n")
        while (line := await self.read_line()) is not None:
            if not line:
                continue
            if line.lower() in EXIT_WORDS:
                break
            await self.answer(line)

    async def answer(self, text: str) -> None:
        shown = 0
        streamed = [""]

        async def stream(so_far: str) -> None:
            nonlocal shown
            # Only extend what is on screen; a rewrite of earlier words waits for the final answer.
            if self.interactive and so_far.startswith(streamed[0]) and len(so_far) > shown:
                self.write(so_far[shown:])
                shown = len(so_far)
                streamed[0] = so_far

        async def queued(position: int) -> None:
            self.write(f"(queued, position {position})\n")

        if self.platform is not None:
            self.platform.record("you", text)
        question = Question(text=text, scopes=self.scopes, conversation=self.thread_context.fit(self.history), asker="console")
        try:
            answer = await self.services.answerer.answer(question, on_text=stream, on_queued=queued)
        except UserFacingError as error:
            self.write(error.user_message + "\n")
            return
        except Exception:
            import logging

            logging.getLogger(__name__).exception("console answer failed")
            self.write(GENERIC_APOLOGY + "\n")
            return
        full = format_answer(answer)
        if shown and full.startswith(streamed[0]):
            self.write(full[len(streamed[0]) :] + "\n\n")
        else:
            self.write(("\n" if shown else "") + full + "\n\n")
        self.history += [Turn("user", text), Turn("Tidings", answer.text, by_bot=True)]
        if self.platform is not None:
            self.platform.record("Tidings", answer.text, is_bot=True)
