"""The summarizer's map-reduce on fixture conversations, with a word-counting model.

The model here is a real implementation of the LanguageModel port with scripted replies:
what it says decides whether the digest uses model wording or extractive candidates.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import timedelta

import pytest

from core.config import DigestSettings
from core.digests.format import digest_to_markdown
from core.digests.judging import JUDGE_PREFIX
from core.digests.prompts import NOTES_PREFIX, normalized
from core.digests.summarizing import Summarizer
from core.evaluation.digest_labels import bad_lines
from core.model.worker import ModelWorker
from core.ports import Prompt
from core.runtime.state import StateStore
from core.types import Digest
from tests.digest_support import CHANNEL, START, WordModel, message, release_day


def all_sources(digest: Digest) -> list[str]:
    return [link.message_id for section in digest.sections for bullet in section.bullets for link in bullet.sources]


def section(digest: Digest, title: str) -> list[str]:
    return [b.text for s in digest.sections if s.title == title for b in s.bullets]


def summarizer(model: WordModel, *, state: StateStore | None = None, **settings: object) -> Summarizer:
    return Summarizer(model=model, worker=ModelWorker(), state=state, settings=DigestSettings(**settings))  # type: ignore[arg-type]


async def test_extractive_digest_when_the_model_says_nothing_useful() -> None:
    model = WordModel(reply=lambda prompt: "banana banana banana")
    digest = await summarizer(model).summarize(release_day())
    assert [s.title for s in digest.sections] == ["Topics", "Decisions", "Action items", "Open questions"]
    assert section(digest, "Decisions") == ["We decided to ship release 2.1 on Friday after the changelog review."]
    actions = section(digest, "Action items")
    assert "alice: I'll finish the changelog for release 2.1 by Thursday." in actions
    assert "carol: carol, can you update the download page for release 2.1?" in actions
    assert section(digest, "Open questions") == [
        "dave: Does anyone know why the ARM nightly build fails with openssl errors?"
    ]
    assert len(section(digest, "Topics")) == 2  # two conversations, three hours apart
    assert digest.headline == "Ship release 2.1, changelog; ARM nightly build, missing libssl symbol"
    assert digest.coverage.messages == 7 and digest.coverage.covered_messages == 7
    assert digest.coverage.conversations == 2


async def test_a_small_teams_day_lists_its_short_choices_rules_and_questions_left_at_the_end() -> None:
    day = [
        message(1, "priya", "For the newsletter, Mailchimp or Brevo? Mailchimp is cheaper for our list size.", minute=0),
        message(2, "tom", "cheaper wins for me", minute=2),
        message(3, "maria", "Ok, let's go with Mailchimp then.", minute=4),
        message(4, "cleo", "From now on we double-check addresses on orders over $500 before they ship.", minute=90),
        message(5, "ana", "agreed", minute=91),
        message(6, "sam", "Who is covering support over the holidays?", minute=460),
        message(7, "priya", "have a good evening everyone", minute=477),
    ]
    digest = await summarizer(WordModel(reply=lambda prompt: "")).summarize(day)
    assert section(digest, "Decisions") == [
        "Let's go with Mailchimp then.",
        "From now on we double-check addresses on orders over $500 before they ship.",
    ]
    assert section(digest, "Open questions") == ["sam: Who is covering support over the holidays?"]
    assert not any("good evening" in line for line in [digest.headline, *section(digest, "Topics")])


async def test_every_bullet_links_to_real_messages_and_never_to_noise() -> None:
    digest = await summarizer(WordModel()).summarize(release_day())
    sources = all_sources(digest)
    assert sources
    assert set(sources) <= {f"m{n}" for n in (1, 2, 3, 4, 5, 8, 9)}
    for section_ in digest.sections:
        for bullet in section_.bullets:
            assert bullet.sources, bullet
            for link in bullet.sources:
                assert link.link == f"https://example.slack.com/archives/C1/p{link.message_id[1:]}"
                assert link.author and link.timestamp >= START


async def test_valid_model_notes_replace_the_extractive_wording() -> None:
    def reply(prompt: Prompt) -> str:
        if prompt.answer_prefix == NOTES_PREFIX and "release 2.1" in prompt.body:
            return (
                " release 2.1 ships on Friday after the changelog review [M1, M2]\n"
                "Decision: ship release 2.1 on Friday [M2]\n"
                "Action: alice: finish the release 2.1 changelog [M3]\n"
                "Question: who invented the moon landing [M1]\n"  # not in the cited message
                "Decision: something about M99 release [M99]\n"  # no such message
            )
        return ""

    digest = await summarizer(WordModel(reply=reply)).summarize(release_day())
    topics = section(digest, "Topics")
    assert topics[0] == "Ship release 2.1, changelog: Release 2.1 ships on Friday after the changelog review — alice, bob and carol"
    assert section(digest, "Decisions") == ["Ship release 2.1 on Friday"]
    assert "Alice: finish the release 2.1 changelog" in section(digest, "Action items")
    assert all("moon" not in text for text in section(digest, "Open questions"))
    assert digest.headline == "Ship release 2.1, changelog; ARM nightly build, missing libssl symbol"
    decision = next(s for s in digest.sections if s.title == "Decisions").bullets[0]
    assert [link.message_id for link in decision.sources] == ["m2"]


async def test_a_model_line_that_restates_a_listed_item_does_not_replace_the_topic() -> None:
    def reply(prompt: Prompt) -> str:
        if prompt.answer_prefix == NOTES_PREFIX and "release 2.1" in prompt.body:
            return " release 2.1 ships on Friday after the changelog review [M2]\n"  # M2 is the decision below
        return ""

    digest = await summarizer(WordModel(reply=reply)).summarize(release_day())
    quoted = await summarizer(WordModel()).summarize(release_day())
    assert section(digest, "Topics") == section(quoted, "Topics")
    assert all("ships on Friday" not in line for line in section(digest, "Topics"))
    assert section(digest, "Decisions") == ["We decided to ship release 2.1 on Friday after the changelog review."]


async def test_a_message_is_one_item_whatever_the_model_calls_it() -> None:
    def reply(prompt: Prompt) -> str:
        if prompt.answer_prefix == NOTES_PREFIX and "release 2.1" in prompt.body:
            # The rules list M2 as a decision and M3 as alice's action item.
            return "Action: bob: ship release 2.1 on Friday [M2]\nQuestion: alice: finish the changelog for release 2.1 [M3]\n"
        return ""

    digest = await summarizer(WordModel(reply=reply)).summarize(release_day())
    assert section(digest, "Decisions") == ["We decided to ship release 2.1 on Friday after the changelog review."]
    assert section(digest, "Action items") == [
        "alice: I'll finish the changelog for release 2.1 by Thursday.",
        "carol: carol, can you update the download page for release 2.1?",
    ]
    assert all("changelog" not in text for text in section(digest, "Open questions"))
    assert bad_lines(digest) == []


async def test_the_headline_leaves_out_a_passing_exchange_in_a_busy_day() -> None:
    build = [
        "The ARM nightly build fails since the openssl update.",
        "Which openssl version does the ARM runner image ship?",
        "The ARM runner image ships openssl 3.2 since Monday.",
        "Pinning openssl to 3.0 in the runner image fixes the ARM nightly build.",
    ]
    day = [message(n + 1, "alice" if n % 2 else "bob", f"{build[n % 4]} (build {800 + n})", minute=n) for n in range(20)]
    day += [
        message(30, "sean", "We had to put our kitty to sleep today and my wife and I are pretty sad.", minute=60),
        message(31, "dave", "My condolences, losing a loved pet is hard.", minute=61),
    ]
    release = [
        "When do we ship release 2.1 with the new changelog?",
        "Release 2.1 ships on Friday once the changelog review is done.",
        "The changelog review for release 2.1 is booked for Thursday.",
        "Good, then release 2.1 goes out on Friday.",
    ]
    day += [message(40 + n, "carol" if n % 2 else "erin", release[n], minute=120 + n) for n in range(4)]
    digest = await summarizer(WordModel(reply=lambda prompt: "")).summarize(day)
    headline = digest.headline.lower()
    assert "arm" in headline or "openssl" in headline
    assert "release" in headline or "changelog" in headline  # 4 of 26 messages: part of the day
    assert "kitty" not in headline and "sad" not in headline and "condolences" not in headline  # 2 of 26: not
    assert len(section(digest, "Topics")) == 3  # the exchange keeps its own bullet


async def test_the_headline_names_the_busiest_topics_and_quotes_no_message() -> None:
    model = WordModel(reply=lambda prompt: " release 2.1 ships on Friday after the changelog review [M2]")
    digest = await summarizer(model).summarize(release_day())
    assert digest.headline == "Ship release 2.1, changelog; ARM nightly build, missing libssl symbol"
    texts = {normalized(m.text) for m in release_day()}
    assert normalized(digest.headline) not in texts
    first_line = section(digest, "Topics")[0]
    assert normalized(first_line) != normalized(digest.headline)


async def test_the_judge_leaves_out_a_candidate_it_calls_a_remark_and_keeps_one_it_cannot_judge() -> None:
    def reply(prompt: Prompt) -> str:
        if prompt.answer_prefix == JUDGE_PREFIX:
            return " remark" if "I'll finish the changelog" in prompt.body.rsplit("Chat message:", 1)[-1] else " ???"
        return ""

    model = WordModel(reply=reply)
    digest = await summarizer(model, judge_items=True).summarize(release_day())
    actions = section(digest, "Action items")
    assert not any("finish the changelog" in text for text in actions)
    assert any("download page" in text for text in actions)  # "???" is no label: the rules stand
    judged = [p for p, _, _ in model.prompts if p.answer_prefix == JUDGE_PREFIX]
    assert len(judged) == 4  # one call per candidate message: a decision, two actions, a question
    model.prompts.clear()
    rules_only = await summarizer(model).summarize(release_day())  # the default: the rules alone
    assert not any(p.answer_prefix == JUDGE_PREFIX for p, _, _ in model.prompts)
    assert any("finish the changelog" in text for text in section(rules_only, "Action items"))


@pytest.mark.parametrize("n_ctx", [256, 512, 2048])
async def test_no_prompt_overflows_and_nothing_is_dropped(n_ctx: int) -> None:
    long_message = " ".join(f"Sentence {i} explains one more detail about the database migration plan." for i in range(120))
    messages = [
        message(1, "alice", "Starting the database migration plan discussion now."),
        message(2, "bob", long_message),
        *(message(3 + i, "carol" if i % 2 else "dave", f"Point {i}: the migration of table {i} needs a backfill job.") for i in range(80)),
        message(200, "erin", "x" * 3000, minute=400),  # one unbroken token run
    ]
    model = WordModel(n_ctx=n_ctx, reply=lambda prompt: "")
    digest = await summarizer(model).summarize(messages)
    assert model.prompts and model.overflowed() == []
    bodies = "\n".join(prompt.body for prompt, _, _ in model.prompts if prompt.answer_prefix == NOTES_PREFIX)
    # Every sentence of the long message reached the model whole, in some chunk.
    for i in range(120):
        assert f"Sentence {i} explains one more detail about the database migration plan." in bodies
    for i in range(80):
        assert f"Point {i}: the migration of table {i} needs a backfill job." in bodies
    assert bodies.count("x") >= 3000
    assert digest.coverage.covered_messages == digest.coverage.messages == 83


async def test_notes_are_cached_per_chunk_and_reused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    state = StateStore(tmp_path / "state.sqlite3")
    model = WordModel(reply=lambda prompt: " task" if prompt.answer_prefix == JUDGE_PREFIX else " the release date of release 2.1 [M1]")
    first = await summarizer(model, state=state).summarize(release_day())
    map_calls = sum(1 for prompt, _, _ in model.prompts if prompt.answer_prefix == NOTES_PREFIX)
    assert map_calls >= 1
    model.prompts.clear()
    second = await summarizer(model, state=state).summarize(release_day())
    assert model.prompts == []  # notes and judgements both come from the cache
    assert first.sections == second.sections
    other_model = WordModel(reply=model.reply, name="another-model")
    await summarizer(other_model, state=state).summarize(release_day())
    assert any(p.answer_prefix == NOTES_PREFIX for p, _, _ in other_model.prompts)


async def test_time_budget_says_what_was_covered() -> None:
    now = [0.0]

    def slow(prompt: Prompt) -> str:
        now[0] += 10.0
        return ""

    messages = [  # six conversations of ten messages, an hour apart
        message(i, "alice" if i % 2 else "bob", f"Topic {i // 10} detail {i}: the cache layer {i} needs tuning.", minute=i * 2 + (i // 10) * 60)
        for i in range(60)
    ]
    model = WordModel(n_ctx=256, reply=slow)
    digest = await Summarizer(
        model=model, worker=ModelWorker(), state=None, settings=DigestSettings(time_budget_s=25), clock=lambda: now[0]
    ).summarize(messages)
    assert digest.stats.model_calls == 3
    assert 0 < digest.coverage.covered_messages < digest.coverage.messages == 60
    text = digest_to_markdown(digest)
    assert f"Covers {digest.coverage.covered_messages} of 60 messages" in text
    # Conversations the model never read still appear, from their own words.
    assert digest.coverage.conversations == 6
    assert set(all_sources(digest)) & {m.id for m in messages[-10:]}


async def test_a_question_waits_for_at_most_one_digest_call() -> None:
    order: list[str] = []
    running = threading.Event()

    def reply(prompt: Prompt) -> str:
        order.append("digest")
        running.set()
        time.sleep(0.05)
        return ""

    messages = [
        message(i, "alice", f"Subject {i}: the queue worker {i} restarts too often after the nightly deploy of service {i}.", minute=i * 45)
        for i in range(30)
    ]
    model = WordModel(n_ctx=256, reply=reply)
    worker = ModelWorker()
    digest_task = asyncio.create_task(
        Summarizer(model=model, worker=worker, state=None, settings=DigestSettings()).summarize(messages)
    )
    await asyncio.to_thread(running.wait, 5)
    calls_before = len(order)
    await worker.run(lambda: order.append("question"))
    await digest_task
    assert calls_before >= 1
    # The question ran right after the digest call that was running when it arrived.
    assert order.index("question") <= calls_before + 1
    assert order.count("digest") > calls_before + 1  # the digest had more calls to make


async def test_empty_window() -> None:
    digest = await summarizer(WordModel()).summarize([message(1, "bot", "deploy done", bot=True)])
    assert digest.is_empty and digest.headline == "No messages in this window."
    # The channel is still named: "tidings summarize --channel jobs" on a day of joins alone
    # printed "Digest of 2018-02-01 ..." with no channel.
    assert digest.channel == CHANNEL and digest_to_markdown(digest).startswith(f"**Digest of {CHANNEL.label}")


async def test_window_and_channel_are_kept() -> None:
    window = (START, START + timedelta(days=1))
    digest = await summarizer(WordModel()).summarize(release_day(), window=window)
    assert (digest.window_start, digest.window_end) == window
    assert digest.channel is not None and digest.channel.name == "general"


async def test_beyond_max_bullets_one_last_bullet_counts_and_links_the_rest() -> None:
    topics = ("database migration plan", "release notes draft", "office move schedule", "printer toner order", "team offsite venue")
    messages = [
        message(n, "alice" if n % 2 else "bob", f"Update on the {topics[n // 2 % 5]}: step {n} of the {topics[n // 2 % 5]} is done.", minute=90 * (n // 2))
        for n in range(10)
    ]
    digest = await summarizer(WordModel(reply=lambda prompt: "banana"), max_bullets=3).summarize(messages)
    shown = section(digest, "Topics")
    assert len(shown) == 3 and shown[-1] == "3 more conversations, linked here"
    [more] = [b for s in digest.sections if s.title == "Topics" for b in s.bullets][-1:]
    linked = {link.message_id for link in more.sources}
    visible = {link.message_id for s in digest.sections if s.title == "Topics" for b in s.bullets[:-1] for link in b.sources}
    assert len(linked) == 3 and not linked & visible  # each hidden conversation is one link away
