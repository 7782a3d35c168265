"""The `tidings` command end to end, in-process, on a temporary home and the real models."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bots.cli import main

pytestmark = pytest.mark.slow


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    config = tmp_path / "tidings.toml"
    config.write_text("[knowledge_base]\nbuild_default = false\n", encoding="utf-8")
    monkeypatch.setenv("TIDINGS_HOME", str(home))
    monkeypatch.setenv("TIDINGS_CONFIG", str(config))
    monkeypatch.setenv("TIDINGS_TEST_MODEL_CACHE", "")
    from tests.conftest import MODEL_CACHE

    # Reuse the assembled model file instead of assembling another copy per test home.
    (home / "models").mkdir(parents=True)
    for model in MODEL_CACHE.glob("*.gguf"):
        (home / "models" / model.name).symlink_to(model)
    return home


def run(args: list[str], capsys: pytest.CaptureFixture[str], stdin: str | None = None, monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[int, str]:
    if stdin is not None and monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(args)
    return code, capsys.readouterr().out


def test_ingest_search_ask_stats_forget(cli_env: Path, handbook_dir: Path, language_model, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out = run(["ingest", str(handbook_dir), "--json"], capsys)
    report = json.loads(out)
    assert code == 0 and report["files"] == 3 and report["chunks"]["added"] > 0

    code, out = run(["search", "--k", "2"], capsys, stdin="where is the laptop handed out?\n\nwhich VPN client?\n", monkeypatch=monkeypatch)
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["query"] for line in lines] == ["where is the laptop handed out?", "which VPN client?"]
    first = lines[0]["results"][0]
    assert set(first) >= {"rank", "score", "source", "title", "text", "scope"}
    assert first["source"].endswith("onboarding.md") and first["scope"] == "public"

    code, out = run(["ask"], capsys, stdin="How many holiday days do employees get?\nWho painted the Mona Lisa?\n", monkeypatch=monkeypatch)
    answers = [json.loads(line) for line in out.splitlines()]
    assert answers[0]["grounded"] and answers[0]["citations"][0]["source"].endswith("onboarding.md")
    assert set(answers[0]["timings"]) == {"retrieve_ms", "generate_ms", "prompt_tokens", "completion_tokens"}
    assert not answers[1]["grounded"]

    code, out = run(["kb", "stats", "--json"], capsys)
    stats = json.loads(out)
    assert stats["sources"] == 3 and stats["scopes"] == {"public": stats["chunks"]}

    code, out = run(["kb", "forget", str(handbook_dir / "vpn.txt")], capsys)
    assert code == 0 and "Removed" in out
    code, out = run(["kb", "forget", "nothing-like-this.md"], capsys)
    assert code == 1 and "No source named" in out


def test_ask_and_search_read_the_bundled_guide_as_the_terminal_chat_does(cli_env: Path, handbook_dir: Path, language_model, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # Tidings' own guide lives in the scope `tidings:docs`: the shell is the terminal, and reads it.
    code, out = run(["ingest", str(handbook_dir), "--scope", "tidings:docs", "--json"], capsys)
    assert code == 0 and json.loads(out)["chunks"]["added"] > 0
    code, out = run(["search", "--json", "where is the laptop handed out?"], capsys)
    assert json.loads(out)["results"][0]["scope"] == "tidings:docs"
    code, out = run(["ask", "--json", "How many holiday days do employees get?"], capsys)
    answer = json.loads(out)
    assert answer["grounded"] and answer["citations"][0]["source"].endswith("onboarding.md"), answer
    # Asked as from a channel, exactly what that channel reads: the guide only when granted.
    code, out = run(["search", "--json", "--scope", "slack:T1:C1", "where is the laptop handed out?"], capsys)
    assert json.loads(out)["results"] == []


def test_a_wrong_setting_stops_with_one_sentence(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TIDINGS_HOME", str(tmp_path))
    monkeypatch.setenv("TIDINGS_LLM__N_CTX", "tiny")
    code = main(["kb", "stats"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "Configuration problem: Setting [llm] n_ctx must be a whole number, not 'tiny'."


def test_chat_reads_questions_from_stdin(cli_env: Path, handbook_dir: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    run(["ingest", str(handbook_dir)], capsys)
    code, out = run(["chat"], capsys, stdin="Where do I get my laptop?\n", monkeypatch=monkeypatch)
    assert code == 0
    assert "Sources:" in out and "onboarding.md" in out


def test_feedback_export_writes_jsonl(cli_env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from core.runtime.state import StateStore

    cli_env.mkdir(parents=True, exist_ok=True)
    state = StateStore(cli_env / "state.sqlite3")
    state.remember_answer("a1", {"question": "q?", "answer": "a.", "citations": [{"n": 1, "source": "s"}]})
    state.record_feedback(answer_id="a1", platform="slack", channel="C1", user="U1", rating=-1)
    state.close()
    code, out = run(["feedback", "export"], capsys)
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and row["rating"] == -1 and row["question"] == "q?" and row["citations"][0]["source"] == "s"


def test_feedback_unanswered_lists_what_the_knowledge_base_lacks(cli_env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from core.runtime.state import StateStore

    cli_env.mkdir(parents=True, exist_ok=True)
    code, out = run(["feedback", "unanswered"], capsys)
    assert code == 0 and out.strip() == "No question went unanswered in the last 7 days."
    state = StateStore(cli_env / "state.sqlite3")
    for answer_id, question, grounded in [("a1", "What is the wifi password?", False), ("a2", "how do I connect Slack?", True), ("a3", "what is the WiFi password?", False)]:
        state.remember_answer(answer_id, {"question": question, "answer": "x", "channel": "slack:T1:C1", "grounded": grounded, "citations": []})
    state.close()
    code, out = run(["feedback", "unanswered", "--days", "30"], capsys)
    assert code == 0
    assert "1 question(s) Tidings could not answer from the knowledge base in the last 30 days" in out
    assert "2x  what is the WiFi password?" in out and "slack:T1:C1" in out and "connect Slack" not in out
    assert "tidings ingest PATH" in out
    code, out = run(["feedback", "unanswered", "--json"], capsys)
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and row["question"] == "what is the WiFi password?" and row["times"] == 2 and row["channels"] == ["slack:T1:C1"]
    assert run(["feedback", "unanswered", "--days", "0"], capsys)[0] == 2


def test_help_lists_every_command(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("run", "chat", "ingest", "search", "ask", "kb", "feedback", "db", "doctor", "summarize", "digest", "eval"):
        assert command in out, command


def test_version_names_the_installed_release(capsys) -> None:  # type: ignore[no-untyped-def]
    import tomllib

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    released = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    assert exited.value.code == 0 and capsys.readouterr().out == f"tidings {released}\n"


def test_db_upgrade_migrates_once_and_then_finds_nothing_to_do(cli_env: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from core.runtime.migrations import head_revision

    code, out = run(["db", "upgrade"], capsys)
    assert code == 0 and f"schema upgraded from empty to {head_revision()}" in out
    code, out = run(["db", "upgrade"], capsys)
    assert code == 0 and f"schema already at {head_revision()}" in out
