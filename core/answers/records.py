"""What Tidings keeps about questions and answers, the same way on every platform.

- A question is on record from the moment it is accepted until it is answered (or its
  asker told why not), so a process killed mid-answer can leave a note after a restart.
- An answer is remembered with what was asked, who asked, where, and its sources, so a
  later 👍/👎 (or Slack's "Share in channel") finds it, after a restart too.
- Feedback is stored with the remembered answer: ``tidings feedback export`` rows have the
  same fields whatever the platform (``core.runtime.state.FeedbackRecord``).

- A platform event or question is *claimed* before it is answered, with a lease renewed
  while the answer is worked on (``AnswerRecords.holding``): a retry reaching any replica
  while the holder lives is dropped, one arriving after the holder died is answered, and a
  completed one is never answered again (docs/reliability.md, "Claims with leases").

The state store is blocking (short database transactions); ``AnswerRecords`` runs its calls
off the event loop. The adapters only say where a question was and render the notes.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from core.runtime.state import StateStore
from core.types import PUBLIC_SCOPE, Answer, ChannelRef, Citation, Quote

T = TypeVar("T")
log = logging.getLogger(__name__)

RESTARTED = "Sorry, I was restarted before I could answer this. Please ask again."
"""The note under a question a restart cut off."""
RESTARTED_COMMAND = "Sorry, I was restarted before I could answer a /ask question here. Please ask again"
"""The same in the channel, when there is no message to reply under (a slash command)."""

RESUMING = "Sorry, I was restarted while answering this; answering it again now…"
"""What a half-written reply becomes after a restart, until the answer replaces it."""
RESUME_WITHIN_S = 3600.0
"""Questions cut off by a restart less than this long ago are answered again; older ones get the note."""

FEEDBACK_THANKS = {1: "Thanks! Glad it helped.", -1: "Thanks for telling me; this helps improve the answers."}


def feedback_thanks(rating: int) -> str:
    """What the person who clicked 👍 (+1) or 👎 (-1) sees."""
    return FEEDBACK_THANKS[1 if rating > 0 else -1]


# -- questions in flight ----------------------------------------------------------------------


@dataclass(frozen=True)
class PendingQuestion:
    """A question being answered, as kept until it is: enough to find the asker again."""

    platform: str
    channel: str
    """Where the question was asked (on Discord a thread is a channel of its own)."""
    thread: str | None = None
    """The thread the answer goes into, where threads are not channels (Slack's ``thread_ts``)."""
    message: str | None = None
    """The asking message, to reply under; None for a slash command."""
    asker: str = ""
    asker_name: str = ""
    key: str = ""
    question: str = ""
    """The question as asked, so a restart can answer it again."""
    asked_at: float = 0.0
    """When it was asked (Unix time)."""
    workspace: str = ""
    """The Slack team or Discord server, so a deployment serving several finds the right one."""
    reply: str | None = None
    """The bot's reply showing the answer as it is written, once posted: after a restart it is
    edited into the restart note instead of being left half-written."""

    def payload(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "channel": self.channel,
            "thread": self.thread,
            "message": self.message,
            "asker": self.asker,
            "asker_name": self.asker_name,
            "reply": self.reply,
            "workspace": self.workspace,
            "question": self.question,
            "asked_at": self.asked_at,
        }

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> PendingQuestion:
        """An entry of ``StateStore.take_unfinished_questions()`` (older Slack entries named
        the thread ``thread_ts`` and the asker ``user``)."""

        def text(*names: str) -> str:
            return next((str(entry[name]) for name in names if entry.get(name)), "")

        return cls(
            platform=text("platform"),
            channel=text("channel"),
            thread=text("thread", "thread_ts") or None,
            message=text("message") or None,
            asker=text("asker", "user"),
            asker_name=text("asker_name"),
            key=text("key"),
            reply=text("reply") or None,
            workspace=text("workspace"),
            question=text("question"),
            asked_at=float(entry.get("asked_at") or 0.0),
        )


def unfinished_on(platform: str, entries: Iterable[Mapping[str, Any]]) -> list[PendingQuestion]:
    """The questions a previous process accepted on ``platform`` and never answered."""
    pending = (PendingQuestion.from_entry(entry) for entry in entries)
    return [question for question in pending if question.platform == platform and question.channel]


def resumable(question: PendingQuestion, *, now: float, within_s: float = RESUME_WITHIN_S) -> bool:
    """Whether a question cut off by a restart is answered again in its half-written reply
    (recent, with its text and its reply on record) rather than only told to ask again."""
    return bool(question.reply and question.question and 0 <= now - question.asked_at < within_s)


def restart_note(question: PendingQuestion) -> str:
    """What the asker of a question cut off by a restart is told: in place of the half-written
    reply when there is one, under the question when there is one to reply to, else in the
    channel, naming (never mentioning) the asker."""
    if question.reply or question.message or question.thread:
        return RESTARTED
    return f"{RESTARTED_COMMAND} (asked by {question.asker_name or 'someone'})."


# -- answers -----------------------------------------------------------------------------------


def citation_record(citation: Citation) -> dict[str, Any]:
    return {
        "n": citation.n,
        "source": citation.source,
        "title": citation.title,
        "url": citation.url,
        "scope": citation.scope,
        "score": round(citation.score, 4),
        "snippet": citation.snippet,
    }


def answer_record(answer: Answer, *, platform: str, channel: ChannelRef, asker: str) -> dict[str, Any]:
    """An answer as remembered (and copied into its feedback): the same fields on every platform."""
    return {
        "platform": platform,
        "channel": channel.scope,
        "asker": asker,
        "question": answer.question,
        "answer": answer.text,
        "grounded": answer.grounded,
        "citations": [citation_record(c) for c in answer.citations],
        "style": answer.style,
        "quotes": [{"text": q.text, "n": q.n} for q in answer.quotes],
    }


def answer_from_record(record: Mapping[str, Any]) -> Answer:
    """An answer as ``answer_record`` stored it, to show it again."""
    citations = tuple(
        Citation(
            n=int(c.get("n", i + 1)),
            source=str(c.get("source", "")),
            title=str(c.get("title", "")),
            snippet=str(c.get("snippet", "")),
            score=float(c.get("score", 0.0)),
            url=c.get("url"),
            scope=str(c.get("scope") or PUBLIC_SCOPE),
        )
        for i, c in enumerate(record.get("citations") or ())
    )
    return Answer(
        question=str(record.get("question", "")),
        text=str(record.get("answer", "")),
        grounded=bool(record.get("grounded", True)),
        citations=citations,
        style=str(record.get("style", "")),
        quotes=tuple(
            Quote(text=str(q.get("text", "")), n=int(q.get("n", 1)))
            for q in record.get("quotes") or ()
            if isinstance(q, Mapping)
        ),
    )


class AnswerRecords:
    """The state an answering adapter keeps, reached without blocking the event loop.

    ``executor`` runs the state calls (default: the loop's default executor); an adapter
    whose acknowledgements wait on the state store passes a thread of its own, so they
    never queue behind retrieval work."""

    def __init__(self, *, state: StateStore, executor: Executor | None = None) -> None:
        self.state = state
        self.executor = executor

    async def _call(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(self.executor, functools.partial(context.run, call, *args, **kwargs))

    async def first_time(self, key: str) -> bool:
        """True once per key, across restarts (the state store keeps processed keys a day)."""
        return await self._call(self.state.first_time, key)

    async def claim(self, key: str, *, take_over: bool = False) -> bool:
        """Claim ``key`` with a lease: True when this process should answer it now
        (``take_over``: see ``StateStore.claim``)."""
        return await self._call(self.state.claim, key, take_over=take_over)

    @asynccontextmanager
    async def handling(self, key: str, *, take_over: bool = False) -> AsyncIterator[bool]:
        """Claim ``key``, then hold it while the body runs (``holding``): True when this process
        handles it, False when a live holder has it or it was handled (drop it)."""
        if not await self.claim(key, take_over=take_over):
            yield False
            return
        async with self.holding(key):
            yield True

    @asynccontextmanager
    async def holding(self, key: str) -> AsyncIterator[None]:
        """Keep the claim on ``key`` alive while the body runs (renewed every third of the
        lease), and complete it after, also when the body failed (its error hook told the
        user). A cancelled body (a shutdown) completes nothing: like a crash, its lease runs
        out and a retry is answered elsewhere."""
        renewer = asyncio.create_task(self._renew(key), name=f"renew {key}")
        try:
            yield
        except asyncio.CancelledError:
            raise
        except BaseException:
            await self._call(self.state.complete, key)
            raise
        else:
            await self._call(self.state.complete, key)
        finally:
            renewer.cancel()

    async def _renew(self, key: str) -> None:
        interval = max(self.state.claim_lease_s / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            try:
                held = await self._call(self.state.renew, key)
            except Exception:
                log.warning("could not renew the claim on %s; retrying", key, exc_info=True)
                continue
            if not held:
                log.warning("lost the claim on %s (its lease ran out): another replica may answer it too", key)
                return

    async def question_started(self, key: str, question: PendingQuestion) -> None:
        await self._call(self.state.question_started, key, question.payload())

    async def reply_shown(self, key: str, question: PendingQuestion, reply: str) -> None:
        """The reply that shows the answer as it is written was posted: keep its id with the
        question, so a restart can edit it into the restart note."""
        await self._call(self.state.question_started, key, replace(question, reply=reply).payload())

    async def question_finished(self, key: str) -> None:
        await self._call(self.state.question_finished, key)

    async def remember(self, answer_id: str, answer: Answer, *, platform: str, channel: ChannelRef, asker: str) -> None:
        await self._call(self.state.remember_answer, answer_id, answer_record(answer, platform=platform, channel=channel, asker=asker))

    async def recall(self, answer_id: str) -> Answer | None:
        record = await self._call(self.state.recall_answer, answer_id)
        return None if record is None else answer_from_record(record)

    async def record_feedback(self, *, answer_id: str, platform: str, user: str, rating: int, clicked_in: str = "") -> str:
        """Store a 👍/👎 on a remembered answer; returns what to thank the user with. The
        record names the channel the answer was asked in, or ``clicked_in`` (a scope) when
        the answer is no longer remembered."""
        await self._call(
            self.state.record_feedback, answer_id=answer_id, platform=platform, channel=clicked_in, user=user, rating=rating
        )
        return feedback_thanks(rating)
