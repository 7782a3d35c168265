"""Grounded answers with the real embedder, the real packaged model and real LanceDB."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest

from core.answers import quoting
from core.answers.answering import (
    MAX_QUESTION_CHARS,
    NOT_COVERED,
    Answerer,
    Relevance,
    best_sentences,
    clean_generation,
    support,
)
from core.answers.budget import answer_reserve
from core.answers.questions import reads_as_follow_up
from core.errors import EmptyQuestion, UserFacingError
from core.types import Question, Turn
from tests.trust_support import hold_model

pytestmark = pytest.mark.slow

HOLIDAYS = (
    "# Holidays\n\nEvery employee has 27 days of paid holiday per year. Holidays are requested in the HR portal "
    "at least two weeks ahead.\n"
)


# -- pure helpers ---------------------------------------------------------------------------


def test_clean_generation_drops_labels_repeats_and_fragments() -> None:
    raw = "Answer: The VPN needs WireGuard [1].\nThe VPN needs WireGuard [1].\nIt also needs"
    assert clean_generation(raw) == "The VPN needs WireGuard [1]."


def test_support_measures_words_found_in_the_sources() -> None:
    sources = ["Laptops are handed out by the IT desk on the second floor."]
    assert support("The IT desk hands out laptops [1].", sources) >= 0.6
    assert support("Paris is the capital of France.", sources) < 0.3


def test_best_sentences_follow_the_question() -> None:
    text = "Lunch is at noon. Taxi rides are reimbursed after 10 pm. Parking is free."
    assert best_sentences(text, "when are taxi rides reimbursed?", limit=1) == "Taxi rides are reimbursed after 10 pm."


# -- on the handbook the tests write themselves ------------------------------------------


def ask(services, text: str, **kwargs) -> object:  # type: ignore[no-untyped-def]
    return asyncio.run(services.answerer.answer(Question(text=text), **kwargs))


def test_answers_are_grounded_and_cite_the_right_source(model_selecting_services) -> None:  # type: ignore[no-untyped-def]
    answer = ask(model_selecting_services, "How many days of paid holiday do employees get?")
    assert answer.grounded
    assert "27" in answer.text
    assert answer.citations and answer.citations[0].source.endswith("onboarding.md")
    assert all(f"[{c.n}]" in answer.text for c in answer.citations)
    assert answer.timings.prompt_tokens > 0 and answer.timings.completion_tokens > 0


def test_unrelated_questions_are_refused_with_the_nearest_sources(handbook_services) -> None:  # type: ignore[no-untyped-def]
    answer = ask(handbook_services, "Who won the football world cup in 1998?")
    assert not answer.grounded
    assert answer.text.startswith(NOT_COVERED)
    assert answer.timings.completion_tokens == 0, "the model is not asked when nothing relevant was found"


def test_a_question_one_sentence_answers_is_answered_in_other_words(handbook_services) -> None:  # type: ignore[no-untyped-def]
    # One sentence of the expenses page answers it, in other words than the question's; the
    # page as a whole is about receipts. Chunk similarity and shared words alone refused it.
    answer = ask(handbook_services, "Can I book my own travel?")
    assert answer.grounded
    assert "Travel must be booked through the travel desk." in answer.text


def test_an_emoji_in_a_source_is_found_by_its_name(services_reading, embedder) -> None:  # type: ignore[no-untyped-def]
    # The embedder's vocabulary has no emoji: "👎" read as an unknown word, so "thumbs down"
    # neither found the sentence nor shared a word with it, and the question was refused.
    feedback = (
        "# Rating answers\n\nEvery answer carries a 👍 and a 👎. Click 👎 when an answer is wrong: the team reviews those "
        "first.\n"
    )
    services = services_reading({"feedback.md": feedback, "holidays.md": HOLIDAYS})
    answer = ask(services, "what does the thumbs down do")
    assert answer.grounded, answer.text
    assert "Click 👎 when an answer is wrong" in answer.text
    assert embedder.count_tokens("👎") > embedder.count_tokens("?"), "chunks are sized as the embedder reads them"


def test_relevance_is_the_mean_of_chunk_sentence_and_words(handbook_services, embedder) -> None:  # type: ignore[no-untyped-def]
    answerer = handbook_services.answerer.inner
    question = "How many days of paid holiday do employees get?"
    hits = answerer.retrieve(Question(text=question))
    relevance = answerer.relevance(question, hits)
    passages = quoting.passages_for(answerer.quoted_from(hits))
    best = max(zip(quoting.similarities(question, passages, embedder), passages, strict=True), key=lambda pair: pair[0])
    assert best[1].text.startswith("Every employee has 27 days of paid holiday")
    assert relevance.passage == pytest.approx(best[0], abs=1e-4)
    assert relevance.chunk == max(h.similarity for h in hits if h.similarity is not None)
    assert relevance.score == pytest.approx((relevance.chunk + relevance.passage + relevance.words) / 3)
    # Without an embedder of its own the answerer counts the chunk's similarity twice.
    alone = Relevance.of(question, hits, None)
    assert alone.passage == alone.chunk and alone.words == relevance.words


def test_streaming_shows_the_answer_as_it_is_written(generating_services) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    async def on_text(text: str) -> None:
        seen.append(text)

    answer = ask(generating_services, "Which VPN client do I install?", on_text=on_text)
    assert answer.grounded and "WireGuard" in answer.text
    assert seen, "no partial text was shown"


@pytest.mark.parametrize(
    "answers", [{"style": "generate"}, {"style": "quote", "quote_selector": "model"}], ids=["generate", "model-picks-quote"]
)
def test_a_model_server_that_is_down_costs_the_model_not_the_answer(
    answers: dict[str, str], handbook_services, embedder, model_worker, caplog: pytest.LogCaptureFixture  # type: ignore[no-untyped-def]
) -> None:
    from dataclasses import replace

    from bots.wiring import build_services
    from core.model.server import OpenAICompatibleModel
    from tests.servers import free_port

    down = OpenAICompatibleModel(base_url=f"http://127.0.0.1:{free_port()}/v1", n_ctx=2048)
    settings = replace(handbook_services.settings, answers=replace(handbook_services.settings.answers, **answers))
    services = build_services(settings, embedder=embedder, model=down, worker=model_worker)
    try:
        answer = ask(services, "How many days of paid holiday do employees get?")
    finally:
        services.state.close()
    # The sources are quoted, ranked without the model, and the log says why, as an error.
    assert answer.grounded and answer.style == "quote"
    assert "27 days of paid holiday" in answer.text
    assert answer.citations[0].source.endswith("onboarding.md")
    assert any(r.levelname == "ERROR" and "cannot be reached" in r.getMessage() for r in caplog.records)


def test_conversation_context_helps_a_follow_up(handbook_services) -> None:  # type: ignore[no-untyped-def]
    thread = (Turn("ana", "What is the expenses policy for receipts?"), Turn("Tidings", "Expenses above 50 euros need a receipt [1].", by_bot=True))
    answer = asyncio.run(handbook_services.answerer.answer(Question(text="and what about taxis?", conversation=thread)))
    assert answer.grounded
    assert answer.citations[0].source.endswith("expenses.md")


def test_a_new_question_in_a_thread_is_not_answered_from_the_threads_topic(handbook_services) -> None:  # type: ignore[no-untyped-def]
    # The console chat is one long thread: the answer before must not drown the next question.
    thread = (
        Turn("ana", "How do I connect to the VPN?"),
        Turn("Tidings", "Install the WireGuard client, then import the profile you receive from it-help@acme.example. [1]\n"
                        "The VPN is required for the staging servers and the finance systems. If the VPN drops, restart WireGuard. [1]",
             by_bot=True),
    )
    question = Question(text="How many days of paid holiday does an employee get per year?", conversation=thread)
    answer = asyncio.run(handbook_services.answerer.answer(question))
    assert answer.grounded and "27 days" in answer.text
    assert all(c.source.endswith("onboarding.md") for c in answer.citations)


def test_a_follow_up_not_covered_alone_is_searched_with_its_thread(handbook_services) -> None:  # type: ignore[no-untyped-def]
    answerer = handbook_services.answerer
    thread = (
        Turn("ana", "Do I need a receipt for expenses?"),
        Turn("Tidings", "Expenses above 50 euros need a receipt photographed in the Expenses app within 30 days. [1]", by_bot=True),
    )
    alone = asyncio.run(answerer.answer(Question(text="and what about the smaller ones?")))
    assert not alone.grounded
    answer = asyncio.run(answerer.answer(Question(text="and what about the smaller ones?", conversation=thread)))
    assert answer.grounded and answer.citations[0].source.endswith("expenses.md")
    # A new question the knowledge base does not cover is refused, not answered from the thread.
    weather = asyncio.run(answerer.answer(Question(text="Will the weather be sunny in Lisbon tomorrow?", conversation=thread)))
    assert not weather.grounded


def test_a_follow_up_is_searched_with_what_a_person_said_last_not_the_bots_answer() -> None:
    thread = (
        Turn("ana", "How do I connect to the VPN?"),
        Turn("Tidings", "Install the WireGuard client, then import the profile. [1]", by_bot=True),
    )
    assert Answerer.search_query(Question(text="and on Windows?", conversation=thread)) == "How do I connect to the VPN?\nand on Windows?"
    assert Answerer.search_query(Question(text="and on Windows?")) == "and on Windows?"


@pytest.mark.parametrize(
    ("question", "follow_up"),
    [
        ("and on Windows?", True),
        ("What about taxis?", True),
        ("how do I renew it?", True),
        ("Are those private?", True),
        ("How many days of paid holiday do I get?", False),
        ("Is there a size limit for uploads?", False),
        ("Which file formats can I ingest?", False),
    ],
)
def test_what_reads_as_a_follow_up(question: str, follow_up: bool) -> None:
    assert reads_as_follow_up(question) is follow_up


def test_questions_for_the_model_wait_in_one_queue_and_learn_their_position(model_selecting_services) -> None:  # type: ignore[no-untyped-def]
    services = model_selecting_services  # each answer asks the model to pick a passage
    positions: list[int] = []

    async def on_queued(position: int) -> None:
        positions.append(position)

    async def three() -> list[object]:
        # A digest step holds the model, so the three questions queue behind it however fast they are.
        released, busy = hold_model(services, most_s=60)
        questions = ["Where do I get a laptop?", "Do small expenses need a receipt?", "When is the VPN required?"]
        asked = asyncio.gather(*(services.answerer.answer(Question(text=q), on_queued=on_queued) for q in questions))
        for _ in range(600):
            if len(positions) == 3:
                break
            await asyncio.sleep(0.05)
        released.set()
        await busy
        return await asked

    answers = asyncio.run(three())
    assert all(a.grounded for a in answers)
    assert sorted(positions) == [1, 2, 3]


def test_quote_answers_picked_by_the_embedder_do_not_wait_for_the_model(handbook_services) -> None:  # type: ignore[no-untyped-def]
    positions: list[int] = []

    async def on_queued(position: int) -> None:
        positions.append(position)

    async def while_the_model_is_busy() -> tuple[list[object], bool]:
        # A digest step holds the model for the whole time the questions are answered.
        released, busy = hold_model(handbook_services, most_s=60)
        questions = ["Where do I get a laptop?", "Do small expenses need a receipt?", "When is the VPN required?"]
        try:
            answers = await asyncio.wait_for(
                asyncio.gather(*(handbook_services.answerer.answer(Question(text=q), on_queued=on_queued) for q in questions)),
                timeout=50,
            )
            still_held = not released.is_set() and not busy.done()
        finally:
            released.set()
            await busy
        return list(answers), still_held

    answers, still_held = asyncio.run(while_the_model_is_busy())
    assert still_held  # every answer came while the model was still taken
    assert all(a.grounded and a.style == "quote" for a in answers)  # type: ignore[attr-defined]
    assert positions == []  # nobody was told to wait


def test_empty_and_oversized_questions_get_a_polite_reason(handbook_services) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(EmptyQuestion):
        ask(handbook_services, "   ")
    with pytest.raises(EmptyQuestion):  # a "?" alone asks nothing: no search, no refusal to record
        ask(handbook_services, " ? ")
    with pytest.raises(UserFacingError, match="characters long"):
        ask(handbook_services, "why " * 10_000)


def test_a_long_question_is_budgeted_not_rejected(model_selecting_services, language_model) -> None:  # type: ignore[no-untyped-def]
    services = model_selecting_services  # the model reads the question, so it must be cut to fit
    question = "How many days of paid holiday does an employee get per year? " * 200
    # Short enough to be accepted, too long for the model's context on its own.
    assert len(question) < MAX_QUESTION_CHARS and language_model.count_tokens(question) > language_model.n_ctx
    answer = ask(services, question)
    assert answer.grounded, "a covered question is answered however long it is"
    assert answer.citations and answer.citations[0].source.endswith("onboarding.md")
    reserve = answer_reserve(language_model.n_ctx, services.settings.llm.max_answer_tokens)
    assert 0 < answer.timings.prompt_tokens <= language_model.n_ctx - reserve, "the question was cut to fit"


def test_works_with_a_512_token_context(handbook_services, small_language_model) -> None:  # type: ignore[no-untyped-def]
    answerer = Answerer.from_settings(
        handbook_services.settings,
        knowledge_base=handbook_services.knowledge_base,
        model=small_language_model,
        worker=handbook_services.worker,
    )
    answer = asyncio.run(answerer.answer(Question(text="Where is the IT desk?")))
    assert answer.grounded and answer.timings.prompt_tokens + 128 <= 512


# -- on the real FAQ ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def faq(shared_data: Path, faq_workbench):  # type: ignore[no-untyped-def]
    bench, name = faq_workbench  # ingested as `tidings ingest` does, once per session
    services = bench.services(name)
    path = shared_data / "qa" / "covid-faq.csv"
    rows = [r for r in csv.DictReader(path.open(encoding="utf-8")) if r["question"].strip() and r["answer"].strip()]
    return services, rows


def test_faq_questions_find_their_own_entry_in_the_top_5(faq) -> None:  # type: ignore[no-untyped-def]
    services, rows = faq
    found = 0
    for row in rows:
        hits = services.knowledge_base.search(row["question"], scopes={"public"}, k=5)
        found += any(h.chunk.title.strip() == row["question"].strip() for h in hits)
    assert found / len(rows) >= 0.90, f"hit@5 = {found / len(rows):.3f}"


@pytest.mark.parametrize("index", [0, 7, 42, 120])
def test_faq_answers_are_grounded_and_cite_their_entry(faq, index: int) -> None:  # type: ignore[no-untyped-def]
    services, rows = faq
    row = rows[index]
    answer = asyncio.run(services.answerer.answer(Question(text=row["question"])))
    assert answer.grounded, row["question"]
    assert any(c.title.strip() == row["question"].strip() for c in answer.citations), (row["question"], answer.citations)


def test_faq_refuses_what_it_does_not_cover(faq) -> None:  # type: ignore[no-untyped-def]
    services, _ = faq
    for question in ("How do I reset my Slack password?", "What is the best recipe for lasagna?"):
        answer = asyncio.run(services.answerer.answer(Question(text=question)))
        assert not answer.grounded, question
