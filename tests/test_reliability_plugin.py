"""The reliability plugin's fuzz counts: a case is an example that ran its property to the end.

A draw thrown away with ``assume``/``reject`` checked nothing, so it is no case (it used to
count as one, and as a failing one); a property that ``return``s early on some inputs would
have such examples counted as cases, so no property of the fuzz files does. The counts are
reported by the plugin at the end of the session, not printed by a test that always passes.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, reject, settings
from hypothesis import strategies as st

from tests.reliability_plugin import FuzzCounts

REPO = Path(__file__).resolve().parent.parent
EXACT = settings(max_examples=40, database=None, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))


def counted(prop: object, counts: FuzzCounts, name: str) -> None:
    handle = prop.hypothesis  # type: ignore[attr-defined]
    handle.inner_test = counts.counting(name, handle.inner_test)


def test_draws_rejected_by_assume_or_reject_are_not_cases() -> None:
    checked: list[int] = []

    @EXACT
    @given(st.integers(0, 10_000))
    def prop(n: int) -> None:
        assume(n % 3 != 1)
        if n % 3 == 2:
            reject()
        checked.append(n)
        assert n % 3 == 0

    counts = FuzzCounts()
    counted(prop, counts, "prop")
    prop()
    assert counts.rejected["prop"] > 0, "the property must have rejected draws, or this proves nothing"
    # Exactly the examples that reached the check; Hypothesis agrees (max_examples counts valid ones).
    assert counts.cases["prop"] == len(checked) == 40
    assert counts.failed["prop"] == 0


def test_a_failing_example_is_a_case_and_a_failing_case() -> None:
    passed: list[int] = []

    @EXACT
    @given(st.integers(0, 10_000))
    def prop(n: int) -> None:
        assume(n % 2 == 0)
        assert n < 1_000
        passed.append(n)

    counts = FuzzCounts()
    counted(prop, counts, "prop")
    with pytest.raises(AssertionError):
        prop()
    assert counts.failed["prop"] >= 1  # the failure, its shrinking and its replay
    assert counts.cases["prop"] == len(passed) + counts.failed["prop"]
    assert counts.rejected["prop"] > 0


def test_examples_count_for_the_test_being_run() -> None:
    """The items of a parametrized property share one function; each example counts for the
    item that runs it (the plugin sets ``running`` as each test starts)."""

    @EXACT
    @given(st.booleans())
    def prop(b: bool) -> None:
        assert b in {True, False}

    counts = FuzzCounts()
    counted(prop, counts, "prop[a]")
    counts.running = "prop[b]"
    prop()
    assert (counts.cases["prop[a]"], counts.cases["prop[b]"]) == (0, 2)  # two booleans: the space is exhausted


# -- early returns -----------------------------------------------------------------------------


def early_returns(source: str) -> list[str]:
    """``name:line`` of every ``return`` in the body of a ``@given`` function (nested functions,
    lambdas and classes are their own business)."""

    def is_given(decorator: ast.expr) -> bool:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        return (isinstance(target, ast.Name) and target.id == "given") or (
            isinstance(target, ast.Attribute) and target.attr == "given"
        )

    def returns(node: ast.AST) -> list[int]:
        found = []
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
                continue
            if isinstance(child, ast.Return):
                found.append(child.lineno)
            found += returns(child)
        return found

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(map(is_given, node.decorator_list)):
            found += [f"{node.name}:{line}" for line in returns(node)]
    return found


def test_the_early_return_check_finds_one() -> None:
    source = textwrap.dedent(
        """
        @settings(max_examples=5)
        @hypothesis.given(st.binary())
        def test_loads(data):
            def helper():
                return 1  # a nested function may return
            try:
                built = build(data)
            except ValueError:
                return  # nothing checked, yet a case
            check(built)

        def not_a_property():
            return 2
        """
    )
    assert early_returns(source) == ["test_loads:10"]


def test_no_fuzz_property_returns_early() -> None:
    """Inputs a property cannot judge are not generated (or are ``reject()``ed), so every
    counted case checked something."""
    files = sorted((REPO / "tests").glob("test_fuzz_*.py"))
    assert files
    found = {path.name: early_returns(path.read_text(encoding="utf-8")) for path in files}
    assert {name: lines for name, lines in found.items() if lines} == {}


# -- through pytest: the hooks count and report, at the end of the session --------------------

SAMPLE = '''
from hypothesis import HealthCheck, assume, given, reject, settings, strategies as st

EXACT = settings(max_examples=30, database=None, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))


@EXACT
@given(st.integers(0, 1000))
def test_even(n):
    assume(n % 2 == 0)
    assert n % 2 == 0


@settings(max_examples=20, database=None, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 1000))
def test_fives(n):
    if n % 5:
        reject()
    assert n % 5 == 0


def test_plain():
    assert True
'''


def test_the_plugin_reports_cases_at_the_end_of_the_session(tmp_path: Path) -> None:
    (tmp_path / "test_fuzz_sample.py").write_text(SAMPLE, encoding="utf-8")
    report = tmp_path / "reliability.md"
    environ = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.reliability_plugin",
         "--reliability-report", str(report), "test_fuzz_sample.py"],
        cwd=tmp_path, env=environ, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = re.search(r"test_fuzz_sample\.py: (\d+) cases over 2 properties, 0 failing; ([\d,]+) draws rejected", run.stdout)
    assert summary, run.stdout[-3000:]
    assert int(summary[1]) == 30 + 20 and int(summary[2].replace(",", "")) > 0
    markdown = report.read_text(encoding="utf-8")
    assert "Hypothesis generated **50** cases over 2 properties." in markdown
    row = re.search(r"\| `test_fuzz_sample\.py` \| 2 \| 50 \| 0 \| ([\d,]+) \| yes \|", markdown)
    assert row and row[1] == summary[2], markdown
    assert "3 tests, 3 passed" in markdown
