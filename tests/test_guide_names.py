"""Every setting and command the guide names exists: the bot quotes these pages to newcomers,
so a renamed setting or command must not live on in them."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bots.cli import build_parser
from core.knowledge.ingesting import bundled_docs

ROOT = Path(__file__).resolve().parent.parent
GUIDE = bundled_docs(ROOT / "docs")
CONFIG = ROOT / "config" / "tidings.toml"

_SETTING = re.compile(r"`\[([a-z_.]+)\] ([a-z_]+)")
# Fenced blocks, inline code and indented lines: where the guide writes commands.
_CODE = re.compile(r"```[a-z]*\n([\s\S]*?)```|`([^`\n]+)`|^(?:    |\t)(.+)$", re.M)
_COMMAND = re.compile(r"(?<![\w/.:-])tidings ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)")


def configured_keys() -> set[tuple[str, str]]:
    """(section, key) for every setting config/tidings.toml lists, commented out or not."""
    keys: set[tuple[str, str]] = set()
    section = ""
    for line in CONFIG.read_text(encoding="utf-8").splitlines():
        header = re.match(r"^\s*#?\s*\[\[?([a-z_.]+)\]\]?\s*$", line)
        if header:
            section = header.group(1)
            parent, _, table = section.rpartition(".")
            if parent:  # [access.grants] is the setting `[access] grants`
                keys.add((parent, table))
            continue
        key = re.match(r"^\s*#?\s*([a-z_]+)\s*=", line)
        if key and section:
            keys.add((section, key.group(1)))
    return keys


def commands() -> dict[str, set[str]]:
    """Each subcommand of ``tidings`` and its own subcommands."""
    def choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in parser._actions:  # argparse keeps its subparsers here
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}
    return {name: set(choices(sub)) for name, sub in choices(build_parser()).items()}


def code_in(text: str) -> list[str]:
    return [next(g for g in match.groups() if g) for match in _CODE.finditer(text)]


@pytest.mark.parametrize("page", GUIDE, ids=lambda p: p.name)
def test_every_setting_the_guide_names_exists(page: Path) -> None:
    known = configured_keys()
    unknown = set(_SETTING.findall(page.read_text(encoding="utf-8"))) - known
    assert not unknown, f"{page.name} names settings config/tidings.toml does not have: {sorted(unknown)}"


@pytest.mark.parametrize("page", GUIDE, ids=lambda p: p.name)
def test_every_command_the_guide_names_exists(page: Path) -> None:
    known = commands()
    wrong = []
    for code in code_in(page.read_text(encoding="utf-8")):
        for words in _COMMAND.findall(code):
            command, _, sub = words.partition(" ")
            if command not in known or (known[command] and sub and sub not in known[command]):
                wrong.append(f"tidings {words}")
    assert not wrong, f"{page.name} names commands tidings does not have: {wrong}"
