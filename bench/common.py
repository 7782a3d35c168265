"""Helpers shared by the core benchmarks: data, models, timing and reporting.

Every benchmark prints a short human summary, or one JSON object with ``--json``. The real
public data beside the repository (``../shared/data``) is used when present; otherwise each
benchmark falls back to the small built-in handbook below, so it still runs anywhere.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
FAQ_CSV = SHARED_DATA / "qa" / "covid-faq.csv"
QA_SQUAD = SHARED_DATA / "qa" / "covid-qa-squad.json"
# The default home's model cache (``tidings`` assembles the packaged GGUF there on first use).
MODEL_CACHE = REPO / ".tidings" / "models"
# Embeddings of real texts, reused between runs of the retrieval benchmark.
BENCH_CACHE = REPO / ".tidings" / "bench-cache"

HANDBOOK: tuple[tuple[str, str], ...] = (
    ("How do I deploy?", "Deploys go out from the main branch. Run make deploy after two approvals; a deploy takes about ten minutes."),
    ("How do I roll back a deploy?", "Run make rollback. A rollback needs one approval and takes about three minutes."),
    ("Where do visitors park?", "Visitors use bays 1 to 4 at reception. Staff park in the north garage."),
    ("How do I get VPN access?", "Request VPN access in the IT portal under Access > VPN. Approval takes one working day."),
    ("When is the VPN required?", "The VPN is required for the admin console and the billing database, not for email."),
    ("How many vacation days do I get?", "Full-time staff get 25 vacation days a year, plus public holidays. Unused days carry over until March."),
    ("How do I book a meeting room?", "Book rooms in the calendar app; rooms on floor 3 hold up to 12 people."),
    ("Who do I call for a security incident?", "Call the security hotline on extension 5555, day or night, and then file a ticket."),
    ("How do I expense a taxi?", "Upload the receipt in the expenses app within 30 days; taxis after 10 pm are always reimbursed."),
    ("What is the office wifi password policy?", "The office wifi password changes every quarter and is posted on the kitchen board."),
    ("How do I reset my password?", "Use the self-service page at id.example.com; a reset link arrives by email within five minutes."),
    ("Where is the on-call schedule?", "The on-call schedule lives in the ops calendar; swaps must be agreed in the #ops channel."),
)


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    return parser


def machine() -> dict[str, Any]:
    """What the figures were measured on: they are only comparable within one run."""
    load1, load5, _ = os.getloadavg()
    return {"cpus": os.cpu_count(), "load_1m": round(load1, 2), "load_5m": round(load5, 2)}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def latency_ms(values_s: Sequence[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "mean_ms": round(statistics.fmean(ms), 2) if ms else float("nan"),
    }


@contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as elapsed: ...`` then ``elapsed[0]`` is the seconds taken."""
    elapsed: list[float] = []
    started = time.perf_counter()
    try:
        yield elapsed
    finally:
        elapsed.append(time.perf_counter() - started)


def emit(result: dict[str, Any], summary: Sequence[str], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print("\n".join(summary))


# -- data -----------------------------------------------------------------------------------


def faq_entries(limit: int | None = None) -> list[tuple[str, str]]:
    """(question, answer) pairs of the real COVID FAQ, or the built-in handbook."""
    if not FAQ_CSV.is_file():
        return list(HANDBOOK[:limit])
    with FAQ_CSV.open(newline="", encoding="utf-8") as handle:
        rows = [
            (row["question"].strip(), row["answer"].strip())
            for row in csv.DictReader(handle)
            if (row.get("question") or "").strip() and (row.get("answer") or "").strip()
        ]
    # Several agencies answer the same question: keep the first answer of each.
    seen: set[str] = set()
    unique = [(q, a) for q, a in rows if not (q.lower() in seen or seen.add(q.lower()))]  # type: ignore[func-returns-value]
    return unique[:limit]


def write_faq_csv(path: Path, entries: Sequence[tuple[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question", "answer"])
        writer.writerows(entries)
    return path


def qa_articles(limit: int | None = None) -> list[tuple[str, str]]:
    """(title, text) of the real COVID-QA research articles, or the handbook as one article."""
    if not QA_SQUAD.is_file():
        text = "\n\n".join(f"## {q}\n\n{a}" for q, a in HANDBOOK)
        return [("Handbook", text)][:limit]
    data = json.loads(QA_SQUAD.read_text(encoding="utf-8"))["data"]
    articles: list[tuple[str, str]] = []
    for number, article in enumerate(data, start=1):
        text = "\n\n".join(p["context"].strip() for p in article["paragraphs"])
        title = article.get("title") or text.split("\n", 1)[0][:80].strip() or f"Article {number}"
        articles.append((title, text))
    return articles[:limit]


def qa_questions(limit: int | None = None) -> list[str]:
    """Real questions asked about the COVID-QA articles (for retrieval queries)."""
    if not QA_SQUAD.is_file():
        return [q for q, _ in HANDBOOK][:limit]
    data = json.loads(QA_SQUAD.read_text(encoding="utf-8"))["data"]
    questions = [qa["question"].strip() for a in data for p in a["paragraphs"] for qa in p["qas"]]
    return questions[:limit]


def write_articles(folder: Path, articles: Sequence[tuple[str, str]]) -> list[Path]:
    """Each article as a Markdown file, so ingest reads them as a user's documents."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, (title, text) in enumerate(articles, start=1):
        path = folder / f"article-{number:03d}.md"
        path.write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
        paths.append(path)
    return paths


# -- models ---------------------------------------------------------------------------------


def load_embedder(batch_size: int = 32) -> Any:
    from core.knowledge.embedding import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(batch_size=batch_size)
    embedder.embed(["warm up"])
    return embedder


def packaged_model_file() -> Path:
    from core.model.local import packaged_model_path

    return packaged_model_path(MODEL_CACHE)


def settings_for(home: Path, **sections: dict[str, Any]) -> Any:
    """Default settings with ``home`` as the data folder (environment overrides ignored)."""
    from core.config import load_settings

    environ = {
        f"TIDINGS_{section.upper()}__{key.upper()}": json.dumps(value)
        for section, values in sections.items()
        for key, value in values.items()
    }
    return load_settings(None, home=home, environ=environ)
