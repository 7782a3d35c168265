"""How Tidings answers on Slack: the sequence of Web API calls around one question.

React with 👀 at once; say "queued, position N" when the model is busy; stream the answer
into one message (``chat.update`` at most about once a second); finish it with sources and
👍/👎 buttons. The use cases (answering, summarising, access checks) and what every platform
does around them (reading the question, the streaming throttle, questions in flight,
remembered answers, feedback, restart notes) live in the core; this module only turns
their results into Slack calls.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from slack_sdk.errors import SlackApiError

from adapters.slack.convert import (
    SlackMessage,
    answer_messages,
    digest_messages,
    feedback_buttons,
    home_view,
    is_from_person,
    notice_message,
    queued_message,
    share_button,
    streaming_message,
    summarize_request,
    thread_turns,
)
from adapters.slack.convert import question_text as extract_question
from adapters.slack.platform import SlackPlatform
from adapters.slack.settings import SlackSettings
from core.answers.questions import EMPTY_COMMAND, EMPTY_MENTION, ThreadContext, read_question
from core.answers.records import RESUMING, AnswerRecords, PendingQuestion, restart_note, resumable, unfinished_on
from core.answers.streaming import StreamingEdits
from core.commands.home import workspace_overview
from core.commands.tidings import Asker, MissingPermission, NotInChannel
from core.digests.windows import parse_window
from core.errors import GENERIC_APOLOGY, UserFacingError
from core.ports import Clock
from core.services import Services
from core.types import Answer, ChannelRef, Digest, Question, channel_scope

log = logging.getLogger(__name__)

Respond = Callable[..., Any]

NO_SUMMARIES = "Summaries aren't switched on for this bot yet."
NOT_IN_CHANNEL = "I can't read or post in this channel yet; invite me with /invite @Tidings and try again."
NOTHING_TO_SUMMARIZE = "There's nothing to summarize in that window."


class StreamingReply:
    """One bot message in a thread that shows, in turn, the queue position, the answer as the
    model writes it, and the finished answer: posted the first time, ``chat.update``d after.
    When to edit is ``core.answers.streaming.StreamingEdits``'s business.
    """

    def __init__(
        self,
        platform: SlackPlatform,
        channel: str,
        thread_ts: str | None,
        *,
        interval: float = 1.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.platform = platform
        self.channel = channel
        self.thread_ts = thread_ts
        self.ts: str | None = None
        self.on_posted: Callable[[str], Awaitable[None]] | None = None
        """Told the reply's ts once it is posted (the question's pending record keeps it)."""
        self.edits = StreamingEdits(show_queued=self._show_queued, show_text=self._show_text, interval=interval, clock=clock)
        self.on_queued = self.edits.on_queued
        self.on_text = self.edits.on_text

    async def _put(self, message: SlackMessage) -> None:
        if self.ts is None:
            self.ts = await self.platform.post_message(self.channel, message, thread_ts=self.thread_ts)
            if self.on_posted is not None:
                await self.on_posted(self.ts)
        else:
            await self.platform.update_message(self.channel, self.ts, message)

    async def _show_queued(self, position: int) -> None:
        await self._put(queued_message(position))

    async def _show_text(self, text_so_far: str) -> None:
        await self._put(streaming_message(text_so_far))

    async def finish(self, messages: Sequence[SlackMessage]) -> str:
        """Replace whatever is shown with ``messages[0]`` and post the rest after it."""

        async def show() -> str:
            await self._put(messages[0])
            for extra in messages[1:]:
                await self.platform.post_message(self.channel, extra, thread_ts=self.thread_ts)
            assert self.ts is not None
            return self.ts

        return await self.edits.finish(show)


@dataclass(frozen=True)
class Asked:
    """A message that addressed the bot: where it is, who wrote it, what it says."""

    channel: str
    ts: str
    user: str
    text: str
    thread_ts: str | None
    is_direct: bool = False

    @property
    def reply_thread(self) -> str | None:
        """Where the answer goes: the message's thread (a new one under a channel message;
        DMs are answered inline unless the question was itself in a thread)."""
        if self.is_direct:
            return self.thread_ts
        return self.thread_ts or self.ts

    @property
    def key(self) -> str:
        return f"slack:message:{self.channel}:{self.ts}"

    @classmethod
    def from_event(cls, event: Mapping[str, Any], *, is_direct: bool = False) -> Asked:
        thread_ts = event.get("thread_ts")
        return cls(
            channel=str(event.get("channel") or ""),
            ts=str(event.get("ts") or ""),
            user=str(event.get("user") or ""),
            text=str(event.get("text") or ""),
            thread_ts=str(thread_ts) if thread_ts and thread_ts != event.get("ts") else None,
            is_direct=is_direct,
        )


class SlackResponder:
    """Answers questions, summaries and button clicks on Slack."""

    def __init__(
        self,
        *,
        services: Services,
        platform: SlackPlatform,
        settings: SlackSettings,
        clock: Clock = time.monotonic,
    ) -> None:
        self.services = services
        self.platform = platform
        self.settings = settings
        self.clock = clock
        self.resumed: set[asyncio.Task[Any]] = set()
        """Questions a restart cut off, being answered again."""
        self.replies: dict[str, StreamingReply] = {}
        """Replies in progress by message key, so the error hook can turn one into an apology."""
        self.active: set[asyncio.Task[Any]] = set()
        # State writes are short transactions; they must not wait in the default executor behind
        # retrieval work. SQLite takes one writer at a time; PostgreSQL serves several at once.
        writers = 4 if getattr(services.state, "dialect", "sqlite") == "postgresql" else 1
        self._state_thread = ThreadPoolExecutor(max_workers=writers, thread_name_prefix="slack-state")
        self.records = AnswerRecords(state=services.state, executor=self._state_thread)
        self.thread_context = ThreadContext.limits(services.settings.answers, messages=settings.thread_context_messages)

    # -- small helpers ------------------------------------------------------------------------

    def close(self) -> None:
        self._state_thread.shutdown(wait=False)

    async def first_time(self, key: str) -> bool:
        """True once per key, across restarts (the state store keeps processed keys a day)."""
        return await self.records.first_time(key)

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.active.add(task)
            task.add_done_callback(self.active.discard)

    async def react(self, channel: str, ts: str, name: str = "eyes") -> None:
        try:
            await self.platform.client.reactions_add(channel=channel, timestamp=ts, name=name)
        except SlackApiError as error:
            # "already_reacted" on a retry, or no reactions:write scope: the answer matters more.
            log.info("reactions.add failed: %s", error.response.get("error"))

    def _read_question(self, text: str, *, empty: str) -> str:
        """The question in a mention or command, checked the way every platform checks it."""
        extracted = extract_question(text, self.platform.bot_user_id, self.platform.names)
        return read_question(extracted, max_chars=self.services.settings.access.max_question_chars, empty=empty)

    def _question_for(self, asked: Asked, text: str, channel: ChannelRef, turns: Sequence[Any]) -> Question:
        return Question(
            text=text,
            scopes=self.services.gatekeeper.scopes(channel),
            conversation=tuple(turns),
            asker=asked.user,
            request_id=f"slack-{asked.channel}-{asked.ts}",
        )

    async def _remember(self, answer: Answer, channel: ChannelRef, asked_by: str) -> str:
        answer_id = uuid.uuid4().hex
        await self.records.remember(answer_id, answer, platform="slack", channel=channel, asker=asked_by)
        return answer_id

    # -- questions by mention and DM ---------------------------------------------------------

    async def mention(self, event: Mapping[str, Any]) -> None:
        """``@Tidings ...`` in a channel or thread."""
        if is_from_person(event) and not event.get("edited"):
            await self.answer(Asked.from_event(event))

    async def direct_message(self, event: Mapping[str, Any]) -> None:
        """A message in the bot's DM; other message events (channels, edits, bots) are ignored."""
        if event.get("channel_type") == "im" and is_from_person(event):
            await self.answer(Asked.from_event(event, is_direct=True))

    async def answer(self, asked: Asked, *, resume: str | None = None) -> None:
        """Answer ``asked``; ``resume`` is the ts of a reply a restart cut off, which the
        answer then replaces (the question was seen and acknowledged before the restart)."""
        # A mention in a DM can arrive both as app_mention and as message.im: answer once.
        # ``take_over``: a question resumed after a restart was held by the process before.
        async with self.records.handling(asked.key, take_over=resume is not None) as mine:
            if mine:
                await self._answer_claimed(asked, resume=resume)

    async def _answer_claimed(self, asked: Asked, *, resume: str | None) -> None:
        self._track()
        if resume is None:
            await self.react(asked.channel, asked.ts)
        reply = StreamingReply(
            self.platform, asked.channel, asked.reply_thread, interval=self.settings.stream_interval_s, clock=self.clock
        )
        reply.ts = resume
        self.replies[asked.key] = reply
        pending = PendingQuestion(
            platform="slack",
            channel=asked.channel,
            thread=asked.reply_thread,
            message=asked.ts,
            asker=asked.user,
            workspace=self.platform.team_id,
            question=asked.text,
            asked_at=time.time(),
            reply=resume,
        )
        await self.records.question_started(asked.key, pending)

        async def posted(ts: str) -> None:
            await self.records.reply_shown(asked.key, pending, ts)

        reply.on_posted = posted
        failed = False
        try:
            channel = await self.platform.channel_ref(asked.channel, thread=asked.reply_thread)
            try:
                await self._answer(asked, channel, reply)
            except UserFacingError as error:
                await reply.finish([notice_message(error.user_message)])
        except Exception:
            failed = True  # the error hook finds the reply in self.replies and apologises in it
            raise
        finally:
            if not failed:
                self.replies.pop(asked.key, None)
            await self.records.question_finished(asked.key)

    async def _answer(self, asked: Asked, channel: ChannelRef, reply: StreamingReply) -> None:
        await self.services.gatekeeper.admit(user=asked.user, channel=channel)
        text = self._read_question(asked.text, empty=EMPTY_MENTION)
        window = summarize_request(text)
        if window is not None and self.services.summarizer is not None:
            await self._summarize_for(asked, channel, window, reply)
            return
        turns = await self._thread_context(asked)
        question = self._question_for(asked, text, channel, turns)
        answer = await self.services.answerer.answer(question, on_text=reply.on_text, on_queued=reply.on_queued)
        answer_id = await self._remember(answer, channel, asked.user)
        await reply.finish(answer_messages(answer, actions=feedback_buttons(answer_id)))

    async def _thread_context(self, asked: Asked) -> Sequence[Any]:
        if not asked.thread_ts:
            return ()
        messages = await self.platform.thread_messages(asked.channel, asked.thread_ts)
        await self.platform.resolve_names({str(m["user"]) for m in messages if m.get("user")})
        turns = thread_turns(
            messages,
            before_ts=asked.ts,
            bot_user_id=self.platform.bot_user_id,
            names=self.platform.names,
            limit=self.thread_context.messages,
        )
        return self.thread_context.fit(turns)

    # -- summaries ----------------------------------------------------------------------------

    async def _summarize_for(self, asked: Asked, channel: ChannelRef, window: str, reply: StreamingReply) -> None:
        """"@Tidings summarize" in a thread summarises the thread; in a channel, the window named."""
        if asked.thread_ts and not window:
            raw = await self.platform.thread_messages(asked.channel, asked.thread_ts)
            raw = [m for m in raw if float(m["ts"]) < float(asked.ts)]
            messages = await self.platform.to_messages(raw, channel)
            digest = await self._summarize(messages, channel, None, reply.on_queued)
        else:
            digest = await self.summarize_window(channel, window, asked.user, on_queued=reply.on_queued)
        if digest.is_empty:
            raise UserFacingError(NOTHING_TO_SUMMARIZE)
        await reply.finish(digest_messages(digest))

    async def _summarize(self, messages: Sequence[Any], channel: ChannelRef, window: Any, on_queued: Any) -> Digest:
        if self.services.summarizer is None:
            raise UserFacingError(NO_SUMMARIES)
        return await self.services.summarizer.summarize(messages, channel=channel, window=window, on_queued=on_queued)

    async def summarize_window(
        self, channel: ChannelRef, phrase: str, user: str, *, on_queued: Any = None
    ) -> Digest:
        zone = await self.platform.user_timezone(user)
        start, end = parse_window(phrase, now=datetime.now(UTC), tz=zone)
        try:
            messages = await self.platform.fetch_history(channel, start, end)
        except SlackApiError as error:
            if error.response.get("error") in {"not_in_channel", "channel_not_found"}:
                raise UserFacingError(NOT_IN_CHANNEL) from error
            raise
        return await self._summarize(messages, replace(channel, thread=None), (start, end), on_queued)

    async def summarize_command(self, command: Mapping[str, Any], respond: Respond) -> None:
        """``/summarize [today|yesterday|6h]``: the summary is posted in the channel for all."""
        self._track()
        channel = await self.platform.channel_ref(str(command.get("channel_id")))
        user = str(command.get("user_id") or "")
        try:
            await self.services.gatekeeper.admit(user=user, channel=channel)

            async def queued(position: int) -> None:
                await respond(text=queued_message(position).text, response_type="ephemeral")

            digest = await self.summarize_window(channel, str(command.get("text") or ""), user, on_queued=queued)
            if digest.is_empty:
                raise UserFacingError(NOTHING_TO_SUMMARIZE)
            try:
                await self.platform.post_all(channel.channel, digest_messages(digest))
            except SlackApiError as error:
                if error.response.get("error") == "not_in_channel":
                    raise UserFacingError(NOT_IN_CHANNEL) from error
                raise
        except UserFacingError as error:
            await respond(text=error.user_message, response_type="ephemeral")

    # -- /ask, sharing and feedback -----------------------------------------------------------

    async def ask_command(self, command: Mapping[str, Any], respond: Respond) -> None:
        """``/ask question``: answered privately to the asker, with a button to share it."""
        self._track()
        user = str(command.get("user_id") or "")
        channel = await self.platform.channel_ref(str(command.get("channel_id")))
        asked = Asked(channel.channel, f"{time.time():.6f}", user, "", None)
        try:
            await self.services.gatekeeper.admit(user=user, channel=channel)
            text = self._read_question(str(command.get("text") or ""), empty=EMPTY_COMMAND)
            question = self._question_for(asked, text, channel, ())

            async def queued(position: int) -> None:
                await respond(text=queued_message(position).text, response_type="ephemeral", replace_original=True)

            answer = await self.services.answerer.answer(question, on_queued=queued)
            answer_id = await self._remember(answer, channel, user)
            message = answer_messages(answer, actions=share_button(answer_id))[0]
            await respond(text=message.text, blocks=list(message.blocks), response_type="ephemeral", replace_original=True)
        except UserFacingError as error:
            await respond(text=error.user_message, response_type="ephemeral", replace_original=True)

    async def share(self, body: Mapping[str, Any], respond: Respond) -> None:
        """The "Share in channel" button of an /ask answer: post it for everyone, with 👍/👎."""
        answer_id = str(body["actions"][0]["value"])
        answer = await self.records.recall(answer_id)
        if answer is None:
            await respond(text="That answer is too old to share; please ask again.", response_type="ephemeral")
            return
        user = str((body.get("user") or {}).get("id") or "")
        name = await self.platform.user_name(user)
        messages = answer_messages(answer, actions=feedback_buttons(answer_id))
        intro = notice_message(f"{name} asked: {answer.question}")
        channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id"))
        await self.platform.post_all(channel, [intro, *messages])
        await respond(delete_original=True)

    async def feedback(self, body: Mapping[str, Any], rating: int, respond: Respond) -> None:
        action = body["actions"][0]
        user = str((body.get("user") or {}).get("id") or "")
        channel = str((body.get("channel") or {}).get("id") or "")
        thanks = await self.records.record_feedback(
            answer_id=str(action["value"]),
            platform="slack",
            user=user,
            rating=rating,
            clicked_in=channel_scope("slack", self.platform.team_id, channel),
        )
        await respond(text=thanks, response_type="ephemeral", replace_original=False)

    # -- /tidings ----------------------------------------------------------------------------

    async def tidings_command(self, command: Mapping[str, Any], respond: Respond) -> None:
        """``/tidings ...``: read by the core (``core.commands.tidings``); this only says who
        asked, whether Slack calls them a workspace admin or owner, their time zone, and how
        to check that the bot can read the channel."""
        commands = self.services.commands
        if commands is None:
            await respond(text=GENERIC_APOLOGY, response_type="ephemeral")
            return
        user = str(command.get("user_id") or "")
        channel_id = str(command.get("channel_id") or "")
        channel = await self.platform.channel_ref(channel_id)
        try:
            profile = await self.platform.user_profile(user)
        except SlackApiError as error:
            if error.response.get("error") == "missing_scope":
                profile = {}
            else:
                raise
        asker = Asker(
            user=user,
            channel=channel,
            may_manage=bool(profile.get("is_admin") or profile.get("is_owner") or profile.get("is_primary_owner")),
            timezone=str(profile.get("tz") or ""),
            is_direct=channel_id.startswith("D") or command.get("channel_name") == "directmessage",
        )

        async def probe() -> None:
            try:
                await self.platform.probe_history(channel_id)
            except SlackApiError as error:
                code = error.response.get("error")
                if code == "missing_scope":
                    needed = str(error.response.get("needed") or "channels:history")
                    raise MissingPermission(needed.split(",")[0]) from None
                if code in {"not_in_channel", "channel_not_found"}:
                    raise NotInChannel(channel_id) from None
                raise

        reply = await commands.run(str(command.get("text") or ""), asker, probe=probe)
        await respond(text=reply.text, response_type="ephemeral")

    # -- the App Home tab -------------------------------------------------------------------

    async def publish_home(self, event: Mapping[str, Any]) -> None:
        """``app_home_opened`` on the Home tab: ``views.publish`` what the core gathers."""
        if event.get("tab") not in (None, "home"):
            return
        user = str(event.get("user") or "")
        if not user:
            return
        try:
            profile = await self.platform.user_profile(user)
        except SlackApiError:
            profile = {}
        is_admin = bool(profile.get("is_admin") or profile.get("is_owner")) or user in self.services.settings.access.admins
        overview = await asyncio.to_thread(
            workspace_overview,
            settings=self.services.settings,
            state=self.services.state,
            knowledge_base=self.services.knowledge_base,
            platform="slack",
            workspace=self.platform.team_id,
            is_admin=is_admin,
            now=datetime.now(UTC),
        )
        await self.platform.client.views_publish(user_id=user, view=home_view(overview))

    # -- the error hook's half ---------------------------------------------------------------

    async def apologise(self, body: Mapping[str, Any], error: BaseException, respond: Respond | None) -> None:
        """Tell the asker one polite sentence where they asked."""
        sentence = error.user_message if isinstance(error, UserFacingError) else GENERIC_APOLOGY
        event = body.get("event") or {}
        if event:
            asked = Asked.from_event(event, is_direct=event.get("channel_type") == "im")
            reply = self.replies.pop(asked.key, None)
            if reply is not None:
                await reply.finish([notice_message(sentence)])
            elif asked.channel:
                await self.platform.post_message(asked.channel, notice_message(sentence), thread_ts=asked.reply_thread)
        elif respond is not None and body.get("response_url"):
            await respond(text=sentence, response_type="ephemeral")

    # -- after a restart -----------------------------------------------------------------------

    async def _resume(self, pending: PendingQuestion) -> bool:
        """Edit the half-written reply into a note and answer the question again in it."""
        assert pending.reply is not None and pending.message is not None
        try:
            await self.platform.update_message(pending.channel, pending.reply, notice_message(RESUMING))
        except SlackApiError as error:
            log.info("could not edit the unfinished reply %s: %s", pending.reply, error.response.get("error"))
            return False
        thread = pending.thread if pending.thread and pending.thread != pending.message else None
        asked = Asked(pending.channel, pending.message, pending.asker, pending.question, thread, is_direct=pending.thread is None)
        task = asyncio.create_task(self.answer(asked, resume=pending.reply), name=f"tidings-resume-{pending.message}")
        self.resumed.add(task)
        task.add_done_callback(self.resumed.discard)
        return True

    async def _with_shown_reply(self, pending: PendingQuestion) -> PendingQuestion:
        """A process killed between posting its reply and recording it left a reply on record
        as none: it is the bot's first message in the thread after the question, so that
        message is edited rather than a second one posted beside it."""
        if pending.reply or not pending.message or not pending.thread:
            return pending
        try:
            thread = await self.platform.thread_messages(pending.channel, pending.thread)
        except SlackApiError as error:
            log.info("could not read the thread of an unfinished question: %s", error.response.get("error"))
            return pending
        own = (
            str(m["ts"])
            for m in thread
            if float(m.get("ts") or 0) > float(pending.message)
            and ((self.platform.bot_user_id and m.get("user") == self.platform.bot_user_id)
                 or (self.platform.bot_id and m.get("bot_id") == self.platform.bot_id))
        )
        shown = next(own, None)
        return pending if shown is None else replace(pending, reply=shown)

    async def tell_unfinished(self, entries: Sequence[Mapping[str, Any]]) -> int:
        """Questions a previous process accepted and never answered: say so where they were asked."""
        told = 0
        for pending in unfinished_on("slack", entries):
            pending = await self._with_shown_reply(pending)
            # A mention's reply only: a command's answer went to its response_url, not a message.
            if pending.message and resumable(pending, now=time.time()) and await self._resume(pending):
                told += 1
                continue
            note = notice_message(restart_note(pending))
            if pending.reply:
                # The half-written answer becomes the note, rather than staying frozen mid-sentence.
                try:
                    await self.platform.update_message(pending.channel, pending.reply, note)
                    told += 1
                    continue
                except SlackApiError as error:
                    log.info("could not edit the unfinished reply %s: %s", pending.reply, error.response.get("error"))
            await self.platform.post_message(pending.channel, note, thread_ts=pending.thread)
            told += 1
        return told
