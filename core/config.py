"""Settings: one TOML file, overridable from the environment, validated at start-up.

Every setting has a default here and is documented in ``config/tidings.toml``. Any setting
can be overridden as ``TIDINGS_<SECTION>__<KEY>`` (``TIDINGS_LLM__N_CTX=512``). Secrets never
live in the TOML: they come from the environment or ``.env`` under the names the ecosystem
uses (``SLACK_BOT_TOKEN``, ``DISCORD_TOKEN`` ...), read by the adapters.

Platform sections (``[slack]``, ``[discord]``) are kept raw in ``Settings.raw`` and parsed by
their adapters, so the core never learns a platform's settings.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import ConfigError
from core.types import ChannelRef, channel_scope

ENV_PREFIX = "TIDINGS_"
T = TypeVar("T")


@dataclass(frozen=True)
class LLMSettings:
    model_path: str = ""
    n_ctx: int = 2048
    n_threads: int = 0
    n_batch: int = 512
    max_answer_tokens: int = 160
    temperature: float = 0.0
    repeat_penalty: float = 1.15
    timeout_s: float = 90.0
    stop: tuple[str, ...] = ()
    server_url: str = ""
    server_model: str = ""
    server_concurrency: int = 1


@dataclass(frozen=True)
class EmbeddingSettings:
    model_path: str = ""
    batch_size: int = 32
    threads: int = 0


@dataclass(frozen=True)
class KnowledgeBaseSettings:
    uri: str = ""
    table: str = "chunks"
    chunk_tokens: int = 200
    overlap_sentences: int = 1
    conversation_window: int = 12
    ann_min_rows: int = 50_000
    build_default: bool = True


@dataclass(frozen=True)
class RetrievalSettings:
    k: int = 5
    mode: str = "hybrid"
    rrf_k: int = 5
    vector_weight: float = 1.0
    text_weight: float = 1.0
    weigh_by_confidence: bool = True
    min_relevance: float = 0.345
    candidates: int = 30


@dataclass(frozen=True)
class AnswerSettings:
    max_chunks: int = 4
    focus_margin: float = 0.15
    max_conversation_turns: int = 6
    extractive_fallback: bool = True
    # "quote": the answer is the sources' own sentences, chosen by the model under a grammar;
    # "generate": the model writes it; "auto": quote for small or base models (docs/asking.md).
    style: str = "auto"
    # Who picks the quoted passage: "embedding" (the ranking's best) or "model" (under a grammar,
    # among the best few); the embedder picked better on the docs questions (docs/quality.md).
    quote_selector: str = "embedding"
    quote_candidates: int = 4
    quote_passages: int = 2
    # A runner-up from another source is quoted only when it scores within this of the chosen
    # passage: one that matches far worse mostly cites a source that does not answer.
    quote_margin: float = 0.08


@dataclass(frozen=True)
class DigestChannel:
    platform: str
    channel: str
    workspace: str = ""
    name: str = ""
    cron: str = "0 17 * * *"
    timezone: str = "UTC"
    min_messages: int = 5
    target_channel: str = ""
    quiet_note: bool = False

    @property
    def job_id(self) -> str:
        return f"digest:{self.platform}:{self.workspace}:{self.channel}"

    @property
    def ref(self) -> ChannelRef:
        """The channel summarised."""
        return ChannelRef(self.platform, self.workspace, self.channel, name=self.name)

    @property
    def target(self) -> ChannelRef:
        """Where the digest is posted: the configured digest channel, or the channel itself."""
        if self.target_channel:
            return ChannelRef(self.platform, self.workspace, self.target_channel)
        return self.ref


@dataclass(frozen=True)
class DigestSettings:
    enabled: bool = True
    misfire_grace_s: int = 3600
    time_budget_s: float = 600.0
    max_bullets: int = 5
    gap_minutes: int = 30
    timezone: str = "UTC"
    """The time zone of ``/tidings digest on`` when neither the command nor the platform gives
    one (Discord never tells a bot its members' zones): the workspace's zone."""
    admin_channel: str = ""
    """Where a failed scheduled digest is reported: a channel scope (``slack:T0123:C0OPS``) or a
    channel id on the digest's own platform and workspace; empty: the digest's channel."""
    judge_items: bool = False
    channels: tuple[DigestChannel, ...] = ()


@dataclass(frozen=True)
class AccessSettings:
    allowed_channels: tuple[str, ...] = ()
    allowed_users: tuple[str, ...] = ()
    allowed_roles: tuple[str, ...] = ()
    questions_per_minute: int = 6
    max_question_chars: int = 2000
    admins: tuple[str, ...] = ()
    """User ids that may change digests from the chat, besides Slack workspace admins and
    owners and Discord members with Manage Channels."""
    grants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class StateSettings:
    keep_days: int = 90
    """Stored answers, feedback text, digest notes and questions in progress older than this
    are pruned daily (0: kept forever)."""
    url: str = ""
    """Empty: the SQLite file under TIDINGS_HOME. ``postgresql://user@host:port/db``: shared by
    every replica (a password only from the environment: TIDINGS_STATE__URL or PGPASSWORD)."""
    claim_lease_s: float = 30.0


@dataclass(frozen=True)
class ObservabilitySettings:
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    log_level: str = "INFO"
    log_json: bool = False


@dataclass(frozen=True)
class Settings:
    home: Path = Path(".tidings")
    llm: LLMSettings = field(default_factory=LLMSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    knowledge_base: KnowledgeBaseSettings = field(default_factory=KnowledgeBaseSettings)
    retrieval: RetrievalSettings = field(default_factory=RetrievalSettings)
    answers: AnswerSettings = field(default_factory=AnswerSettings)
    digests: DigestSettings = field(default_factory=DigestSettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    state: StateSettings = field(default_factory=StateSettings)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)
    raw: Mapping[str, Any] = field(default_factory=dict)
    config_path: Path | None = None

    @property
    def kb_uri(self) -> str:
        return self.knowledge_base.uri or str(self.home / "kb")

    @property
    def state_path(self) -> Path:
        return self.home / "state.sqlite3"

    @property
    def state_url(self) -> str:
        """Where the state lives: ``[state] url``, or the SQLite file under ``home``."""
        return self.state.url or f"sqlite:///{self.state_path}"

    @property
    def model_cache(self) -> Path:
        return self.home / "models"

    def section(self, name: str) -> Mapping[str, Any]:
        """The raw table of a platform section (``[slack]``), env overrides applied."""
        value = self.raw.get(name, {})
        return value if isinstance(value, Mapping) else {}


_SECTIONS: dict[str, type] = {
    "llm": LLMSettings,
    "embedding": EmbeddingSettings,
    "knowledge_base": KnowledgeBaseSettings,
    "retrieval": RetrievalSettings,
    "answers": AnswerSettings,
    "digests": DigestSettings,
    "access": AccessSettings,
    "state": StateSettings,
    "observability": ObservabilitySettings,
}


def _parse_env_value(value: str) -> Any:
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """``TIDINGS_LLM__N_CTX=512`` sets ``raw["llm"]["n_ctx"] = 512``."""
    merged = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in raw.items()}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        section, _, key = name[len(ENV_PREFIX) :].partition("__")
        section, key = section.lower(), key.lower()
        if not section or not key:
            continue
        table = merged.setdefault(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"Setting {name} overrides [{section}], which is not a table.")
        table[key] = _parse_env_value(value)
    return merged


def _coerce(setting: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "yes", "no"}:
            return value.lower() in {"true", "1", "yes"}
        raise ConfigError(f"Setting {setting} must be true or false, not {value!r}.")
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            try:
                return int(str(value))
            except ValueError:
                raise ConfigError(f"Setting {setting} must be a whole number, not {value!r}.") from None
        return value
    if isinstance(default, float):
        if isinstance(value, bool):
            raise ConfigError(f"Setting {setting} must be a number, not {value!r}.")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"Setting {setting} must be a number, not {value!r}.") from None
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"Setting {setting} must be text, not {value!r}.")
        return value
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"Setting {setting} must be a list, not {value!r}.")
        return tuple(str(item) for item in value)
    return value


def _build(cls: type[T], table: Mapping[str, Any], section: str) -> T:
    instance = cls()
    known = {f.name: f for f in fields(cast(Any, cls))}
    updates: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known:
            choices = ", ".join(sorted(known))
            raise ConfigError(f"Unknown setting [{section}] {key}; known settings are: {choices}.")
        if key == "channels" and cls is DigestSettings:
            updates[key] = tuple(_digest_channel(entry, i) for i, entry in enumerate(value or []))
        elif key == "grants" and cls is AccessSettings:
            updates[key] = _grants(value)
        else:
            updates[key] = _coerce(f"[{section}] {key}", value, getattr(instance, key))
    return cast(T, replace(cast(Any, instance), **updates)) if updates else instance


def _grants(value: Any) -> dict[str, tuple[str, ...]]:
    if not isinstance(value, Mapping):
        raise ConfigError("Setting [access] grants must be a table of channel scope = [scopes].")
    grants: dict[str, tuple[str, ...]] = {}
    for channel, scopes in value.items():
        grants[str(channel)] = _coerce(f"[access.grants] {channel}", scopes, ())
    return grants


def _digest_channel(entry: Any, index: int) -> DigestChannel:
    where = f"[[digests.channels]] #{index + 1}"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a table with platform and channel.")
    for required in ("platform", "channel"):
        if not entry.get(required):
            raise ConfigError(f"{where} needs a {required} setting.")
    known = {f.name for f in fields(DigestChannel)}
    unknown = set(entry) - known
    if unknown:
        raise ConfigError(f"Unknown setting {where} {sorted(unknown)[0]}; known: {', '.join(sorted(known))}.")
    defaults = DigestChannel(platform="", channel="")
    values = {
        key: _coerce(f"{where} {key}", entry[key], getattr(defaults, key)) for key in entry
    }
    channel = DigestChannel(**values)
    if channel.platform not in {"slack", "discord", "console"}:
        raise ConfigError(f"{where} platform must be slack, discord or console, not {channel.platform!r}.")
    try:
        ZoneInfo(channel.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where} timezone {channel.timezone!r} is not an IANA time zone (for example Europe/Berlin).") from None
    _validate_cron(channel.cron, where)
    return channel


def digest_target_problem(channel: DigestChannel, grants: Mapping[str, tuple[str, ...]]) -> str | None:
    """Why ``channel``'s digest may not be posted in its ``target_channel``, or None when it may.

    A digest carries the channel's content, so it follows the same rule as retrieval: it may
    only be posted where a question could see that channel's scope, which for another channel
    means an explicit grant in ``[access.grants]``.
    """
    if not channel.target_channel or channel.target_channel == channel.channel:
        return None
    source = channel_scope(channel.platform, channel.workspace, channel.channel)
    target = channel_scope(channel.platform, channel.workspace, channel.target_channel)
    if source in set(grants.get(target, ())) | set(grants.get(channel.target_channel, ())):
        return None
    label = f"#{channel.name}" if channel.name else channel.channel
    return (
        f"The digest of {label} would be posted in {channel.target_channel}, which may not see {label}'s content. "
        f'Grant it in [access.grants] ("{target}" = ["{source}"]) or leave target_channel empty.'
    )


def _validate_cron(expression: str, where: str) -> None:
    parts = expression.split()
    if len(parts) != 5:
        raise ConfigError(
            f"{where} cron {expression!r} must have five fields: minute hour day month weekday."
        )


def _validate(settings: Settings) -> None:
    try:
        ZoneInfo(settings.digests.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"Setting [digests] timezone {settings.digests.timezone!r} is not an IANA time zone (for example Europe/Berlin)."
        ) from None
    if settings.llm.n_ctx < 256:
        raise ConfigError("Setting [llm] n_ctx must be at least 256 tokens.")
    if settings.llm.max_answer_tokens < 16 or settings.llm.max_answer_tokens > settings.llm.n_ctx // 2:
        raise ConfigError("Setting [llm] max_answer_tokens must be between 16 and half of n_ctx.")
    if settings.llm.model_path and not settings.llm.server_url and not Path(settings.llm.model_path).expanduser().is_file():
        raise ConfigError(f"Setting [llm] model_path points at {settings.llm.model_path}, which is not a file.")
    if settings.llm.server_concurrency < 1:
        raise ConfigError("Setting [llm] server_concurrency must be at least 1.")
    if settings.retrieval.mode not in {"hybrid", "vector", "text"}:
        raise ConfigError("Setting [retrieval] mode must be hybrid, vector or text.")
    if not 0.0 <= settings.retrieval.min_relevance <= 1.0:
        raise ConfigError("Setting [retrieval] min_relevance must be between 0 and 1.")
    if settings.retrieval.k < 1:
        raise ConfigError("Setting [retrieval] k must be at least 1.")
    if not 32 <= settings.knowledge_base.chunk_tokens <= 254:
        raise ConfigError("Setting [knowledge_base] chunk_tokens must be between 32 and 254 (the embedder reads 256 word pieces).")
    if settings.answers.max_chunks < 1:
        raise ConfigError("Setting [answers] max_chunks must be at least 1.")
    if settings.answers.style not in {"auto", "quote", "generate"}:
        raise ConfigError(f"Setting [answers] style must be auto, quote or generate, not {settings.answers.style!r}.")
    if settings.answers.quote_selector not in {"model", "embedding"}:
        raise ConfigError("Setting [answers] quote_selector must be model or embedding.")
    if not 1 <= settings.answers.quote_passages <= settings.answers.quote_candidates <= 9:
        raise ConfigError("Settings [answers] quote_passages and quote_candidates need 1 <= quote_passages <= quote_candidates <= 9.")
    if not 0 <= settings.answers.quote_margin <= 2:
        raise ConfigError("Setting [answers] quote_margin must be between 0 and 2 (2: every runner-up may be quoted).")
    if settings.access.questions_per_minute < 0:
        raise ConfigError("Setting [access] questions_per_minute must be 0 (no limit) or more.")
    _validate_state(settings.state)
    for channel in settings.digests.channels:
        problem = digest_target_problem(channel, settings.access.grants)
        if problem:
            raise ConfigError(problem)


def _validate_state(state: StateSettings) -> None:
    if state.claim_lease_s <= 0:
        raise ConfigError("Setting [state] claim_lease_s must be more than 0 seconds.")
    if not state.url:
        return
    scheme = state.url.partition("://")[0].lower()
    if scheme not in {"postgresql", "postgres", "postgresql+psycopg", "sqlite"}:
        raise ConfigError(
            f"Setting [state] url must be empty (the SQLite file under TIDINGS_HOME), postgresql://user@host:port/db "
            f"or sqlite:///path, not {scheme or state.url!r}."
        )


def _password_in_file(raw: Mapping[str, Any]) -> bool:
    table = raw.get("state", {})
    url = table.get("url", "") if isinstance(table, Mapping) else ""
    if not isinstance(url, str) or "://" not in url:
        return False
    authority = url.partition("://")[2].partition("/")[0]
    credentials = authority.rpartition("@")[0] if "@" in authority else ""
    return ":" in credentials


def load_settings(
    config_path: str | Path | None = None,
    *,
    home: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the TOML file (if any), apply environment overrides, validate, and return."""
    env = os.environ if environ is None else environ
    path: Path | None
    if config_path is not None:
        path = Path(config_path)
    elif env.get("TIDINGS_CONFIG"):
        path = Path(env["TIDINGS_CONFIG"])
    else:
        local = Path("config/tidings.toml")
        path = local if local.is_file() else None
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"Config file {path} does not exist (set TIDINGS_CONFIG or --config).") from None
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"Config file {path} is not valid TOML: {error}.") from None
    if _password_in_file(raw):
        raise ConfigError(
            f"Setting [state] url in {path} contains a password. Keep secrets out of the config file: "
            "set TIDINGS_STATE__URL or PGPASSWORD in the environment (or .env) instead."
        )
    raw = apply_env_overrides(raw, env)
    home_path = Path(home) if home is not None else Path(env.get("TIDINGS_HOME") or raw.get("home", "") or ".tidings")
    values: dict[str, Any] = {}
    for section, cls in _SECTIONS.items():
        table = raw.get(section, {})
        if not isinstance(table, Mapping):
            raise ConfigError(f"Setting [{section}] must be a table.")
        values[section] = _build(cls, table, section)
    settings = Settings(home=home_path.expanduser(), raw=raw, config_path=path, **values)
    _validate(settings)
    return settings


def as_dict(settings: Any) -> Any:
    """Settings as plain data (for ``tidings doctor`` and logs; no secrets live here)."""
    if is_dataclass(settings) and not isinstance(settings, type):
        return {f.name: as_dict(getattr(settings, f.name)) for f in fields(settings) if f.name != "raw"}
    if isinstance(settings, Path):
        return str(settings)
    if isinstance(settings, tuple):
        return [as_dict(item) for item in settings]
    if isinstance(settings, Mapping):
        return {str(k): as_dict(v) for k, v in settings.items()}
    return settings
