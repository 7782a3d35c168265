"""Session-wide fixtures: the real packaged models, loaded once, and real services on a
knowledge base in a temporary folder."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
MODEL_CACHE = Path(os.environ.get("TIDINGS_TEST_MODEL_CACHE", REPO / ".tidings" / "test-models"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real public data set beside the repository; tests using it skip elsewhere."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data not present (only in the development workspace); real-data checks skipped")
    return SHARED_DATA


@pytest.fixture(scope="session")
def faq_workbench(tmp_path_factory, shared_data: Path, embedder, language_model, model_worker):  # type: ignore[no-untyped-def]
    """The real FAQ's knowledge base, embedded once per session in a ``tidings eval --workdir``
    folder: the FAQ answer tests read it, and the evaluation's slice finds it already indexed.
    Yields the workbench and the knowledge base's name."""
    from bots.wiring import build_services
    from core.config import load_settings
    from core.evaluation.workbench import Workbench

    workdir = tmp_path_factory.mktemp("eval-workdir")
    config = workdir / "tidings.toml"
    config.write_text("", encoding="utf-8")
    bench = Workbench(
        settings=load_settings(config, home=workdir / "home", environ={}),
        build_services=lambda s: build_services(s, embedder=embedder, model=language_model, worker=model_worker),
        workdir=workdir,
    )
    name = bench.faq_knowledge_base(shared_data / "qa" / "covid-faq.csv", 200)
    yield bench, name
    bench.close()


@pytest.fixture(scope="session")
def embedder():  # type: ignore[no-untyped-def]
    from core.knowledge.embedding import SentenceTransformerEmbedder

    instance = SentenceTransformerEmbedder()
    instance.embed(["warm up"])
    return instance


@pytest.fixture(scope="session")
def model_worker():  # type: ignore[no-untyped-def]
    """One model thread for the whole session: every test shares the loaded models, so they
    share the thread that may touch them."""
    from core.model.worker import ModelWorker

    worker = ModelWorker()
    yield worker
    worker.shutdown()


def _llama(n_ctx: int):  # type: ignore[no-untyped-def]
    from core.model.local import LlamaModel

    model = LlamaModel(cache_dir=MODEL_CACHE, n_ctx=n_ctx, n_threads=2)
    model.count_tokens("warm up")
    return model


@pytest.fixture(scope="session")
def language_model():  # type: ignore[no-untyped-def]
    """The packaged Gemma 3 270M with a 2,048-token context."""
    return _llama(2048)


@pytest.fixture(scope="session")
def small_language_model():  # type: ignore[no-untyped-def]
    """The same model with a 512-token context, the smallest Tidings supports."""
    return _llama(512)


@pytest.fixture
def tidings_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


MakeServices = Callable[..., object]


@pytest.fixture
def make_services(tmp_path: Path, embedder, language_model, model_worker) -> Iterator[MakeServices]:  # type: ignore[no-untyped-def]
    """Build real services (real LanceDB in a temp dir, the session's models and worker).

    ``make_services(config_text="[access]\\nquestions_per_minute = 2", environ={...}, model=...)``
    """
    from bots.wiring import build_services
    from core.config import load_settings

    built: list[object] = []

    def factory(
        *,
        config_text: str = "",
        environ: Mapping[str, str] | None = None,
        home: Path | None = None,
        model: object | None = None,
    ) -> object:
        index = len(built)
        config = tmp_path / f"tidings-{index}.toml"
        config.write_text(config_text, encoding="utf-8")
        settings = load_settings(config, home=home or tmp_path / f"home-{index}", environ=dict(environ or {}))
        services = build_services(settings, embedder=embedder, model=model or language_model, worker=model_worker)
        built.append(services)
        return services

    yield factory
    for services in built:
        services.state.close()  # type: ignore[attr-defined]


@pytest.fixture
def services_reading(make_services, embedder, tmp_path: Path) -> Callable[..., object]:  # type: ignore[no-untyped-def]
    """Real services whose knowledge base holds only the given pages, ingested as a folder:
    ``services_reading({"faq.md": "# Common questions ..."}, config_text="[answers]\nquote_margin = 0\n")``."""
    from core.knowledge.ingesting import ingest

    folders = itertools.count()

    def factory(pages: Mapping[str, str], *, config_text: str = "") -> object:
        services = make_services(config_text="[knowledge_base]\nbuild_default = false\n" + config_text)
        folder = tmp_path / f"pages-{next(folders)}"
        folder.mkdir()
        for name, text in pages.items():
            (folder / name).write_text(text, encoding="utf-8")
        ingest([folder], knowledge_base=services.knowledge_base, embedder=embedder)  # type: ignore[attr-defined]
        return services

    return factory


HANDBOOK = {
    "onboarding.md": """# Onboarding at Acme

## Laptops
New starters receive a laptop on their first day from the IT desk on the second floor.
Laptops are encrypted with FileVault, and the recovery key is stored by IT.

## Holidays
Every employee has 27 days of paid holiday per year. Holidays are requested in the HR portal at least two weeks ahead.
""",
    "expenses.md": """# Expenses policy

Expenses under 50 euros need no receipt. Expenses above 50 euros need a receipt photographed in the Expenses app within 30 days.
Travel must be booked through the travel desk. Taxi rides are reimbursed only after 10 pm.
""",
    "vpn.txt": """Connecting to the VPN

Install the WireGuard client, then import the profile you receive from it-help@acme.example.
The VPN is required for the staging servers and the finance systems. If the VPN drops, restart WireGuard.
""",
}


@pytest.fixture(scope="session")
def handbook_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny knowledge base the tests write themselves (no shared data needed)."""
    folder = tmp_path_factory.mktemp("handbook")
    for name, text in HANDBOOK.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def handbook_services(tmp_path_factory: pytest.TempPathFactory, handbook_dir: Path, embedder, language_model, model_worker):  # type: ignore[no-untyped-def]
    """Real services whose knowledge base holds the handbook (built once per session)."""
    from bots.wiring import build_services
    from core.config import load_settings
    from core.knowledge.ingesting import ingest

    home = tmp_path_factory.mktemp("handbook-home")
    config = home / "tidings.toml"
    config.write_text("", encoding="utf-8")
    settings = load_settings(config, home=home, environ={})
    services = build_services(settings, embedder=embedder, model=language_model, worker=model_worker)
    ingest([handbook_dir], knowledge_base=services.knowledge_base, embedder=embedder)
    yield services
    services.state.close()


def _handbook_services_answering(handbook_services, embedder, language_model, model_worker, **answers):  # type: ignore[no-untyped-def]
    """The handbook's services with ``[answers]`` settings changed, sharing its models and worker."""
    from dataclasses import replace

    from bots.wiring import build_services

    settings = handbook_services.settings
    settings = replace(settings, answers=replace(settings.answers, **answers))
    return build_services(settings, embedder=embedder, model=language_model, worker=model_worker)


@pytest.fixture(scope="session")
def generating_services(handbook_services, embedder, language_model, model_worker):  # type: ignore[no-untyped-def]
    """The handbook's services with answers written by the model (``[answers] style = "generate"``)."""
    services = _handbook_services_answering(handbook_services, embedder, language_model, model_worker, style="generate")
    yield services
    services.state.close()


@pytest.fixture(scope="session")
def model_selecting_services(handbook_services, embedder, language_model, model_worker):  # type: ignore[no-untyped-def]
    """The handbook's services with the quoted passage picked by the model under a grammar
    (``[answers] quote_selector = "model"``; the default lets the embedder's ranking pick)."""
    services = _handbook_services_answering(handbook_services, embedder, language_model, model_worker, quote_selector="model")
    yield services
    services.state.close()


@pytest.fixture(autouse=True)
def _tidings_log_handlers_end_with_their_test() -> Iterator[None]:
    """A test that runs `tidings` in-process installs its log handler on the stderr pytest
    captured for that test; a server thread of a later test would then log into a closed file."""
    import logging

    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_tidings", False):
            root.removeHandler(handler)


# -- real database and object-store servers, one each per test session ------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A real PostgreSQL (tests/servers.py) for the session: its URL (database "tidings")."""
    from tests.servers import start_postgres

    try:
        server = start_postgres()
    except Exception as error:  # no binaries, or no unprivileged user to run them as under root
        pytest.skip(f"PostgreSQL could not be started: {error}")
    yield server.url
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: str, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database on the session's PostgreSQL."""
    import re
    import uuid

    from tests.servers import create_database

    name = re.sub(r"[^a-z0-9_]", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:6]
    return create_database(postgres_server, name)


@pytest.fixture(params=["sqlite", "postgresql"])
def state_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a state store lives, once per backend: the SQLite file, and a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite3")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-compatible server (moto_server) on loopback for the session: its endpoint URL."""
    from tests.servers import start_s3

    try:
        server = start_s3()
    except Exception as error:
        pytest.skip(f"moto_server could not be started: {error}")
    yield server.url
    server.stop()
