"""What an operator watches: Prometheus metrics and a health check on a local port.

- ``Metrics`` owns its own ``CollectorRegistry`` (never the process-global one), so two bots
  in one process, or two tests, never share counters.
- ``InstrumentedAnswerer`` wraps any answerer: it times and counts each answer by platform
  and outcome, and puts the question's request id on every log line written meanwhile.
- ``MetricsServer`` serves ``/healthz`` (JSON) and ``/metrics`` (Prometheus text) with
  aiohttp. Queue depth, knowledge base size and digests posted are read from the services
  at scrape time, so they are never stale and nothing has to remember to update them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from core.answers import introduction
from core.errors import UserFacingError
from core.ports import OnQueued, OnText
from core.runtime.logs import request_id
from core.services import AnswersQuestions, Services
from core.types import Answer, Question

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
"""Seconds; a CPU answer takes from a fraction of a second (refusal) to tens of seconds (busy queue)."""

OUTCOMES = ("answered", "not_covered", "refused", "failed")
PLATFORMS = ("slack", "discord", "console", "other")


def platform_of(question: Question) -> str:
    """Which platform a question came from: its request id (``slack-…``) or its channel scope.
    One with neither is the terminal's (the chat or `tidings ask`), whatever scopes it reads:
    the terminal chat also reads the bundled docs' scope."""
    for candidate in (question.request_id.split("-", 1)[0], *(s.split(":", 1)[0] for s in question.scopes)):
        if candidate in PLATFORMS and candidate != "other":
            return candidate
    return "other" if question.request_id else "console"


def component_of(logger_name: str) -> str:
    """The layer a logger belongs to; a bounded label (logger names are not)."""
    top = logger_name.split(".", 1)[0]
    return top if top in {"core", "adapters", "bots"} else "libraries"


class ErrorCounter(logging.Handler):
    """Counts ERROR (and worse) log records by component: every error Tidings handles is
    logged, so this counts them all without touching the code that handles them."""

    def __init__(self, counter: Counter) -> None:
        super().__init__(level=logging.ERROR)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        self.counter.labels(component=component_of(record.name)).inc()


class HttpServerLog(logging.LoggerAdapter[logging.Logger]):
    """The logger for aiohttp's server side of our HTTP ports (Slack's endpoint, this metrics port).

    aiohttp logs a request its HTTP parser refuses (a control byte in a header, a line too long,
    not HTTP at all) at ERROR, with a traceback. Such a request is anyone's noise and says
    nothing about Tidings: it becomes one WARNING line, naming neither its bytes nor a traceback,
    so it neither floods the log nor counts in ``tidings_errors``. A failure inside a handler
    (a 500) keeps its ERROR and traceback."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        super().__init__(logger or logging.getLogger("aiohttp.server"), {})

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        error = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        status = getattr(error, "code", None)
        if error is not None and _is_refused_by_parser(error) and isinstance(status, int) and 400 <= status < 500:
            self.warning(f"{msg}: %s (HTTP %d)", *args, type(error).__name__, status)
            return
        self.error(msg, *args, exc_info=exc_info, **kwargs)


def _is_refused_by_parser(error: BaseException) -> bool:
    from aiohttp.http_exceptions import HttpProcessingError

    return isinstance(error, HttpProcessingError)


class Metrics:
    """The counters Tidings keeps while it runs, in a registry of their own."""

    def __init__(self, *, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.questions = Counter(
            "tidings_questions",
            "Questions handled, by platform and outcome (answered, not_covered, refused, failed).",
            ["platform", "outcome"],
            registry=self.registry,
        )
        self.answer_seconds = Histogram(
            "tidings_answer_seconds",
            "Seconds from taking a question to the finished answer, queueing included.",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queued = Counter(
            "tidings_questions_queued",
            "Questions that had to wait for the model behind others.",
            ["platform"],
            registry=self.registry,
        )
        self.errors = Counter(
            "tidings_errors",
            "ERROR log records, by component (core, adapters, bots, libraries).",
            ["component"],
            registry=self.registry,
        )
        self.error_handler = ErrorCounter(self.errors)
        self._watching: Services | None = None
        # Label sets exist from the start, so a dashboard shows 0 rather than no data.
        for platform in PLATFORMS:
            self.answer_seconds.labels(platform=platform)
            self.queued.labels(platform=platform)
            for outcome in OUTCOMES:
                self.questions.labels(platform=platform, outcome=outcome)

    def watch(self, services: Services) -> None:
        """Report queue depth, knowledge base size and digests posted from ``services``
        (once: a second call for the same services changes nothing)."""
        if self._watching is services:
            return
        if self._watching is not None:
            raise ValueError("these metrics already report another set of services")
        self.registry.register(ServicesCollector(services))
        self._watching = services

    def count_errors(self, logger: logging.Logger | None = None) -> None:
        target = logger or logging.getLogger()
        if self.error_handler not in target.handlers:
            target.addHandler(self.error_handler)

    def stop_counting_errors(self, logger: logging.Logger | None = None) -> None:
        (logger or logging.getLogger()).removeHandler(self.error_handler)

    def total(self, outcome: str | None = None) -> float:
        """Questions counted so far (of one outcome), for the health check and tests."""
        value = 0.0
        for metric in self.questions.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total") and (outcome is None or sample.labels["outcome"] == outcome):
                    value += sample.value
        return value

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class ServicesCollector(Collector):
    """Gauges read from the running services when Prometheus scrapes."""

    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "tidings_queue_depth", "Model calls waiting or running (questions and digest steps)."
        )
        depth.add_metric([], float(self.services.worker.depth))
        yield depth
        chunks = GaugeMetricFamily("tidings_knowledge_base_chunks", "Chunks in the knowledge base.")
        try:
            chunks.add_metric([], float(self.services.knowledge_base.count()))
        except Exception:  # a broken store shows as a missing sample and in /healthz
            log.warning("could not count the knowledge base for /metrics", exc_info=True)
        else:
            yield chunks
        posted = CounterMetricFamily(
            "tidings_digests_posted", "Digests posted (kept in the state store, so it survives restarts).", labels=["platform"]
        )
        counts: dict[str, int] = {}
        try:
            for record in self.services.state.digests():
                if record.status == "posted":
                    counts[record.platform] = counts.get(record.platform, 0) + 1
        except Exception:  # a broken state store costs this sample, not the whole scrape
            log.warning("could not count the digests posted for /metrics", exc_info=True)
            return
        for platform, count in sorted(counts.items()):
            posted.add_metric([platform], float(count))
        yield posted
        failed = CounterMetricFamily(
            "tidings_digests_failed",
            "Scheduled digest runs that failed (kept in the state store, so it survives restarts).",
            labels=["platform"],
        )
        failures: dict[str, int] = {}
        try:
            for run in self.services.state.digest_runs().values():
                failures[run.platform] = failures.get(run.platform, 0) + run.failures
        except Exception:
            log.warning("could not count the failed digests for /metrics", exc_info=True)
            return
        for platform, count in sorted(failures.items()):
            failed.add_metric([platform], float(count))
        yield failed


class InstrumentedAnswerer:
    """An :class:`core.services.AnswersQuestions` that times and counts ``inner``'s answers."""

    def __init__(self, inner: AnswersQuestions, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def answer(
        self,
        question: Question,
        *,
        on_text: OnText | None = None,
        on_queued: OnQueued | None = None,
    ) -> Answer:
        platform = platform_of(question)
        token = request_id.set(question.request_id or request_id.get())
        started = time.perf_counter()

        async def queued(position: int) -> None:
            self.metrics.queued.labels(platform=platform).inc()
            if on_queued is not None:
                await on_queued(position)

        outcome = "failed"
        try:
            answer = await self.inner.answer(question, on_text=on_text, on_queued=queued)
            # An introduction ("what can you do?") is an answer, not a gap in the knowledge base.
            outcome = "answered" if answer.grounded or answer.style == introduction.STYLE else "not_covered"
            return answer
        except UserFacingError:
            outcome = "refused"
            raise
        finally:
            seconds = time.perf_counter() - started
            self.metrics.questions.labels(platform=platform, outcome=outcome).inc()
            self.metrics.answer_seconds.labels(platform=platform).observe(seconds)
            log.info("question %s on %s in %.2f s", outcome, platform, seconds)
            request_id.reset(token)


class MetricsServer:
    """``/healthz`` and ``/metrics`` on ``host:port`` (``port=0`` picks a free port, then
    ``self.port`` says which)."""

    def __init__(self, *, host: str, port: int, services: Services, metrics: Metrics | None = None) -> None:
        self.host = host
        self.port = port
        self.services = services
        self.metrics = metrics or metrics_of(services)
        self.metrics.watch(services)
        self.started_at = time.monotonic()
        self._runner: Any = None

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None, logger=HttpServerLog())
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self.metrics.count_errors()
        self.started_at = time.monotonic()
        log.info("metrics on http://%s:%s/metrics, health on /healthz", self.host, self.port)

    async def stop(self) -> None:
        self.metrics.stop_counting_errors()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def health(self) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 200 and ``ok`` while the knowledge base answers, else 503."""
        body: dict[str, Any] = {
            "status": "ok",
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "queue_depth": self.services.worker.depth,
            "questions": int(self.metrics.total()),
        }
        try:
            body["knowledge_base"] = {"chunks": self.services.knowledge_base.count()}
        except Exception as error:
            body["status"] = "error"
            body["knowledge_base"] = {"error": type(error).__name__}
            return 503, body
        return 200, body

    async def _healthz(self, request: Any) -> Any:
        from aiohttp import web

        status, body = await asyncio.to_thread(self.health)
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    async def _metrics(self, request: Any) -> Any:
        from aiohttp import web

        payload = await asyncio.to_thread(self.metrics.exposition)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})


def metrics_of(services: Services) -> Metrics:
    """The metrics the services' answerer reports to, or fresh ones when it is not instrumented."""
    answerer = services.answerer
    return answerer.metrics if isinstance(answerer, InstrumentedAnswerer) else Metrics()
