"""Typed access to parsed JSON whose shape nobody promised.

Exports come from other programs and from users; a field may be missing, null, or of the
wrong type. These helpers answer with a safe default instead of raising, so a loader only
has to decide what a *missing* value means.
"""

from __future__ import annotations

from typing import Any


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str:
    """Strings as they are, numbers as their digits (ids sometimes arrive as numbers), else ``""``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return ""
    if isinstance(value, int | float):
        return str(value)
    return ""


def dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a JSON array; anything else in it is ignored."""
    return [item for item in as_list(value) if isinstance(item, dict)]
