"""The dependency direction is the architecture: adapters -> core, bots -> adapters + core."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLATFORM_SDKS = ("slack_bolt", "slack_sdk", "discord")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_never_imports_platforms_adapters_or_bots() -> None:
    offenders = []
    for path in (REPO / "core").rglob("*.py"):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top in {"adapters", "bots", "slack_bolt", "slack_sdk", "discord"}:
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, offenders


def test_adapters_never_import_each_other_or_bots() -> None:
    offenders = []
    platforms = [p.name for p in (REPO / "adapters").iterdir() if p.is_dir() and not p.name.startswith("_")]
    for platform in platforms:
        for path in (REPO / "adapters" / platform).rglob("*.py"):
            for name in imports_of(path):
                parts = name.split(".")
                if parts[0] == "bots" or (parts[0] == "adapters" and len(parts) > 1 and parts[1] != platform):
                    offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, offenders


def test_importing_every_core_module_loads_no_platform_sdk() -> None:
    modules = sorted(
        ".".join(p.relative_to(REPO).with_suffix("").parts)
        for p in (REPO / "core").rglob("*.py")
        if p.name != "__init__.py" or p.parent != REPO / "core"
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name.removesuffix('.__init__'))\n"
        f"leaked = [m for m in sys.modules if m.split('.')[0] in {PLATFORM_SDKS!r}]\n"
        "print(','.join(sorted(leaked)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"core pulled in platform SDKs: {result.stdout}"


def test_help_is_light() -> None:
    """`tidings --help` loads no model library (heavy imports are lazy)."""
    script = (
        "import sys\n"
        "from bots.cli import build_parser\n"
        "build_parser().format_help()\n"
        "heavy = [m for m in ('torch', 'llama_cpp', 'lancedb', 'sentence_transformers', 'discord', 'slack_bolt') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


def test_core_top_holds_only_the_shared_language() -> None:
    # Everything else lives in a folder named for what it does (knowledge, answers, digests, ...).
    top = {p.stem for p in (REPO / "core").glob("*.py")} - {"__init__"}
    assert top <= {"types", "ports", "errors", "config", "services", "text"}, sorted(top)
    folders = {p.name for p in (REPO / "core").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == {"knowledge", "answers", "digests", "model", "runtime", "evaluation", "commands"}, sorted(folders)
