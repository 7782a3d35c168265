"""The Discord bot: slash commands, @mentions and 👍/👎 buttons, translated to the core.

Listeners only translate: they check access, acknowledge Discord (defer within its 3 second
window) and hand the question to ``services.answerer``; what they show comes from
``convert``. What every platform does around an answer (reading the question, the streaming
throttle, questions in flight, remembered answers, feedback, restart notes) is the core's
(``core.answers``). Every failure ends in one of two hooks (``tree.on_error`` for commands,
``on_error`` for events) that log the traceback and tell the user one polite sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import discord
from discord import app_commands

from adapters.discord.convert import (
    MESSAGE_LIMIT,
    OutgoingMessage,
    answer_messages,
    answer_response,
    channel_ref,
    digest_messages,
    message_text,
    queued_text,
    sources_list_embeds,
    stream_preview,
    to_turn,
)
from adapters.discord.platform import NO_MENTIONS, DiscordPlatform
from adapters.discord.settings import DiscordSettings
from core.answers.questions import EMPTY_COMMAND, EMPTY_MENTION, ThreadContext, read_question
from core.answers.records import RESUMING, AnswerRecords, PendingQuestion, restart_note, resumable, unfinished_on
from core.answers.streaming import StreamingEdits
from core.commands.tidings import Asker, MissingPermission, NotInChannel
from core.digests.windows import parse_window
from core.errors import GENERIC_APOLOGY, UserFacingError
from core.ports import Clock
from core.services import Services
from core.types import Answer, ChannelRef, Question, Turn

log = logging.getLogger("tidings.discord")

WORKING_ON_IT = "👀"
NOT_IN_THIS_CHANNEL = "Sorry, I can't answer commands here."
ALREADY_ACKNOWLEDGED = 40060  # Discord's error code for a second response to one interaction


# -- feedback buttons ----------------------------------------------------------------------


class FeedbackButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"tidings:feedback:(?P<rating>up|down):(?P<answer>[0-9A-Za-z:_-]{1,64})",
):
    """👍 or 👎 under an answer. The answer id lives in the ``custom_id``, so the buttons keep
    working after a restart without remembering any view in memory."""

    def __init__(self, rating: str, answer_id: str) -> None:
        up = rating == "up"
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji="👍" if up else "👎",
                custom_id=f"tidings:feedback:{rating}:{answer_id}",
            )
        )
        self.rating = 1 if up else -1
        self.answer_id = answer_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FeedbackButton:
        return cls(match["rating"], match["answer"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        client = interaction.client
        if not isinstance(client, TidingsDiscordBot):
            raise TypeError("feedback buttons belong to the Tidings bot")
        await client.record_feedback(interaction, answer_id=self.answer_id, rating=self.rating)


def feedback_view(answer_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton("up", answer_id))
    view.add_item(FeedbackButton("down", answer_id))
    return view


# -- where an answer is shown --------------------------------------------------------------


class Reply(Protocol):
    """Where an answer appears: a deferred slash command or a reply to a message."""

    def layout(self, answer: Answer) -> list[OutgoingMessage]:
        """The answer as the messages this place shows it in."""

    async def show(self, text: str) -> None:
        """Put ``text`` in the first message of the answer (creating it if needed)."""

    async def finish(self, messages: Sequence[OutgoingMessage], view: discord.ui.View | None) -> None:
        """The final answer: the first message becomes part one, the rest follow; the last
        one carries the embeds and the buttons."""

    @property
    def shown_id(self) -> str | None:
        """The message showing the answer as it is written, once there is one that the bot
        can edit after a restart (kept in the question's pending record)."""


EXPIRED_TOKEN_CODES = frozenset({10015, 50027})
"""Discord's "Unknown Webhook" and "Invalid Webhook Token": the interaction's token (valid 15
minutes) has expired, so its response can no longer be edited nor followed up."""

INTERACTION_TOKEN_S = 15 * 60


def token_expired(error: BaseException) -> bool:
    return isinstance(error, discord.HTTPException) and error.code in EXPIRED_TOKEN_CODES


class InteractionReply:
    """The answer to a deferred slash command: the "thinking..." response is edited to it.

    An answer is one message whenever Discord's limits allow (``answer_response``: about
    6,500 to 7,700 characters with four cited sources), so it takes no follow-up: an edit of
    the response can be retried by discord.py after a 5xx without showing anything twice,
    while a follow-up (a webhook message, which takes no nonce) that Discord created but
    answered with a 5xx would be retried and shown twice. Only what does not fit one message
    (an answer beyond that, a digest of more than 10 embeds or 6,000 characters) goes on in
    follow-ups with the same visibility.

    An answer finished after the interaction's token expired (15 minutes: a long queue) can
    no longer go there: it is posted in the channel as a message that mentions the asker
    (or, for a private answer, sent to the asker directly), never lost (``deliver_late``)."""

    def __init__(self, interaction: discord.Interaction[Any], *, ephemeral: bool, message_id: int | None = None) -> None:
        self.interaction = interaction
        self.ephemeral = ephemeral
        self.expired = False
        self.message_id = message_id
        """The response's message ("thinking…", then the answer), as the defer reported it."""

    @property
    def shown_id(self) -> str | None:
        # A private response is not the bot's to edit outside the interaction (nor after a restart).
        return None if self.ephemeral or self.message_id is None else str(self.message_id)

    def layout(self, answer: Answer) -> list[OutgoingMessage]:
        return answer_response(answer)

    async def show(self, text: str) -> None:
        if self.expired:
            return  # progress has nowhere to go; the finished answer will be delivered late
        try:
            await self.interaction.edit_original_response(content=text, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:
            if not token_expired(error):
                raise
            self.expired = True

    async def finish(self, messages: Sequence[OutgoingMessage], view: discord.ui.View | None) -> None:
        if not self.expired:
            try:
                await self._finish_in_response(messages, view)
                return
            except discord.HTTPException as error:
                if not token_expired(error) or self.interaction.extras.get("answered"):
                    raise
                self.expired = True
        await deliver_late(self.interaction, messages, view, private=self.ephemeral)
        self.interaction.extras["answered"] = True

    async def _finish_in_response(self, messages: Sequence[OutgoingMessage], view: discord.ui.View | None) -> None:
        last = len(messages) - 1
        for index, message in enumerate(messages):
            buttons = view if index == last and view is not None else discord.utils.MISSING
            if index == 0:
                await self.interaction.edit_original_response(
                    content=message.content or None,
                    embeds=list(message.embeds),
                    allowed_mentions=NO_MENTIONS,
                    view=buttons if buttons is not discord.utils.MISSING else None,
                )
                # The response holds the answer now: a later failure must not replace it.
                self.interaction.extras["answered"] = True
            else:
                await self.interaction.followup.send(
                    content=message.content or discord.utils.MISSING,
                    embeds=list(message.embeds),
                    ephemeral=self.ephemeral,
                    allowed_mentions=NO_MENTIONS,
                    wait=True,
                    view=buttons,
                )


async def deliver_late(
    interaction: discord.Interaction[Any],
    messages: Sequence[OutgoingMessage],
    view: discord.ui.View | None,
    *,
    private: bool,
) -> None:
    """What a command's expired token can no longer show: in the channel as messages whose
    first one mentions the asker (only the asker: ``AllowedMentions(users=[asker])``), or to
    the asker directly when the answer was private, so a private answer never reaches the
    channel. The bot's own messages, so no token is needed."""
    asker = interaction.user
    target: Any = await asker.create_dm() if private else interaction.channel
    if target is None:
        raise UserFacingError(NOT_IN_THIS_CHANNEL)
    command = interaction.command.qualified_name if interaction.command else "ask"
    mention = f"{asker.mention}, about your /{command} (it took longer than Discord keeps a command open):"
    pings = discord.AllowedMentions(everyone=False, roles=False, users=[asker])
    outgoing = list(messages)
    first = outgoing[0] if outgoing else OutgoingMessage()
    if len(mention) + 1 + len(first.content) <= MESSAGE_LIMIT:
        outgoing[0:1] = [OutgoingMessage(content=f"{mention}\n{first.content}".rstrip(), embeds=first.embeds)]
    else:
        outgoing.insert(0, OutgoingMessage(content=mention))
    last = len(outgoing) - 1
    for index, message in enumerate(outgoing):
        extras: dict[str, Any] = {"view": view} if index == last and view is not None else {}
        await target.send(
            content=message.content or None,
            embeds=list(message.embeds),
            allowed_mentions=pings if index == 0 else NO_MENTIONS,
            **extras,
        )
    log.info("interaction %s answered after its token expired: posted %s", interaction.id, "to the asker" if private else "in the channel")


class MessageReply:
    """The answer to an @mention: a reply to the asking message (which does not ping its
    author), created at the first thing worth showing and edited from then on."""

    def __init__(self, message: discord.Message) -> None:
        self.message = message
        self.sent: discord.Message | None = None
        self.on_posted: Callable[[str], Awaitable[None]] | None = None
        """Told the reply's id once it is posted (the question's pending record keeps it)."""

    @property
    def shown_id(self) -> str | None:
        return None if self.sent is None else str(self.sent.id)

    async def _posted(self) -> None:
        if self.on_posted is not None and self.sent is not None:
            await self.on_posted(str(self.sent.id))

    def layout(self, answer: Answer) -> list[OutgoingMessage]:
        return answer_messages(answer)

    async def show(self, text: str) -> None:
        if self.sent is None:
            self.sent = await self.message.reply(text, mention_author=False, allowed_mentions=NO_MENTIONS)
            await self._posted()
        else:
            self.sent = await self.sent.edit(content=text, allowed_mentions=NO_MENTIONS)

    async def finish(self, messages: Sequence[OutgoingMessage], view: discord.ui.View | None) -> None:
        last = len(messages) - 1
        for index, message in enumerate(messages):
            extras: dict[str, Any] = {"view": view} if index == last and view is not None else {}
            if index == 0 and self.sent is None:
                self.sent = await self.message.reply(
                    content=message.content or None,
                    embeds=list(message.embeds),
                    mention_author=False,
                    allowed_mentions=NO_MENTIONS,
                    **extras,
                )
            elif index == 0 and self.sent is not None:
                self.sent = await self.sent.edit(
                    content=message.content or None, embeds=list(message.embeds), allowed_mentions=NO_MENTIONS, **extras
                )
            else:
                await self.message.channel.send(
                    content=message.content or None, embeds=list(message.embeds), allowed_mentions=NO_MENTIONS, **extras
                )


# -- the command tree ----------------------------------------------------------------------


class TidingsCommandTree(app_commands.CommandTree["TidingsDiscordBot"]):
    async def on_error(self, interaction: discord.Interaction[Any], error: app_commands.AppCommandError) -> None:
        await self.client.report_interaction_error(interaction, error)


def _bot(interaction: discord.Interaction[Any]) -> TidingsDiscordBot:
    client = interaction.client
    if not isinstance(client, TidingsDiscordBot):
        raise TypeError("this command belongs to the Tidings bot")
    return client


def tidings_group() -> app_commands.Group:
    """``/tidings``: a command group whose options are turned back into the text Slack's
    ``/tidings`` takes, so the core reads both the same way (``core.commands.tidings``)."""
    group = app_commands.Group(name="tidings", description="Set Tidings up for this channel: digests, sources, your data.")

    @group.command(name="digest", description="A daily digest of this channel: on, off, or list this server's digests.")
    @app_commands.describe(
        action="on, off or list",
        time="HH:MM, 24-hour (default 17:00)",
        timezone="Area/City, for example Europe/Berlin (default UTC)",
    )
    @app_commands.choices(action=[app_commands.Choice(name=name, value=name) for name in ("on", "off", "list")])
    async def digest(interaction: discord.Interaction[Any], action: str, time: str = "", timezone: str = "") -> None:
        await _bot(interaction).run_tidings(interaction, " ".join(("digest", action, time, timezone)))

    @group.command(name="sources", description="What answers in this channel may read.")
    async def sources(interaction: discord.Interaction[Any]) -> None:
        await _bot(interaction).run_tidings(interaction, "sources")

    @group.command(name="unanswered", description="This week's questions here that the knowledge base could not answer.")
    async def unanswered(interaction: discord.Interaction[Any]) -> None:
        await _bot(interaction).run_tidings(interaction, "unanswered")

    @group.command(name="help", description="What /tidings can do.")
    async def help_command(interaction: discord.Interaction[Any]) -> None:
        await _bot(interaction).run_tidings(interaction, "help")

    @group.command(name="forget", description="Delete everything Tidings stored about you (asks first).")
    @app_commands.describe(confirm="True to delete for good (first run it without, to see what I hold)")
    async def forget(interaction: discord.Interaction[Any], confirm: bool = False) -> None:
        await _bot(interaction).run_tidings(interaction, "forget me confirm" if confirm else "forget me")

    return group


def build_commands(*, summarize: bool) -> list[app_commands.Command[Any, Any, None] | app_commands.Group]:
    """The slash commands; ``/summarize`` only when a summarizer is configured."""

    @app_commands.command(name="ask", description="Ask a question; I answer from the knowledge base, with sources.")
    @app_commands.describe(question="What you want to know", private="Only you see the answer (default: no)")
    async def ask(interaction: discord.Interaction[Any], question: str, private: bool = False) -> None:
        bot = _bot(interaction)
        await bot.refusing_politely(interaction, bot.ask(interaction, question, private=private))

    @app_commands.command(name="sources", description="What the knowledge base holds that answers here can use.")
    async def sources(interaction: discord.Interaction[Any]) -> None:
        bot = _bot(interaction)
        await bot.refusing_politely(interaction, bot.list_sources(interaction))

    commands: list[app_commands.Command[Any, Any, None] | app_commands.Group] = [ask, sources, tidings_group()]
    if summarize:

        @app_commands.command(name="summarize", description="Summarize this channel's recent messages.")
        @app_commands.describe(since='today, yesterday, 6h, 3d or 2024-05-01 (default: the last 24 hours)')
        async def summarize_command(interaction: discord.Interaction[Any], since: str = "") -> None:
            bot = _bot(interaction)
            await bot.refusing_politely(interaction, bot.summarize(interaction, since))

        commands.append(summarize_command)
    return commands


# -- the bot -------------------------------------------------------------------------------


def bot_intents() -> discord.Intents:
    """Guilds and messages, plus Message Content: without it mentions arrive without their
    text and channel history comes back empty, so neither @mentions nor digests could work."""
    intents = discord.Intents.default()
    intents.message_content = True
    return intents


def _roles(user: discord.abc.User) -> list[str]:
    roles = getattr(user, "roles", None) or []
    return [value for role in roles for value in (role.name, str(role.id))]


class TidingsDiscordBot(discord.Client):
    """The Discord bot. Built by ``bots.discord_bot.build_bot``; started with
    ``await bot.start(token)`` and stopped with ``await bot.close()``."""

    def __init__(self, *, services: Services, settings: DiscordSettings, clock: Clock = time.monotonic) -> None:
        super().__init__(intents=bot_intents(), allowed_mentions=NO_MENTIONS)
        self.services = services
        self.discord_settings = settings
        self.clock = clock
        self.platform = DiscordPlatform(self)
        self.records = AnswerRecords(state=services.state)
        self.thread_context = ThreadContext.limits(
            services.settings.answers, messages=settings.context_messages, chars=settings.context_chars
        )
        self._unfinished: list[PendingQuestion] = []
        self._resumed: set[asyncio.Task[None]] = set()
        self.tree = TidingsCommandTree(self)
        for command in build_commands(summarize=services.summarizer is not None):
            self.tree.add_command(command)

    # -- lifecycle ---------------------------------------------------------------------

    async def setup_hook(self) -> None:
        self.add_dynamic_items(FeedbackButton)
        if not self.discord_settings.sync_commands:
            return
        if self.discord_settings.sync_guild is not None:
            guild = discord.Object(id=self.discord_settings.sync_guild)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
            log.info("synced %d slash commands to server %s", len(synced), guild.id)
        else:
            synced = await self.tree.sync()
            log.info("synced %d slash commands globally (new commands can take up to an hour to appear)", len(synced))

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s in %d servers", self.user, len(self.guilds))
        if self._unfinished:
            entries, self._unfinished = self._unfinished, []
            await self.post_unfinished(entries)

    def tell_unfinished(self, entries: Sequence[dict[str, Any]]) -> None:
        """Questions a previous process accepted but never answered (from
        ``state.take_unfinished_questions()``): a note goes to each once connected."""
        self._unfinished.extend(unfinished_on("discord", entries))

    async def post_unfinished(self, questions: Sequence[PendingQuestion]) -> int:
        """Reply to each unanswered question (or post in its channel when the question was a
        slash command, whose reply window has closed); returns how many notes went out."""
        posted = 0
        for question in questions:
            try:
                channel = self.get_channel(int(question.channel)) or await self.fetch_channel(int(question.channel))
                if not isinstance(channel, discord.abc.Messageable):
                    continue
                if resumable(question, now=time.time()) and await self._resume(channel, question):
                    posted += 1
                    continue
                note = restart_note(question)
                if question.reply and await self._edit_own(channel, question.reply, note):
                    posted += 1
                    continue
                if question.message:
                    message = await channel.fetch_message(int(question.message))
                    await message.reply(note, mention_author=False, allowed_mentions=NO_MENTIONS)
                else:
                    await channel.send(note, allowed_mentions=NO_MENTIONS)
                posted += 1
            except (discord.HTTPException, ValueError):
                log.warning("could not post the restart note for %s", question.key or "?")
        return posted

    async def _resume(self, channel: Any, question: PendingQuestion) -> bool:
        """Edit the half-written reply into a note and answer the question again in it (a
        mention's reply, or a /ask response, which the bot edits as its own message: the
        interaction's token died with the process)."""
        assert question.reply is not None
        try:
            asking = await channel.fetch_message(int(question.message)) if question.message else None
            half = await channel.fetch_message(int(question.reply))
            half = await half.edit(content=RESUMING, embeds=[], view=None, allowed_mentions=NO_MENTIONS)
        except (discord.HTTPException, ValueError):
            log.info("could not resume question %s; telling its asker instead", question.key or "?")
            return False
        reply = MessageReply(asking or half)  # for /ask, any further part follows the response itself
        reply.sent = half

        async def answer_again() -> None:
            try:
                await self._answer(
                    reply,
                    text=question.question,
                    channel=channel_ref(channel),
                    asker=question.asker,
                    request_id=question.key or f"discord-{question.message}",
                    reply_to_id=question.message,
                    asker_name=question.asker_name,
                )
            except Exception as error:
                log.exception("answering question %s again after a restart failed", question.key or "?")
                sentence = error.user_message if isinstance(error, UserFacingError) else GENERIC_APOLOGY
                with contextlib.suppress(discord.HTTPException):
                    await half.edit(content=sentence, embeds=[], view=None, allowed_mentions=NO_MENTIONS)

        task = asyncio.create_task(answer_again(), name=f"tidings-resume-{question.message}")
        self._resumed.add(task)
        task.add_done_callback(self._resumed.discard)
        return True

    @staticmethod
    async def _edit_own(channel: discord.abc.Messageable, message_id: str, text: str) -> bool:
        """Edit the bot's own message (a half-written answer) to ``text``; False when it is gone."""
        try:
            message = await channel.fetch_message(int(message_id))
            await message.edit(content=text, embeds=[], view=None, allowed_mentions=NO_MENTIONS)
            return True
        except (discord.HTTPException, ValueError):
            log.info("could not edit the unfinished reply %s; replying instead", message_id)
            return False

    # -- access ------------------------------------------------------------------------

    async def _check_access(self, user: discord.abc.User, channel: ChannelRef) -> None:
        await self.services.gatekeeper.admit(user=str(user.id), channel=channel, roles=_roles(user))

    # -- /ask and @mentions ------------------------------------------------------------

    @staticmethod
    async def _defer(interaction: discord.Interaction[Any], *, ephemeral: bool) -> int | None:
        """Show "thinking..." at once; returns that response's message id when Discord said it.
        discord.py retries a defer answered with a 5xx; when Discord had applied the first try
        and only its answer was lost, the retry is refused as already acknowledged: the
        "thinking..." response exists, so carry on as deferred (the answer and any apology then
        edit it) instead of leaving the asker waiting."""
        try:
            callback = await interaction.response.defer(ephemeral=ephemeral, thinking=True)
        except discord.HTTPException as error:
            if error.code != ALREADY_ACKNOWLEDGED:
                raise
            log.warning("the defer of interaction %s was applied but its answer lost; going on", interaction.id)
            interaction.extras["deferred"] = True
            return None
        return None if callback is None else callback.message_id

    async def ask(self, interaction: discord.Interaction[Any], question: str, *, private: bool) -> None:
        if interaction.channel is None:
            raise UserFacingError(NOT_IN_THIS_CHANNEL)
        ref = channel_ref(interaction.channel)
        await self._check_access(interaction.user, ref)
        question = self._read_question(question, empty=EMPTY_COMMAND)
        # Acknowledge before any slow work: Discord drops interactions not answered in 3 s.
        shown = await self._defer(interaction, ephemeral=private)
        interaction.extras["private"] = private
        log.info("question %s from %s in %s", f"discord-{interaction.id}", interaction.user.id, ref.scope)
        conversation = await self._thread_context(interaction.channel, before=interaction.created_at)
        await self._answer(
            InteractionReply(interaction, ephemeral=private, message_id=shown),
            text=question,
            channel=ref,
            asker=str(interaction.user.id),
            request_id=f"discord-{interaction.id}",
            conversation=conversation,
            asker_name=interaction.user.display_name,
        )

    async def on_message(self, message: discord.Message) -> None:
        me = self.user
        if me is None or not self.discord_settings.mentions:
            return
        if message.author.bot or message.author.id == me.id or me.id not in message.raw_mentions:
            return
        # Discord may deliver an event twice across a reconnect; answer it once.
        if not await self.records.first_time(f"discord:message:{message.id}"):
            return
        ref = channel_ref(message.channel)
        try:
            await self._check_access(message.author, ref)
        except UserFacingError as refusal:
            await message.reply(refusal.user_message, mention_author=False, allowed_mentions=NO_MENTIONS)
            return
        try:
            text = self._read_question(message_text(message, without_mention_of=me.id), empty=EMPTY_MENTION)
        except UserFacingError as refusal:
            await message.reply(refusal.user_message, mention_author=False, allowed_mentions=NO_MENTIONS)
            return
        log.info("question %s from %s in %s", f"discord-{message.id}", message.author.id, ref.scope)
        # A mention has no "thinking..." state: a 👀 reaction says at once that it was seen.
        seen = await self._react(message, WORKING_ON_IT)
        try:
            conversation = await self._thread_context(message.channel, before=message)
            await self._answer(
                MessageReply(message),
                text=text,
                channel=ref,
                asker=str(message.author.id),
                request_id=f"discord-{message.id}",
                conversation=conversation,
                reply_to_id=str(message.id),
                asker_name=message.author.display_name,
            )
        finally:
            if seen and self.user is not None:
                with contextlib.suppress(discord.HTTPException):
                    await message.remove_reaction(WORKING_ON_IT, self.user)

    @staticmethod
    async def _react(message: discord.Message, emoji: str) -> bool:
        try:
            await message.add_reaction(emoji)
            return True
        except discord.HTTPException:  # no Add Reactions permission there: answer anyway
            return False

    def _read_question(self, text: str, *, empty: str) -> str:
        """The question, checked the way every platform checks it."""
        return read_question(text, max_chars=self.services.settings.access.max_question_chars, empty=empty)

    async def _thread_context(self, channel: Any, *, before: Any) -> tuple[Turn, ...]:
        """Earlier messages of the thread (its starter message first), newest kept when the
        budget is short. Outside a thread there is no conversation."""
        limit = self.thread_context.messages
        if not isinstance(channel, discord.Thread) or limit <= 0 or self.user is None:
            return ()
        earlier = [m async for m in channel.history(limit=limit, before=before, oldest_first=False)]
        earlier.reverse()
        if not any(m.id == channel.id for m in earlier) and channel.parent is not None:
            # A thread started from a message has that message's id; it lives in the parent.
            with contextlib.suppress(discord.HTTPException, AttributeError):
                earlier.insert(0, await channel.parent.fetch_message(channel.id))  # type: ignore[union-attr]
        bot_name = self.user.display_name
        turns = [turn for m in earlier if (turn := to_turn(m, bot_id=self.user.id, bot_name=bot_name)) is not None]
        return self.thread_context.fit(turns)

    async def _answer(
        self,
        reply: Reply,
        *,
        text: str,
        channel: ChannelRef,
        asker: str,
        request_id: str,
        conversation: tuple[Turn, ...] = (),
        reply_to_id: str | None = None,
        asker_name: str = "",
    ) -> Answer:
        question = Question(
            text=text,
            scopes=self.services.gatekeeper.scopes(channel),
            conversation=conversation,
            asker=asker,
            request_id=request_id,
        )
        # Remembered until answered, so a process killed mid-answer can say so after a restart.
        pending = PendingQuestion(
            platform="discord",
            channel=channel.thread or channel.channel,
            message=reply_to_id,
            asker=asker,
            asker_name=asker_name,
            workspace=channel.workspace,
            question=text,
            asked_at=time.time(),
            reply=reply.shown_id,
        )
        await self.records.question_started(request_id, pending)
        if isinstance(reply, MessageReply):

            async def posted(reply_id: str) -> None:
                await self.records.reply_shown(request_id, pending, reply_id)

            reply.on_posted = posted

        async def show_queued(position: int) -> None:
            await reply.show(queued_text(position))

        async def show_text(text_so_far: str) -> None:
            await reply.show(stream_preview(text_so_far))

        edits = StreamingEdits(
            show_queued=show_queued, show_text=show_text, interval=self.discord_settings.stream_interval_s, clock=self.clock
        )
        try:
            try:
                answer = await self.services.answerer.answer(question, on_text=edits.on_text, on_queued=edits.on_queued)
            finally:
                await edits.close()  # no progress edit may land after the answer, or the apology
            await self.records.remember(request_id, answer, platform="discord", channel=channel, asker=asker)
            await edits.finish(lambda: reply.finish(reply.layout(answer), feedback_view(request_id)))
        finally:
            # Answered, or failed and told through the error hook: either way not lost.
            await self.records.question_finished(request_id)
        log.info("answered %s (grounded=%s, %d citations)", request_id, answer.grounded, len(answer.citations))
        return answer

    # -- /summarize ---------------------------------------------------------------------

    async def summarize(self, interaction: discord.Interaction[Any], since: str) -> None:
        summarizer = self.services.summarizer
        if summarizer is None or interaction.channel is None:
            raise UserFacingError(NOT_IN_THIS_CHANNEL)
        ref = channel_ref(interaction.channel)
        await self._check_access(interaction.user, ref)
        # "now" as Discord saw the command, so the window matches the channel's clock.
        start, end = parse_window(since, now=interaction.created_at)
        await self._defer(interaction, ephemeral=False)
        messages = await self.platform.fetch_history(ref, start, end)
        reply = InteractionReply(interaction, ephemeral=False)

        async def on_queued(position: int) -> None:
            await reply.show(queued_text(position))

        digest = await summarizer.summarize(messages, channel=ref, window=(start, end), on_queued=on_queued)
        await reply.finish(digest_messages(digest), None)

    # -- /sources -----------------------------------------------------------------------

    async def list_sources(self, interaction: discord.Interaction[Any]) -> None:
        if interaction.channel is None:
            raise UserFacingError(NOT_IN_THIS_CHANNEL)
        ref = channel_ref(interaction.channel)
        await self._check_access(interaction.user, ref)
        await self._defer(interaction, ephemeral=True)
        interaction.extras["private"] = True
        scopes = self.services.gatekeeper.scopes(ref)
        infos = await asyncio.to_thread(self.services.knowledge_base.sources, scopes)
        embeds = sources_list_embeds(infos, scopes=scopes, here=ref.scope)
        await interaction.edit_original_response(embeds=embeds, allowed_mentions=NO_MENTIONS)

    # -- /tidings ------------------------------------------------------------------------

    async def run_tidings(self, interaction: discord.Interaction[Any], text: str) -> None:
        """``/tidings ...``: the core reads and runs it; this says who asked, whether Discord
        lets them manage this channel, and how to check that the bot can read it."""
        commands = self.services.commands
        channel = interaction.channel
        if commands is None or channel is None:
            raise UserFacingError(NOT_IN_THIS_CHANNEL)
        await self._defer(interaction, ephemeral=True)
        interaction.extras["private"] = True
        asker = Asker(
            user=str(interaction.user.id),
            channel=channel_ref(channel),
            may_manage=bool(interaction.permissions.manage_channels),
            is_direct=interaction.guild is None,
        )

        async def probe() -> None:
            me = getattr(channel, "guild", None) and channel.guild.me  # type: ignore[union-attr]
            permissions = channel.permissions_for(me) if me is not None and hasattr(channel, "permissions_for") else None
            if permissions is None or not permissions.view_channel:
                raise NotInChannel(str(channel.id))
            if not permissions.read_message_history:
                raise MissingPermission("Read Message History", kind="channel permission")
            if not permissions.send_messages:
                raise MissingPermission("Send Messages", kind="channel permission")

        reply = await commands.run(text.strip(), asker, probe=probe)
        await interaction.edit_original_response(content=reply.text, allowed_mentions=NO_MENTIONS)

    # -- feedback -----------------------------------------------------------------------

    async def record_feedback(self, interaction: discord.Interaction[Any], *, answer_id: str, rating: int) -> None:
        # Button callbacks report to their view, not the command tree: route them to the same hook.
        try:
            await self._store_feedback(interaction, answer_id=answer_id, rating=rating)
        except Exception as error:
            await self.report_interaction_error(interaction, error)

    async def _store_feedback(self, interaction: discord.Interaction[Any], *, answer_id: str, rating: int) -> None:
        thanks = await self.records.record_feedback(
            answer_id=answer_id,
            platform="discord",
            user=str(interaction.user.id),
            rating=rating,
            clicked_in=channel_ref(interaction.channel).scope if interaction.channel else "",
        )
        log.info("feedback %+d on %s", rating, answer_id)
        await interaction.response.send_message(thanks, ephemeral=True)

    # -- the error hooks ------------------------------------------------------------------

    async def refusing_politely(self, interaction: discord.Interaction[Any], work: Awaitable[None]) -> None:
        """Run a command; a refusal (not allowed, rate limited, a window not understood) is an
        answer, not a failure: the user sees its sentence (privately when it comes before
        the defer, as the access checks do; see ``_tell``) and nothing is logged as an error.
        Anything else goes on to the tree's error hook."""
        try:
            await work
        except UserFacingError as refusal:
            log.info("told %s: %s", interaction.user.id, refusal.user_message)
            await self._tell(interaction, refusal.user_message)

    async def report_interaction_error(self, interaction: discord.Interaction[Any], error: BaseException) -> None:
        """The one hook for command and button failures: a user-facing refusal is shown as
        it is; anything else is logged with its traceback and the user gets one apology."""
        original = getattr(error, "original", None) or error
        if isinstance(original, UserFacingError):
            log.info("told %s: %s", interaction.user.id, original.user_message)
            sentence = original.user_message
        else:
            log.error(
                "command %s failed",
                interaction.command.qualified_name if interaction.command else "interaction",
                exc_info=(type(original), original, original.__traceback__),
            )
            sentence = GENERIC_APOLOGY
        await self._tell(interaction, sentence)

    async def _tell(self, interaction: discord.Interaction[Any], sentence: str) -> None:
        """Tell the asker ``sentence`` where they are looking, by requests discord.py can
        retry after a 5xx without doubling anything.

        Before any response it *is* the response, private (ephemeral): a retry that Discord
        had applied is refused as already acknowledged. After the defer it replaces the
        "thinking..." response by an edit (idempotent), so it has that response's
        visibility: private for ``/ask private:true`` and ``/sources``, public otherwise.
        Keeping it private after a public defer would take a follow-up, a webhook message
        that takes no nonce, so a 5xx after Discord created it shows it twice; and the
        public "thinking..." would first have to be deleted, a third request that can leave
        the asker with nothing. The sentence is short and says nothing private: the generic
        apology or a refusal about the question itself. A response that already holds the
        answer is left as it is (the failure came after it, and is logged)."""
        try:
            if not interaction.response.is_done() and not interaction.extras.get("deferred"):
                await interaction.response.send_message(sentence, ephemeral=True, allowed_mentions=NO_MENTIONS)
                return
            if interaction.extras.get("answered"):
                log.warning("interaction %s failed after its answer was shown; the answer stays", interaction.id)
                return
            try:
                await interaction.edit_original_response(content=sentence, embeds=[], view=None, allowed_mentions=NO_MENTIONS)
            except discord.HTTPException as error:
                if not token_expired(error):
                    raise
                # The token expired while the command worked: the sentence goes where a late answer would.
                await deliver_late(
                    interaction, [OutgoingMessage(content=sentence)], None, private=bool(interaction.extras.get("private"))
                )
        except discord.HTTPException:
            log.exception("could not tell the user about the failure")

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        """The hook for event listeners (@mentions): log the traceback, and reply to the
        message that caused it with one polite sentence."""
        error = sys.exc_info()[1]
        if isinstance(error, UserFacingError):
            log.info("Discord event %s refused: %s", event_method, error.user_message)
            sentence = error.user_message
        else:
            log.exception("Discord event %s failed", event_method)
            sentence = GENERIC_APOLOGY
        message = args[0] if args and isinstance(args[0], discord.Message) else None
        if message is None:
            return
        try:
            await message.reply(sentence, mention_author=False, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.exception("could not tell the user about the failure")
