"""`tidings run` out of the box: no token set, the console chat over Tidings' own docs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def environment(tmp_path: Path, language_model) -> dict[str, str]:  # type: ignore[no-untyped-def]
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    for model in MODEL_CACHE.glob("*.gguf"):
        (home / "models" / model.name).symlink_to(model)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_", "TIDINGS_"))}
    env.update({"TIDINGS_HOME": str(home), "HF_HUB_OFFLINE": "1", "TIDINGS_CONFIG": str(REPO / "config" / "tidings.toml")})
    return env


def test_first_start_answers_how_to_connect_slack_from_the_docs(tmp_path: Path, language_model) -> None:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-m", "bots.cli", "run"],
        input="How do I connect Slack?\n",
        cwd=tmp_path,
        env={**environment(tmp_path, language_model), "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "No Slack or Discord token is set" in result.stderr
    assert "Sources:" in result.stdout
    assert "slack.md" in result.stdout or "README" in result.stdout


def test_sigterm_shuts_down_cleanly(tmp_path: Path, language_model) -> None:  # type: ignore[no-untyped-def]
    env = {**environment(tmp_path, language_model), "PYTHONPATH": str(REPO)}
    # Keep stdin open so the console chat waits for questions.
    process = subprocess.Popen(
        [sys.executable, "-m", "bots.cli", "run"], cwd=tmp_path, env=env,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.time() + 300
    kb = Path(env["TIDINGS_HOME"]) / "kb" / "chunks.lance"
    while time.time() < deadline and not kb.exists():
        time.sleep(0.5)
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err[-2000:]
    assert "Traceback" not in err
