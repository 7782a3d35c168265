"""`tidings eval` end to end: real knowledge bases, the real embedder and model, on a tiny
folder the test writes in the real formats, and on a small slice of ../shared/data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from bots.cli import main
from bots.cli_eval import command_line, register
from core.evaluation.runs import REFUSALS_SPLIT, RETRIEVAL_SPLIT, EvalData, refusals_split, retrieval_split
from tests.test_eval_datasets import write_tiny_sets


@pytest.fixture
def eval_args(tmp_path: Path, language_model: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Global options for an isolated run that reuses the session's assembled model file."""
    monkeypatch.setenv("TIDINGS_LLM__MODEL_PATH", str(language_model.model_path))
    config = tmp_path / "tidings.toml"
    config.write_text("", encoding="utf-8")
    return ["--home", str(tmp_path / "home"), "--config", str(config)]


@pytest.fixture(scope="module")
def tiny_sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny folder, and a work folder the runs on it share (as a kept ``--workdir`` is):
    Tidings' own docs, which the docs questions are asked of, are embedded once."""
    root = tmp_path_factory.mktemp("tiny-eval")
    return write_tiny_sets(root / "data"), root / "work"


def run_eval(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_eval_all_on_a_tiny_folder(
    tmp_path: Path, eval_args: list[str], tiny_sets: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, workdir = tiny_sets
    plots = tmp_path / "plots"
    output = tmp_path / "results.json"
    results = run_eval(
        [*eval_args, "eval", "all", "--data", str(data), "--sample", "1", "--chunk-sizes", "64",
         "--json", "--plot", str(plots), "--output", str(output), "--workdir", str(workdir)],
        capsys,
    )
    assert json.loads(output.read_text(encoding="utf-8")) == results

    retrieval = results["retrieval"]
    faq = {(r["chunk_tokens"], r["mode"], r["split"]): r for r in retrieval["faq"]}
    assert set(faq) == {(size, mode, split) for size in (64, 200) for mode in ("vector", "text", "hybrid")
                        for split in ("all", "own", "reworded")}
    assert faq[(200, "hybrid", "own")]["queries"] == 5 and faq[(200, "hybrid", "reworded")]["queries"] == 2
    assert faq[(200, "hybrid", "own")]["hit@5"] == 1.0
    # --sample also spreads the QA questions retrieval and refusals ask: one of the three here.
    assert retrieval["qa_questions"] == {"all": 3, "inside_one_chunk": 3, "evaluated": 1}
    assert {r["mode"] for r in retrieval["qa"]} == {"vector", "text", "hybrid"}
    hybrid_qa = next(r for r in retrieval["qa"] if r["mode"] == "hybrid" and r["chunk_tokens"] == 200)
    assert hybrid_qa["hit@5"] == 1.0
    assert all(r["p50_ms"] > 0 for r in retrieval["qa"])
    # Every evaluation names its split, and hybrid is compared with each single search, query by query.
    assert retrieval["split"]["name"] == "dev (tuned on)" and not retrieval["split"]["held_out"]
    compared = {(c["comparison"], c["set"], c["metric"]) for c in retrieval["comparisons"]}
    assert ("hybrid vs vector-only baseline", "FAQ, all 7 questions", "MRR@10") in compared
    assert ("hybrid vs full-text-only (BM25) baseline", "QA, 1 questions", "hit@5") in compared
    assert ("hybrid vs vector-only baseline", "FAQ, 2 reworded (faq_variants.csv)", "hit@5") in compared
    for c in retrieval["comparisons"]:
        assert c["ci95"][0] <= c["difference"] <= c["ci95"][1] and c["split"] == "dev (tuned on)"
        assert "beats" not in c["verdict"]  # tuned-on figures never beat anything

    answers = results["answers"]
    assert answers["questions"] == 1
    assert 0.0 <= answers["f1"] <= 1.0 and answers["seconds_per_answer"] > 0
    assert answers["baseline"]["f1"] >= 0.0
    assert answers["split"]["name"] == "QA sample"
    assert [c["metric"] for c in answers["comparisons"]] == ["token F1", "contains gold"]
    f1 = answers["comparisons"][0]
    assert f1["items"] == 1 and f1["difference"] == pytest.approx(answers["f1"] - answers["baseline"]["f1"], abs=1e-3)
    # Every style in the same run, on the same questions, and the development sets beside them.
    assert answers["style"] == "quote"
    assert set(answers["styles"]) == {"quote, model selects", "quote, embedding selects", "generate"}
    assert all(row["questions"] == 1 for row in answers["styles"].values())
    assert answers["speed"]["quote_median_s"] > 0 and answers["speed"]["generate_median_s"] > 0
    docs = answers["docs_questions"]
    assert docs["questions"] == 1 and set(docs["styles"]) == set(answers["styles"])
    assert 0.0 <= docs["styles"]["generate"]["contains_fact"] <= 1.0
    check = answers["docs_questions_check"]
    assert check["split"] == "held out (never tuned on)" and check["set"].endswith("docs_questions_check.csv")
    assert check["questions"] == 1 and set(check["styles"]) == set(answers["styles"])
    polarity = answers["polarity"]
    assert polarity["questions"] == 1
    assert all(row["asserts_opposite"] in {0, 1} for row in polarity["styles"].values())
    # A question and its follow-up in one thread, every style, beside the baseline.
    follow_ups = answers["follow_ups"]
    assert follow_ups["questions"] == 1 and set(follow_ups["styles"]) == set(answers["styles"])
    assert follow_ups["split"] == "dev (tuned on)" and 0.0 <= follow_ups["baseline"]["contains_fact"] <= 1.0

    refusals = results["refusals"]
    groups = {g["group"]: g for g in refusals["groups"]}
    assert groups["FAQ questions -> FAQ"]["questions"] == 5
    assert groups["off-topic -> FAQ"]["questions"] == 2 and groups["off-topic -> FAQ"]["should_refuse"]
    assert groups["QA questions -> FAQ"]["should_refuse"] and not groups["QA questions -> articles"]["should_refuse"]
    # FAQ questions asked of their own FAQ are far more similar than off-topic ones.
    assert groups["FAQ questions -> FAQ"]["median_relevance"] > groups["off-topic -> FAQ"]["median_relevance"] + 0.2
    assert len(refusals["curve"]) == 161 and refusals["best"]["threshold"] > 0
    assert groups["QA questions -> articles"]["questions"] == 1
    assert refusals["clean"]["unanswerable"] == 4 and refusals["candidate_signal"]["best"]["threshold"] > 0
    assert refusals["split"]["name"] == "dev (tuned on)"
    configured = refusals["clean"]["configured"]
    low, high = configured["recall_ci95"]
    assert 0.0 <= low <= configured["recall"] <= high <= 1.0

    digests = results["digests"]
    (meeting,) = digests["meetings"]
    # The default split is the checking half: the stand-up meeting is in the tuning half.
    assert meeting["meeting"] == "remote-kickoff" and meeting["turns"] == 6
    split = digests["split"]
    assert split["name"] == "checking half (held out)" and split["held_out"]
    assert split["meetings_in_split"] == 1 and split["meetings_in_data"] == 2 and split["sample"] is None
    assert {c["metric"] for c in digests["comparisons"]} == {"ROUGE-L", "ROUGE-1", "ROUGE-2", "key points covered"}
    rouge_l = next(c for c in digests["comparisons"] if c["metric"] == "ROUGE-L")
    # One meeting: the interval has no width, and one meeting decides nothing in the sign test.
    assert rouge_l["ci95"] == [rouge_l["difference"]] * 2 and rouge_l["sign_test_p"] == 1.0
    assert results["run"]["command"] == "tidings eval all --data " + str(data) + " --sample 1 --chunk-sizes 64 --split check"
    assert meeting["summary_words"] > 0 and 0.0 < meeting["rougeL"] <= 1.0
    assert 0.0 < meeting["lead_rougeL"] <= 1.0
    assert meeting["model_tokens"] > 0 and meeting["key_points"] == 3
    assert meeting["bad_lines"] == []  # no placeholder, small talk or repeated line in a meeting's digest either

    assert sorted(p.name for p in plots.glob("*.png")) == ["answers.png", "digests.png", "refusals.png", "retrieval.png"]


@pytest.mark.slow
def test_eval_answers_runs_only_the_styles_asked_for(
    tmp_path: Path, eval_args: list[str], tiny_sets: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    data, workdir = tiny_sets
    results = run_eval(
        [*eval_args, "eval", "answers", "--data", str(data), "--sample", "1", "--styles", "quote-embedding", "--json",
         "--workdir", str(workdir)],
        capsys,
    )
    answers = results["answers"]
    assert set(answers["styles"]) == {"quote, embedding selects"} and "speed" not in answers
    assert set(answers["docs_questions"]["styles"]) == {"quote, embedding selects"}
    assert results["run"]["command"].endswith("--styles quote-embedding")
    other = tmp_path / "variants_check.csv"
    other.write_text("variant,question\n", encoding="utf-8")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", "retrieval", "--variants", str(other)])
    assert command_line(args).endswith(f"--variants {other}"), "a figure on held-out questions names them"


@pytest.mark.slow
def test_eval_answers_asks_the_chat_history_questions_of_their_ingested_history(
    tmp_path: Path, eval_args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import bots.cli_eval

    data = write_tiny_sets(tmp_path / "data")
    (data / "support-2019-Dec-24.csv").write_text(
        "AuthorID,Author,Date,Content,Attachments,Reactions\n"
        '"1","rebekic#0001","24-Dec-19 08:32 PM","my wallet is stuck syncing at 99.9%, any advice?","",""\n'
        '"2","gcharang#0002","24-Dec-19 08:40 PM","delete the blocks folder and restart the wallet with -reindex","",""\n',
        encoding="utf-8",
    )
    questions = tmp_path / "chat_questions_dev.csv"
    questions.write_text(
        "question,fact,source\nwallet sync stuck what do i do,restart the wallet with -reindex,support-2019-Dec-24.csv\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(bots.cli_eval, "DEV_CHAT_QUESTIONS", questions)
    (data / "support-2019-Dec-26.csv").write_text(
        "AuthorID,Author,Date,Content,Attachments,Reactions\n"
        '"3","lluisin#0003","26-Dec-19 02:54 PM","the reward claim page fails with my ledger, known issue?","",""\n'
        '"2","gcharang#0002","26-Dec-19 03:02 PM","use the ledger-webusb page of the claim tool","",""\n',
        encoding="utf-8",
    )
    held_out = tmp_path / "chat_questions_check.csv"
    held_out.write_text(
        "question,fact,source\nledger claim broken?,use the ledger-webusb page,support-2019-Dec-26.csv\n", encoding="utf-8"
    )
    monkeypatch.setattr(bots.cli_eval, "CHECK_CHAT_QUESTIONS", held_out)
    results = run_eval(
        [*eval_args, "eval", "answers", "--data", str(data), "--sample", "1", "--styles", "quote-embedding", "--json",
         "--workdir", str(tmp_path / "work")],
        capsys,
    )
    chat = results["answers"]["chat_questions"]
    assert chat["questions"] == 1 and chat["exports"] == 1 and chat["split"] == "dev (tuned on)"
    # Asked as from the channel whose history it is: the reply is found and quoted.
    assert chat["styles"]["quote, embedding selects"]["contains_fact"] == 1.0
    # The held-out set is asked of its own days' history, and says it is held out.
    check = results["answers"]["chat_questions_check"]
    assert check["questions"] == 1 and check["exports"] == 1 and check["split"] == "held out (never tuned on)"
    # A set whose exports are not under --data is left out, not failed.
    questions.write_text("question,fact,source\nwhat now,restart it,elsewhere.csv\n", encoding="utf-8")
    held_out.unlink()
    results = run_eval([*eval_args, "eval", "answers", "--data", str(data), "--sample", "1", "--styles", "quote-embedding",
                        "--json", "--workdir", str(tmp_path / "work")], capsys)
    assert "chat_questions" not in results["answers"] and "chat_questions_check" not in results["answers"]


def test_eval_refuses_an_unknown_answer_style(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(tmp_path), "eval", "answers", "--styles", "quote,generate"]) == 2
    assert "--styles takes some of quote-model, quote-embedding, generate" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_digests_on_the_tuning_half_say_so(
    tmp_path: Path, eval_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_tiny_sets(tmp_path / "data")
    assert main([*eval_args, "eval", "digests", "--data", str(data), "--split", "tune"]) == 0
    text = capsys.readouterr().out
    # The text report names the split in the title and in every paired comparison.
    assert "[split: tuning half (tuned on)]" in text
    assert "Paired differences from the baseline" in text and "95% interval" in text
    assert "standup" in text and "remote-kickoff" not in text
    assert "beats the baseline" not in text


@pytest.mark.slow
@pytest.mark.shared_data
def test_eval_on_a_slice_of_the_real_sets(
    shared_data: Path, eval_args: list[str], faq_workbench: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    bench, _ = faq_workbench
    results = run_eval(
        # The default style only: every style is run on the tiny folder above, and a written
        # answer takes seconds each on the slice's dozen questions. The session's work folder
        # already holds the FAQ's knowledge base, as a kept --workdir does.
        [*eval_args, "eval", "all", "--data", str(shared_data), "--limit", "3", "--sample", "1",
         "--chunk-sizes", "200", "--styles", "quote-embedding", "--workdir", str(bench.workdir), "--json"],
        capsys,
    )
    faq = {(r["mode"], r["split"]): r for r in results["retrieval"]["faq"]}
    assert faq[("hybrid", "own")]["queries"] == 3 and faq[("hybrid", "reworded")]["queries"] == 3
    assert faq[("hybrid", "own")]["hit@5"] == 1.0
    assert results["retrieval"]["qa_questions"]["all"] == 3
    assert results["answers"]["questions"] == 1
    groups = {g["group"] for g in results["refusals"]["groups"]}
    assert {"FAQ questions -> FAQ", "QA questions -> FAQ", "off-topic -> articles"} <= groups
    (meeting,) = results["digests"]["meetings"]
    assert results["digests"]["split"]["meetings_in_split"] == 19  # the checking half, by default
    assert results["digests"]["split"]["sample"] == "the 1 shortest of the split"
    # Three turns of a meeting say little, so only the digest's shape is checked here.
    assert meeting["turns"] == 3 and meeting["summary_words"] > 0 and meeting["input_tokens"] > 0
    assert 0.0 <= meeting["rougeL"] <= 1.0 and meeting["key_points"] > 0


def test_eval_says_where_the_data_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--home", str(tmp_path / "home"), "eval", "retrieval", "--data", str(tmp_path / "nowhere")])
    assert code == 1
    assert "evaluation data folder" in capsys.readouterr().err


def test_eval_help_lists_the_evaluations(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["eval", "--help"])
    text = capsys.readouterr().out
    for word in ("retrieval", "answers", "refusals", "digests", "--plot", "--json", "--limit", "--split"):
        assert word in text


@pytest.mark.parametrize("module", ["rouge_score", "matplotlib"])
def test_eval_without_the_eval_extra_says_how_to_install_it(
    module: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A None entry in sys.modules makes `import module` raise ImportError, as if it were not installed.
    monkeypatch.setitem(__import__("sys").modules, module, None)
    code = main(["--home", str(tmp_path / "home"), "eval", "retrieval", "--data", str(tmp_path / "nowhere")])
    assert code == 2
    err = capsys.readouterr().err
    assert module in err and "tidings[eval]" in err and "make eval" in err


def test_the_bot_itself_never_imports_the_eval_extra() -> None:
    import subprocess
    import sys

    # Importing every bot module and building the CLI must not pull in scoring or charts.
    code = (
        "import sys, bots.cli, bots.wiring, bots.runner, core.services\n"
        "bots.cli.build_parser()\n"
        "print(','.join(m for m in ('rouge_score', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_eval_digests_refuses_a_labels_file_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--home", str(tmp_path / "home"), "eval", "digests", "--data", str(tmp_path)]
    assert main([*args, "--digest-labels", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl does not exist" in capsys.readouterr().err
    # --split labels without the labelled days' files under --data: nothing to measure.
    assert main([*args, "--split", "labels"]) == 2
    assert "--split labels needs the labelled chat days" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.shared_data
def test_eval_digests_on_the_labelled_chat_days(
    tmp_path: Path, shared_data: Path, eval_args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # One labelled day (the smallest) keeps it short; the real file's format and sources.
    days = (Path(__file__).resolve().parent.parent / "bench" / "data" / "digest_labels_dev.jsonl").read_text().splitlines()
    smallest = min(days, key=lambda line: len(json.loads(line)["messages"]))
    labels = tmp_path / "labels.jsonl"
    labels.write_text(smallest + "\n", encoding="utf-8")
    results = run_eval(
        [*eval_args, "eval", "digests", "--data", str(shared_data), "--split", "labels", "--digest-labels", str(labels), "--json"],
        capsys,
    )
    labelled = results["digests"]["labelled_days"]
    assert labelled["messages"] == len(json.loads(smallest)["messages"])
    assert set(labelled["labels"]) == {"rules", "model", "both", "both, model names the rule's kind"}
    assert labelled["split"]["name"] == "dev (tuned on)" and labelled["bad_lines"] == []
    assert "meetings" not in results["digests"]


def test_held_out_off_topic_and_reworded_questions_say_which_side_is_held_out(tmp_path: Path) -> None:
    data = EvalData(
        folder=tmp_path,
        faq=None,
        squad=None,
        meetings=(),
        variants=Path("bench/data/faq_variants_check.csv"),
        off_topic=Path("bench/data/off_topic_check.txt"),
    )
    split = refusals_split(data)
    assert split.name == "off-topic held out" and not split.held_out
    assert "off_topic_check.txt" in split.note and "also held out" in split.note
    assert "a development set" in refusals_split(EvalData(tmp_path, None, None, (), None, data.off_topic)).note
    assert refusals_split(EvalData(tmp_path, None, None, (), None, Path("bench/data/off_topic_dev.txt"))) == REFUSALS_SPLIT
    reworded = retrieval_split(data)
    assert reworded.name == "reworded FAQ questions held out" and "faq_variants_check.csv" in reworded.note
    assert retrieval_split(EvalData(tmp_path, None, None, (), Path("bench/data/faq_variants_dev.csv"), None)) == RETRIEVAL_SPLIT
