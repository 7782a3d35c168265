"""The reliability suite and its report: ``pytest -m reliability --reliability-report docs/reliability.md``.

Loaded by ``addopts`` in ``pyproject.toml`` (``-p tests.reliability_plugin``). It

- marks every test of the trust suites (access probes, fuzzing, abuse, load, faults, secrets,
  observability) with ``reliability``, so ``-m reliability`` selects exactly them;
- counts the cases Hypothesis runs for each property test (the fuzz figures): a case is an
  example that ran the property to its end, passing or failing; a draw thrown away with
  ``assume``/``reject`` (or cut short because the data ran out) checked nothing and is not one;
- at the end of the session, reports those counts (in the terminal, and in the report) rather
  than having a test print them: a summary is not a test that can fail;
- with ``--reliability-report PATH``, writes the figures the tests ``record`` (see
  ``tests/reliability.py``) as Markdown tables, each row next to whether its test passed.

A property must not ``return`` early on some inputs (that example would be counted, yet checked
nothing): generate only the inputs it can judge, or ``reject()`` the rest.
``tests/test_reliability_plugin.py`` holds the counting and the test files to these rules.
"""

from __future__ import annotations

import functools
import platform
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis.errors import UnsatisfiedAssumption

from tests.reliability import FIGURES, Row

SUITE_PREFIXES = ("test_access_", "test_fuzz_")
SUITE_FILES = frozenset(
    {
        "test_abuse.py",
        "test_load.py",
        "test_load_both.py",
        "test_faults.py",
        "test_faults_discord.py",
        "test_process_kill.py",
        "test_secrets_in_logs.py",
        "test_observability.py",
    }
)
"""Test files (by name prefix, or exact name) that make up the reliability suite."""

EXTERNAL_FAULTS = {
    "tests/test_scheduling.py::test_a_crash_before_posting_is_retried_once_on_restart": (
        "digest: process dies after claiming the window, before posting",
        "posted once on restart",
    ),
    "tests/test_scheduling.py::test_a_crash_after_posting_is_recorded_not_reposted": (
        "digest: process dies after the post, before recording it",
        "the post is found in the channel and recorded, not posted again",
    ),
    "tests/test_scheduling.py::test_a_double_fire_and_a_second_replica_post_once": (
        "digest: the same schedule fires twice, and a second replica runs it",
        "posted once",
    ),
    "tests/test_answering.py::test_a_model_server_that_is_down_costs_the_model_not_the_answer[generate]": (
        "model server down (nothing listening) while a question is answered in `generate` style",
        "the sources quoted, ranked by the embedder; an error in the log names the server",
    ),
    "tests/test_answering.py::test_a_model_server_that_is_down_costs_the_model_not_the_answer[model-picks-quote]": (
        "model server down while the model is to pick the quote (`quote_selector = \"model\"`)",
        "the ranking's best quoted; an error in the log names the server",
    ),
    "tests/test_digest_failures.py::test_a_model_server_that_is_down_costs_the_digest_its_wording_not_its_items": (
        "model server down while a digest is made",
        "the rules' decisions and action items posted, each linked; the log names the server",
    ),
    "tests/test_remote_model.py::test_a_server_that_does_not_answer_is_not_waited_for_again_at_once": (
        "model server accepts connections and never answers (a host that hangs)",
        "one call waits its timeout; the rest fail at once for 30 s, then it is asked again",
    ),
    "tests/test_doctor.py::test_a_model_server_that_is_down_needs_a_fix": (
        "model server down when `tidings doctor` runs",
        "FIX on the language model line, naming the server and what to do",
    ),
}
"""Fault tests that live with the code they prove (the digest scheduler's); part of the suite
and rows of the Faults table."""

TABLE_ORDER = ("Access", "Fuzzing", "Hostile input", "Load", "Faults", "Secrets", "Observability")

RERUN = "make reliability"

KNOWN_GAPS = (
    "A Discord /ask answer too long for one message (over about 6,500 characters, which needs max_answer_tokens "
    "above about 1,800) and a /summarize digest over one message (10 embeds or 6,000 characters) still go out as "
    "follow-ups, which a 5xx after Discord created them doubles (webhook messages take no nonce). Answers within "
    "one message and the apology are covered.",
)
"""What the suite does not prove yet, printed under the tables so the page never overclaims."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--reliability-report",
        default=None,
        metavar="PATH",
        help="write the reliability figures (probes, fuzz cases, load, faults) as Markdown to PATH",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reliability: part of the trust suite behind docs/reliability.md")
    config.pluginmanager.register(ReliabilityReport(config), "tidings-reliability-report")


def in_suite(item: pytest.Item) -> bool:
    name = Path(str(item.fspath)).name
    return name.startswith(SUITE_PREFIXES) or name in SUITE_FILES or item.nodeid in EXTERNAL_FAULTS


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # tryfirst: the marker must be on the items before ``-m`` deselects.
    for item in items:
        if in_suite(item):
            item.add_marker(pytest.mark.reliability)


@dataclass(frozen=True)
class FuzzRow:
    test: str
    cases: int
    rejected: int
    failed: int
    held: str


class FuzzCounts:
    """The examples Hypothesis runs for each property, counted by wrapping its inner test (the
    hook Hypothesis offers for this; its own observability mode would count them too, at many
    times the cost).

    A *case* is an example that ran the property to its end: it returned (passed) or raised
    (a failing case). An example thrown away by ``assume``/``reject`` (``UnsatisfiedAssumption``)
    checked nothing: it is counted as *rejected*, never as a case nor a failure. One cut short
    because its data ran out (Hypothesis' ``StopTest``, a ``BaseException``) is not counted."""

    def __init__(self) -> None:
        self.properties: set[str] = set()
        self.cases: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.running: str | None = None  # the test being run (pytest_runtest_logstart)

    def instrument(self, item: pytest.Item) -> bool:
        """Count the examples of ``item``'s property (once per function: the items of a
        parametrized property share it, and each example counts for the item running it)."""
        handle = getattr(getattr(item, "obj", None), "hypothesis", None)
        if handle is None or not hasattr(handle, "inner_test"):
            return False
        self.properties.add(item.nodeid)
        if not getattr(handle.inner_test, "counted_by_reliability_plugin", False):
            handle.inner_test = self.counting(item.nodeid, handle.inner_test)
        return True

    def counting(self, test: str, inner: Any) -> Any:
        """``inner`` wrapped to count its examples for the running test (else for ``test``)."""

        @functools.wraps(inner)
        def counted(*args: Any, **kwargs: Any) -> Any:
            key = self.running or test
            try:
                result = inner(*args, **kwargs)
            except UnsatisfiedAssumption:  # assume()/reject(): a draw thrown away, nothing checked
                self.rejected[key] += 1
                raise
            except Exception:
                self.cases[key] += 1
                self.failed[key] += 1
                raise
            self.cases[key] += 1
            return result

        counted.counted_by_reliability_plugin = True  # type: ignore[attr-defined]
        return counted


class ReliabilityReport:
    def __init__(self, config: pytest.Config) -> None:
        self.path = config.getoption("--reliability-report")
        self.outcomes: dict[str, str] = {}
        self.durations: dict[str, float] = defaultdict(float)
        self.fuzz = FuzzCounts()
        self.started = time.monotonic()

    # -- collecting ------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self.fuzz.instrument(item)

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.fuzz.running = nodeid

    def pytest_runtest_logfinish(self) -> None:
        self.fuzz.running = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.durations[report.nodeid] += report.duration
        if report.when == "call" or report.outcome != "passed":
            previous = self.outcomes.get(report.nodeid)
            if previous in {"failed", "error"}:
                return
            outcome = report.outcome
            if hasattr(report, "wasxfail"):
                outcome = "xfailed" if report.outcome == "skipped" else "xpassed"
            if report.when != "call" and outcome == "failed":
                outcome = "error"
            self.outcomes[report.nodeid] = outcome

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.path is None:
            return
        path = Path(self.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.render(), encoding="utf-8")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        rows = self.fuzz_rows()
        if rows:
            terminalreporter.write_sep("-", "fuzz cases (Hypothesis examples run to the end)")
            for line in self.fuzz_summary(rows):
                terminalreporter.write_line(line)
        if self.path is not None:
            terminalreporter.write_line(f"reliability report written to {self.path}")

    # -- rendering -------------------------------------------------------------------------

    def held(self, test: str) -> str:
        outcome = self.outcomes.get(test, "not run")
        return {
            "passed": "yes",
            "failed": "**NO**",
            "error": "**NO** (error)",
            "skipped": "skipped",
            "xfailed": "known bug (xfail)",
            "xpassed": "bug fixed: drop the xfail",
        }.get(outcome, outcome)

    def render(self) -> str:
        tests = sorted(self.outcomes)
        passed = sum(1 for t in tests if self.outcomes[t] == "passed")
        failed = sum(1 for t in tests if self.outcomes[t] in {"failed", "error"})
        skipped = sum(1 for t in tests if self.outcomes[t] == "skipped")
        lines = [
            "# Reliability: what was tried and what held",
            "",
            f"Generated by `{RERUN}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
            f"(Python {platform.python_version()}, {platform.machine()}, {sys.platform}); "
            f"{len(tests)} tests, {passed} passed, {failed} failed, {skipped} skipped, "
            f"{time.monotonic() - self.started:.0f} s.",
            "",
            "Every figure below is measured by a test of the suite; *held* says whether that test passed.",
            "Rerun everything with one command: `" + RERUN + "` (or `.venv/bin/python -m pytest -m reliability "
            "--reliability-report docs/reliability.md`).",
            "",
        ]
        tables: dict[str, list[Any]] = defaultdict(list)
        for row in FIGURES.rows:
            tables[row.table].append(row)
        for test, (fault, outcome) in EXTERNAL_FAULTS.items():
            if test in self.outcomes:
                tables["Faults"].append(Row("Faults", {"fault": fault, "outcome": outcome}, test))
        fuzz = self.fuzz_rows()
        names = [t for t in TABLE_ORDER if t in tables or (t == "Fuzzing" and fuzz)]
        names += sorted(set(tables) - set(TABLE_ORDER))
        for name in names:
            lines += [f"## {name}", ""]
            if name == "Fuzzing":
                lines += self.fuzz_table(fuzz)
                if tables.get(name):
                    lines += [""]
            if tables.get(name):
                lines += self.table(tables[name])
            lines.append("")
        lines += ["## Not covered yet", "", *(f"- {gap}" for gap in KNOWN_GAPS), ""]
        lines += self.test_list()
        return "\n".join(lines).rstrip() + "\n"

    def table(self, rows: list[Any]) -> list[str]:
        columns: list[str] = []
        for row in rows:
            columns += [key for key in row.values if key not in columns]
        header = [*columns, "held"]
        out = ["| " + " | ".join(c.replace("_", " ") for c in header) + " |", "|" + "---|" * len(header)]
        for row in rows:
            cells = [_cell(row.values.get(c, "")) for c in columns]
            out.append("| " + " | ".join([*cells, self.held(row.test)]) + " |")
        return out

    def fuzz_rows(self) -> list[FuzzRow]:
        return [
            FuzzRow(test, self.fuzz.cases[test], self.fuzz.rejected[test], self.fuzz.failed[test], self.held(test))
            for test in sorted(self.fuzz.properties)
            if test in self.outcomes
        ]

    @staticmethod
    def by_file(rows: list[FuzzRow]) -> dict[str, list[FuzzRow]]:
        files: dict[str, list[FuzzRow]] = defaultdict(list)
        for row in rows:
            files[row.test.split("::", 1)[0]].append(row)
        return dict(sorted(files.items()))

    def fuzz_summary(self, rows: list[FuzzRow]) -> list[str]:
        lines = [
            f"{file}: {sum(r.cases for r in file_rows):,} cases over {len(file_rows)} properties, "
            f"{sum(r.failed for r in file_rows)} failing; {sum(r.rejected for r in file_rows):,} draws rejected (not cases)"
            for file, file_rows in self.by_file(rows).items()
        ]
        return [*lines, f"total: {sum(r.cases for r in rows):,} cases over {len(rows)} properties"]

    def fuzz_table(self, rows: list[FuzzRow]) -> list[str]:
        if not rows:
            return []
        out = [
            f"Hypothesis generated **{sum(r.cases for r in rows):,}** cases over {len(rows)} properties. "
            "A case is an example that ran its property to the end; draws rejected by `assume`/`reject` "
            "checked nothing and are counted apart.",
            "",
            "| test file | properties | cases run | failing cases | draws rejected | all held |",
            "|---|---|---|---|---|---|",
        ]
        for file, file_rows in self.by_file(rows).items():
            known = sum(1 for r in file_rows if r.held == "known bug (xfail)")
            held = "yes" if all(r.held == "yes" for r in file_rows) else "**NO**"
            if known and all(r.held in {"yes", "known bug (xfail)"} for r in file_rows):
                held = f"yes, except {known} known bug(s) (xfail)"
            out.append(
                f"| `{file}` | {len(file_rows)} | {sum(r.cases for r in file_rows):,} | {sum(r.failed for r in file_rows)} "
                f"| {sum(r.rejected for r in file_rows):,} | {held} |"
            )
        return out

    def test_list(self) -> list[str]:
        by_file: dict[str, list[str]] = defaultdict(list)
        for test in sorted(self.outcomes):
            by_file[test.split("::", 1)[0]].append(test)
        out = ["## Tests in this run", "", "| test file | tests | passed | seconds |", "|---|---|---|---|"]
        for file, tests in sorted(by_file.items()):
            ok = sum(1 for t in tests if self.outcomes[t] == "passed")
            seconds = sum(self.durations[t] for t in tests)
            out.append(f"| `{file}` | {len(tests)} | {ok} | {seconds:.1f} |")
        return out


def _cell(value: Any) -> str:
    if isinstance(value, float):
        text = f"{value:,.3f}".rstrip("0").rstrip(".")
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")
