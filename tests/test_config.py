from __future__ import annotations

from pathlib import Path

import pytest

from core.config import load_settings
from core.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tidings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_config_loads_with_its_documented_defaults() -> None:
    settings = load_settings(REPO / "config" / "tidings.toml", environ={})
    defaults = load_settings(REPO / "config" / "tidings.toml", environ={})
    assert settings.llm.n_ctx == defaults.llm.n_ctx == 2048
    assert settings.retrieval.mode == "hybrid"
    assert settings.section("slack")["path"] == "/slack/events"


def test_every_setting_in_the_code_is_documented_in_the_shipped_config() -> None:
    from dataclasses import fields

    from core import config as module

    text = (REPO / "config" / "tidings.toml").read_text(encoding="utf-8")
    for section, cls in module._SECTIONS.items():
        assert f"[{section}]" in text, section
        for f in fields(cls):
            if f.name in {"channels", "grants"}:
                continue
            assert f"{f.name} =" in text, f"[{section}] {f.name} is not documented in config/tidings.toml"


def test_environment_overrides_any_setting(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, "[llm]\nn_ctx = 4096\n"),
        environ={"TIDINGS_LLM__N_CTX": "512", "TIDINGS_RETRIEVAL__MODE": "vector", "TIDINGS_ACCESS__ALLOWED_USERS": "U1,U2"},
    )
    assert settings.llm.n_ctx == 512
    assert settings.retrieval.mode == "vector"
    assert settings.access.allowed_users == ("U1", "U2")


def test_home_comes_from_argument_then_environment(tmp_path: Path) -> None:
    config = write(tmp_path, "")
    assert load_settings(config, environ={"TIDINGS_HOME": "/data/t"}).home == Path("/data/t")
    assert load_settings(config, home=tmp_path, environ={"TIDINGS_HOME": "/data/t"}).home == tmp_path
    assert load_settings(config, environ={}).kb_uri.endswith("kb")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[llm]\nn_ctx = 'big'\n", r"\[llm\] n_ctx must be a whole number"),
        ("[llm]\nn_ctx = 100\n", r"n_ctx must be at least 256"),
        ("[llm]\nnctx = 512\n", r"Unknown setting \[llm\] nctx"),
        ("[retrieval]\nmode = 'magic'\n", r"mode must be hybrid, vector or text"),
        ("[knowledge_base]\nchunk_tokens = 400\n", r"chunk_tokens must be between 32 and 254"),
        ("[llm]\nmodel_path = '/nope/model.gguf'\n", r"model_path points at /nope/model.gguf"),
        ("[[digests.channels]]\nplatform = 'slack'\n", r"needs a channel setting"),
        ("[[digests.channels]]\nplatform = 'irc'\nchannel = 'C1'\n", r"platform must be slack, discord or console"),
        ("[[digests.channels]]\nplatform = 'slack'\nchannel = 'C1'\ntimezone = 'Mars/Olympus'\n", r"not an IANA time zone"),
        ("[[digests.channels]]\nplatform = 'slack'\nchannel = 'C1'\ncron = '17 * *'\n", r"must have five fields"),
        ("[llm\n", r"not valid TOML"),
        ("[state]\nurl = 'postgresql://tidings:s3cret@db:5432/tidings'\n", r"contains a password.*TIDINGS_STATE__URL"),
        ("[state]\nurl = 'mysql://db/tidings'\n", r"\[state\] url must be empty"),
        ("[state]\nclaim_lease_s = 0\n", r"claim_lease_s must be more than 0"),
        ("[llm]\nserver_concurrency = 0\n", r"server_concurrency must be at least 1"),
        ("[answers]\nquote_margin = -0.1\n", r"quote_margin must be between 0 and 2"),
    ],
)
def test_a_wrong_setting_fails_with_one_clear_sentence(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), environ={})


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_grants_and_digest_channels_parse(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            '[access.grants]\n"slack:T1:C1" = ["support-docs"]\n\n'
            '[[digests.channels]]\nplatform = "slack"\nworkspace = "T1"\nchannel = "C1"\ntimezone = "Europe/Berlin"\n',
        ),
        environ={},
    )
    assert settings.access.grants == {"slack:T1:C1": ("support-docs",)}
    (channel,) = settings.digests.channels
    assert channel.cron == "0 17 * * *" and channel.timezone == "Europe/Berlin"
    assert channel.job_id == "digest:slack:T1:C1"


def test_the_knowledge_base_and_the_config_share_one_fusion_default(tmp_path: Path) -> None:
    from core.config import KnowledgeBaseSettings, RetrievalSettings
    from core.knowledge.knowledge_base import LanceKnowledgeBase

    kb = LanceKnowledgeBase(uri=str(tmp_path / "kb"), embedder=None)  # type: ignore[arg-type]
    defaults = RetrievalSettings()
    assert (kb.rrf_k, kb.vector_weight, kb.text_weight, kb.candidates) == (
        defaults.rrf_k, defaults.vector_weight, defaults.text_weight, defaults.candidates
    )
    assert kb.ann_min_rows == KnowledgeBaseSettings().ann_min_rows


def test_the_state_url_comes_from_the_environment_with_its_password(tmp_path: Path) -> None:
    config = write(tmp_path, "[state]\nurl = 'postgresql://tidings@db:5432/tidings'\n")
    assert load_settings(config, environ={}).state_url == "postgresql://tidings@db:5432/tidings"
    secret = "postgresql://tidings:s3cret@db:5432/tidings"
    settings = load_settings(config, environ={"TIDINGS_STATE__URL": secret, "TIDINGS_STATE__CLAIM_LEASE_S": "5"})
    assert (settings.state_url, settings.state.claim_lease_s) == (secret, 5.0)
    assert load_settings(write(tmp_path, ""), home=tmp_path, environ={}).state_url == f"sqlite:///{tmp_path / 'state.sqlite3'}"
