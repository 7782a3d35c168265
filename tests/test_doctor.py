"""`tidings doctor`: one line per check, what is wrong and how to fix it."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bots.doctor import run_doctor
from core.knowledge.ingesting import ingest
from core.knowledge.knowledge_base import LanceKnowledgeBase
from core.types import DOCS_SCOPE
from tests.conftest import MODEL_CACHE

pytestmark = pytest.mark.slow


def home_with_models(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    for model in MODEL_CACHE.glob("*.gguf"):
        (home / "models" / model.name).symlink_to(model)
    return home


def test_a_missing_config_file_is_the_only_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    code = run_doctor(argparse.Namespace(config=tmp_path / "missing.toml", home=tmp_path, offline=True))
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines() == [f"FIX  config: Config file {tmp_path / 'missing.toml'} does not exist (set TIDINGS_CONFIG or --config)."]


def test_every_check_reports_and_a_readable_env_file_needs_a_fix(tmp_path: Path, language_model, embedder, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_TOKEN", "TIDINGS_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    home = home_with_models(tmp_path)
    args = argparse.Namespace(config=None, home=home, offline=True)
    assert run_doctor(args) == 0
    lines = capsys.readouterr().out.splitlines()
    labels = [line[5:].split(":")[0] for line in lines[:-1]]
    assert labels == ["config", "data directory", "state database", "embedding model", "language model", "knowledge base", "slack", "discord"]
    assert all(line.startswith("ok ") for line in lines[:-1]) and lines[-1] == "All good."
    assert "is empty; `tidings run` indexes docs/ on first start" in lines[5]
    # Only the terminal's guide: a channel could read none of it yet, and the line says so.
    guide = tmp_path / "guide.md"
    guide.write_text("# Connect Slack\n\nCreate the app from the manifest.\n", encoding="utf-8")
    ingest([guide], knowledge_base=LanceKnowledgeBase(uri=str(home / "kb"), embedder=embedder), embedder=embedder, scope=DOCS_SCOPE)
    assert run_doctor(args) == 0
    line = capsys.readouterr().out.splitlines()[5]
    assert line.startswith("ok   knowledge base:") and "all of them Tidings' own guide (`tidings:docs`), which channels do not read" in line
    (tmp_path / ".env").write_text("# secrets live here\n", encoding="utf-8")
    (tmp_path / ".env").chmod(0o644)
    assert run_doctor(args) == 1
    out = capsys.readouterr().out
    assert "FIX  .env: readable by other users; run `chmod 600 .env`" in out
    assert out.rstrip().endswith("Some checks need attention (lines marked FIX).")


def test_a_model_server_that_is_down_needs_a_fix(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from tests.servers import free_port

    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_TOKEN", "TIDINGS_CONFIG", "TIDINGS_LLM__SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    url = f"http://127.0.0.1:{free_port()}/v1"
    config = tmp_path / "tidings.toml"
    config.write_text(f'[llm]\nserver_url = "{url}"\n', encoding="utf-8")
    assert run_doctor(argparse.Namespace(config=config, home=home_with_models(tmp_path), offline=True)) == 1
    line = next(line for line in capsys.readouterr().out.splitlines() if "language model" in line)
    assert line.startswith(f"FIX  language model: The model server at {url} cannot be reached")
    assert line.endswith("Start it or correct `[llm] server_url`; until then answers quote their sources.")
