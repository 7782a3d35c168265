"""Retrieval latency at 10k, 100k and 1M chunks, vector-only, text-only and hybrid, and ANN recall,
on a local folder or (``--s3 moto|s3rver``) on a local S3-compatible server (see ``LocalS3``).

Every query goes through ``LanceKnowledgeBase.search`` exactly as a question does (query
embedding, scope prefilter, vector and BM25 legs, rank fusion), so the latency includes the
query embedding; the embedding's own time is reported beside it.

Embedding 100k real chunks takes hours on a CPU, so the corpus is built from a few thousand
real chunks (the COVID-QA articles and FAQ when ``../shared/data`` is present), embedded once
and cached under ``.tidings/bench-cache``, plus synthetic rows: each synthetic vector is a real
vector pulled part of the way towards another real one, with a little gaussian noise,
renormalised; each synthetic text is recombined from real sentences, so BM25 sees real words.
Rows are written straight into the store's table (its own schema), then ``refresh_indexes()``
builds the full-text index and, from ``ann_min_rows`` (50k) on, the ANN vector index.

Recall@10 compares the store's vector search (with whatever ANN index it built) against
exhaustive search (exact cosine over every row the scopes allow, in memory) for the same
query vectors and scopes.
Where the time goes: each query is timed in three modes, one after the other (vector, text,
hybrid), and each mode's query embedding is timed inside it. A hybrid search runs its text leg
beside the query embedding and the vector leg, so it takes about the longer of the two, plus
fusion.

Targets: hybrid p50 under 50 ms at 100k chunks (a local folder) and at most 100 ms at 1M chunks
(on S3), with recall@10 at least 0.95.

    .venv/bin/python bench/bench_retrieval.py [--sizes 10000 100000] [--queries 100] [--real 1000] [--torch-threads N] [--json]
    .venv/bin/python bench/bench_retrieval.py --s3 s3rver --sizes 1000000 --torch-threads 1
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    BENCH_CACHE,
    base_parser,
    emit,
    faq_entries,
    latency_ms,
    load_embedder,
    machine,
    qa_articles,
    qa_questions,
)

TARGET_HYBRID_P50_MS = {100_000: 50.0, 1_000_000: 100.0}
"""The hybrid p50 goal by table size (the smallest entry at or above the largest size run)."""
TARGET_RECALL = 0.95
PRIVATE_SCOPES = ("slack:T0BENCH:C01", "slack:T0BENCH:C02", "discord:1:2")


class TimedEmbedder:
    """The embedder, remembering how long each ``embed`` call took."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[float] = []

    @property
    def dimension(self) -> int:
        return int(self.inner.dimension)

    def count_tokens(self, text: str) -> int:
        return int(self.inner.count_tokens(text))

    def embed(self, texts: Sequence[str]) -> Any:
        started = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.calls.append(time.perf_counter() - started)


def real_chunks(embedder: Any, limit: int) -> list[tuple[str, str]]:
    """(title, text) of real chunks, cut the way ingest cuts them."""
    from core.knowledge.chunking import chunk_document
    from core.types import Document

    chunks: list[tuple[str, str]] = [(q, a) for q, a in faq_entries()]
    for number, (title, text) in enumerate(qa_articles()):
        if len(chunks) >= limit:
            break
        document = Document(source=f"article-{number}.md", title=title, text=text, key="")
        chunks.extend((c.title, c.text) for c in chunk_document(document, count_tokens=embedder.count_tokens))
    return chunks[:limit]


def real_vectors(embedder: Any, chunks: list[tuple[str, str]]) -> np.ndarray:
    """Embeddings of the real chunks, cached between runs (keyed by the texts and the model)."""
    from core.knowledge.chunking import embedding_text

    texts = [embedding_text(title, text) for title, text in chunks]
    key = hashlib.sha256(("\0".join(texts) + embedder.model_path).encode()).hexdigest()[:16]
    cached = BENCH_CACHE / f"retrieval-vectors-{key}.npy"
    if cached.is_file():
        return np.load(cached)
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    BENCH_CACHE.mkdir(parents=True, exist_ok=True)
    np.save(cached, vectors)
    return vectors


def synthetic_rows(
    chunks: list[tuple[str, str]], vectors: np.ndarray, count: int, *, seed: int = 7
) -> tuple[list[tuple[str, str]], np.ndarray]:
    """``count`` rows: the real ones first, then recombinations of them."""
    from core.knowledge.chunking import split_sentences

    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    sentences = [s for _, text in chunks for s in split_sentences(text) if len(s) > 20]
    real = min(count, len(chunks))
    extra = count - real
    texts = list(chunks[:real])
    base = rng.integers(0, len(chunks), size=extra)
    partner = rng.integers(0, len(chunks), size=extra)
    pull = rng.uniform(0.0, 0.5, size=(extra, 1)).astype(np.float32)
    noise = rng.normal(0.0, 0.03, size=(extra, vectors.shape[1])).astype(np.float32)
    synthetic = vectors[base] + pull * (vectors[partner] - vectors[base]) + noise
    synthetic /= np.linalg.norm(synthetic, axis=1, keepdims=True)
    for i in range(extra):
        title = chunks[int(base[i])][0]
        texts.append((title, " ".join(pick.sample(sentences, k=min(len(sentences), pick.randint(3, 7))))))
    return texts, np.concatenate([vectors[:real], synthetic]).astype(np.float32)


def build_table(kb: Any, rows: list[tuple[str, str]], vectors: np.ndarray) -> float:
    """Write rows straight into the store's table; returns the seconds ``refresh_indexes`` took."""
    import pyarrow as pa

    table = kb._open(create=True)
    schema = kb._schema()
    batch = 10_000
    for start in range(0, len(rows), batch):
        part = rows[start : start + batch]
        columns = {
            "id": [f"bench-{start + i}" for i in range(len(part))],
            "source": [f"bench/doc-{(start + i) // 20}.md" for i in range(len(part))],
            "doc_key": [""] * len(part),
            "title": [title for title, _ in part],
            "text": [text for _, text in part],
            "scope": [row_scope(start + i) for i in range(len(part))],
            "url": [""] * len(part),
            "position": [(start + i) % 20 for i in range(len(part))],
            "content_hash": [""] * len(part),
            "kind": ["document"] * len(part),
            "search_text": [f"{title}\n{text}" for title, text in part],
        }
        flat = pa.array(vectors[start : start + len(part)].reshape(-1), type=pa.float32())
        vector_column = pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])
        arrays = [pa.array(columns[f.name], type=f.type) for f in schema if f.name != "vector"]
        table.add(pa.Table.from_arrays([*arrays, vector_column], schema=schema))
    started = time.perf_counter()
    kb.refresh_indexes()
    return time.perf_counter() - started


def row_scope(i: int) -> str:
    """One row in ten is private to a channel, so the scope prefilter has work to do."""
    return "public" if i % 10 else PRIVATE_SCOPES[i % 3]


def exhaustive_ids(vectors: np.ndarray, allowed: np.ndarray, vector: np.ndarray, k: int) -> list[str]:
    """The exact top ``k`` by cosine among the allowed rows, computed in memory: on S3 an
    exhaustive LanceDB query would read every vector of the table back for each question."""
    similarity = vectors @ (vector / np.linalg.norm(vector))
    similarity[~allowed] = -np.inf
    top = np.argpartition(-similarity, k)[:k]
    return [f"bench-{i}" for i in top[np.argsort(-similarity[top])]]


def measure(kb: Any, embedder: TimedEmbedder, queries: list[str], vectors: np.ndarray, *, warmup: int = 5) -> dict[str, Any]:
    scopes = frozenset({"public", PRIVATE_SCOPES[0]})
    for query in queries[:warmup]:
        kb.search(query, scopes=scopes, k=5, mode="hybrid")
        kb.search(query, scopes=scopes, k=5, mode="vector")
    figures: dict[str, Any] = {}
    # Alternate the modes query by query, so that load from other processes hits all alike.
    modes = ("vector", "text", "hybrid")
    totals: dict[str, list[float]] = {mode: [] for mode in modes}
    embeds: dict[str, list[float]] = {mode: [] for mode in modes}
    for query in queries:
        for mode in modes:
            embedder.calls.clear()
            started = time.perf_counter()
            kb.search(query, scopes=scopes, k=5, mode=mode)
            totals[mode].append(time.perf_counter() - started)
            embeds[mode].append(sum(embedder.calls))
    for mode in modes:
        figures[mode] = {
            **latency_ms(totals[mode]),
            "query_embedding": latency_ms(embeds[mode]),
            "without_embedding": latency_ms([t - e for t, e in zip(totals[mode], embeds[mode], strict=True)]),
        }
    table = kb._open()
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    allowed = np.fromiter((row_scope(i) in scopes for i in range(len(vectors))), dtype=bool, count=len(vectors))
    recalls = []
    for query in queries:
        vector = embedder.inner.embed([query])[0]
        exact = exhaustive_ids(vectors, allowed, vector, 10)
        found = [hit.chunk.id for hit in kb.search(query, scopes=scopes, k=10, mode="vector")]
        recalls.append(len(set(found) & set(exact)) / max(1, len(exact)))
    figures["recall_at_10"] = round(float(np.mean(recalls)), 4)
    figures["vector_index"] = [
        f"{getattr(i, 'index_type', '?')}" for i in table.list_indices() if "vector" in (getattr(i, "columns", None) or [])
    ] or ["none (exhaustive)"]
    return figures


def target_ms(size: int) -> float:
    return next((ms for at, ms in sorted(TARGET_HYBRID_P50_MS.items()) if size <= at), max(TARGET_HYBRID_P50_MS.values()))


class LocalS3:
    """A local S3-compatible server in a temporary folder with one bucket, and the standard AWS
    environment pointing at it.

    ``moto``: moto_server, as the test suite uses. It answers every ranged GET by copying the
    whole object in memory, so on a 1M-row table each read of a data or index file costs about a
    second, whatever the range (measured: compaction issued one request a second). ``s3rver``
    (npm, installed once under the bench cache) serves ranges from files on disk, as S3 does."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __enter__(self) -> str:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from tests.servers import make_bucket, s3_environment, start_s3

        if self.kind == "moto":
            self.server: Any = start_s3()
            endpoint = self.server.url
            environment = s3_environment(endpoint)
        else:
            endpoint = self._start_s3rver()
            environment = {**s3_environment(endpoint), "AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER"}
        self.saved = {key: os.environ.get(key) for key in environment}
        os.environ.update(environment)
        if self.kind == "moto":
            make_bucket(endpoint, "tidings-bench")
        else:
            import boto3

            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="tidings-bench")
        return "s3://tidings-bench"

    def _start_s3rver(self) -> str:
        import subprocess

        from tests.servers import free_port

        home = BENCH_CACHE / "s3rver"
        binary = home / "node_modules" / ".bin" / "s3rver"
        if not binary.exists():
            home.mkdir(parents=True, exist_ok=True)
            subprocess.run(["npm", "install", "--silent", "--prefix", str(home), "s3rver@3"], check=True)
        self.folder = Path(tempfile.mkdtemp(prefix="tidings-s3rver-"))
        port = free_port()
        self.server = subprocess.Popen(
            [str(binary), "-d", str(self.folder), "-a", "127.0.0.1", "-p", str(port), "--silent"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import socket

        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("s3rver did not start within 30 s") from None
                time.sleep(0.2)

    def __exit__(self, *_: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self.kind == "moto":
            self.server.stop()
        else:
            self.server.terminate()
            self.server.wait(30)
            shutil.rmtree(self.folder, ignore_errors=True)


def run(*, sizes: list[int], queries: int, real: int, torch_threads: int, s3: str = "") -> dict[str, Any]:
    from contextlib import nullcontext

    from core.knowledge.knowledge_base import LanceKnowledgeBase

    if torch_threads:
        import torch

        torch.set_num_threads(torch_threads)
    embedder = TimedEmbedder(load_embedder(32))
    started = time.perf_counter()
    chunks = real_chunks(embedder.inner, real)
    vectors = real_vectors(embedder.inner, chunks)
    prepare_s = time.perf_counter() - started
    asked = qa_questions()
    asked = random.Random(11).sample(asked, k=min(queries, len(asked)))
    workdir = Path(tempfile.mkdtemp(prefix="tidings-bench-retrieval-"))
    results: dict[str, Any] = {}
    try:
        with LocalS3(s3) if s3 else nullcontext(str(workdir)) as base:
            for size in sizes:
                rows, row_vectors = synthetic_rows(chunks, vectors, size)
                kb = LanceKnowledgeBase(uri=f"{base}/kb-{size}", embedder=embedder)
                started = time.perf_counter()
                index_s = build_table(kb, rows, row_vectors)
                write_s = time.perf_counter() - started - index_s
                del rows
                figures = measure(kb, embedder, asked, row_vectors)
                figures["write_s"] = round(write_s, 1)
                figures["index_build_s"] = round(index_s, 1)
                results[str(size)] = figures
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    largest = results[str(max(sizes))]
    goal_ms = target_ms(max(sizes))
    met = largest["hybrid"]["p50_ms"] <= goal_ms and largest["recall_at_10"] >= TARGET_RECALL
    return {
        "benchmark": "retrieval",
        "storage": f"local S3 server ({s3})" if s3 else "local folder",
        "real_chunks": len(chunks),
        "queries": len(asked),
        "prepare_s": round(prepare_s, 1),
        "torch_threads": torch_threads or "default",
        "sizes": results,
        "target": {"hybrid_p50_ms": goal_ms, "recall_at_10": TARGET_RECALL, "at": max(sizes)},
        "met": met,
        "machine": machine(),
    }


def main() -> int:
    parser = base_parser(__doc__ or "")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="chunks in the table")
    parser.add_argument("--queries", type=int, default=100, help="real questions timed per size and mode")
    parser.add_argument("--real", type=int, default=1000, help="real chunks embedded (cached) to synthesise from")
    parser.add_argument(
        "--torch-threads", type=int, default=0, help="torch threads for the query embedding (default: torch's choice)"
    )
    parser.add_argument(
        "--s3", choices=["moto", "s3rver"], default="", help="the knowledge base on a local S3 server (see LocalS3)"
    )
    args = parser.parse_args()
    result = run(sizes=args.sizes, queries=args.queries, real=args.real, torch_threads=args.torch_threads, s3=args.s3)
    summary = [f"Retrieval through LanceKnowledgeBase.search on a {result['storage']}, {result['queries']} real questions, k=5 "
               f"({result['real_chunks']} real chunks, the rest synthesised; torch threads: {result['torch_threads']})"]
    for size, f in result["sizes"].items():
        for mode in ("vector", "text", "hybrid"):
            m = f[mode]
            summary.append(
                f"  {int(size):>7,} {mode:6}  p50 {m['p50_ms']:7.1f} ms  p95 {m['p95_ms']:7.1f} ms   "
                f"(query embedding p50 {m['query_embedding']['p50_ms']:.1f} ms; search alone p50 "
                f"{m['without_embedding']['p50_ms']:.1f} / p95 {m['without_embedding']['p95_ms']:.1f} ms)"
            )
        summary.append(
            f"  {int(size):>7,} recall@10 {f['recall_at_10']:.3f} vs exhaustive; vector index: {', '.join(f['vector_index'])}; "
            f"writing {f['write_s']} s, index refresh {f['index_build_s']} s"
        )
    summary.append(
        f"  target at {result['target']['at']:,}: hybrid p50 <= {result['target']['hybrid_p50_ms']:.0f} ms and recall@10 >= "
        f"{TARGET_RECALL}: {'met' if result['met'] else 'NOT met'}"
    )
    summary.append(f"  machine: {result['machine']}")
    emit(result, summary, as_json=args.json)
    return 0 if result["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
