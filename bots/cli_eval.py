"""``tidings eval``: how good retrieval, answers, refusals and digests are, on real data,
beside baselines measured in the same run.

Everything runs on the real components built by ``bots.wiring`` from the user's settings
(so ``TIDINGS_LLM__MODEL_PATH=... tidings eval answers`` measures another model), with
knowledge bases and state in a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import bots

REPO = Path(bots.__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DEV_VARIANTS = REPO / "bench" / "data" / "faq_variants_dev.csv"
DEV_OFF_TOPIC = REPO / "bench" / "data" / "off_topic_dev.txt"
DEV_DOCS_QUESTIONS = REPO / "bench" / "data" / "docs_questions_dev.csv"
CHECK_DOCS_QUESTIONS = REPO / "bench" / "data" / "docs_questions_check.csv"
DEV_POLARITY = REPO / "bench" / "data" / "polarity_dev.csv"
DEV_CHAT_QUESTIONS = REPO / "bench" / "data" / "chat_questions_dev.csv"
CHECK_CHAT_QUESTIONS = REPO / "bench" / "data" / "chat_questions_check.csv"
DEV_FOLLOW_UPS = REPO / "bench" / "data" / "follow_ups_dev.csv"
PROJECT_DOCS = REPO / "docs"
DEV_DIGEST_LABELS = REPO / "bench" / "data" / "digest_labels_dev.jsonl"
CHOICES = ("retrieval", "answers", "refusals", "digests", "all")


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--chunk-sizes takes whole numbers separated by commas, not {text!r}") from None
    if not sizes or any(not 32 <= s <= 254 for s in sizes):
        raise argparse.ArgumentTypeError("chunk sizes must be between 32 and 254 tokens")
    return sizes


def _styles(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "eval",
        help="measure retrieval, answers, refusals and digests on evaluation sets, beside baselines",
        description=(
            "Measure Tidings on real data (default: ../shared/data beside the repository, or --data DIR "
            "laid out the same way: an FAQ CSV, a SQuAD JSON, QMSum meeting JSON files)."
        ),
    )
    p.add_argument("what", nargs="?", choices=CHOICES, default="all", help="which evaluation (default: all)")
    p.add_argument("--data", type=Path, default=None, help=f"folder of evaluation sets (default: {DEFAULT_DATA})")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.add_argument("--output", "-o", type=Path, default=None, help="also write the JSON results to this file")
    p.add_argument("--plot", type=Path, default=None, metavar="DIR", help="write PNG charts into DIR")
    p.add_argument("--limit", type=int, default=None, help="at most N questions per set and N turns per meeting (a quick slice)")
    p.add_argument(
        "--sample",
        type=int,
        default=None,
        help="answers: QA questions through the model (60), and the docs and polarity questions spread the same "
        "way (all); digests: meetings, shortest first (all of the split); "
        "retrieval, refusals: QA questions (all)",
    )
    p.add_argument(
        "--split",
        choices=("tune", "check", "all", "labels"),
        default="check",
        help="digests: which half of the QMSum meetings, split by a hash of the file name: check (held out, "
        "the default), tune (the half changes are tuned on), or all (in-sample); labels: only the labelled chat days",
    )
    p.add_argument("--chunk-sizes", type=_sizes, default=(128, 200, 254), help="chunk sizes to compare (default 128,200,254)")
    p.add_argument("--sweep", action="store_true", help="also try fusion settings and numbers of packed chunks")
    p.add_argument(
        "--styles",
        type=_styles,
        default=(),
        help="answers: only these answer styles, separated by commas (quote-model, quote-embedding, generate; default all)",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="keep the evaluation's knowledge bases in DIR and reuse them in later runs (default: a temporary folder)",
    )
    p.add_argument("--variants", type=Path, default=DEV_VARIANTS, help="reworded FAQ questions (CSV variant,question)")
    p.add_argument("--off-topic", type=Path, default=DEV_OFF_TOPIC, help="off-topic questions, one a line")
    p.add_argument(
        "--digest-labels",
        type=Path,
        default=DEV_DIGEST_LABELS,
        help="digests: hand-labelled chat days (JSONL; default bench/data/digest_labels_dev.jsonl; "
        "bench/data/digest_labels_check.jsonl is held out), measured before the meetings",
    )
    p.set_defaults(func=cmd_eval)


EVAL_EXTRA = ("rouge_score", "matplotlib")
"""What ``tidings[eval]`` brings: scoring and charts, which the bot itself never needs."""


def missing_eval_extra() -> list[str]:
    """The evaluation extra's modules that cannot be imported here."""
    missing = []
    for name in EVAL_EXTRA:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    return missing


def command_line(args: argparse.Namespace) -> str:
    """The run's options as one ``tidings eval`` command (what a figure on docs/quality.md cites)."""
    parts = ["tidings", "eval", args.what]
    if args.data is not None:
        parts += ["--data", str(args.data)]
    for flag, value in (("--limit", args.limit), ("--sample", args.sample)):
        if value is not None:
            parts += [flag, str(value)]
    if args.what in ("retrieval", "all"):
        parts += ["--chunk-sizes", ",".join(str(size) for size in args.chunk_sizes)]
    if args.what in ("digests", "all"):
        parts += ["--split", args.split]
    if args.sweep:
        parts.append("--sweep")
    if args.styles:
        parts += ["--styles", ",".join(args.styles)]
    if args.variants != DEV_VARIANTS:
        parts += ["--variants", str(args.variants)]
    return " ".join(parts)


def cmd_eval(args: argparse.Namespace) -> int:
    missing = missing_eval_extra()
    if missing:
        print(
            f"tidings eval needs the evaluation extra ({', '.join(missing)} not installed): "
            "run `make eval`, or `pip install 'tidings[eval]'` in Tidings' environment.",
            file=sys.stderr,
        )
        return 2
    from bots.cli import settings_from
    from bots.wiring import build_embedder, build_model, build_services
    from core.evaluation.answer_sets import STYLE_KEYS
    from core.evaluation.digest_labels import sources_present
    from core.evaluation.report import render_tables, write_plots
    from core.evaluation.runs import EVALUATIONS, EvalOptions, locate, run_evaluations
    from core.evaluation.workbench import Workbench
    from core.model.worker import ModelWorker

    unknown = [style for style in args.styles if style not in STYLE_KEYS]
    if unknown:
        print(f"tidings eval: --styles takes some of {', '.join(STYLE_KEYS)}, separated by commas.", file=sys.stderr)
        return 2
    settings = settings_from(args)
    data = locate(
        args.data or DEFAULT_DATA,
        variants=args.variants,
        off_topic=args.off_topic,
        docs_questions=DEV_DOCS_QUESTIONS,
        polarity=DEV_POLARITY,
        docs=PROJECT_DOCS,
        docs_questions_check=CHECK_DOCS_QUESTIONS,
        chat_questions=DEV_CHAT_QUESTIONS,
        chat_questions_check=CHECK_CHAT_QUESTIONS,
        follow_ups=DEV_FOLLOW_UPS,
    )
    names = list(EVALUATIONS) if args.what == "all" else [args.what]
    # The labelled chat days: an explicit file must be there; the default one is measured when
    # its chat days are under --data and no --limit asks for a quick slice.
    labels: Path | None = None
    if args.digest_labels != DEV_DIGEST_LABELS:
        if not args.digest_labels.is_file():
            print(f"tidings eval: the labelled chat days file {args.digest_labels} does not exist.", file=sys.stderr)
            return 2
        labels = args.digest_labels
    elif args.limit is None and sources_present(DEV_DIGEST_LABELS, args.data or DEFAULT_DATA):
        labels = DEV_DIGEST_LABELS
    if args.split == "labels" and labels is None:
        print("tidings eval: --split labels needs the labelled chat days and their files under --data.", file=sys.stderr)
        return 2
    options = EvalOptions(
        limit=args.limit,
        sample=args.sample,
        chunk_sizes=args.chunk_sizes,
        sweep=args.sweep,
        meeting_split="check" if args.split == "labels" else args.split,
        meetings=args.split != "labels",
        digest_labels=labels,
        styles=args.styles,
    )
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    # The models load once (from the user's model cache) and serve every temporary service.
    embedder = build_embedder(settings)
    model = build_model(settings)
    worker = ModelWorker()
    with tempfile.TemporaryDirectory(prefix="tidings-eval-") as temporary:
        bench = Workbench(
            settings=settings,
            build_services=lambda s: build_services(s, embedder=embedder, model=model, worker=worker),
            workdir=args.workdir or Path(temporary),
        )
        try:
            results = asyncio.run(run_evaluations(names, bench=bench, data=data, options=options, progress=progress))
        finally:
            bench.close()
            worker.shutdown()
    results["run"] = {
        "data": str(data.folder),
        "faq": str(data.faq) if data.faq else None,
        "variants": str(data.variants) if data.variants else None,
        "off_topic": str(data.off_topic) if data.off_topic else None,
        "squad": str(data.squad) if data.squad else None,
        "meetings": len(data.meetings),
        "limit": args.limit,
        "sample": args.sample,
        "meeting_split": args.split,
        "digest_labels": str(labels) if labels else None,
        "command": command_line(args),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "seconds": round(time.monotonic() - started, 1),
    }
    payload = json.dumps(results, ensure_ascii=False, indent=None if args.json else 2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(payload + "\n", encoding="utf-8")
    if args.plot:
        for path in write_plots(results, args.plot):
            print(f"wrote {path}", file=sys.stderr)
    if args.json:
        sys.stdout.write(payload + "\n")
    else:
        sys.stdout.write(render_tables(results))
    return 0
