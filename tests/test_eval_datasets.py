"""Readers of the evaluation sets, on small sets written in the real formats (and the tiny
evaluation folder the command test uses)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from core.evaluation.datasets import (
    EvaluationDataError,
    faq_queries,
    find_faq_files,
    find_meeting_files,
    find_squad_files,
    meeting_half,
    meeting_messages,
    read_faq,
    read_lines,
    read_meeting,
    read_squad,
    read_variants,
    split_meetings,
)
from core.evaluation.runs import locate

FAQ_ROWS = [
    ("How do I reset my password?", "Open Settings, choose Account, then Reset password. A link arrives by email."),
    ("Which browsers are supported?", "Tidings works in current Firefox, Chrome, Safari and Edge."),
    ("How do I export my data?", "Choose Settings, then Export. You get a ZIP file with every document."),
    ("Can I use Tidings offline?", "Yes. Tidings runs on your own machine and needs no network connection."),
    ("How do I reset my password?", "Ask an administrator to send you a reset link."),
    ("Who can see my documents?", "Only people in the channels the documents were shared with."),
]
ARTICLES = [
    (
        "a1",
        "Bees and pollination\n\nHoney bees pollinate many crops. A colony can hold 60,000 bees in summer. "
        "The queen lays up to 2,000 eggs a day. Workers live about six weeks in the summer season.",
        [("How many bees can a colony hold in summer?", "60,000 bees"), ("How long do workers live?", "about six weeks")],
    ),
    (
        "a2",
        "Tides\n\nTides are caused by the gravity of the Moon and the Sun. Spring tides happen at new and full moon, "
        "when the Sun and Moon line up.",
        [("What causes tides?", "the gravity of the Moon and the Sun")],
    ),
]
MEETING_TURNS = [
    ("Project Manager", "Welcome everyone, today we decide the remote control design."),
    ("Industrial Designer", "I propose a rubber case with a curved shape, it feels good in the hand."),
    ("Marketing", "Our research says young users want fancy look and feel, and a bright colour."),
    ("User Interface", "We should keep only a few buttons: power, volume and channel."),
    ("Project Manager", "So we agree on the curved rubber case in yellow with few buttons."),
    ("Marketing", "I will check the price of the rubber case before the next meeting."),
]
MEETING_SUMMARY = (
    "The team decided the remote control design. They chose a curved rubber case in a bright colour "
    "with few buttons. Marketing will check the price of the rubber case."
)


def write_tiny_sets(folder: Path) -> Path:
    """An evaluation folder laid out like ../shared/data, a few items per set."""
    (folder / "qa").mkdir(parents=True)
    (folder / "summaries" / "meetings").mkdir(parents=True)
    with (folder / "qa" / "faq.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "answer", "link"])
        writer.writerows([(q, a, "https://example.org/faq") for q, a in FAQ_ROWS])
    with (folder / "qa" / "faq_variants.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["variant", "question"])
        writer.writerow(["I forgot my password, what now", "How do I reset my password?"])
        writer.writerow(["does it work without internet", "Can I use Tidings offline?"])
        writer.writerow(["a variant of a question the FAQ lacks", "How do I fly?"])
    (folder / "qa" / "off_topic.txt").write_text("# off-topic\nWhat is the capital of Peru?\n\nHow do I bake bread?\n")
    squad = {
        "data": [
            {
                "paragraphs": [
                    {
                        "document_id": article_id,
                        "context": context,
                        "qas": [
                            {"id": f"{article_id}-{n}", "question": q, "is_impossible": False,
                             "answers": [{"text": a, "answer_start": context.index(a)}]}
                            for n, (q, a) in enumerate(questions)
                        ],
                    }
                ]
            }
            for article_id, context, questions in ARTICLES
        ]
    }
    (folder / "qa" / "squad.json").write_text(json.dumps(squad), encoding="utf-8")
    meeting = {
        "topic_list": [{"topic": "Remote control design", "relevant_text_span": [["0", "5"]]}],
        "general_query_list": [{"query": "Summarize the whole meeting", "answer": MEETING_SUMMARY}],
        "specific_query_list": [],
        "meeting_transcripts": [{"speaker": s, "content": c} for s, c in MEETING_TURNS],
    }
    meetings = folder / "summaries" / "meetings"
    # One meeting in each half of the split (by the hash of the file name): the remote control
    # meeting is checked, the stand-up is for tuning.
    (meetings / "remote-kickoff.json").write_text(json.dumps(meeting), encoding="utf-8")
    standup = {
        **meeting,
        "general_query_list": [{"query": "Summarize the whole meeting", "answer": "The team shared what they did."}],
        "meeting_transcripts": [{"speaker": "Lead", "content": "Quick stand-up: what did everyone do yesterday?"},
                                {"speaker": "Dev", "content": "I fixed the login bug and reviewed two pull requests."}],
    }
    (meetings / "standup.json").write_text(json.dumps(standup), encoding="utf-8")
    return folder


def test_sets_are_found_by_their_format(tmp_path: Path) -> None:
    folder = write_tiny_sets(tmp_path / "data")
    assert [p.name for p in find_faq_files(folder)] == ["faq.csv"]
    assert [p.name for p in find_squad_files(folder)] == ["squad.json"]
    assert [p.name for p in find_meeting_files(folder)] == ["remote-kickoff.json", "standup.json"]
    data = locate(folder)
    assert data.variants is not None and data.variants.name == "faq_variants.csv"
    assert data.off_topic is not None and read_lines(data.off_topic) == ["What is the capital of Peru?", "How do I bake bread?"]


def test_faq_queries_join_repeated_questions_and_map_variants(tmp_path: Path) -> None:
    folder = write_tiny_sets(tmp_path / "data")
    entries = read_faq(folder / "qa" / "faq.csv")
    assert [e.key for e in entries] == [f"row-{n}" for n in range(1, 7)]
    queries = faq_queries(entries, read_variants(folder / "qa" / "faq_variants.csv"))
    own = [q for q in queries if not q.reworded]
    reworded = [q for q in queries if q.reworded]
    # The repeated question is asked once, and either of its two entries answers it.
    assert len(own) == 5
    assert own[0].keys == frozenset({"row-1", "row-5"})
    # The variant of a question the FAQ lacks is dropped.
    assert [(q.text, set(q.keys)) for q in reworded] == [
        ("I forgot my password, what now", {"row-1", "row-5"}),
        ("does it work without internet", {"row-4"}),
    ]


def test_squad_articles_keep_every_gold_span(tmp_path: Path) -> None:
    folder = write_tiny_sets(tmp_path / "data")
    articles, questions = read_squad(folder / "qa" / "squad.json")
    assert [(a.id, a.title) for a in articles] == [("a1", "Bees and pollination"), ("a2", "Tides")]
    assert len(questions) == 3
    by_id = {a.id: a for a in articles}
    assert all(answer in by_id[q.article_id].text for q in questions for answer in q.answers)


def test_meeting_becomes_one_message_per_turn(tmp_path: Path) -> None:
    folder = write_tiny_sets(tmp_path / "data")
    meeting = read_meeting(folder / "summaries" / "meetings" / "remote-kickoff.json")
    assert meeting.reference == MEETING_SUMMARY
    messages = meeting_messages(meeting)
    assert len(messages) == len(MEETING_TURNS)
    assert messages[0].author.name == "Project Manager"
    assert messages[1].timestamp > messages[0].timestamp
    assert len({m.id for m in messages}) == len(messages)


def test_meetings_split_into_a_tuning_and_a_checking_half_by_file_name(tmp_path: Path) -> None:
    folder = write_tiny_sets(tmp_path / "data")
    paths = find_meeting_files(folder)
    assert [p.name for p in split_meetings(paths, "check")] == ["remote-kickoff.json"]
    assert [p.name for p in split_meetings(paths, "tune")] == ["standup.json"]
    assert split_meetings(paths, "all") == paths
    # The half depends on the file name alone: not on the folder, the content or the other files.
    assert meeting_half(Path("/elsewhere/remote-kickoff.json")) == "check"
    names = [Path(f"meeting-{n}.json") for n in range(400)]
    halves = [meeting_half(p) for p in names]
    assert 160 < halves.count("check") < 240  # about half each
    assert [p.name for p in split_meetings(names[:100], "check")] == [
        p.name for p in split_meetings(names, "check")[: halves[:100].count("check")]
    ]  # more meetings move none of the earlier ones
    with pytest.raises(EvaluationDataError):
        split_meetings(paths, "test")  # type: ignore[arg-type]


def test_real_sets_read(shared_data: Path) -> None:
    entries = read_faq(shared_data / "qa" / "covid-faq.csv")
    assert len(entries) == 213
    articles, questions = read_squad(shared_data / "qa" / "covid-qa-squad.json")
    assert len(articles) == 98 and len(questions) == 1380
    by_id = {a.id: a for a in articles}
    assert sum(1 for q in questions if q.answers[0] in by_id[q.article_id].text) == len(questions)
    meetings = find_meeting_files(shared_data)
    assert len(meetings) == 35
    assert all(read_meeting(path).reference for path in meetings)
    # The checking half is fixed: a change of the rule would silently mix tuned-on meetings in.
    check = [p.stem for p in split_meetings(meetings, "check")]
    assert len(check) == 19 and {"Bed002", "IS1006a", "TS3010a", "education_10"} <= set(check)
    repo = Path(__file__).resolve().parents[1]
    variants = read_variants(repo / "bench" / "data" / "faq_variants_dev.csv")
    reworded = [q for q in faq_queries(entries, variants) if q.reworded]
    assert len(reworded) == len(variants), "every dev variant must name an FAQ question exactly"


def test_transcript_marks_are_not_words() -> None:
    from core.evaluation.datasets import spoken_text

    assert spoken_text("{vocalsound} Okay , we 're on . {disfmarker}") == "Okay, we're on."
    assert spoken_text("{vocalsound} {gap}") == ""
    assert spoken_text("[Laughter.] But, clearly, this is a terrible practice.") == "But, clearly, this is a terrible practice."
    assert spoken_text("[Inaudible.]") == "" and spoken_text("See [1] and [Note] here.") == "See [1] and [Note] here."


def test_a_fact_is_found_without_case_markup_or_its_closing_full_stop() -> None:
    from core.evaluation.answer_sets import contains_fact

    fact = "Re-ingesting an unchanged file writes nothing."
    assert contains_fact("Ingest is incremental: re-ingesting an unchanged file writes nothing, and ...", fact)
    assert contains_fact("Use `tidings digest run`.", "tidings digest run")
    assert not contains_fact("Re-ingesting an unchanged file writes the file again.", fact)


@pytest.mark.parametrize("name", ["docs_questions_dev.csv", "docs_questions_check.csv"])
def test_every_docs_question_names_a_fact_its_page_still_says(name: str) -> None:
    # The guide is rewritten as it grows: a fact it no longer says could never be found, and
    # the question would count as a miss whatever Tidings answered.
    from core.evaluation.answer_sets import contains_fact, read_docs_questions

    repo = Path(__file__).resolve().parent.parent
    with (repo / "bench" / "data" / name).open(encoding="utf-8") as rows:
        pages = {row["question"]: row["source"] for row in csv.DictReader(rows)}
    questions = read_docs_questions(repo / "bench" / "data" / name)
    assert questions
    gone = [q.question for q in questions if not contains_fact((repo / pages[q.question]).read_text(encoding="utf-8"), q.fact)]
    assert not gone, f"facts no longer on their page: {gone}"


def test_every_follow_up_names_a_fact_its_page_still_says() -> None:
    from core.answers.follow_ups import elliptical_subject
    from core.evaluation.answer_sets import contains_fact, read_follow_ups

    repo = Path(__file__).resolve().parent.parent
    items = read_follow_ups(repo / "bench" / "data" / "follow_ups_dev.csv")
    assert len(items) >= 40
    gone = [i.follow_up for i in items if not contains_fact((repo / i.source).read_text(encoding="utf-8"), i.fact)]
    assert not gone, f"facts no longer on their page: {gone}"
    # Each follow-up names only what changes: none is a question of its own.
    assert [i.follow_up for i in items if elliptical_subject(i.follow_up) is None] == []


@pytest.mark.shared_data
@pytest.mark.parametrize(("name", "least"), [("chat_questions_dev.csv", 40), ("chat_questions_check.csv", 30)])
def test_every_chat_history_question_names_a_fact_its_export_says(shared_data: Path, name: str, least: int) -> None:
    # A fact the export does not hold could never be found: the question would be a miss whatever Tidings answered.
    from core.evaluation.answer_sets import contains_fact, read_docs_questions
    from core.knowledge.loaders import read_messages

    repo = Path(__file__).resolve().parent.parent
    questions = read_docs_questions(repo / "bench" / "data" / name)
    assert len(questions) >= least
    said = {name: "\n".join(m.text for m in read_messages(shared_data / "discord" / name)) for name in {q.source for q in questions}}
    gone = [q.question for q in questions if not contains_fact(said[q.source], q.fact)]
    assert not gone, f"facts not in their export: {gone}"
    if name.endswith("check.csv"):
        # Held out: none of the days the development questions were written from.
        tuned = {q.source for q in read_docs_questions(repo / "bench" / "data" / "chat_questions_dev.csv")}
        assert not tuned & set(said)
