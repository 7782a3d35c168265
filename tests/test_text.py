"""Words, stems and sentences, on lines people wrote (a Discord support channel, a Clojure
Slack, the handbook the answering tests use)."""

from __future__ import annotations

import csv
from pathlib import Path

from core.answers.answering import best_sentences, coverage, support
from core.digests.extract import name_words
from core.text import (
    DOCUMENT_SENTENCE_END,
    FUNCTION_WORDS,
    QUESTION_WORDS,
    SENTENCE_BREAK,
    answer_words,
    asks,
    content_words,
    document_sentences,
    emoji_as_words,
    fold_plural,
    keywords,
    meaningful_words,
    one_typo_apart,
    sentences,
    singular_acronyms,
    stem,
    words,
)
from core.types import Chunk, Hit


def test_a_word_keeps_the_marks_a_technical_term_has_inside() -> None:
    line = "Is there a way to use Chrome, like one would with node.js? Version 3.2 of C++ and C#, COVID-19."
    assert words(line) == [
        "is", "there", "a", "way", "to", "use", "chrome", "like", "one", "would", "with", "node.js",
        "version", "3.2", "of", "c++", "and", "c#", "covid-19",
    ]  # fmt: skip


def test_slashes_and_apostrophes_separate_words() -> None:
    assert words("Is my school/childcare program closed? I don't know") == [
        "is", "my", "school", "childcare", "program", "closed", "i", "don", "t", "know",
    ]  # fmt: skip
    assert words("Latest v05.9-2") == ["latest", "v05.9-2"]


def test_letters_beyond_ascii_are_letters() -> None:
    assert words("Siân Gwenllian, Glyndŵr, café, что вы используете") == [
        "siân", "gwenllian", "glyndŵr", "café", "что", "вы", "используете",
    ]  # fmt: skip


def test_emoji_are_spelt_as_their_names_for_the_embedder() -> None:
    assert emoji_as_words("click 👎, not 👍🏽 ❤️") == "click  thumbs down , not  thumbs up   heavy black heart "
    # Plain text, and symbols that are not emoji (dashes, arrows, box drawing), stay as they are.
    assert emoji_as_words("a — b → c │ 3°") == "a — b → c │ 3°"
    assert emoji_as_words("plain") == "plain"


def test_stem_strips_common_endings_but_leaves_four_letters() -> None:
    assert {stem(w) for w in ("designs", "designed", "design")} == {"design"}
    assert stem("meetings") == stem("meeting") == "meet"
    assert stem("need") == "need" and stem("bus") == "bus"  # "-ed" and "-s" would leave too little


def test_fold_plural_only_folds_plurals() -> None:
    assert fold_plural("taxis") == "taxi"
    assert fold_plural("policies") == "policy"
    assert fold_plural("laptops") == "laptop"
    assert fold_plural("reimbursed") == "reimbursed"
    assert fold_plural("gas") == "gas"


def test_an_acronym_in_the_plural_meets_its_singular() -> None:
    # Lower-cased, "dms" is too short to strip, as "bus" is: the capitals say it is a plural.
    assert singular_acronyms("Does it read DMs, PDFs or the IDs of CSV2s?") == "Does it read DM, PDF or the ID of CSV2?"
    assert singular_acronyms("Yes, this bus has GPS and HTTPS; Ts and As stay") == "Yes, this bus has GPS and HTTPS; Ts and As stay"
    assert answer_words("DMs and PDFs") == answer_words("a DM and a PDF") == ["dm", "pdf"]
    assert answer_words("dms") == ["dms"]  # written in lower case, nothing says it is an acronym


def test_keywords_leave_out_links_function_words_and_short_words() -> None:
    line = "you can get direct support from the Verus Coin team here: https://discord.gg/7FY4cG"
    assert keywords(line) == {"direct", "support", "verus", "coin", "team"}


def test_content_words_are_stemmed_and_leave_out_names() -> None:
    line = "The Project Manager wants the buttons designed before the meetings"
    assert content_words(line) == {"project", "manager", "want", "button", "design", "meet"}
    assert content_words(line, names=name_words(["Project Manager"])) == {"want", "button", "design", "meet"}


def test_content_words_leave_out_emoji_codes_but_not_a_clock() -> None:
    assert content_words("Feel free to change this :wink: :+1::skin-tone-2:") == {"feel", "free", "change"}
    assert content_words("The deploy is at 10:30:00 tomorrow") == {"deploy", "tomorrow"}
    # The unstemmed keywords leave out the same markup: a content word is a stemmed keyword.
    assert keywords("Nice :tada: release :+1:") == {"nice", "release"}


def test_question_words_are_ignored_when_a_question_is_compared() -> None:
    question = "Can you tell me how many days of paid holiday employees get?"
    compared = meaningful_words(question, stopwords=FUNCTION_WORDS | QUESTION_WORDS, stemmer=fold_plural, shortest=2)
    assert compared == ["day", "paid", "holiday", "employe"]  # "-es" goes, like "-s"
    # The default, for chat, keeps "tell" and "many" but drops "get" and words under three letters.
    assert meaningful_words(question) == ["tell", "many", "days", "paid", "holiday", "employe"]


def test_chat_sentences_end_where_the_next_one_starts() -> None:
    message = "Thanks, that fixed it. I'll open a PR to pin openssl. e.g. the 3.0 one\n@bob can you review? [code]"
    assert sentences(message) == [
        "Thanks, that fixed it.",
        "I'll open a PR to pin openssl. e.g. the 3.0 one",
        "@bob can you review?",
        "[code]",
    ]


def test_a_code_span_ends_no_chat_sentence() -> None:
    predicate = "If you're doing `(partition-by pos? (range))` you get lazy chunks. Does that help?"
    assert sentences(predicate) == ["If you're doing `(partition-by pos? (range))` you get lazy chunks.", "Does that help?"]
    constructor = "Try `(List<MyObject>. (data :id my-map))` instead."
    assert sentences(constructor) == [constructor]
    # Text that holds the placeholder itself is split as before, and nothing in it changes.
    assert sentences("a \x000\x00 b. Then `x? Y`") == ["a \x000\x00 b.", "Then `x?", "Y`"]


def test_an_open_question_inside_code_is_not_asked() -> None:
    from core.digests.conversations import Conversation
    from core.digests.open_questions import open_questions
    from tests.digest_support import message

    query = "I run `SELECT * FROM pay WHERE pay_start_dt = ? OR pay_end_dt = ?` and get every row twice."
    assert open_questions(Conversation((message(1, "ann", query),))) == []


def test_a_chat_question_can_go_without_its_question_mark() -> None:
    for asked in (
        "Also, is this legit: https://pbca26.github.io/hw-kmd-reward-claim/",
        "can i ask for help please\ni am stuck on syncing\nany advice please",
        "Has anyone run into this: instances refuse to converge",
        "Let's say I have a ref attribute. How can I retrieve the latest datoms for it.",
        "ok is the server down",
        "anyone know why my wallet will not sync",
    ):
        assert asks(asked), asked
    for told in (
        "`data` is the ultimate in late binding.",  # a code span is the subject
        "which is what grep uses too",
        "and is an essential property of `sequence`",
        "Will do that!!",
        "Do this first: restart the daemon",
        "have a child, can confirm",
        "Extract wif and import to agama",
        "I know how to do it",
        "see https://example.org/claim?coin=kmd",  # a link's question mark
        "> is there a way?\nyes, import the key",  # the question it quotes
    ):
        assert not asks(told), told


def test_document_sentences_keep_a_bracket_with_the_sentence_before() -> None:
    text = "tidings ingest PATH... [--scope SCOPE] [--json]\nWe decided to ship. (bob 09:02) Then we left. 次に。次"
    assert DOCUMENT_SENTENCE_END.split(text) == [
        "tidings ingest PATH... [--scope SCOPE] [--json]",
        "We decided to ship. (bob 09:02) Then we left. 次に。次",
    ]
    assert DOCUMENT_SENTENCE_END.split("Lunch is at noon. «Parking» is free. Éric pays.") == [
        "Lunch is at noon. «Parking» is free.",
        "Éric pays.",
    ]


def test_a_document_sentence_can_open_with_a_code_span() -> None:
    # The guide's "... with one there. `config/deploy/compose.yaml` ... are starting points" was
    # one passage, so "how do I run it with systemd" was answered with a line about passwords.
    text = "Tidings refuses a `[state] url` with one there. `config/deploy/tidings@.service` is a systemd unit."
    assert DOCUMENT_SENTENCE_END.split(text) == [
        "Tidings refuses a `[state] url` with one there.",
        "`config/deploy/tidings@.service` is a systemd unit.",
    ]
    # After "e.g." or "i.e." a code span is the example the sentence goes on with.
    for whole in ("Set a limit, e.g. `5`, in the table.", "Use the short form, i.e. `-v` alone.", "Run `make test`."):
        assert DOCUMENT_SENTENCE_END.split(whole) == [whole]


def test_a_quotation_keeps_its_full_stops_inside_its_sentence() -> None:
    text = 'It posts "It failed. The details are in the log." in the channel. Then it stops.'
    assert document_sentences(text) == ['It posts "It failed. The details are in the log." in the channel.', "Then it stops."]
    # Quote marks in code are code, and a stray mark does not swallow the page.
    assert document_sentences('Run `echo "`. Then stop. Done.') == ['Run `echo "`.', "Then stop.", "Done."]
    stray = 'A 5" screen works. ' + " ".join(f"Fact {i} is here." for i in range(120))
    assert len(document_sentences(stray)) > 60


def test_one_typo_apart() -> None:
    for typed, meant in [("emphyema", "emphysema"), ("downlod", "download"), ("recieve", "receive"), ("sumary", "summary")]:
        assert one_typo_apart(typed, meant) and one_typo_apart(meant, typed)
    for a, b in [("summary", "summary"), ("install", "installed"), ("abc", "bca"), ("digest", "dig")]:
        assert not one_typo_apart(a, b)


def test_a_sentence_break_is_any_full_stop_and_space() -> None:
    assert SENTENCE_BREAK.split("Use e.g. WireGuard. then reboot\nDone") == [
        "Use e.g.",
        "WireGuard.",
        "then reboot",
        "Done",
    ]


def test_answers_are_checked_on_the_same_words() -> None:
    source = "Taxi rides are reimbursed after 10 pm. Laptops are handed out by the IT desk on the second floor."
    hit = Hit(chunk=Chunk(id="1", source="expenses.md", title="Expenses", text=source), score=1.0, similarity=0.5)
    # "taxis" meets "Taxi" (plural folded); "when", "are", "me" and "tell" are not asked about.
    assert coverage("Tell me when are taxis reimbursed?", [hit]) == 1.0
    assert coverage("What's the Wi-Fi password?", [hit]) == 0.0
    # An emoji is read by its name, as the embedder reads it.
    rated = Hit(chunk=Chunk(id="2", source="faq.md", title="Feedback", text="Click 👎 on a wrong answer."), score=1.0)
    assert coverage("what does thumbs down do", [rated]) == 1.0
    # A long word misspelt by one letter is held; a short one, or one two letters off, is not.
    assert coverage("when are taxis reimbursd?", [hit]) == 1.0
    assert coverage("when are taxes reimbursed?", [hit]) == 0.5
    assert coverage("when are taxis reimbrsd?", [hit]) == 0.5
    assert support("The IT desk hands out laptops.", [source]) == 0.75  # "hands" is not in the source
    assert best_sentences(source, "where do I get a laptop?", limit=1).startswith("Laptops are handed out")


def test_real_chat_words_are_in_their_lines(shared_data: Path) -> None:
    """Every keyword of a real support channel's message is in the message as written, and
    every content word is one of its keywords, stemmed."""
    seen = 0
    for path in sorted((shared_data / "discord").glob("komodo-support-*.csv"))[:5]:
        with path.open(encoding="utf-8") as file:
            for row in csv.DictReader(file, delimiter=";"):
                text = row["Content"]
                found = keywords(text)
                assert all(word in text.lower() for word in found), (text, found)
                assert content_words(text) == {stem(word) for word in found}
                seen += bool(found)
    assert seen > 50
