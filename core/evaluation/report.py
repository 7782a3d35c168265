"""The results of ``tidings eval`` as text tables and PNG charts (matplotlib, loaded lazily)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.evaluation.digest_labels import label_table_rows


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [title, line, "  ".join("-" * w for w in widths)]
    out += [
        "  ".join(c.rjust(w) if _numeric(c) else c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in cells
    ]
    return "\n".join(out) + "\n\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value)


def _numeric(text: str) -> bool:
    return text.lstrip("+-").replace(".", "", 1).isdigit()


def _split(result: dict[str, Any]) -> str:
    """A table title's note of the split its figures come from."""
    split = result.get("split")
    return f" [split: {split['name']}]" if split else ""


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def _span(interval: list[float] | None) -> str | None:
    return f"{interval[0]:.3f} to {interval[1]:.3f}" if interval else None


def _p_value(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def comparison_table(result: dict[str, Any]) -> str:
    """The paired differences from the baseline, each with its 95% bootstrap interval."""
    rows = [
        [c["comparison"], c["set"], c["metric"], c["split"], c["items"], c["ours"], c["baseline"],
         _signed(c["difference"]), f"{_signed(c['ci95'][0])} to {_signed(c['ci95'][1])}",
         f"{c['wins']}/{c['losses']}/{c['ties']}", _p_value(c["sign_test_p"]), c["verdict"]]
        for c in result.get("comparisons", [])
    ]
    if not rows:
        return ""
    headers = ["comparison", "set", "metric", "split", "n", "ours", "baseline", "difference", "95% interval",
               "won/lost/tied", "sign test p", "verdict"]
    return table("Paired differences from the baseline (ours minus baseline, per item)", headers, rows)


def render_tables(results: dict[str, Any]) -> str:
    out: list[str] = []
    retrieval = results.get("retrieval")
    if retrieval:
        headers = ["set", "split", "chunk", "mode", "queries", "hit@1", "hit@5", "MRR", "p50 ms", "p95 ms"]
        rows = [
            [name, r["split"], r["chunk_tokens"], r["mode"], r["queries"], r["hit@1"], r["hit@5"], r["mrr"], r["p50_ms"], r["p95_ms"]]
            for name in ("faq", "qa")
            for r in retrieval.get(name, [])
        ]
        note = ""
        if "qa_questions" in retrieval:
            q = retrieval["qa_questions"]
            note = f" (QA: {q['inside_one_chunk']} of {q['all']} questions whose answer lies inside one chunk)"
        out.append(table("Retrieval" + note + _split(retrieval), headers, rows))
        if retrieval.get("fusion"):
            headers = ["set", "split", "rrf_k", "vector w", "text w", "hit@1", "hit@5", "MRR"]
            rows = [
                [r["set"], r["split"], r["rrf_k"], r["vector_weight"], r["text_weight"], r["hit@1"], r["hit@5"], r["mrr"]]
                for r in retrieval["fusion"]
            ]
            out.append(table("Fusion settings (hybrid)" + _split(retrieval), headers, rows))
        out.append(comparison_table(retrieval))
    answers = results.get("answers")
    if answers:
        headers = ["answers by", "questions", "F1", "contains gold", "citation prec.", "grounded", "s/answer"]
        base = answers["baseline"]
        styles = answers.get("styles") or {f"{answers['model']} (max_chunks {answers['max_chunks']})": answers}
        rows = [
            [label, v["questions"], v["f1"], v["containment"], v["citation_precision"], v["grounded_rate"], v["seconds_per_answer"]]
            for label, v in styles.items()
        ]
        rows.append([base["name"], answers["questions"], base["f1"], base["containment"], None, None, None])
        rows += [
            [f"max_chunks {v['max_chunks']}", v["questions"], v["f1"], v["containment"], v["citation_precision"],
             v["grounded_rate"], v["seconds_per_answer"]]
            for v in answers.get("max_chunks_sweep", [])
        ]
        out.append(table("Answers" + _split(answers), headers, rows))
        for label, v in (answers.get("styles") or {}).items():
            out.append(comparison_table({**v, "comparisons": [{**c, "comparison": f"{label} vs extractive"} for c in v["comparisons"]]}))
        if not answers.get("styles"):
            out.append(comparison_table(answers))
        for key, title in (
            ("docs_questions", "Docs questions (dev)"),
            ("docs_questions_check", "Docs questions (held out)"),
            ("chat_questions", "Chat history questions (dev)"),
            ("chat_questions_check", "Chat history questions (held out)"),
            ("follow_ups", "Follow-up questions (dev)"),
        ):
            docs = answers.get(key)
            if docs:
                rows = [[label, docs["questions"], v["contains_fact"], v["interval"], v.get("median_seconds")] for label, v in docs["styles"].items()]
                rows.append([docs["baseline"]["name"], docs["questions"], docs["baseline"]["contains_fact"], None, None])
                out.append(table(title, ["answers by", "questions", "contains fact", "95% interval", "median s"], rows))
        polarity = answers.get("polarity")
        if polarity:
            rows = [
                [label, polarity["questions"], v["asserts_opposite"], v.get("asserts_opposite_any_negation"), v["contains_evidence"]]
                for label, v in polarity["styles"].items()
            ]
            headers = ["answers by", "questions", "assert the opposite", "same, any 'not' read as no", "contain the evidence"]
            out.append(table("Polarity questions (dev)", headers, rows))
    refusals = results.get("refusals")
    if refusals:
        headers = ["point", "threshold", "precision", "recall", "F1", "refused", "answered"]
        rows = [
            [name, p["threshold"], p["precision"], p["recall"], p["f1"], p["refused"], p["answered"]]
            for name, p in (("configured", refusals["configured"]), ("best on this set", refusals["best"]),
                            ("baseline: never refuse", refusals["baseline"]))
        ]
        title = f"Refusals ({refusals['cases']} questions, {refusals['unanswerable']} unanswerable){_split(refusals)}"
        out.append(table(title, headers, rows))
        clean = refusals.get("clean")
        if clean and clean.get("best"):
            rows = [
                [name, p["threshold"], p["precision"], p["recall"], p["f1"], p["refused"], p["answered"],
                 _span(p.get("precision_ci95")), _span(p.get("recall_ci95"))]
                for name, p in (("configured", clean["configured"]), ("best on this set", clean["best"]))
            ]
            title = f"Refusals, answerable vs off-topic only ({clean['cases']} questions, {clean['unanswerable']} off-topic)"
            out.append(table(title, [*headers, "precision 95%", "recall 95%"], rows))
        candidate = refusals.get("candidate_signal")
        if candidate:
            rows = [
                [name, p["threshold"], p["precision"], p["recall"], p["f1"], p["refused"], p["answered"]]
                for name, p in (("all groups", candidate["best"]), ("vs off-topic only", candidate.get("clean_best")))
                if p
            ]
            out.append(table(f"Comparison signal: {candidate['name']}", headers, rows))
        headers = ["group", "should refuse", "questions", "median relevance", "refused (configured)", "refused (best)"]
        rows = [
            [g["group"], "yes" if g["should_refuse"] else "no", g["questions"], g["median_relevance"],
             g["refused_at_configured"], g["refused_at_best"]]
            for g in refusals["groups"]
        ]
        out.append(table("Refusals by group", headers, rows))
    digests = results.get("digests")
    labelled = (digests or {}).get("labelled_days")
    if labelled:
        true = labelled["true_labels"]
        title = (
            f"Digest labels on {len(labelled['days'])} labelled chat days ({labelled['messages']} messages: "
            + ", ".join(f"{true.get(k, 0)} {k}" for k in ("decision", "action", "question", "none"))
            + f") [split: {labelled['split']['name']}]"
        )
        out.append(table(title, ["method", "label", "precision", "recall", "predicted", "correct", "true"],
                         list(label_table_rows(labelled))))
        topics = labelled["topics"]
        out.append(table(
            "Topic labels against the labelled topics",
            ["conversations", "label shares a content word", "mean content-word F1", "joined to another of ours",
             "no bullet expected / none given"],
            [[topics["conversations"], topics["agreement"], topics["mean_f1"], topics["joined_to_another"],
              f"{topics['no_bullet_expected']} / {topics['no_bullet_given']}"]],
        ))
        out.append(table(
            "Digests of the labelled days",
            ["day", "messages", "conversations", "placeholder, small-talk or repeated lines", "headline"],
            [[d["day"], d["messages"], d["conversations"], d["bad_lines"], d["headline"]] for d in labelled["days"]],
        ))
    if digests and "meetings" in digests:
        headers = ["meeting", "turns", "R-1", "R-2", "R-L", "coverage", "lead R-1", "lead R-2", "lead R-L",
                   "lead cov.", "tokens/input", "seconds", "bad lines"]
        rows = [
            [m["meeting"], m["turns"], m["rouge1"], m["rouge2"], m["rougeL"], m["coverage"], m["lead_rouge1"],
             m["lead_rouge2"], m["lead_rougeL"], m["lead_coverage"], m["tokens_per_input_token"], m["seconds"],
             len(m.get("bad_lines", ()))]
            for m in digests["meetings"]
        ]
        mean = digests["mean"]
        rows.append(["mean", "", mean["rouge1"], mean["rouge2"], mean["rougeL"], mean["coverage"], mean["lead_rouge1"],
                     mean["lead_rouge2"], mean["lead_rougeL"], mean["lead_coverage"], mean["tokens_per_input_token"],
                     mean["seconds"], sum(len(m.get("bad_lines", ())) for m in digests["meetings"])])
        split = digests.get("split") or {}
        of = f", {len(digests['meetings'])} of {split['meetings_in_split']} meetings" if split else ""
        title = f"Digests ({digests['model']}, n_ctx {digests['n_ctx']}{of}) vs the lead baseline{_split(digests)}"
        out.append(table(title, headers, rows))
        out.append(comparison_table(digests))
    return "".join(out)


def write_plots(results: dict[str, Any], folder: Path) -> list[Path]:
    """One PNG per evaluation present in ``results``; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def save(fig: Any, name: str) -> None:
        path = folder / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    retrieval = results.get("retrieval")
    if retrieval:
        sets = [name for name in ("faq", "qa") if retrieval.get(name)]
        fig, axes = plt.subplots(1, len(sets), figsize=(5.5 * len(sets), 3.8), squeeze=False)
        for ax, name in zip(axes[0], sets, strict=True):
            rows = [r for r in retrieval[name] if r["split"] == "all"]
            sizes = sorted({r["chunk_tokens"] for r in rows})
            modes = ["vector", "text", "hybrid"]
            width = 0.8 / len(modes)
            for i, mode in enumerate(modes):
                values = [next((r["hit@5"] for r in rows if r["mode"] == mode and r["chunk_tokens"] == s), 0.0) for s in sizes]
                ax.bar([x + i * width for x in range(len(sizes))], values, width, label=mode)
            ax.set_xticks([x + width for x in range(len(sizes))], [f"{s} tokens" for s in sizes])
            ax.set_ylim(0, 1)
            ax.set_ylabel("hit@5")
            ax.set_title("FAQ set" if name == "faq" else "QA set (chunk holding the gold answer)")
            ax.legend(loc="lower right")
        save(fig, "retrieval.png")

    refusals = results.get("refusals")
    if refusals:
        fig, ax = plt.subplots(figsize=(6, 3.8))
        curve = refusals["curve"]
        xs = [p["threshold"] for p in curve]
        ax.plot(xs, [p["precision"] for p in curve], label="refusal precision")
        ax.plot(xs, [p["recall"] for p in curve], label="refusal recall")
        clean = refusals.get("clean") or {}
        if clean.get("curve"):
            ax.plot(xs, [p["precision"] for p in clean["curve"]], linestyle="-.", label="precision, vs off-topic only")
            ax.plot(xs, [p["recall"] for p in clean["curve"]], linestyle="-.", label="recall, vs off-topic only")
        ax.axvline(refusals["configured"]["threshold"], color="grey", linestyle="--", label="configured threshold")
        ax.axhline(0.85, color="lightgrey", linestyle=":", label="target 0.85")
        ax.set_xlabel("best hit's cosine similarity threshold (refuse below)")
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower left", fontsize=8)
        ax.set_title("Refusing questions the knowledge base does not cover")
        save(fig, "refusals.png")

    answers = results.get("answers")
    if answers:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        labels = ["token F1", "contains gold", "citation precision", "grounded"]
        ours = [answers["f1"], answers["containment"], answers["citation_precision"], answers["grounded_rate"]]
        base = [answers["baseline"]["f1"], answers["baseline"]["containment"], 0.0, 0.0]
        ax.bar([x - 0.2 for x in range(len(labels))], ours, 0.4, label=f"Tidings ({answers['model']})")
        ax.bar([x + 0.2 for x in range(len(labels))], base, 0.4, label="extractive baseline")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylim(0, 1)
        ax.legend()
        ax.set_title(f"Answers on {answers['questions']} QA questions")
        save(fig, "answers.png")

    digests = results.get("digests")
    if digests and "meetings" in digests:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        mean = digests["mean"]
        labels = ["ROUGE-1", "ROUGE-2", "ROUGE-L", "key points"]
        ours = [mean["rouge1"], mean["rouge2"], mean["rougeL"], mean["coverage"]]
        lead = [mean["lead_rouge1"], mean["lead_rouge2"], mean["lead_rougeL"], mean["lead_coverage"]]
        ax.bar([x - 0.2 for x in range(len(labels))], ours, 0.4, label="digest")
        ax.bar([x + 0.2 for x in range(len(labels))], lead, 0.4, label="lead baseline")
        ax.set_xticks(range(len(labels)), labels)
        ax.set_ylim(0, max(0.5, *ours, *lead) * 1.15)
        ax.legend()
        ax.set_title(f"Digests of {len(digests['meetings'])} QMSum meetings")
        save(fig, "digests.png")
    return written
