"""Quote-first answers: the model chooses under a grammar, the answer is the sources' own words;
the checks that keep model-written text honest; FAQ entries found by their question."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
from pathlib import Path

import pytest

from core.answers import checks, quoting
from core.answers.answering import (
    EMPTY_KNOWLEDGE_BASE,
    NOTHING_READABLE_HERE,
    Answerer,
    Quoted,
    drop_repeated_sentences,
)
from core.answers.prompts import build_answer_prompt
from core.digests.judging import judge_prompt
from core.digests.prompts import notes_prompt
from core.knowledge.ingesting import ingest
from core.ports import Prompt
from core.types import Chunk, Hit, Question, Turn

# -- choosing under a grammar ----------------------------------------------------------------------


def test_the_packaged_model_can_only_write_a_candidate_number_or_none(language_model) -> None:  # type: ignore[no-untyped-def]
    candidates = [
        quoting.Passage(1, 0, "The office is closed on public holidays."),
        quoting.Passage(1, 1, "New starters receive a laptop on their first day from the IT desk."),
        quoting.Passage(1, 2, "Parking is free for visitors."),
    ]
    prompt = quoting.choice_prompt("Where do new starters get a laptop?", candidates)
    generation = language_model.generate(prompt, max_tokens=4, grammar=quoting.choice_grammar(len(candidates)))
    assert generation.text.strip() in {"1", "2", "3", "none"}
    assert quoting.choose(language_model, "Where do new starters get a laptop?", candidates) == 1


def test_the_grammar_offers_exactly_the_candidates() -> None:
    assert quoting.choice_grammar(3) == 'root ::= " "? ("1" | "2" | "3" | "none")'
    assert "none" not in quoting.choice_grammar(2, allow_none=False)
    assert quoting.read_choice(" 2", 3) == 1
    assert quoting.read_choice("none", 3) is None
    assert quoting.read_choice("7", 3) == 0, "an answer outside the grammar falls back to the ranking"
    assert quoting.read_choice("I think the second", 3) == 0


def test_passages_keep_a_list_with_its_introduction_and_drop_markup() -> None:
    text = (
        "# Ingesting\n\nTidings reads **many** formats, see [the list](formats.md). It skips others.\n\n"
        "Supported formats:\n- Markdown and text\n- PDF\n- HTML\n\n"
        "| Format | Loader |\n|---|---|\n| CSV | faq |\n\n```\ntidings ingest docs/\n```\n"
    )
    shown = [p.text for p in quoting.passages_of(text, 1)]
    assert shown[0] == "Tidings reads many formats, see the list."
    assert shown[1] == "It skips others."
    assert shown[2] == "Supported formats:\n• Markdown and text\n• PDF\n• HTML"
    assert "CSV: faq" in shown
    assert shown[-1] == "```\ntidings ingest docs/\n```"
    assert not any(mark in " ".join(shown) for mark in ("**", "](", "# "))


def test_numbered_steps_keep_their_numbers() -> None:
    # Steps are followed in order, so they are quoted with their own numbers, a chunk that
    # starts at step 3 included; bullets stay bullets.
    text = "Set it up:\n1. Create the app.\n2) Copy the **token**.\n\n3. Start it.\n\nThen:\n- a\n* b"
    steps, then = quoting.passages_of(text, 1)
    assert steps.text == "Set it up:\n1. Create the app.\n2. Copy the token.\n3. Start it."
    assert then.text == "Then:\n• a\n• b"
    (later,) = quoting.passages_of("3. Start it.\n4. Ask it.", 1)
    assert later.text == "3. Start it.\n4. Ask it."
    # A numbered list is a block: the sentence after it goes on a line of its own.
    after = quoting.passages_of("3. Start it.\n4. Ask it.\n\nThat is all.", 1)
    assert quoting.in_answer_order(after)[0].text == "3. Start it.\n4. Ask it.\nThat is all."


def test_a_table_row_is_quoted_with_its_column_names() -> None:
    """A row of three or more bare cells reads as nonsense ("Needs a public URL: no: yes"); each
    cell is named by its column, and the row of names is no passage of its own. A table cut
    from its header (a chunk starting mid-table) keeps its bare cells."""
    text = (
        "| | Socket Mode | HTTP mode |\n| --- | --- | --- |\n"
        "| Needs a public URL | no (works behind a firewall) | yes, HTTPS |\n\n"
        "| Scope | Why |\n|---|---|\n| `chat:write` | post answers |\n\n"
        "| huge | That question is too long | 1 | yes |\n\n"
        "| Week | Primary | Backup |\n| --- | --- | --- |\n| 2 | Tom | Aisha |\n\n"
        "| Release | Notes |\n|---|---|\n| 2024-05-01 | first release |\n| v2 | second |\n"
    )
    shown = [p.text for p in quoting.passages_of(text, 1)]
    assert shown == [
        "Needs a public URL — Socket Mode: no (works behind a firewall); HTTP mode: yes, HTTPS",
        "`chat:write`: post answers",
        "huge: That question is too long: 1: yes",
        "Week 2 — Primary: Tom; Backup: Aisha",  # a bare figure is named by its column
        "Release 2024-05-01: first release",
        "v2: second",
    ]


def test_a_sentence_that_introduces_a_table_is_quoted_with_the_whole_table() -> None:
    # "Which permissions does the bot need?" got the introduction and the first scope only.
    text = (
        "The bot's permissions are these scopes.\n\n| Scope | Why |\n| --- | --- |\n"
        "| `chat:write` | post answers |\n| `commands` | the slash commands |\n| `im:history` | read direct messages |\n\n"
        "Reinstall the app after adding one.\n\n| Setting | Default |\n| --- | --- |\n"
        + "".join(f"| `s{n}` | {n} |\n" for n in range(quoting.MAX_TABLE_ROWS + 1))
    )
    passages = quoting.passages_of(text, 1)
    intro, *rows = passages[:4]
    assert [r.table for r in rows] == [0, 0, 0] and intro.table == -1
    answer = quoting.in_answer_order(quoting.excerpt(intro, passages))
    assert [p.text for p in answer] == [
        "The bot's permissions are these scopes.\n`chat:write`: post answers\n`commands`: the slash commands\n"
        "`im:history`: read direct messages"
    ]
    # A row chosen alone comes with the next row, as any passage with the one after it.
    assert quoting.excerpt(rows[0], passages) == rows[:2]
    # A table too long to be an answer is not quoted whole: its introduction gets its first row.
    reinstall = passages[4]
    assert reinstall.text == "Reinstall the app after adding one."
    assert [p.text for p in quoting.excerpt(reinstall, passages)] == [reinstall.text, "`s0`: 0"]


def test_a_quotation_with_full_stops_inside_is_one_passage() -> None:
    text = (
        'A failed digest posts one notice, "Today\'s digest could not be made. The details are in the log.", '
        'in its channel. Then it waits for the next day. A setting such as `name = "x` stays code. It ends here.'
    )
    shown = [p.text for p in quoting.passages_of(text, 1)]
    assert shown == [
        'A failed digest posts one notice, "Today\'s digest could not be made. The details are in the log.", in its channel.',
        "Then it waits for the next day.",
        'A setting such as `name = "x` stays code.',
        "It ends here.",
    ]


def test_clean_keeps_code_spans_as_written() -> None:
    text = "Override as `TIDINGS_<SECTION>__<KEY>`, e.g. `TIDINGS_LLM__N_CTX=512`, **not** <b>HTML</b>."
    assert quoting.clean(text) == "Override as `TIDINGS_<SECTION>__<KEY>`, e.g. `TIDINGS_LLM__N_CTX=512`, not HTML."


def test_clean_keeps_the_address_of_an_autolink() -> None:
    text = "1. Open <https://api.slack.com/apps>, choose **Create New App**; mail <mailto:ops@example.com>."
    assert quoting.clean(text) == "1. Open https://api.slack.com/apps, choose Create New App; mail mailto:ops@example.com."


def test_a_chosen_sentence_comes_with_the_next_one_of_its_source() -> None:
    passages = quoting.passages_of(
        "Slash commands are synced when the bot starts. The first time, Discord can take up to an hour. "
        "Use sync_guild to test.",
        1,
    ) + quoting.passages_of("Another source.", 2)
    first, second, third, other = passages
    assert quoting.excerpt(first, passages) == [first, second]
    assert quoting.excerpt(third, passages) == [third], "the last sentence of a source has no next"
    assert quoting.excerpt(other, passages) == [other]


def test_a_bare_yes_or_no_is_kept_and_quoted_only_with_its_paragraph() -> None:
    passages = quoting.passages_of("No. The symptoms are similar in children and adults. Vomiting was also reported.", 1)
    no, similar, _vomiting = passages
    assert no.text == "No." and quoting.says_only_yes_or_no(no), "a bare no is not dropped as too short"
    assert not quoting.says_only_yes_or_no(similar)
    assert quoting.yes_or_no(similar, passages) == [no]
    joined = quoting.in_answer_order([*quoting.yes_or_no(similar, passages), *quoting.excerpt(similar, passages)])
    assert [p.text for p in joined] == ["No. The symptoms are similar in children and adults. Vomiting was also reported."]
    # Further on in its paragraph, the sentences between come too: a bare yes says nothing of how.
    entry = quoting.passages_of("Yes. Go to Settings and enter the address. Until you confirm, the old one stays. "
                                "It is free. Support can help. Changes show within a day.", 1)
    yes, settings, until, free, _support, changes = entry
    assert quoting.yes_or_no(until, entry) == [yes, settings]
    assert quoting.yes_or_no(free, entry) == [yes, settings, until]
    assert quoting.yes_or_no(changes, entry) == [yes, settings], "more than two between: the one after the yes"
    other = quoting.passages_of("Cases were reported in the U.S.\n\nYes. There have been cases abroad.", 1)
    assert quoting.excerpt(other[0], other) == [other[0]], "a bare yes is not the sentence after another paragraph"


@pytest.mark.parametrize(
    ("text", "points_elsewhere"),
    [
        ("See CDC’s website about what to do if you get sick.", True),
        ("Please see CDC’s guidance for additional information.", True),
        ("More information about the source of the virus is available on the Situation Summary.", True),
        ("For more information visit the CDC's website.", True),
        ("Learn more about testing.", True),
        ("You can see these at https://www.who.int/emergencies/situation-reports/", True),
        ("See docs/ingesting.md.", True),
        ("See a doctor if you have a fever and a cough.", False),
        ("Read the label before you take any medicine.", False),
        ("Follow the steps below:", False),
        ("Visit your doctor only after calling ahead.", False),
        ("The website lists every testing site.", False),
    ],
)
def test_a_sentence_that_only_sends_the_reader_elsewhere_is_told_apart(text: str, points_elsewhere: bool) -> None:
    assert quoting.only_points_elsewhere(quoting.Passage(1, 0, text)) is points_elsewhere


def test_a_sentence_that_only_sends_the_reader_elsewhere_never_answers_for_itself(services_reading) -> None:  # type: ignore[no-untyped-def]
    faq = (
        "question,answer\n"
        '"Is there a pill that stops COVID-19 after exposure?","No medicine prevents COVID-19 after an exposure. '
        'See CDC’s website about what to do if you get sick."\n'
        '"How do I look after myself at home?","Stay home, rest, and call your doctor before you visit the practice."\n'
    )
    services = services_reading({"faq.csv": faq})
    answer = ask(services, "What do I do if I get sick?")
    assert answer.grounded and answer.text.startswith("Stay home, rest, and call your doctor"), answer.text
    assert "See CDC" not in answer.text, answer.text
    # After the sentence it follows, a pointer still reads as its source wrote it.
    pill = ask(services, "Is there a pill that stops COVID-19 after exposure?")
    assert pill.text.startswith("No medicine prevents COVID-19 after an exposure."), pill.text



@pytest.mark.parametrize(
    ("text", "about_its_page"),
    [
        ("This page says how to watch it.", True),
        ("This page walks an admin through the set-up of the VPN.", True),
        ("This section explains why a request is refused.", True),
        ("The following section describes the API.", True),
        ("This document covers installation, upgrades and backups.", True),
        ("This file lists every setting with its default.", False),
        ("This guide is the one new starters read first.", False),
        ("The page loads in two seconds.", False),
    ],
)
def test_a_sentence_about_its_own_page_is_told_apart(text: str, about_its_page: bool) -> None:
    assert quoting.describes_its_page(quoting.Passage(1, 0, text)) is about_its_page


def test_a_sentence_about_its_own_page_is_never_quoted(services_reading) -> None:  # type: ignore[no-untyped-def]
    page = (
        "# Remote access\n\n"
        "This page explains how to set up the VPN on a new laptop.\n\n"
        "## Setting up the VPN\n\n"
        "Install WireGuard from the software centre and import the profile that IT emails you. "
        "This page also says what to do when the VPN drops.\n"
    )
    services = services_reading({"vpn.md": page})
    answer = ask(services, "how do I set up the VPN on my laptop?")
    assert answer.grounded and "WireGuard" in answer.text, answer.text
    assert "This page" not in answer.text, answer.text

def test_the_yes_or_no_that_opens_a_paragraph_comes_with_a_later_sentence_of_it() -> None:
    passages = quoting.passages_of(
        "Yes, your employer keeps paying your salary. Should your employer not pay, the authority pays. "
        "The first six weeks are paid in full.\n\nA new paragraph. Yes, it goes on.",
        1,
    )
    yes, should, six, paragraph, goes_on = passages
    assert quoting.yes_or_no(should, passages) == [yes]
    assert quoting.yes_or_no(six, passages) == [yes]
    assert quoting.yes_or_no(yes, passages) == [], "the chosen passage opens its paragraph itself"
    assert quoting.yes_or_no(goes_on, passages) == [], "only the paragraph's opening sentence is its answer"
    assert quoting.yes_or_no(paragraph, passages) == []


def test_a_paragraphs_no_never_comes_with_a_sentence_of_the_next_paragraph(services_reading) -> None:  # type: ignore[no-untyped-def]
    # A chunk once ran every paragraph of a section into one, so the section's opening "No." was
    # quoted before a sentence of the next paragraph that says the opposite.
    page = (
        "# Working from home\n\n## Can I work from home?\n\n"
        "No. The office is where the team meets each day, and desks are kept for everyone.\n\n"
        "With your manager's approval, you can work from home two days a week. Ask for it in the HR portal.\n"
    )
    services = services_reading({"remote.md": page})
    answer = ask(services, "Can I work from home two days a week with my manager's approval?")
    assert answer.grounded and "you can work from home two days a week" in answer.text, answer.text
    assert not answer.text.startswith("No."), answer.text


def test_a_yes_or_no_question_gets_the_yes_or_no_of_the_entry_it_is_answered_from(services_reading) -> None:  # type: ignore[no-untyped-def]
    # Every entry is read and any runner-up quoted, to show that another entry's yes never comes with it.
    faq = (
        "question,answer\n"
        '"Will I continue to get my salary if I have been placed under quarantine?","Yes, your employer will continue to pay '
        "your salary. Should, contrary to expectations, your employer not pay during quarantine, you are entitled to "
        'compensation from the authority. After six weeks of quarantine, you receive what you would receive as sick pay."\n'
        '"Should my healthy child wear a mask?","No. Healthy children do not need to wear a mask. Only people with '
        'symptoms, or caring for someone who is ill, should wear one."\n'
        '"Are there cases in the U.S.?","Yes. There have been cases of COVID-19 in the U.S. related to travel and '
        'close contact, children among them."\n'
    )
    services = services_reading({"faq.csv": faq}, config_text="[answers]\nquote_margin = 2\nfocus_margin = 1\n")
    yes_or_no = ask(services, "If I'm quarantined, do I still get paid?")
    assert yes_or_no.grounded and yes_or_no.text.startswith("Yes, your employer will continue to pay your salary."), yes_or_no.text
    open_question = ask(services, "How long is quarantine pay the same as sick pay?")
    assert open_question.grounded and "Yes, your employer" not in open_question.text, open_question.text
    no = ask(services, "Do healthy children need a mask?")
    assert no.grounded and no.text.startswith("No. Healthy children do not need to wear a mask."), no.text
    # Another entry's bare yes answers that entry's question: never quoted after this answer.
    assert "There have been cases" in no.text and "Yes." not in no.text, no.text


def test_an_entry_headed_by_a_question_answers_with_its_opening_sentence_first() -> None:
    passages = quoting.passages_of(
        "Tidings reads Markdown, HTML and PDF. Word documents are not read: save them as PDF first. "
        "A scanned PDF is not read either.\n\nA folder is read recursively.\n",
        1,
    )
    reads, word, scanned, folder = passages
    entry = "Common questions > Which file formats can Tidings ingest?"
    asked = "can I ingest a PDF"
    assert quoting.answer_opening(asked, scanned, passages, entry) == quoting.answer_opening(asked, word, passages, entry) == [reads]
    assert quoting.answer_opening(asked, reads, passages, entry) == [], "it opens the entry itself"
    assert quoting.answer_opening(asked, folder, passages, entry) == [], "another paragraph says something else"
    assert quoting.answer_opening(asked, scanned, passages, "Adding documents > Formats") == [], "a heading that asks nothing"
    assert quoting.answer_opening("are scans OCRed", scanned, passages, entry) == [], "an opening about something else"
    # A word the heading holds too says the entry is on the question, not that its opening answers it.
    assert quoting.answer_opening("which formats can Tidings ingest from scans", scanned, passages, entry) == []
    says_yes = quoting.passages_of("Yes, your employer keeps paying you. After six weeks you get sick pay.\n", 1)
    assert quoting.answer_opening("how long is sick pay paid", says_yes[1], says_yes, "Will I get paid in quarantine?") == []


def test_a_question_is_answered_by_its_entrys_answer_before_the_entrys_exceptions(services_reading) -> None:  # type: ignore[no-untyped-def]
    # "can I ingest a pdf" was answered "Word documents ... are not read: save them as PDF ...
    # nor a scanned PDF ...": sentences about PDF that read as a no, without the one saying yes.
    faq = (
        "# Common questions\n\n## Which file formats can Tidings ingest?\n\n"
        "Tidings reads Markdown (`.md`), plain text (`.txt`), HTML and PDF (`.pdf`). Word documents "
        "(`.docx`) and slides are not read: save them as PDF first. Images are not read either, nor a "
        "scanned PDF without a text layer: run OCR on it first.\n\n"
        "## How do I add our documents?\n\nRun `tidings ingest PATH` on a file or a folder.\n"
    )
    services = services_reading({"faq.md": faq})
    answer = ask(services, "can I ingest a pdf")
    assert answer.grounded and answer.text.startswith("Tidings reads Markdown"), answer.text


def test_a_sentence_that_points_back_comes_with_the_sentence_before_it_in_its_paragraph() -> None:
    passages = quoting.passages_of(
        "# Configuration\n\nTidings reads one TOML file. That file lists every setting. Secrets stay out of it.\n\n"
        "It reads the environment too.\n\n- model_path: any GGUF file.\n- This list is short.\n",
        1,
    )
    reads, that, secrets, environment, items = passages
    assert quoting.excerpt(that, passages) == [reads, that, secrets]
    assert quoting.excerpt(secrets, passages) == [secrets, environment], "it does not point back: no sentence before"
    # A paragraph's first sentence, a list: nothing from the block before.
    assert quoting.excerpt(environment, passages) == [environment, items]
    assert quoting.excerpt(items, passages) == [items]
    # A chain of sentences that point back is followed to where it starts.
    chain = quoting.passages_of("Illness is mostly mild. However, it can be serious. It is normal to worry. Wash hands.", 1)
    mild, however, normal, wash = chain
    assert quoting.excerpt(normal, chain) == [mild, however, normal, wash]
    joined = quoting.in_answer_order(quoting.excerpt(that, passages))
    assert [p.text for p in joined] == ["Tidings reads one TOML file. That file lists every setting. Secrets stay out of it."]


def test_a_sentence_that_ends_by_pointing_back_comes_with_the_sentence_before_it() -> None:
    passages = quoting.passages_of(
        "# Laptops\n\nEvery new employee gets a MacBook Air. Developers may ask for a MacBook Pro instead. "
        "Contractors get one too (see contracts.md). Interns do not get one either. Laptops last four years.\n\n"
        "Phones are replaced as well.\n",
        1,
    )
    air, pro, contractors, interns, last, phones = passages
    assert quoting.excerpt(pro, passages)[:2] == [air, pro]
    assert quoting.excerpt(contractors, passages)[:3] == [air, pro, contractors], "the chain goes to where it starts"
    assert quoting.excerpt(interns, passages)[0] == air
    assert quoting.excerpt(last, passages)[0] == last, "ends on no word that points back"
    assert quoting.excerpt(phones, passages) == [phones], "a paragraph's first sentence: nothing from the one before"
    assert not quoting.points_back("Use a server instead of a local file.")


def test_a_sources_quotes_read_in_order_neighbours_joined_and_each_sentence_once() -> None:
    passages = [
        quoting.Passage(2, 0, "Backups run at two."),  # also the last sentence of source 1 (chunks overlap)
        quoting.Passage(1, 4, "They are kept for a month."),
        quoting.Passage(1, 3, "Restores need the archive."),
        quoting.Passage(1, 5, "Backups run at two."),
        quoting.Passage(1, 7, "Supported:\n• tar\n• zip"),
        quoting.Passage(1, 8, "Nothing else."),
    ]
    assert [(p.source, p.text) for p in quoting.in_answer_order(passages)] == [
        (1, "Restores need the archive. They are kept for a month. Backups run at two."),
        (1, "Supported:\n• tar\n• zip\nNothing else."),
    ]
    # Two paragraphs: a line between them, and the second's sentences run on as the first's do.
    paragraphs = [quoting.Passage(1, 0, "Never share a password.", 0), quoting.Passage(1, 1, "Lost your phone? Ask IT.", 1),
                  quoting.Passage(1, 2, "It takes a day.", 1), quoting.Passage(1, 3, "Then log in.", 1)]
    assert [p.text for p in quoting.in_answer_order(paragraphs)] == [
        "Never share a password.\nLost your phone? Ask IT. It takes a day. Then log in."
    ]


def test_the_source_of_the_best_passage_is_quoted_first() -> None:
    best_first = [quoting.Passage(2, 5, "PDF files are read."), quoting.Passage(1, 0, "Mentions are read."),
                  quoting.Passage(2, 4, "Markdown files are read.")]
    assert [p.text for p in quoting.in_answer_order(best_first)] == [
        "Markdown files are read. PDF files are read.", "Mentions are read."
    ]


def test_a_word_few_passages_hold_outweighs_words_they_all_hold() -> None:
    # "Which language model does it use out of the box?": every passage says "language model",
    # one says "out of the box"; holding as many of the question's words, it is the one that answers.
    passages = [
        quoting.Passage(1, 0, "The language model types live in core."),
        quoting.Passage(2, 0, "A bigger language model writes better."),
        quoting.Passage(3, 0, "Any GGUF language model works."),
        quoting.Passage(4, 0, "Out of the box Tidings runs Gemma 3 270M."),
    ]
    question = "Which language model does it use out of the box?"
    shares = quoting.word_shares(question, [p.text for p in passages])
    assert shares[3] > max(shares[:3]) and shares[0] == shares[1] == shares[2] > 0
    assert quoting.word_shares(question, ["It can use any language model, out of the box."]) == [1.0]
    assert quoting.rank(question, passages, None)[0][1] == passages[3]


def test_the_ranking_lets_a_words_endings_meet() -> None:
    # "What happens if I ingest the same folder twice?" is answered by "Re-ingesting an
    # unchanged file writes nothing", which holds "ingest" as much as the other holds "same".
    passages = [
        quoting.Passage(1, 0, "Running the same command again completes it."),
        quoting.Passage(1, 1, "Re-ingesting an unchanged file writes nothing."),
    ]
    question = "What happens if I ingest the same folder twice?"
    shares = quoting.word_shares(question, [p.text for p in passages])
    assert shares[1] == shares[0] > 0
    assert quoting.word_shares("what do i need installed", ["Install Python first."]) == [1.0]


def test_the_ranking_reads_an_acronyms_plural_as_the_acronym() -> None:
    # "does Tidings read DMs" was answered from the wiki entry's "it reads files": "DMs" held no
    # word of "a direct message (DM)", which then ranked below it.
    passages = [
        quoting.Passage(1, 0, "Yes, from an export of it: the bot does not log in to a wiki, it reads files."),
        quoting.Passage(2, 0, "Yes: Tidings answers a question sent in a direct message (DM) as it answers a mention."),
    ]
    shares = quoting.word_shares("does Tidings read DMs", [p.text for p in passages])
    assert shares[1] > shares[0]
    assert quoting.rank("does Tidings read DMs", passages, None)[0][1] == passages[1]



def test_the_ranking_reads_a_name_joined_by_underscores_as_its_words() -> None:
    # "how do I change the log level" holds both words of `log_level`, and one of a sentence
    # that only says "level".
    passages = [
        quoting.Passage(1, 0, "The water level is checked every morning."),
        quoting.Passage(2, 0, "`[observability] log_level` sets how much is written (INFO by default)."),
    ]
    shares = quoting.word_shares("how do I change the log level", [p.text for p in passages])
    assert shares[1] > shares[0]
    assert quoting.rank("how do I change the log level", passages, None)[0][1] == passages[1]


def test_a_question_quoted_as_an_example_does_not_make_its_sentence_the_answer(embedder) -> None:  # type: ignore[no-untyped-def]
    # "how do I reset everything" was answered by the guide's rule for follow-ups, whose example
    # is "how do I reset the router?", and "how do I test that it works" by a digest rule quoting
    # "does it work for async tests?": the words were the examples', not the sentences' subject.
    titles = ["Asking questions > Follow-up questions", "Common questions > How do I reset Tidings and start over?"]
    passages = [
        quoting.Passage(1, 0, 'A thing never stands in for the action asked about ("and the printer?" after '
                              '"how do I reset the router?" asks to reset the printer); an action does.'),
        quoting.Passage(2, 0, "Stop Tidings, delete its data directory, and run `make run` again: it starts as it "
                              "did the first time."),
    ]
    assert quoting.rank("how do I reset everything", passages, embedder, titles)[0][1] == passages[1]
    rule = "A question that runs on after its mark (\"does it work for async tests? it does not seem so\") still asks."
    assert quoting.word_shares("how do I test that it works", [rule]) == [0.0]
    # What the bot says, quoted, is the sentence's subject; so is a quoted question left alone.
    said = 'Tidings says "I couldn\'t find this in the knowledge base", and lists the nearest sources.'
    assert quoting.without_examples(said) == said
    assert quoting.without_examples('"How do I connect Slack?"') == '"How do I connect Slack?"'


def test_hard_wrapped_docs_are_quoted_as_whole_sentences_and_list_items() -> None:
    from core.knowledge.chunking import chunk_document
    from core.types import Document

    text = (
        "# Install\n\n- A Linux machine with Python 3.11 or newer (llama.cpp is\n  compiled once during installation).\n"
        "- No GPU.\n\nThe first run creates a virtual\nenvironment in `.venv`. Then it starts.\n"
    )
    chunks = chunk_document(Document(source="install.md", title="Install", text=text), count_tokens=lambda t: len(t.split()) + 2)
    shown = [p.text for c in chunks for p in quoting.passages_of(c.text, 1)]
    assert "• A Linux machine with Python 3.11 or newer (llama.cpp is compiled once during installation).\n• No GPU." in shown
    assert "The first run creates a virtual environment in `.venv`." in shown
    assert not any(s.startswith("compiled") for s in shown)


# -- quote answers through the real Answerer -------------------------------------------------------


def ask(services, text: str):  # type: ignore[no-untyped-def]
    return asyncio.run(services.answerer.answer(Question(text=text)))


@pytest.mark.parametrize("selector", ["embedding", "model"])
def test_a_quote_answer_is_the_sources_own_sentences_cited(selector: str, request: pytest.FixtureRequest, handbook_dir: Path) -> None:
    services = request.getfixturevalue("handbook_services" if selector == "embedding" else "model_selecting_services")
    assert services.answerer.inner.style == "quote", "the packaged base model gets quote answers"
    assert services.settings.answers.quote_selector == selector
    answer = ask(services, "How many days of paid holiday do employees get?")
    assert answer.grounded and answer.style == "quote"
    assert "Every employee has 27 days of paid holiday per year." in answer.text
    sources = " ".join(p.read_text(encoding="utf-8") for p in handbook_dir.iterdir())
    assert answer.quotes and all(q.text in " ".join(sources.split()) for q in answer.quotes), "quotes are verbatim"
    assert all(f"[{c.n}]" in answer.text for c in answer.citations)
    assert (answer.timings.prompt_tokens > 0) == (selector == "model"), "the model chose, or no model call at all"
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n", re.sub(r"\[\d+\]", "", answer.text)) if s.strip()]
    assert len(sentences) == len({s.strip() for s in sentences}), "no sentence twice"


HANDBOOK_QUESTIONS = [
    "How many days of paid holiday do employees get?",
    "Do small expenses need a receipt?",
    "When is the VPN required?",
    "Where do I get a laptop?",
    "How do I deploy?",
    "Can I take a taxi on expenses?",
]


@pytest.mark.parametrize("style", ["quote", "generate"])
def test_citations_are_numbered_from_one_without_gaps(style: str, request: pytest.FixtureRequest) -> None:
    services = request.getfixturevalue("handbook_services" if style == "quote" else "generating_services")
    answerer = services.answerer.inner
    # A written answer takes seconds: two questions show its numbering, quotes are asked all six.
    for text in HANDBOOK_QUESTIONS if style == "quote" else HANDBOOK_QUESTIONS[:2]:
        question = Question(text=text)
        answer = ask(services, text)
        if not answer.grounded:
            continue
        numbers = [c.n for c in answer.citations]
        assert numbers == list(range(1, len(numbers) + 1)), (text, answer.text)
        assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} == set(numbers), answer.text
        assert all(q.n in numbers for q in answer.quotes)
        if style == "quote":
            # The source of the best passage is quoted first and is [1]; the numbers follow the answer.
            first_seen = list(dict.fromkeys(int(n) for n in re.findall(r"\[(\d+)\]", answer.text)))
            assert first_seen == numbers, answer.text
        else:
            packed = [h.chunk.id for h in answerer.quoted_from(answerer.retrieve(question))]
            places = [packed.index(c.chunk_ids[0]) for c in answer.citations]
            assert places == sorted(places), "numbers keep the sources' order"


def test_a_runner_up_from_another_source_must_score_near_the_pick() -> None:
    # A second source that matches the question far worse is cited without answering it.
    pick = quoting.Passage(1, 0, "Backups run nightly at 02:00.")
    following = quoting.Passage(1, 1, "They are kept for 30 days.")
    near = quoting.Passage(2, 0, "A backup can also be started by hand.")
    far = quoting.Passage(3, 0, "The office closes at six.")
    same_source_low = quoting.Passage(1, 5, "Restores are tested monthly.")
    scored = [(0.70, pick), (0.66, following), (0.64, near), (0.50, far), (0.30, same_source_low)]
    allowed = quoting.runners_up(scored, [pick, following], 0.70, 0.08)
    assert allowed == {pick, following, near, same_source_low}
    ranked = [p for _, p in scored]
    assert quoting.adding(ranked, [pick, following], 1, allowed=allowed) == [near]
    assert quoting.adding(ranked, [pick, following, near], 1, allowed=allowed) == [same_source_low]
    # With no margin left only the pick's own source may follow it; a wide one lets any in.
    assert quoting.adding(ranked, [pick], 1, allowed=quoting.runners_up(scored, [pick], 0.70, 0.0)) == [following]
    assert quoting.runners_up(scored, [pick], 0.70, 2.0) == {p for _, p in scored}
    # Another source's yes or no answers its own question, however near it scores.
    yes = quoting.Passage(4, 0, "Yes, backups can be restored by anyone.")
    own_no = quoting.Passage(1, 7, "No, restores need an admin.")
    allowed = quoting.runners_up([*scored, (0.69, yes), (0.2, own_no)], [pick], 0.70, 2.0)
    assert yes not in allowed and own_no in allowed


def test_an_answer_opens_with_its_best_passage_and_cites_it_as_1(handbook_services, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # "Can it read PDFs?" opened with a sentence on when the bot reads messages, from a source
    # searched higher, before the one listing the formats, which the ranking had put first.
    answerer: Answerer = handbook_services.answerer.inner
    question = Question(text="How do I deploy?")
    hits = answerer.retrieve(question)[:3]
    assert len(hits) == 3
    quoted = (  # best first, as ``quote`` returns them
        quoting.Passage(3, 1, "The third source says this."),
        quoting.Passage(3, 2, "And goes on."),
        quoting.Passage(2, 0, "The second source says that."),
    )
    monkeypatch.setattr(answerer, "quoted_from", lambda found: list(found))
    monkeypatch.setattr(answerer, "quote", lambda *args, **kwargs: Quoted(quoted, 0.0))
    answer = asyncio.run(answerer._quote_answer(question, hits, 0.0, on_queued=None, ranked_by=question.text))
    assert answer.text == "The third source says this. And goes on. [1]\nThe second source says that. [2]"
    assert [(c.n, c.chunk_ids) for c in answer.citations] == [(1, (hits[2].chunk.id,)), (2, (hits[1].chunk.id,))]
    assert [q.n for q in answer.quotes] == [1, 2]


def _section_hits() -> list[Hit]:
    """Two chunks of one section of a guide (found in the other order) around a chunk of another page."""

    def hit(chunk_id: str, source: str, title: str, position: int, text: str) -> Hit:
        chunk = Chunk(id=chunk_id, source=source, title=title, text=text, position=position, url=f"https://docs.example/{source}")
        return Hit(chunk=chunk, score=1.0, similarity=0.6)

    return [
        hit("g4", "guide.md", "Guide › Discord command syncing", 4, "Commands sync to each server the bot joins."),
        hit("f0", "faq.md", "Why are the commands missing?", 0, "Discord can take an hour to show new commands."),
        hit("g3", "guide.md", "Guide › Discord command syncing", 3, "Tidings registers its commands at start."),
    ]


def test_two_chunks_of_one_section_are_one_source_in_reading_order(handbook_services, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    # The terminal chat listed "Discord command syncing" twice, as [1] and [2]: one section, two chunks.
    answerer: Answerer = handbook_services.answerer.inner
    hits = _section_hits()
    # Best first: the earlier chunk's sentence, then the other page's, then the later chunk's.
    quoted = (
        quoting.Passage(3, 0, "Tidings registers its commands at start."),
        quoting.Passage(2, 0, "Discord can take an hour to show new commands."),
        quoting.Passage(1, 0, "Commands sync to each server the bot joins."),
    )
    monkeypatch.setattr(answerer, "quoted_from", lambda found: list(found))
    monkeypatch.setattr(answerer, "quote", lambda *args, **kwargs: Quoted(quoted, 0.0))
    asked = Question(text="Why don't the commands show?")
    answer = asyncio.run(answerer._quote_answer(asked, hits, 0.0, on_queued=None, ranked_by=asked.text))
    assert answer.text == (
        "Tidings registers its commands at start. [1]\n"
        "Commands sync to each server the bot joins. [1]\n"
        "Discord can take an hour to show new commands. [2]"
    )
    assert [(c.n, c.title, c.chunk_ids) for c in answer.citations] == [
        (1, "Guide › Discord command syncing", ("g3", "g4")),
        (2, "Why are the commands missing?", ("f0",)),
    ]
    assert answer.citations[0].snippet == "Tidings registers its commands at start. … Commands sync to each server the bot joins."
    assert [q.n for q in answer.quotes] == [1, 1, 2]


def test_a_written_answer_cites_one_section_once(generating_services) -> None:  # type: ignore[no-untyped-def]
    from core.answers.answering import Draft
    from core.answers.prompts import PackedPrompt
    from core.ports import Generation
    from core.types import Timings

    answerer: Answerer = generating_services.answerer.inner
    hits = _section_hits()
    packed = PackedPrompt(Prompt(instructions="", body=""), tuple(hits), 0, 64, False, 0)
    written = "Tidings registers its commands at start [3][1]. Discord can take an hour to show new commands [2]."
    draft = Draft(packed=packed, generation=Generation(text=written, prompt_tokens=0, completion_tokens=0, seconds=0.0))
    answer = answerer._finish(Question(text="Why don't the commands show?"), draft, Timings())
    assert answer is not None
    assert answer.text == "Tidings registers its commands at start [1]. Discord can take an hour to show new commands [2]."
    assert [(c.n, c.chunk_ids) for c in answer.citations] == [(1, ("g4", "g3")), (2, ("f0",))]


def test_the_nearest_sources_of_a_refusal_name_each_section_once(handbook_services) -> None:  # type: ignore[no-untyped-def]
    answerer: Answerer = handbook_services.answerer.inner
    answer = answerer._not_covered(Question(text="What is the parking policy?"), _section_hits(), 0.0)
    assert [c.title for c in answer.citations] == ["Guide › Discord command syncing", "Why are the commands missing?"]


def test_a_follow_up_and_an_overlong_question_still_get_quotes(model_selecting_services, language_model) -> None:  # type: ignore[no-untyped-def]
    services = model_selecting_services
    thread = (Turn("ana", "What is the expenses policy for receipts?"), Turn("Tidings", "Expenses above 50 euros need a receipt [1].", by_bot=True))
    answer = asyncio.run(services.answerer.answer(Question(text="and what about taxis?", conversation=thread)))
    assert answer.grounded and answer.citations[0].source.endswith("expenses.md")
    long = "How many days of paid holiday does an employee get per year? " * 200
    answer = ask(services, long)
    assert answer.grounded and "27 days" in answer.text
    assert 0 < answer.timings.prompt_tokens <= language_model.n_ctx


def test_a_runner_up_that_says_what_the_answer_already_says_is_left_out() -> None:
    lead = [quoting.Passage(2, 0, "Two CPU cores and 2 GB of free memory are enough; no GPU is needed.")]
    ranked = [
        *lead,
        quoting.Passage(1, 3, "Two CPU cores and 2 GB of free memory are enough."),
        quoting.Passage(1, 4, "Compiling llama.cpp takes a few minutes the first time."),
        quoting.Passage(3, 0, "A GPU is not needed."),
    ]
    assert quoting.adding(ranked, lead, 1) == []  # dropped, not replaced by a lower one
    assert quoting.adding(ranked, lead, 2) == [ranked[2]]
    assert quoting.adding(ranked, lead, 3) == [ranked[2]]
    # A "no" is news, however many of its words the answer holds.
    water = [quoting.Passage(1, 0, "Water treatment removes the virus that causes COVID-19 from drinking water.")]
    detected = quoting.Passage(2, 0, "The COVID-19 virus has not been detected in drinking water.")
    assert quoting.adding([*water, detected], water, 1) == [detected]


def test_a_sentence_copied_into_another_page_and_carried_on_there_is_quoted_once() -> None:
    lead = [
        quoting.Passage(1, 0, "With no Slack or Discord token configured, `make run` starts a chat in your terminal."),
        quoting.Passage(1, 1, "On the first start it indexes its own documentation."),
    ]
    copied = quoting.Passage(
        2, 0,
        "With no Slack or Discord token configured, make run starts a chat in your terminal that answers "
        "from the guide. `tidings ask` answers one question, and `tidings summarize FILE` sums up an export.",
    )
    news = quoting.Passage(3, 0, "A chat in your terminal needs no token, and Slack or Discord can be configured later.")
    ranked = [*lead, copied, news]
    # Most of the copy's words are new, but it opens by saying the lead again.
    assert quoting.adding(ranked, lead, 1) == []
    assert quoting.adding(ranked, lead, 2) == [news]  # the same words, not eight in a row
    assert quoting.shares_run("a b c d e f g h", "x a b c d e f g h y", 8)
    assert not quoting.shares_run("a b c d e f g h", "a b c d e f g x h", 8)


def test_a_step_worded_in_the_guide_and_in_its_common_questions_is_quoted_once(services_reading) -> None:  # type: ignore[no-untyped-def]
    install = (
        "# Installing\n\n## What you need\n\nA Linux machine with Python 3.11 or newer and a C compiler. "
        "Two CPU cores and 2 GB of free memory are enough.\n\n## Upgrading\n\nPull the new version and run make again.\n"
    )
    faq = (
        "# Common questions\n\n## How much memory does it need?\n\nTwo CPU cores and 2 GB of free memory are enough "
        "(install.md).\n\n## Does it need a GPU?\n\nNo GPU is needed.\n"
    )
    # Room for three passages: the lead and two runners-up of any score, one of which repeats the lead.
    services = services_reading(
        {"install.md": install, "faq.md": faq}, config_text="[answers]\nquote_passages = 3\nquote_margin = 2\n"
    )
    answer = ask(services, "What machine do I need?")
    assert answer.grounded and "No GPU is needed." in answer.text
    assert answer.text.count("2 GB of free memory") == 1, answer.text


COMMANDS = (
    "The main commands:\n"
    "• `tidings ingest PATH`: add files and folders to the knowledge base.\n"
    "• `tidings digest list`: the scheduled digests with their next and last run.\n"
    "• `tidings feedback export`: the answers people rated, as JSON lines.\n"
    "• `tidings forget --user ID`: delete everything stored about one person.\n"
    "• `tidings discord invite-url`: the link that adds the bot to a Discord server."
)


def test_a_long_list_is_quoted_by_the_items_that_answer(embedder) -> None:  # type: ignore[no-untyped-def]
    commands = quoting.Passage(1, 0, COMMANDS)
    cut = quoting.answering_items("How do I add the bot to my Discord server?", commands, embedder)
    assert cut.text == "The main commands:\n• `tidings discord invite-url`: the link that adds the bot to a Discord server."
    assert (cut.source, cut.order) == (1, 0)
    # Without its introduction the answering item is quoted alone.
    bare = quoting.Passage(1, 0, COMMANDS.split("\n", 1)[1])
    assert quoting.answering_items("How do I export the feedback?", bare, embedder).text == (
        "• `tidings feedback export`: the answers people rated, as JSON lines."
    )


def test_short_lists_steps_and_lists_most_of_whose_items_answer_are_quoted_whole(embedder) -> None:  # type: ignore[no-untyped-def]
    short = quoting.Passage(1, 0, "\n".join(COMMANDS.split("\n")[:4]))
    assert quoting.answering_items("How do I export the feedback?", short, embedder) == short
    steps = quoting.Passage(1, 0, "\n".join(f"{n}. {line[2:]}" for n, line in enumerate(COMMANDS.split("\n")[1:], 1)))
    assert quoting.answering_items("How do I export the feedback?", steps, embedder) == steps
    formats = quoting.Passage(
        1,
        0,
        "Tidings reads:\n• Markdown files (`.md`)\n• plain text files (`.txt`)\n• HTML files (`.html`)\n"
        "• PDF files (`.pdf`)\n• CSV spreadsheets of questions and answers",
    )
    assert quoting.answering_items("Which file formats can Tidings read?", formats, embedder) == formats


def test_an_answer_quotes_one_command_of_a_long_command_list(services_reading) -> None:  # type: ignore[no-untyped-def]
    install = "# Installing\n\n## The tidings command\n\n" + COMMANDS.replace("• ", "- ") + "\n"
    services = services_reading({"install.md": install})
    answer = ask(services, "How do I get the link that adds the bot to a Discord server?")
    assert answer.grounded and "`tidings discord invite-url`" in answer.text, answer.text
    assert "tidings ingest" not in answer.text and "tidings forget" not in answer.text, answer.text


def test_a_section_headed_by_the_question_asked_leads_the_answer(services_reading) -> None:  # type: ignore[no-untyped-def]
    readme = (
        "# Tidings\n\n## Connect Slack (a few minutes)\n\nThis is Socket Mode (no public URL needed). For HTTP mode, "
        'set `[slack] mode = "http"` and `SLACK_SIGNING_SECRET`; see docs/slack.md.\n'
    )
    faq = (
        "# Common questions\n\n## How do I connect Tidings to Slack?\n\nTo connect Tidings to Slack, create an app from "
        "the manifest, install it and put its two tokens in `.env`.\n\n## How do I update Tidings?\n\nPull the new "
        "version and run make again.\n"
    )
    services = services_reading({"README.md": readme, "faq.md": faq})
    answer = ask(services, "How do I connect Slack?")
    assert answer.grounded and answer.text.startswith("To connect Tidings to Slack, create an app"), answer.text


def test_a_question_about_the_bot_is_answered_from_what_the_guide_says_of_it_by_name(services_reading) -> None:  # type: ignore[no-untyped-def]
    faq = (
        "# Common questions\n\n## Why did Tidings not answer my question?\n\nTidings refuses when the knowledge base "
        "does not hold the answer, and lists the nearest sources it looked at.\n"
    )
    slack = (
        "# Connect Slack\n\n## What the bot does\n\nThe bot answers each question once, in the thread of the message "
        "that asked it. It ignores its own messages, other bots, edits and deletions.\n"
    )
    services = services_reading({"faq.md": faq, "slack.md": slack})
    answer = ask(services, "Why did the bot not answer my question?")
    assert answer.grounded and answer.text.startswith("Tidings refuses when the knowledge base"), answer.text
    assert answer.question == "Why did the bot not answer my question?"  # answered as asked


def test_which_heading_asks_the_question(embedder) -> None:  # type: ignore[no-untyped-def]
    titles = ["Tidings > Connect Slack (a few minutes)", "Common questions > How do I update Tidings?", "Common questions > How do I connect Tidings to Slack?"]
    assert quoting.asked_by_heading("how do I connect slack", titles, embedder, least=0.75) == 3
    assert quoting.asked_by_heading("What is the weather in Lisbon?", titles, embedder, least=0.75) is None
    assert quoting.asked_by_heading("how do I connect slack", titles[:1], embedder, least=0.0) is None  # no heading asks
    assert quoting.asked_by_heading("how do I connect slack", titles, None, least=0.75) is None


def _scopes_page(rows: int) -> str:
    """A guide page whose table of scopes is too long for one chunk."""
    table = "".join(
        f"| `scope{n}:write` | lets the bot post, edit and pin messages of kind {n} in every channel it was invited to |\n"
        for n in range(rows)
    )
    return (
        "# Connect the bot\n\n## Scopes\n\nThe bot's permissions in the workspace are these scopes.\n\n"
        f"| Scope | Why |\n| --- | --- |\n{table}\nReinstall the app after adding a scope.\n\n"
        "## Tokens\n\n| Token | Where |\n| --- | --- |\n| `BOT_TOKEN` | the app's OAuth page |\n"
    )


@pytest.mark.parametrize("rows", [quoting.MAX_TABLE_ROWS, quoting.MAX_TABLE_ROWS + 1])
def test_a_table_cut_by_a_chunk_boundary_is_quoted_to_its_end(rows: int, services_reading) -> None:  # type: ignore[no-untyped-def]
    # "which permissions does the bot need?" got the introduction and the scopes of its chunk only.
    services = services_reading({"connect.md": _scopes_page(rows)}, config_text="[answers]\nquote_margin = 0\n")
    kb = services.knowledge_base
    first = kb.search("The bot's permissions in the workspace are these scopes", scopes=["public"], k=10)
    chunks = sorted({h.chunk.position: h.chunk for h in first if h.chunk.title.endswith("Scopes")}.items())
    assert chunks and chunks[0][1].text.count("| `scope") < rows, "the table must span chunks for this test"
    answer = ask(services, "which permissions does the bot need?")
    assert answer.grounded and answer.text.startswith("The bot's permissions in the workspace are these scopes.")
    shown = re.findall(r"`scope(\d+):write`", answer.text)
    if rows <= quoting.MAX_TABLE_ROWS:
        assert shown == [str(n) for n in range(rows)], answer.text
        assert len(answer.citations) == 1 and len(answer.citations[0].chunk_ids) >= 2
    else:  # too long to be an answer: quoted no further than its first chunk
        assert 0 < len(shown) < rows and shown == [str(n) for n in range(len(shown))], answer.text
    assert "BOT_TOKEN" not in answer.text, "the next section's table is not this one"


@pytest.mark.parametrize("kind", ["introduced", "steps", "bare"])
def test_a_list_cut_by_a_chunk_boundary_is_quoted_to_its_end(kind: str, services_reading) -> None:  # type: ignore[no-untyped-def]
    # A list with its introduction, and numbered steps, are read on; a bare list of bullets is a
    # reference (a page's settings), and its other items would only add to the answer.
    marker = (lambda n: f"{n + 1}.") if kind == "steps" else (lambda n: "-")
    first_does = "runs chore number 0" if kind == "introduced" else "lists which chore commands the bot runs"
    items = "".join(
        f"{marker(n)} `/cmd{n}` {first_does if n == 0 else f'runs chore number {n}'} for the whole team and posts what "
        "it did in the channel it was typed in\n"
        for n in range(9)
    )
    intro = "The bot runs these chore commands:\n\n" if kind == "introduced" else ""
    page = f"# Commands\n\n## Chores\n\n{intro}{items}\nEach chore is logged.\n"
    services = services_reading({"commands.md": page}, config_text="[answers]\nquote_margin = 0\n")
    found = services.knowledge_base.search("chore commands runs chore number", scopes=["public"], k=10)
    first = min((h.chunk for h in found), key=lambda c: c.position)
    assert first.text.count("`/cmd") < 9, "the list must span chunks for this test"
    answer = ask(services, "which chore commands does the bot run?")
    shown = re.findall(r"`/cmd(\d)`", answer.text)
    assert answer.grounded and shown == [str(n) for n in range(len(shown))], answer.text
    if kind == "bare":
        assert len(shown) < 9, answer.text
    else:
        assert len(shown) == 9, answer.text
        assert len(answer.citations) == 1 and len(answer.citations[0].chunk_ids) >= 2


def test_a_sentence_ending_its_chunk_is_quoted_with_the_code_block_it_introduces(services_reading) -> None:  # type: ignore[no-untyped-def]
    # "... writes one JSON object per line for a log shipper:" ended an answer, its example in
    # the section's next chunk.
    lead = " ".join(
        f"The relay writes line {n} of its journal to standard error, keeps no file of its own, and rotates nothing."
        for n in range(5)
    )
    example = "\n".join(f'{{"time": "09:30:0{n}", "level": "INFO", "message": "relay forwarded batch {n}"}}' for n in range(4))
    page = (
        "# Operations\n\n## Relay journal\n\n"
        f"{lead} Setting `journal_json = true` makes the relay journal write one JSON object per line:\n\n"
        f"```json\n{example}\n```\n\nThe relay journal never holds secrets.\n"
    )
    services = services_reading({"operations.md": page}, config_text="[answers]\nquote_margin = 0\n")
    found = services.knowledge_base.search("journal_json one JSON object per line", scopes=["public"], k=10)
    first = min((h.chunk for h in found), key=lambda c: c.position)
    assert first.text.rstrip().endswith("per line:") and "relay forwarded" not in first.text, "the example must open the next chunk"
    answer = ask(services, "how do I make the relay journal write one JSON object per line?")
    assert answer.grounded and "journal_json = true" in answer.text, answer.text
    assert "relay forwarded batch 3" in answer.text, answer.text  # the whole example, not a dangling colon
    assert len(answer.citations) == 1 and len(answer.citations[0].chunk_ids) >= 2


def test_a_sentence_introducing_what_the_answer_does_not_show_is_left_out(services_reading) -> None:  # type: ignore[no-untyped-def]
    # "The bot then serves two paths on that port (...):" ended an answer, its paths under the
    # next headings.
    page = (
        "# Operations\n\n## Metrics\n\nTurn the metrics on in the relay's configuration file:\n\n"
        "```\n[metrics]\nport = 9464\n```\n\nThe relay then serves two paths on that port:\n\n"
        "### GET /healthz\n\nIt answers 200 while the relay can read its queue.\n\n"
        "### GET /metrics\n\nIt answers in the Prometheus text format.\n"
    )
    services = services_reading({"operations.md": page}, config_text="[answers]\nquote_margin = 0\n")
    answer = ask(services, "which port do the relay's metrics use?")
    assert answer.grounded and "port = 9464" in answer.text, answer.text
    assert "serves two paths on that port" not in answer.text, answer.text


def test_the_chunk_after_a_chunk_is_found_only_within_its_section(services_reading) -> None:  # type: ignore[no-untyped-def]
    services = services_reading({"connect.md": _scopes_page(quoting.MAX_TABLE_ROWS)})
    kb = services.knowledge_base
    hits = kb.search("scopes tokens permissions", scopes=["public"], k=20)
    by_position = {h.chunk.position: h.chunk for h in hits}
    section = [c for _, c in sorted(by_position.items()) if c.title.endswith("Scopes")]
    assert len(section) >= 2
    for chunk, following in itertools.pairwise(section):
        found = kb.next_in_section(chunk)
        assert found is not None and found.id == following.id and found.text == following.text
    assert kb.next_in_section(section[-1]) is None, "the Tokens section is another section"
    elsewhere = dataclasses.replace(section[0], scope="slack:T1:C1")
    assert kb.next_in_section(elsewhere) is None, "a chunk of another scope is not read"


def test_an_answer_draws_on_the_search_order_not_on_meaning_alone(make_services) -> None:  # type: ignore[no-untyped-def]
    answerer: Answerer = make_services(config_text="[knowledge_base]\nbuild_default = false\n").answerer.inner
    margin = answerer.settings.focus_margin

    def hit(name: str, similarity: float) -> Hit:
        return Hit(chunk=Chunk(id=name, source=f"{name}.md", title=name, text=f"{name} text."), score=0.0, similarity=similarity)

    # Found first by its rare words, far down in meaning: the chunk that stands out in meaning
    # must not push it out of the answer.
    rare, near, other = hit("rare", 0.18), hit("near", 0.18 + 2 * margin), hit("other", 0.26)
    assert answerer.focus([rare, near, other]) == [rare, near, other]
    # The first found that also stands out in meaning is quoted alone.
    assert answerer.focus([near, rare, other]) == [near]


def test_an_empty_knowledge_base_says_so_and_how_to_fill_it(make_services) -> None:  # type: ignore[no-untyped-def]
    services = make_services(config_text="[knowledge_base]\nbuild_default = false\n")
    answer = ask(services, "How do I connect Slack?")
    assert not answer.grounded and answer.text == EMPTY_KNOWLEDGE_BASE
    assert "tidings ingest" in answer.text


def test_a_channel_that_may_read_nothing_yet_is_told_so_not_that_nothing_matched(make_services, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # A new team's first question in Slack: the knowledge base holds only the terminal's guide.
    services = make_services(config_text="[knowledge_base]\nbuild_default = false\n")
    guide = tmp_path / "guide" / "slack.md"
    guide.parent.mkdir()
    guide.write_text("# Connect Slack\n\nCreate the app from the manifest, then put the bot token in `.env`.\n", encoding="utf-8")
    ingest([guide], knowledge_base=services.knowledge_base, embedder=services.embedder, scope="tidings:docs")
    channel = Question(text="How do I connect Slack?", scopes=frozenset({"public", "slack:T1:C1"}))
    answer = asyncio.run(services.answerer.answer(channel))
    assert not answer.grounded and answer.text == NOTHING_READABLE_HERE and not answer.citations
    assert "tidings ingest" in answer.text and "[access.grants]" in answer.text
    # The terminal reads the guide and is answered from it.
    terminal = dataclasses.replace(channel, scopes=frozenset({"public", "tidings:docs"}))
    assert asyncio.run(services.answerer.answer(terminal)).grounded


def test_a_generated_answer_failing_a_check_falls_back_to_quotes(generating_services) -> None:  # type: ignore[no-untyped-def]
    answerer: Answerer = generating_services.answerer.inner
    question = Question(text="Do expenses under 50 euros need a receipt?")
    hits = answerer.retrieve(question)
    used = tuple(answerer.focus(hits))
    assert not answerer._trustworthy("Yes, expenses under 50 euros need a receipt [1].", question, used)
    assert answerer._trustworthy("Expenses under 50 euros need no receipt [1].", question, used)
    answer = ask(generating_services, "Do expenses under 50 euros need a receipt?")
    assert answer.grounded and answer.style in {"generate", "quote"}
    if answer.style == "generate":
        assert checks.keeps_polarity(answer.text, [h.chunk.text for h in used])


# -- the checks --------------------------------------------------------------------------------------

PETS = "There is no evidence that companion animals, including pets, can spread COVID-19 to people."


@pytest.mark.parametrize(
    ("answer", "keeps"),
    [
        ("Yes, pets can transmit the virus to humans.", False),
        ("Pets can spread COVID-19 to people.", False),
        ("There is no evidence that pets can spread COVID-19 to people.", True),
        ("Pets are not known to spread COVID-19 to people.", True),
    ],
)
def test_polarity_is_kept_or_the_answer_is_rejected(answer: str, keeps: bool) -> None:
    assert checks.keeps_polarity(answer, [PETS]) is keeps


def test_a_yes_is_rejected_when_any_sentence_it_rests_on_says_no() -> None:
    sources = [
        "The virus can survive on frozen food packaging for a while.",
        "There has been no report of transmission of COVID-19 via frozen food, so there is no evidence it spreads that way.",
    ]
    assert not checks.keeps_polarity("Yes, you can catch COVID-19 from frozen food.", sources)
    assert checks.keeps_polarity("There is no evidence COVID-19 spreads through frozen food.", sources)
    assert checks.is_negative("There has been no report, so there is no evidence."), "two negations still say no"


def test_polarity_the_other_way_round() -> None:
    source = "Laptops are encrypted with FileVault."
    assert checks.keeps_polarity("Laptops are encrypted with FileVault.", [source])
    assert not checks.keeps_polarity("Laptops are not encrypted.", [source])


@pytest.mark.parametrize(
    ("answer", "question", "states"),
    [
        ("The answer is the same as in [docs/ingesting.md](docs/ingesting.md).", "Which file formats can I ingest?", False),
        ("A larger model is a better choice for the context window.", "How do I use a bigger model?", False),
        ("Which file formats can I ingest.", "Which file formats can I ingest?", False),
        ("Tidings ingests Markdown, PDF and HTML files.", "Which file formats can I ingest?", True),
        ("Set llm.model_path to the GGUF file of the larger model.", "How do I use a bigger model?", True),
    ],
)
def test_vacuous_answers_are_rejected(answer: str, question: str, states: bool) -> None:
    sources = [
        "Tidings ingests Markdown, PDF and HTML files. A larger context window costs memory.",
        "To use a larger model, set llm.model_path to the GGUF file.",
    ]
    assert checks.states_something(answer, question, sources) is states


def _label_lines(rendered: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"(?m)^\s*([A-Za-z][A-Za-z ]{0,30}):", rendered)}


def _every_template(language_model) -> list[Prompt]:  # type: ignore[no-untyped-def]
    hit = Hit(Chunk(id="a", source="a.md", title="A", text="Staff park in the north garage."), score=1.0, similarity=0.9)
    packed = build_answer_prompt(
        language_model, question="Where do staff park?", hits=[hit], conversation=(Turn("user", "hi"), Turn("Tidings", "hello"))
    )
    choice = quoting.choice_prompt("Where?", [quoting.Passage(1, 0, "Staff park in the north garage.")])
    return [
        packed.prompt,
        choice,
        notes_prompt([["[M1] ana: we ship friday"]]),
        judge_prompt("We ship on friday."),
    ]


def test_every_prompt_templates_scaffolding_is_caught_by_the_echo_check(language_model) -> None:  # type: ignore[no-untyped-def]
    known = {label.lower() for label in checks.SCAFFOLDING_LABELS}
    for prompt in _every_template(language_model):
        rendered = language_model.render(prompt)
        labels = _label_lines(rendered)
        assert labels, "a template without labels would need its own echo rule"
        for label in labels:
            assert label.strip().lower() in known, f"the echo check does not know the prompt label {label!r}"
            assert checks.echoes_prompt(f"Staff park there.\n{label}: something")
    assert checks.echoes_prompt("Conversation so far:\nuser: what can you do\nTidings: ...")
    assert checks.echoes_prompt('<source n="1">x</source>')
    assert not checks.echoes_prompt("Staff park in the north garage [1].")


def test_no_sentence_is_said_twice() -> None:
    text = "Staff park north [1]. Visitors use bays 1 to 4 [1]. Staff park north [2].\nStaff park north."
    assert drop_repeated_sentences(text) == "Staff park north [1]. Visitors use bays 1 to 4 [1]."


# -- FAQ entries found by their question ---------------------------------------------------------------


def test_faq_entries_are_found_by_their_question_and_returned_once(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    from core.knowledge.ingesting import ingest
    from core.knowledge.knowledge_base import QUESTION_ROW_KIND, LanceKnowledgeBase

    faq = tmp_path / "faq.csv"
    faq.write_text(
        "question,answer\n"
        '"Can I catch COVID-19 from my pet?","There is no evidence that companion animals, including pets, spread the disease. '
        'Veterinary bodies keep studying the question and will publish what they learn."\n'
        '"How long is the incubation period?","Most estimates range from 1 to 14 days, most commonly around five days."\n'
        '"Should I wear a mask?","Wear a mask if you are coughing or sneezing, or caring for someone who is ill."\n',
        encoding="utf-8",
    )
    kb = LanceKnowledgeBase(uri=str(tmp_path / "kb"), embedder=embedder)
    report = ingest([faq], knowledge_base=kb, embedder=embedder)
    assert kb.count() == 3 == report.added, "question rows are not counted as chunks"
    assert sum(s.chunks for s in kb.sources()) == 3
    table = kb._open()
    assert table.count_rows(f"kind = '{QUESTION_ROW_KIND}'") == 3, "each entry has a question row"
    hits = kb.search("can my dog give me covid", scopes={"public"}, k=3)
    assert hits[0].chunk.title == "Can I catch COVID-19 from my pet?"
    assert hits[0].chunk.kind == "faq" and not hits[0].chunk.id.endswith("~question")
    assert len({h.chunk.id for h in hits}) == len(hits), "each entry once"
    question_vector = embedder.embed(["can my dog give me covid"])[0]
    own = embedder.embed(["Can I catch COVID-19 from my pet?"])[0]
    assert hits[0].similarity == pytest.approx(float(own @ question_vector), abs=1e-3), "the closer vector counts"
    again = ingest([faq], knowledge_base=kb, embedder=embedder)
    assert again.added == 0 and kb.count() == 3, "re-ingesting changes nothing"
    assert kb.forget(str(faq)) == 6 and kb.count() == 0


def test_a_code_block_is_quoted_with_the_line_that_introduces_it() -> None:
    passages = quoting.passages_of("Clone the repository and run:\n```\nmake run\n```\nThe first run creates `.venv`.", 1)
    intro, code, after = passages
    assert code.text == "```\nmake run\n```"
    assert quoting.excerpt(code, passages) == [intro, code, after]
    assert quoting.excerpt(intro, passages) == [intro, code]
    lone = quoting.passages_of("```\ntidings ingest PATH\n```\nGive files or folders.", 1)
    assert quoting.excerpt(lone[0], lone) == lone, "no introduction: the block alone, then what follows"
    # "... the exact line to add:" quoted next to the chosen sentence, or as a runner-up, brings the line.
    grant = quoting.passages_of("It needs a grant. Tidings names the line to add:\n```\n[access.grants]\n```", 2)
    needs, names, line = grant
    assert quoting.excerpt(needs, grant) == [needs, names, line]
    assert quoting.adding([*lone, names, needs, line], lone, 1) == [names, line]
    # A step that ends in a colon keeps its block, and the list goes on after it.
    listed = quoting.passages_of("Connect it:\n1. Copy the *token*.\n2. Put it in `.env`:\n```\nTOKEN=x  # <yours>\n```\n3. Start it.", 1)
    assert [p.text for p in listed] == [
        "Connect it:\n1. Copy the token.\n2. Put it in `.env`:\n```\nTOKEN=x  # <yours>\n```\n3. Start it."
    ]
    # A list whose last step ends in a colon introduces the block after it.
    steps = [quoting.Passage(3, 0, "• Copy the token.\n• Put it in `.env`:", 0), quoting.Passage(3, 1, "```\nTOKEN=x\n```", 1)]
    assert quoting.excerpt(steps[0], steps) == steps
    assert quoting.excerpt(steps[1], steps) == steps
    # The answer's text cites a code block on the line after its closing fence.
    assert quoting.cited(line.text, 2) == "```\n[access.grants]\n```\n[2]"
    assert quoting.cited(needs.text, 1) == "It needs a grant. [1]"


def test_a_sentence_that_goes_on_from_a_code_block_comes_with_it() -> None:
    passages = quoting.passages_of(
        "Clone it and run:\n\n```\nmake run\n```\n\nwhich installs everything into `.venv`. Then ask.\n\n"
        "```\ntidings ask hello\n```\n\nThe answer is quoted.",
        1,
    )
    intro, code, which, then, _ask_code, quoted = passages
    assert quoting.excerpt(which, passages) == [intro, code, which, then]
    assert quoting.excerpt(quoted, passages) == [quoted], "a sentence that starts afresh stands alone"


def test_a_runner_up_that_points_back_comes_with_the_sentence_it_points_at() -> None:
    lead = quoting.passages_of("Slack replicas sit behind a load balancer.", 1)
    discord = quoting.passages_of(
        "A Discord bot holds one gateway connection, so run it on one replica. It still shares the state.", 2
    )
    ranked = [*lead, discord[1], discord[0]]
    assert quoting.adding(ranked, lead, 1) == [discord[0], discord[1]]
    assert [p.text for p in quoting.in_answer_order([*lead, discord[0], discord[1]])][1] == (
        "A Discord bot holds one gateway connection, so run it on one replica. It still shares the state."
    )


def test_a_runner_up_that_introduces_a_table_comes_with_its_rows() -> None:
    """"what slack scopes does it need" ended with "The bot's permissions in Slack are these
    scopes, ..." and none of them."""
    lead = quoting.passages_of("If doctor says a scope is missing, reinstall the app.", 1)
    scopes = quoting.passages_of(
        "The bot's permissions are these scopes.\n\n| Scope | Why |\n| --- | --- |\n"
        "| `chat:write` | post answers |\n| `commands` | the slash commands |\n\nReinstall after adding one.",
        2,
    )
    intro, *rows = scopes[:3]
    assert quoting.adding([*lead, intro, *rows], lead, 1) == [intro, *rows]
    assert quoting.adding([*lead, scopes[3]], lead, 1) == [scopes[3]], "a sentence that introduces nothing comes alone"


@pytest.mark.parametrize("rows", [quoting.MAX_TABLE_ROWS])
def test_a_runner_ups_table_cut_by_a_chunk_boundary_is_quoted_to_its_end(rows: int, services_reading) -> None:  # type: ignore[no-untyped-def]
    page = _scopes_page(rows).replace(
        "## Tokens", "## Troubleshooting\n\nIf the bot says a permission is missing, reinstall the app.\n\n## Tokens"
    )
    services = services_reading({"connect.md": page}, config_text="[answers]\nquote_margin = 2\n")  # any runner-up
    answer = ask(services, "the bot says a permission is missing, what permissions does it need?")
    assert answer.grounded and answer.text.startswith("If the bot says a permission is missing"), answer.text
    assert re.findall(r"`scope(\d+):write`", answer.text) == [str(n) for n in range(rows)], answer.text


def test_a_table_row_and_the_sentence_after_the_table_are_quoted_on_their_own_lines() -> None:
    passages = quoting.passages_of(
        "| part | one machine | many |\n|---|---|---|\n| Slack | Socket Mode | HTTP mode |\n"
        "Commands do not change; only their environment does.",
        1,
    )
    row, sentence = passages
    assert [p.text for p in quoting.in_answer_order(quoting.excerpt(row, passages))] == [
        "Slack — one machine: Socket Mode; many: HTTP mode\nCommands do not change; only their environment does."
    ]
    assert sentence.block != row.block


def test_a_chat_historys_messages_are_quoted_one_by_one_with_who_said_them_when() -> None:
    history = (
        "[2019-12-23 16:04] pbca26: you can use this link https://example.org/claim it has rewards claiming support on trezor\n"
        "[2019-12-23 19:09] wingless: thanks for the link!\n"
        "[2019-12-23 22:40] wingless: the only wallet that supports KMD and Trezor is the Magnum wallet.\n"
        "Correct?\n"
        "[2019-12-23 22:58] PacificK2A: It worked."
    )
    assert [p.text for p in quoting.passages_of(history, 1)] == [
        "[2019-12-23 16:04] pbca26: you can use this link https://example.org/claim it has rewards claiming support on trezor",
        "[2019-12-23 19:09] wingless: thanks for the link!",
        "[2019-12-23 22:40] wingless: the only wallet that supports KMD and Trezor is the Magnum wallet. Correct?",
        "[2019-12-23 22:58] PacificK2A: It worked.",
    ]
    # Prose is still read sentence by sentence.
    assert len(quoting.passages_of("Tidings reads chat. It quotes messages.", 1)) == 2


def test_an_answer_from_chat_history_quotes_whole_messages(services_reading) -> None:  # type: ignore[no-untyped-def]
    export = (
        "AuthorID,Author,Date,Content,Attachments,Reactions\n"
        '"1","rebekic#0001","24-Dec-19 08:32 PM","my wallet is stuck syncing at 99.9%, it keeps saying tx inputs not found","",""\n'
        '"2","gcharang#0002","24-Dec-19 08:40 PM","delete the blocks folder and restart the wallet with -reindex, '
        'the sync then finishes","",""\n'
        '"1","rebekic#0001","24-Dec-19 09:15 PM","that worked, thanks","",""\n'
    )
    services = services_reading({"komodo-support-2019-Dec-25.csv": export})
    [source] = services.knowledge_base.sources()  # type: ignore[attr-defined]
    question = Question(text="my wallet sync is stuck, what do I do?", scopes=frozenset(source.scopes))
    answer = asyncio.run(services.answerer.answer(question))  # type: ignore[attr-defined]
    assert answer.grounded, answer.text
    lines = answer.text.splitlines()
    # Each line is one message, with its time and author: no message runs on into the next.
    assert all(re.match(r"\[2019-12-24 \d\d:\d\d\] \w+: ", line) for line in lines), answer.text
    assert all(line.count("[2019-12-24") == 1 for line in lines), answer.text
    assert any("delete the blocks folder" in line for line in lines), answer.text


def test_a_reply_past_the_end_of_its_questions_chunk_is_quoted_with_it(services_reading) -> None:  # type: ignore[no-untyped-def]
    details = [
        "the log ends with a segmentation fault right after it loads the block index from the data folder",
        "I already tried reinstalling the binaries and rebooting the whole machine twice, nothing changed at all",
        "it was running fine for months on this server until the power cut we had on Sunday evening",
        "the disk is not full and the memory looks fine too, I checked both with the usual tools this morning",
    ]
    export = "AuthorID,Author,Date,Content,Attachments,Reactions\n" + "".join(
        f'"1","ann#0001","22-Dec-19 06:{10 + i:02d} PM","{text}","",""\n'
        for i, text in enumerate(["my node keeps crashing on startup since yesterday. Any way to fix this?", *details])
    ) + (
        '"3","bob#0003","22-Dec-19 06:40 PM","Hello, any chance to run the wallet on a raspberry pi?","",""\n'
        '"2","cy#0002","22-Dec-19 06:44 PM","@ann start it once with -reindex, a power cut often corrupts the block index","",""\n'
    )
    services = services_reading({"support-2019-Dec-23.csv": export})
    kb = services.knowledge_base  # type: ignore[attr-defined]
    [source] = kb.sources()
    question = Question(text="my node crashes on startup, how do I fix it?", scopes=frozenset(source.scopes))
    chunks = sorted((h.chunk for h in kb.search(question.text, scopes=question.scopes, k=10)), key=lambda c: c.position)
    assert "Any way to fix this?" in chunks[0].text and "-reindex" not in chunks[0].text, "the reply lies past the question's chunk"
    answer = asyncio.run(services.answerer.answer(question))  # type: ignore[attr-defined]
    assert "start it once with -reindex" in answer.text, answer.text
    assert "Any way to fix this?" in answer.text and "raspberry" not in answer.text, answer.text
    assert len(answer.citations) == 1 and len(answer.citations[0].chunk_ids) == 2, answer.citations


def test_a_question_in_chat_history_answers_only_with_the_reply_it_got() -> None:
    history = quoting.passages_of(
        "[2019-12-27 14:54] lluisin: the tool to claim rewards is not working with ledger nano s, a known issue?\n"
        "[2019-12-27 14:55] lluisin: I updated the firmware yesterday\n"
        "[2019-12-27 15:02] gcharang: @lluisin use the ledger-webusb page of the claim tool\n"
        "[2019-12-27 16:10] rebekic: my wallet is stuck syncing at 99.9%, any advice?",
        1,
    )
    asked, more, reply, alone = history
    # The asker's next line is not the answer; the first message by someone else is.
    assert quoting.excerpt(asked, history) == [asked, reply]
    assert not quoting.asked_unanswered(asked, history)
    # What the asker tells just after asking belongs to the question, and the reply answers both.
    assert quoting.excerpt(more, history) == [asked, more, reply]
    # Once someone else has spoken, or further on, a statement goes on as prose does.
    assert quoting.excerpt(reply, history) == [reply, alone]
    far = [dataclasses.replace(asked, order=0), *(dataclasses.replace(more, order=n, text=f"{more.text} {n}") for n in (1, 2, 3))]
    assert quoting.excerpt(far[3], [*far, dataclasses.replace(reply, order=4)]) == [far[3], dataclasses.replace(reply, order=4)]
    # Someone asking what nobody answered answers nothing; a statement is not a question.
    assert quoting.asked_unanswered(alone, history)
    assert not quoting.asked_unanswered(more, history) and not quoting.asked_unanswered(reply, history)
    # Asking back only narrows the question down: the answer is the first reply that says something.
    clarified = quoting.passages_of(
        "[2019-12-07 10:44] paddy: Do I have to delete the whole komodo folder before cloning?\n"
        "[2019-12-07 10:51] gcharang: @paddy were you doing `git clone`?\n"
        "[2019-12-07 10:57] paddy: yeah, cd komodo and git pull would not work?\n"
        "[2019-12-07 11:00] gcharang: it is better to remove the komodo directory and clone again",
        1,
    )
    assert quoting.excerpt(clarified[0], clarified) == [clarified[0], clarified[3]]
    told = quoting.passages_of(
        "[2019-12-07 10:42] paddy: fatal: destination path 'komodo' already exists and is not an empty directory.\n"
        "[2019-12-07 10:44] paddy: Do I have to delete the whole komodo folder first?\n"
        "[2019-12-07 11:00] gcharang: it is better to remove the komodo directory and clone again",
        1,
    )
    # A problem told first and asked about next is answered by the reply to the question.
    assert quoting.excerpt(told[0], told) == told
    # Someone else speaking first ends the asker's run: a statement then goes on as prose does.
    interrupted = [told[0], dataclasses.replace(told[2], order=1), dataclasses.replace(told[1], order=2)]
    assert quoting.excerpt(told[0], interrupted) == interrupted[:2]
    # Asked back and never answered, the question keeps the only reply it got.
    assert quoting.excerpt(clarified[0], clarified[:3]) == [clarified[0], clarified[1]]
    # A link's or code's question mark asks nothing: a reply nobody answered is still an answer.
    [link] = quoting.passages_of("[2019-12-27 15:02] gcharang: use https://example.org/claim?coin=kmd or `(some? x)`", 1)
    assert not quoting.asked_unanswered(link, [link])
    # Outside a chat history a question is a passage like any other.
    [faq] = quoting.passages_of("Can pets spread the virus?", 1)
    assert not quoting.asked_unanswered(faq, [faq])


def test_a_papers_title_and_byline_are_never_quoted_as_its_answer(services_reading) -> None:  # type: ignore[no-untyped-def]
    paper = (
        "Functional Genetic Variants in DC-SIGNR Are Associated with Mother-to-Child Transmission of HIV-1\n\n"
        "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC2752805/\n\n"
        "Boily-Larouche, Genevieve; Iscache, Anne-Laure; Roger, Michel\n2009-10-07\nLicense:cc-by\n\n"
        "Abstract: BACKGROUND: Mother-to-child transmission (MTCT) is the main cause of HIV-1 infection in "
        "children worldwide. We carried out a genetic association study in Zimbabwe.\n"
    )
    services = services_reading({"dc-signr.txt": paper})
    answer = ask(services, "What is the main cause of HIV-1 infection in children?")
    assert answer.grounded, answer.text
    # The answer is the abstract's sentence, not the title that shares its words, nor the byline.
    assert answer.text.startswith("Abstract: BACKGROUND: Mother-to-child transmission (MTCT) is the main cause"), (
        answer.text
    )
    assert "License" not in answer.text and "Boily-Larouche" not in answer.text


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Yes: `docker build -t tidings .` builds an image.", "`docker build -t tidings .` builds an image."),
        ("No, Tidings has no web page of its own.", "Tidings has no web page of its own."),
        ("Yes, from an export of it.", "From an export of it."),
        ("Yes, it does.", "Yes, it does."),  # too little left to stand alone
        ("Yesterday the build passed.", "Yesterday the build passed."),
        ("No. Antibiotics do not work against viruses.", "No. Antibiotics do not work against viruses."),
    ],
)
def test_the_yes_or_no_a_sentence_opens_with_is_told_apart(text: str, kept: str) -> None:
    assert quoting.without_yes_or_no(quoting.Passage(1, 0, text)).text == kept


def test_a_question_that_is_not_a_yes_or_no_one_gets_no_yes(services_reading) -> None:  # type: ignore[no-untyped-def]
    faq = (
        "# Common questions\n\n"
        "## Can I run the wiki in Docker?\n\n"
        "Yes: `docker build -t wiki .` builds an image of the wiki with its search index, and "
        "`compose.yaml` runs it beside PostgreSQL. The image keeps its data in `/data`.\n\n"
        "## Does the wiki have a mobile app?\n\n"
        "No, the wiki has no app of its own: its pages work in any phone's browser.\n"
    )
    services = services_reading({"faq.md": faq})
    # Asked how, the answer is the entry's sentence without the yes that answered the entry's own question.
    how = ask(services, "how do I run the wiki with docker?")
    assert how.grounded and how.text.startswith("`docker build -t wiki .` builds an image"), how.text
    # Asked whether, the yes or no stays.
    assert ask(services, "can the wiki run in docker?").text.startswith("Yes: `docker build")
    assert ask(services, "is there a mobile app for the wiki?").text.startswith("No, the wiki has no app")


def test_the_best_passage_leads_its_own_source_and_a_chat_history_keeps_its_order() -> None:
    page = quoting.passages_of(
        "Full-time employees get 25 days of paid vacation a year. Part-time employees get them in proportion. "
        "Up to 5 unused days carry over to the next year. The rest expire on March 31.",
        1,
    )
    full_time, _, carry_over, expire = page
    # Best first: the pick with the sentence after it, then a runner-up from earlier in the page.
    answer = [p.text for p in quoting.in_answer_order([carry_over, expire, full_time])]
    assert answer == [
        "Up to 5 unused days carry over to the next year. The rest expire on March 31.",
        "Full-time employees get 25 days of paid vacation a year.",
    ]
    chat = quoting.passages_of(
        "[2019-12-06 23:28] paddy: With this hardfork what do we do with our nodes?\n"
        "[2019-12-06 23:29] oszy: @paddy update the daemon, then restart the chains\n"
        "[2019-12-06 23:31] paddy: thanks!\n"
        "[2019-12-06 23:32] oszy: the staking script works as before",
        1,
    )
    asked, reply, _, later = chat
    # A conversation is read in the order it was written, whatever answers best.
    assert [p.text for p in quoting.in_answer_order([later, asked, reply])] == [
        f"{asked.text}\n{reply.text}", later.text
    ]


def test_a_sentence_in_the_table_the_one_before_names_comes_with_it() -> None:
    passages = quoting.passages_of(
        "Add a `[[digests.channels]]` table to `config/tidings.toml`. In the table, `cron` sets another schedule.",
        1,
    )
    table, cron = passages
    assert quoting.pointed_at(cron, passages) == [table]
    assert quoting.pointed_at(table, passages) == []
    [alone] = quoting.passages_of("In the morning, the digest is posted.", 2)
    assert quoting.pointed_at(alone, [*passages, alone]) == []


def test_an_answer_opens_with_the_sentence_that_answers_not_the_one_above_it(services_reading) -> None:  # type: ignore[no-untyped-def]
    page = (
        "# Time off\n\n## Vacation\n\n"
        "Full-time employees get 25 days of paid vacation per calendar year. Part-time employees get vacation "
        "in proportion to their hours. Up to 5 unused days carry over to the next year; the rest expire on March 31.\n\n"
        "Request vacation in Personio at least two weeks ahead.\n\n"
        "## Sick leave\n\nFrom the fourth day of sickness you need a doctor's note.\n"
    )
    answer = ask(services_reading({"time-off.md": page}), "can i carry over unused vacation")
    assert answer.grounded and answer.text.startswith("Up to 5 unused days carry over to the next year"), answer.text
