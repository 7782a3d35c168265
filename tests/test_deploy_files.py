"""The deployment starting points in ``config/deploy`` build from what the repository holds:
``docker compose up`` failed on a build that named no Dockerfile, and no test would have said so
(no Docker here: these check the files against the repository, not a built image)."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "config" / "deploy"


def _tidings_build() -> tuple[Path, Path]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    build = compose["services"]["tidings"]["build"]
    assert isinstance(build, dict), "the build names its Dockerfile: the repository root has none"
    context = (DEPLOY / build["context"]).resolve()
    return context, context / build["dockerfile"]


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = dockerfile.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "")
        for line in lines if line and not line.startswith("#")
    ]


def _ignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path, f"**/{pattern}") or path.startswith(f"{pattern}/"):
            ignored = not negated
    return ignored


def test_compose_builds_the_repository_with_its_own_dockerfile() -> None:
    context, dockerfile = _tidings_build()
    assert context == REPO
    assert dockerfile.is_file(), f"{dockerfile} is missing"
    steps = _instructions(dockerfile)
    copies = [shlex.split(args) for kind, args in steps if kind in {"COPY", "ADD"}]
    assert copies, "the image copies the repository in"
    for *sources, _target in copies:
        for source in (s for s in sources if not s.startswith("--")):
            assert (context / source).exists(), f"COPY {source}: not in the build context"
    assert steps[-1] == ("CMD", '["tidings", "run"]')


def test_the_image_keeps_what_tidings_reads_at_run_time() -> None:
    # The first-start knowledge base is the README and docs/ beside the code; an ignore file that
    # drops them gives an image whose demo answers nothing.
    _context, dockerfile = _tidings_build()
    ignore = dockerfile.with_name(f"{dockerfile.name}.dockerignore")
    patterns = [
        line.strip() for line in ignore.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    needed = ["README.md", "pyproject.toml", "docs/faq.md", "core/config.py", "adapters", "bots/cli.py", "config/tidings.toml"]
    assert [path for path in needed if _ignored(path, patterns)] == []
    assert _ignored(".venv/bin/python", patterns) and _ignored(".git/HEAD", patterns) and _ignored(".env", patterns)
    assert any("pip install -e ." in args for kind, args in _instructions(dockerfile) if kind == "RUN")


def test_the_image_installs_as_the_makefile_does() -> None:
    # The pinned torch (an unpinned one pulls CUDA) and llama.cpp's portable build flags.
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    dockerfile = _tidings_build()[1].read_text(encoding="utf-8")
    torch = re.search(r'"(torch==[^"]+)"', makefile)
    flags = re.search(r"^LLAMA_CMAKE_ARGS \?= (.+)$", makefile, re.MULTILINE)
    assert torch and flags
    assert f'"{torch.group(1)}"' in dockerfile
    assert f'LLAMA_CMAKE_ARGS="{flags.group(1).strip()}"' in dockerfile
