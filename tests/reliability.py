"""Figures the reliability tests measure, collected for ``docs/reliability.md``.

A test calls ``record("Load", questions=24, concurrency=24, p99_ack_s=0.41)`` with what it
tried and measured; ``tests/reliability_plugin.py`` writes every recorded row into the
report, next to whether the test that measured it passed. Outside a report run the rows are
simply kept in memory and forgotten.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, settings


@dataclass
class Row:
    table: str
    values: dict[str, Any]
    test: str = ""


@dataclass
class Figures:
    rows: list[Row] = field(default_factory=list)


FIGURES = Figures()


def current_test() -> str:
    """The node id of the running test (pytest keeps it in PYTEST_CURRENT_TEST)."""
    return os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]


def record(table: str, **values: Any) -> None:
    FIGURES.rows.append(Row(table, dict(values), current_test()))


def fuzz(max_examples: int) -> settings:
    """Settings of a fuzz property: no deadline (the machine is shared), no example database
    (the checkout stays clean), and large generated inputs allowed."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
