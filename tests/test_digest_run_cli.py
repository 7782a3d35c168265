"""``tidings digest run`` as an operator runs it: its own process, the real summarizer and
packaged model, posting to the mock Slack Web API (the only fake: Slack's side of the
network). It posts the channel's digest once; run again, it finds nothing new to post; for a
Discord channel without a token it says how to set one."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import MODEL_CACHE
from tests.slack_mock_server import BOT_USER_ID, TEAM_ID, MockSlack
from tests.test_process_kill import environment

pytestmark = pytest.mark.slow

CHAT = (
    ("U0ANN", "The nightly build fails on ARM since the openssl upgrade this morning."),
    ("U0BOB", "It's openssl 3.2; we decided to pin it to 3.0 in the Dockerfile until the fix ships."),
    ("U0ANN", "Thanks! I'll open a PR to pin openssl to 3.0 today."),
    ("U0BOB", "Does anyone know when the upstream fix for the ARM build will be released?"),
)


async def tidings(home: Path, config: Path, *args: str) -> tuple[int, str, str]:
    script = Path(sys.executable).with_name("tidings")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bots.cli"]
    process = await asyncio.create_subprocess_exec(
        *command, "--config", str(config), "--home", str(home), *args,
        cwd=home.parent, env=environment(home, config),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_digest_run_posts_once_and_a_discord_channel_without_token_is_explained(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "models").mkdir(parents=True)
    for model in MODEL_CACHE.glob("*.gguf"):  # the assembled GGUF the session already has
        (home / "models" / model.name).symlink_to(model)
    slack = await MockSlack().start()
    try:
        slack.workspace.users.update({"U0ANN": {"id": "U0ANN", "name": "ann"}, "U0BOB": {"id": "U0BOB", "name": "bob"}})
        start = time.time() - 3 * 3600
        for i, (user, text) in enumerate(CHAT):
            slack.workspace.add_message("C0BUILD", {"ts": f"{start + 600 * i:.6f}", "user": user, "text": text})
        config = tmp_path / "tidings.toml"
        config.write_text(
            "[llm]\nn_threads = 1\n[knowledge_base]\nbuild_default = false\n"
            f'[slack]\nmode = "http"\napi_url = "{slack.api_url}"\n'
            f'[[digests.channels]]\nplatform = "slack"\nworkspace = "{TEAM_ID}"\nchannel = "C0BUILD"\nname = "build"\nmin_messages = 2\n'
            '[[digests.channels]]\nplatform = "discord"\nworkspace = "1"\nchannel = "2"\nname = "support"\n',
            encoding="utf-8",
        )

        code, out, err = await tidings(home, config, "digest", "run", "build")
        assert code == 0, err[-2000:]
        posts = [m for m in slack.workspace.messages["C0BUILD"] if m.get("user") == BOT_USER_ID]
        assert len(posts) == 1 and "openssl" in str(posts[0]["blocks"]).lower()
        assert "openssl" in out.lower()  # the digest is printed too

        code, out, err = await tidings(home, config, "digest", "run", "build")
        assert code == 0, err[-2000:]
        assert "Nothing posted for build" in out
        assert len([m for m in slack.workspace.messages["C0BUILD"] if m.get("user") == BOT_USER_ID]) == 1

        code, out, err = await tidings(home, config, "digest", "run", "support")
        assert code == 2 and "DISCORD_TOKEN is not set" in err, (out, err[-2000:])
    finally:
        await slack.stop()
