"""/healthz and /metrics over real HTTP, on real services; the instrumented answerer; request
ids on log lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.errors import EmptyQuestion
from core.runtime.logs import RedactingFilter, configure
from core.runtime.observability import InstrumentedAnswerer, Metrics, MetricsServer, platform_of
from core.services import OnQueued, OnText, Services
from core.types import DOCS_SCOPE, PUBLIC_SCOPE, Answer, Chunk, Question
from tests.reliability import record
from tests.trust_support import hold_model

pytestmark = pytest.mark.slow


class FailingAnswerer:
    """An answerer whose model crashed (a real implementation of the port, raising)."""

    async def answer(self, question: Question, *, on_text: OnText | None = None, on_queued: OnQueued | None = None) -> Answer:
        logging.getLogger("core.answers.answering").error("the model crashed")
        raise RuntimeError("model crashed")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    built = make_services()
    built.knowledge_base.replace_source(
        "deploy.md",
        [Chunk(id="d1", source="deploy.md", title="Deploying", text="To deploy, run make deploy after two approvals.")],
    )
    built.answerer = InstrumentedAnswerer(built.answerer, Metrics())
    return built


def test_platform_comes_from_the_request_id_or_the_scope() -> None:
    assert platform_of(Question(text="q", request_id="slack-C1-1.2")) == "slack"
    assert platform_of(Question(text="q", request_id="discord-99")) == "discord"
    assert platform_of(Question(text="q", scopes=frozenset({"public", "discord:1:2"}))) == "discord"
    assert platform_of(Question(text="q")) == "console"
    assert platform_of(Question(text="q", scopes=frozenset({PUBLIC_SCOPE, DOCS_SCOPE}))) == "console"  # the terminal chat
    assert platform_of(Question(text="q", scopes=frozenset({"public", "support-docs"}), request_id="x")) == "other"


async def test_health_and_metrics_over_http(services: Services) -> None:
    server = MetricsServer(host="127.0.0.1", port=0, services=services)
    assert server.metrics is services.answerer.metrics  # type: ignore[attr-defined]
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        answerer = services.answerer
        answered = await answerer.answer(Question(text="how do I deploy?", request_id="slack-C1-1.1"))
        assert answered.grounded
        missing = await answerer.answer(Question(text="what is the wifi password of the moon base?", request_id="discord-7"))
        assert not missing.grounded
        with pytest.raises(EmptyQuestion):
            await answerer.answer(Question(text="   ", request_id="slack-C1-1.2"))
        failing = InstrumentedAnswerer(FailingAnswerer(), server.metrics)
        with pytest.raises(RuntimeError):
            await failing.answer(Question(text="boom", request_id="slack-C1-1.3"))

        window = datetime(2025, 3, 3, tzinfo=UTC)
        services.state.claim_digest("slack", "C1", window, window + timedelta(days=1))
        services.state.finish_digest("slack", "C1", window, window + timedelta(days=1), message_id="1.5")
        services.state.claim_digest("slack", "C2", window, window + timedelta(days=1))  # claimed, not posted

        release, busy = hold_model(services, most_s=10)
        await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200 and response.content_type == "application/json"
                health = await response.json()
            async with http.get(f"{base}/metrics") as response:
                assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
                metrics = samples(await response.text())
        release.set()
        await busy
    finally:
        await server.stop()

    assert health["status"] == "ok" and health["knowledge_base"] == {"chunks": 1}
    assert health["queue_depth"] >= 1 and health["uptime_s"] >= 0 and health["questions"] == 4
    assert metrics[("tidings_questions_total", (("outcome", "answered"), ("platform", "slack")))] == 1
    assert metrics[("tidings_questions_total", (("outcome", "not_covered"), ("platform", "discord")))] == 1
    assert metrics[("tidings_questions_total", (("outcome", "refused"), ("platform", "slack")))] == 1
    assert metrics[("tidings_questions_total", (("outcome", "failed"), ("platform", "slack")))] == 1
    assert metrics[("tidings_answer_seconds_count", (("platform", "slack"),))] == 3
    assert metrics[("tidings_queue_depth", ())] >= 1
    assert metrics[("tidings_knowledge_base_chunks", ())] == 1
    assert metrics[("tidings_digests_posted_total", (("platform", "slack"),))] == 1
    assert metrics[("tidings_errors_total", (("component", "core"),))] >= 1
    record("Observability", endpoint="/healthz, /metrics", checked="status, chunks, queue depth, questions by outcome, latency, digests, errors")


async def test_health_reports_a_broken_knowledge_base(services: Services) -> None:
    class Broken:
        def count(self) -> int:
            raise OSError("disk gone")

    services.knowledge_base = Broken()  # type: ignore[assignment]
    server = MetricsServer(host="127.0.0.1", port=0, services=services)
    status, body = server.health()
    assert status == 503 and body["status"] == "error" and body["knowledge_base"] == {"error": "OSError"}
    assert b"tidings_queue_depth" in server.metrics.exposition()


async def test_each_question_logs_with_its_request_id(services: Services) -> None:
    stream = io.StringIO()
    handler = configure(level="INFO", json_lines=True, stream=stream)
    try:
        await services.answerer.answer(Question(text="how do I deploy?", request_id="slack-C9-42.1"))
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [line for line in lines if line["logger"] == "core.runtime.observability"]
    assert mine and all(line["request_id"] == "slack-C9-42.1" for line in mine)
    assert any(f.__class__ is RedactingFilter for f in handler.filters)


def test_two_metrics_objects_never_share_counters() -> None:
    one, two = Metrics(), Metrics()
    one.questions.labels(platform="slack", outcome="answered").inc()
    assert one.total() == 1 and two.total() == 0


MALFORMED_HTTP = {
    "control byte in a header": b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Any: \x01\r\n\r\n",
    "header line of 20 KB": b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Any: " + b"a" * 20_000 + b"\r\n\r\n",
    "broken request line": b"GET /metrics HTTP/9\x00\r\n\r\n",
    "not HTTP at all": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)),
    "bad content length": b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    "a second request that is garbage": b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE \x01\r\n\r\n",
}


async def test_malformed_requests_to_the_metrics_port_are_one_line_each_and_count_no_error(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    """Whoever can reach the metrics port can send it anything. aiohttp logged each request its
    parser refused at ERROR with a traceback, which also counted in tidings_errors: now one
    WARNING line each (no bytes, no traceback), no error counted, and the port keeps serving."""
    server = MetricsServer(host="127.0.0.1", port=0, services=services)
    await server.start()
    caplog.set_level(logging.INFO)  # (at DEBUG aiohttp itself keeps a traceback of non-HTTP traffic)
    errors_before = samples(server.metrics.exposition().decode()).get(("tidings_errors_total", (("component", "libraries"),)), 0.0)
    answers = {}
    try:
        for name, raw in MALFORMED_HTTP.items():
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(raw)
            await writer.drain()
            answers[name] = await asyncio.wait_for(reader.read(), 10)
            writer.close()
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{server.port}/metrics") as response:
            assert response.status == 200
            metrics = samples(await response.text())
    finally:
        await server.stop()
    for name, answer in answers.items():
        assert answer == b"" or answer[:12] in {b"HTTP/1.0 400", b"HTTP/1.1 400", b"HTTP/1.1 200"}, (name, answer[:80])
        assert b"Traceback" not in answer
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    refused = [r for r in caplog.records if r.name == "aiohttp.server" and r.levelno == logging.WARNING]
    assert 1 <= len(refused) <= len(MALFORMED_HTTP)
    assert all("\\x" not in r.getMessage() and "GARBAGE" not in r.getMessage() for r in refused)
    assert metrics.get(("tidings_errors_total", (("component", "libraries"),)), 0.0) == errors_before
    record("Observability", endpoint="metrics port, malformed HTTP", checked=f"{len(MALFORMED_HTTP)} kinds: 400 or closed, one line each, no error counted")


async def test_metrics_are_still_served_when_the_state_store_breaks(services: Services, caplog: pytest.LogCaptureFixture) -> None:
    class BrokenState:
        def digests(self) -> list[object]:
            raise OSError("database gone")

    state, services.state = services.state, BrokenState()  # type: ignore[assignment]
    server = MetricsServer(host="127.0.0.1", port=0, services=services)
    caplog.set_level(logging.WARNING)
    try:
        exposition = samples(server.metrics.exposition().decode())
    finally:
        services.state = state
    assert ("tidings_queue_depth", ()) in exposition and ("tidings_knowledge_base_chunks", ()) in exposition
    assert not any(name.startswith("tidings_digests_posted") for name, _ in exposition)
    assert [r.levelno for r in caplog.records if r.name == "core.runtime.observability"] == [logging.WARNING]
