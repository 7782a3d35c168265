"""The knowledge base: one LanceDB table of chunks with a vector and a full-text index.

- Hybrid retrieval: a vector search and a BM25 full-text search, each filtered by scope
  *before* ranking (``prefilter=True``), fused with reciprocal rank fusion. Every hit also
  carries its cosine similarity to the query, the calibrated number the refusal threshold uses.
- Writes are per source and idempotent: unchanged chunks (same id) are left alone, new ones
  are merged in by id, stale ones deleted. Each LanceDB write is atomic, and an interrupted
  ingest leaves at worst an old and a new version of one source side by side, which the next
  run of the same ingest resolves.
- Building an index never fails a write: an index that cannot be built is logged and left
  out, and search works without it (exhaustive vector search, a scan for scopes) until the
  next refresh builds it.
- The URI may be a local folder or object storage (``s3://bucket/kb``); LanceDB handles both.
"""

from __future__ import annotations

import functools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np

from core.config import KnowledgeBaseSettings, RetrievalSettings
from core.errors import KnowledgeBaseError
from core.knowledge.chunking import embedding_text
from core.ports import Embedder, SearchMode, SourceChange, SourceInfo
from core.text import emoji_as_words
from core.types import Chunk, Hit

T = TypeVar("T")

log = logging.getLogger(__name__)

# An FAQ entry is also stored as a second row whose vector and search text are its question
# alone: reworded questions match an entry's question far better than its question and answer
# together. The row points back at its entry, and a search returns each entry once.
QUESTION_ROW_SUFFIX = "~question"
QUESTION_ROW_KIND = "faq-question"
_NOT_A_QUESTION_ROW = f"(kind IS NULL OR kind != '{QUESTION_ROW_KIND}')"

# The text legs of hybrid searches, run beside their vector legs (LanceDB releases the GIL).
_LEGS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kb-text-search")
# An ANN search walks the HNSW graph this many times sqrt(rows) candidates wide, and re-ranks
# this many times the candidates it returns on the full vectors (see ``search_breadth``).
BREADTH_PER_ROOT = 1.5
REFINE_FACTOR = 2
# How much more a search counts in the fusion when its first result stands out from its fifth:
# the gap in cosine similarity for the vector search, the share of the first BM25 score for the
# text search (chosen on the development FAQ and QA questions; docs/quality-log.md, Change 31).
VECTOR_CONFIDENCE = 10.0
TEXT_CONFIDENCE = 2.0
CONFIDENCE_DEPTH = 5
# A search whose first result leads its second by this much (cosine for the vector search, a
# share of the first BM25 score for the text search) puts it first, whatever the fusion says:
# each search alone put the right entry first more often than their fusion did, the vector
# search on reworded FAQ questions, BM25 on research questions (docs/quality-log.md, Change 34).
VECTOR_CLEAR_LEAD = 0.05
TEXT_CLEAR_LEAD = 0.2
_COLUMNS = ["id", "source", "doc_key", "title", "text", "scope", "url", "position", "content_hash", "kind"]
# What a search leg reads of each candidate: on object storage every column of every candidate
# is another ranged read, so the hits' other columns are read once, for the hits alone.
_LEG_COLUMNS = ["id", "kind"]


def sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def scope_filter(scopes: Iterable[str]) -> str:
    values = sorted(set(scopes))
    if not values:
        return "false"
    return "scope IN (" + ", ".join(sql_string(s) for s in values) + ")"


def reciprocal_rank_fusion(
    rankings: Sequence[tuple[Sequence[str], float]], *, k: int = 60
) -> dict[str, float]:
    """Fuse ranked id lists: score(id) = sum(weight / (k + rank)), rank starting at 1."""
    scores: dict[str, float] = {}
    for ids, weight in rankings:
        for rank, identifier in enumerate(ids, start=1):
            scores[identifier] = scores.get(identifier, 0.0) + weight / (k + rank)
    return scores


def _readable(scopes: Iterable[str] | None) -> str:
    """The chunks (question rows aside) a reader of ``scopes`` may read; every one without scopes."""
    return _NOT_A_QUESTION_ROW if scopes is None else f"({scope_filter(scopes)}) AND {_NOT_A_QUESTION_ROW}"


def question_rows(chunks: Sequence[Chunk]) -> list[Chunk]:
    """The question rows of ``chunks``: one per FAQ entry (its first chunk), titled and worded
    by its question."""
    return [
        Chunk(
            id=f"{c.id}{QUESTION_ROW_SUFFIX}",
            source=c.source,
            title=c.title,
            text=c.text,
            scope=c.scope,
            url=c.url,
            position=c.position,
            doc_key=c.doc_key,
            content_hash=c.content_hash,
            kind=QUESTION_ROW_KIND,
        )
        for c in chunks
        if c.kind == "faq" and c.position == 0 and c.title.strip()
    ]


def entry_id(row_id: str) -> str:
    """The chunk a row stands for: a question row stands for its entry."""
    return row_id.removesuffix(QUESTION_ROW_SUFFIX)


def _chunk_from_row(row: dict[str, Any]) -> Chunk:
    kind = row.get("kind") or "document"
    return Chunk(
        id=entry_id(row["id"]),
        source=row["source"],
        title=row["title"],
        text=row["text"],
        scope=row["scope"],
        url=row.get("url") or None,
        position=int(row.get("position") or 0),
        doc_key=row.get("doc_key") or "",
        content_hash=row.get("content_hash") or "",
        kind="faq" if kind == QUESTION_ROW_KIND else kind,
    )


class LanceKnowledgeBase:
    """A :class:`core.ports.KnowledgeBase` on LanceDB."""

    def __init__(
        self,
        *,
        uri: str,
        embedder: Embedder,
        table: str = "chunks",
        rrf_k: int = RetrievalSettings.rrf_k,
        vector_weight: float = RetrievalSettings.vector_weight,
        text_weight: float = RetrievalSettings.text_weight,
        weigh_by_confidence: bool = RetrievalSettings.weigh_by_confidence,
        candidates: int = RetrievalSettings.candidates,
        ann_min_rows: int = KnowledgeBaseSettings.ann_min_rows,
    ) -> None:
        self.uri = uri
        self.embedder = embedder
        self.table_name = table
        self.rrf_k = rrf_k
        self.vector_weight = vector_weight
        self.text_weight = text_weight
        self.weigh_by_confidence = weigh_by_confidence
        self.candidates = candidates
        self.ann_min_rows = ann_min_rows
        self._db: Any = None
        self._table: Any = None
        self._fts_ready = False
        self._vectors_checked = False
        self._indexed_rows = 0  # rows under the vector index (0: none); known at open and after each refresh
        self._lock = threading.RLock()

    # -- opening ----------------------------------------------------------------------------

    def _connect(self) -> Any:
        if self._db is None:
            import lancedb

            try:
                # A running bot must see what a separate `tidings ingest` process writes:
                # re-check the table's latest version at most every few seconds.
                self._db = lancedb.connect(self.uri, read_consistency_interval=timedelta(seconds=5))
            except Exception as error:
                raise KnowledgeBaseError(f"Could not open the knowledge base at {self.uri}: {error}") from error
        return self._db

    def _open(self, *, create: bool = False) -> Any:
        with self._lock:
            if self._table is not None:
                return self._table
            db = self._connect()
            names = db.list_tables().tables if hasattr(db, "list_tables") else db.table_names()
            if self.table_name in names:
                self._table = db.open_table(self.table_name)
                self._indexed_rows = _indexed_rows(self._table)
            elif create:
                self._table = db.create_table(self.table_name, schema=self._schema(), exist_ok=True)
            return self._table

    def _check_vectors(self, table: Any) -> None:
        """Refuse a table whose vectors are another size than the embedder's (another model
        wrote them): LanceDB would fail on the first search with a message about list sizes, and
        an ingest would mix two models. A model of the same size cannot be told apart here."""
        if self._vectors_checked:
            return
        stored = getattr(table.schema.field("vector").type, "list_size", None)
        if stored is not None and stored != self.embedder.dimension:
            raise KnowledgeBaseError(
                f"The knowledge base at {self.uri} holds vectors of {stored} numbers, from another embedding model; "
                f"the embedder in use ([embedding] model_path) makes {self.embedder.dimension}. Move the knowledge "
                "base aside (or set [knowledge_base] uri to a new place) and ingest your documents again."
            )
        self._vectors_checked = True

    def _schema(self) -> Any:
        import pyarrow as pa

        return pa.schema(
            [
                pa.field("id", pa.string()),
                pa.field("source", pa.string()),
                pa.field("doc_key", pa.string()),
                pa.field("title", pa.string()),
                pa.field("text", pa.string()),
                pa.field("scope", pa.string()),
                pa.field("url", pa.string()),
                pa.field("position", pa.int32()),
                pa.field("content_hash", pa.string()),
                pa.field("kind", pa.string()),
                pa.field("search_text", pa.string()),
                pa.field("vector", pa.list_(pa.float32(), self.embedder.dimension)),
            ]
        )

    # -- writing ----------------------------------------------------------------------------

    def ids_of(self, source: str) -> set[str]:
        table = self._open()
        if table is None:
            return set()
        rows = table.search().where(f"source = {sql_string(source)}").select(["id"]).limit(None).to_arrow()
        return set(rows.column("id").to_pylist())

    def replace_source(self, source: str, chunks: Sequence[Chunk]) -> SourceChange:
        """Make the source's chunks exactly ``chunks``: add what is new, delete what is gone."""
        with self._lock:
            opened = self._open()
            if opened is not None:
                self._check_vectors(opened)
            existing = self.ids_of(source)
            own = [c for c in chunks if c.source == source]
            wanted = {c.id: c for c in [*own, *question_rows(own)]}
            new = [c for cid, c in wanted.items() if cid not in existing]
            stale = existing - set(wanted)
            if new:
                vectors = self.embedder.embed([_embedded_text(c) for c in new])
                rows = [
                    {
                        "id": c.id,
                        "source": c.source,
                        "doc_key": c.doc_key,
                        "title": c.title,
                        "text": c.text,
                        "scope": c.scope,
                        "url": c.url or "",
                        "position": c.position,
                        "content_hash": c.content_hash,
                        "kind": c.kind,
                        "search_text": emoji_as_words(c.title if c.kind == QUESTION_ROW_KIND else f"{c.title}\n{c.text}"),
                        "vector": vector,
                    }
                    for c, vector in zip(new, vectors, strict=True)
                ]
                table = self._open(create=True)
                import pyarrow as pa

                data = pa.Table.from_pylist(rows, schema=self._schema())
                retry_commit_conflicts(lambda: table.merge_insert("id").when_not_matched_insert_all().execute(data))
            if stale:
                table = self._open()
                for start in range(0, len(stale), 500):
                    batch = sorted(stale)[start : start + 500]
                    where = "id IN (" + ", ".join(sql_string(i) for i in batch) + ")"
                    retry_commit_conflicts(functools.partial(table.delete, where))
            added = sum(1 for c in new if c.kind != QUESTION_ROW_KIND)
            removed = sum(1 for i in stale if not i.endswith(QUESTION_ROW_SUFFIX))
            return SourceChange(source=source, added=added, unchanged=len(own) - added, removed=removed)

    def rescope(self, sources: Iterable[str], *, from_scope: str, to_scope: str) -> int:
        """Move the chunks of ``sources`` that are in ``from_scope`` to ``to_scope``: one
        update of the scope column, so nothing is embedded now. Chunk ids keep the scope they
        were made in, so the next ingest of such a source indexes it afresh. Returns the
        number of chunks moved."""
        names = sorted(set(sources))
        if not names:
            return 0
        with self._lock:
            table = self._open()
            if table is None:
                return 0
            where = f"scope = {sql_string(from_scope)} AND source IN (" + ", ".join(sql_string(n) for n in names) + ")"
            result = table.update(where=where, values={"scope": to_scope})
            return int(getattr(result, "rows_updated", 0) or 0)

    def forget(self, source: str) -> int:
        with self._lock:
            table = self._open()
            if table is None:
                return 0
            ids = self.ids_of(source)
            if not ids:
                # Accept a path relative to the current folder as the user typed it.
                matches = [s.source for s in self.sources() if s.source.endswith(source.lstrip("./"))]
                if len(matches) == 1:
                    source = matches[0]
                    ids = self.ids_of(source)
            if ids:
                retry_commit_conflicts(lambda: table.delete(f"source = {sql_string(source)}"))
            return len(ids)

    def refresh_indexes(self) -> None:
        """(Re)build the full-text index, compact versions, and add an ANN index once the table
        is large enough for exhaustive search to get slow."""
        with self._lock:
            table = self._open()
            if table is None:
                return
            rows = table.count_rows()
            if rows == 0:
                return
            if self._has_index_on(table, "search_text"):
                # An existing full-text index is brought up to date by optimize() below, incrementally.
                self._fts_ready = True
            else:
                self._fts_ready = _build_full_text_index(table)
            if rows >= self.ann_min_rows and not self._has_vector_index(table):
                self._build_vector_index(table, rows)
            if rows >= self.ann_min_rows and not self._has_index_on(table, "scope"):
                # Every search filters by scope before ranking. Without an index that filter
                # scans the whole scope column on each leg of each query (docs/benchmarks.md).
                # optimize() below keeps it current as rows are added.
                from lancedb.index import Bitmap

                _built("scope index", lambda: table.create_index("scope", config=Bitmap(), replace=True))
            _built("compaction", lambda: table.optimize(cleanup_older_than=timedelta(minutes=10)))
            self._indexed_rows = _indexed_rows(table)

    def _build_vector_index(self, table: Any, rows: int) -> None:
        """An IVF index with about sqrt(rows) partitions, but never more than the table has
        distinct vectors: k-means cannot split identical vectors, and above 256 partitions
        LanceDB's k-means fails outright when it cannot fill them (100,000 copies of one FAQ
        row and 316 partitions failed every ingest after). When it still cannot be built
        (vectors it cannot train on, near-duplicates), search stays exhaustive."""
        wanted = max(16, int(rows**0.5))
        distinct = _distinct_vectors(table, stop_at=wanted)
        partitions = max(1, min(wanted, distinct))
        built = _built(
            "vector index",
            lambda: table.create_index(
                metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ", num_partitions=partitions
            ),
        )
        if built:
            counted = f"{distinct}" if distinct < wanted else f"at least {distinct}"
            log.info("built a vector index of %d partitions over %d rows (%s distinct vectors)", partitions, rows, counted)

    @property
    def _vector_index(self) -> bool:
        return self._indexed_rows > 0

    @staticmethod
    def _has_vector_index(table: Any) -> bool:
        return LanceKnowledgeBase._has_index_on(table, "vector")

    @staticmethod
    def _has_index_on(table: Any, column: str) -> bool:
        return _index_on(table, column) is not None

    # -- reading ----------------------------------------------------------------------------

    def count(self, scopes: Iterable[str] | None = None) -> int:
        table = self._open()
        if table is None:
            return 0
        return int(table.count_rows(_readable(scopes)))

    def last_changed(self) -> datetime | None:
        """When the table last changed (the latest ingest or forget), from LanceDB's versions."""
        table = self._open()
        if table is None:
            return None
        versions = table.list_versions()
        if not versions:
            return None
        moment = versions[-1].get("timestamp") if isinstance(versions[-1], dict) else getattr(versions[-1], "timestamp", None)
        if not isinstance(moment, datetime):
            return None
        return moment if moment.tzinfo is not None else moment.astimezone(UTC)

    def sources(self, scopes: Iterable[str] | None = None) -> list[SourceInfo]:
        table = self._open()
        if table is None:
            return []
        query = table.search().where(_readable(scopes))
        data = query.select(["source", "scope", "title", "doc_key"]).limit(None).to_arrow().to_pylist()
        by_source: dict[str, dict[str, Any]] = {}
        for row in data:
            entry = by_source.setdefault(row["source"], {"chunks": 0, "scopes": set(), "title": row["title"]})
            entry["chunks"] += 1
            entry["scopes"].add(row["scope"])
        return [
            SourceInfo(source=s, chunks=e["chunks"], scopes=tuple(sorted(e["scopes"])), title=e["title"])
            for s, e in sorted(by_source.items())
        ]

    def next_in_section(self, chunk: Chunk) -> Chunk | None:
        """The chunk after ``chunk`` in its document, in the same scope, when it goes on with the
        same section: a table cut by a chunk boundary continues there. None at a section's end."""
        table = self._open()
        if table is None:
            return None
        where = (
            f"source = {sql_string(chunk.source)} AND doc_key = {sql_string(chunk.doc_key)} "
            f"AND position = {chunk.position + 1} AND scope = {sql_string(chunk.scope)} AND {_NOT_A_QUESTION_ROW}"
        )
        rows = table.search().where(where).select(_COLUMNS).limit(2).to_list()
        following = [_chunk_from_row(row) for row in rows if row["title"] == chunk.title]
        return following[0] if following else None

    def _ensure_fts(self, table: Any) -> None:
        if self._fts_ready:
            return
        with self._lock:
            if not self._has_index_on(table, "search_text"):
                # Tried once per process: if it cannot be built, text search finds nothing (the
                # query below fails and is caught) and vector search answers alone.
                _build_full_text_index(table)
            self._fts_ready = True

    def _vector_rows(self, table: Any, query_vector: Any, where: str, n: int) -> list[dict[str, Any]]:
        vector_query = (
            table.search(query_vector, vector_column_name="vector")
            .distance_type("cosine")
            .where(where, prefilter=True)
            .select([*_LEG_COLUMNS, "_distance"])
            .with_row_id(True)
            .limit(n)
        )
        if self._vector_index:
            # The graph search's breadth is what keeps recall close to an exhaustive search's
            # as the table grows; the quantized distances are then corrected on the full
            # vectors. More probes add nothing (docs/benchmarks.md).
            vector_query = (
                vector_query.nprobes(24)
                .ef(search_breadth(self._indexed_rows, n * REFINE_FACTOR))
                .refine_factor(REFINE_FACTOR)
            )
        # Rows at the same distance (copies of a text) in the order of their ids, every time.
        return sorted(vector_query.to_list(), key=lambda row: (row["_distance"], row["id"]))

    def _text_rows(self, table: Any, query: str, where: str, n: int) -> list[dict[str, Any]]:
        self._ensure_fts(table)
        try:
            rows = (
                table.search(_fts_query(query), query_type="fts", fts_columns="search_text")
                .where(where, prefilter=True)
                .select([*_LEG_COLUMNS, "_score"])
                .with_row_id(True)
                .limit(n)
                .to_list()
            )
        except Exception:  # a query the text parser rejects still gets vector results
            return []
        # BM25 ties often (a question that meets only common words); LanceDB returns tied rows
        # in no fixed order, so the same question could be answered from another source.
        return sorted(rows, key=lambda row: (-row["_score"], row["id"]))

    def _full_rows(self, table: Any, found: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Every column of the rows a search kept, by id: read by row id, in one take. A row id
        can move when another process compacts the table between the legs and the take; then
        the rows are read by their ids instead."""
        if not found:
            return {}
        wanted = {row["id"] for row in found}
        try:
            taken = table.take_row_ids([row["_rowid"] for row in found]).select([*_COLUMNS, "vector"]).to_list()
        except Exception:  # a row id that no longer exists
            taken = []
        full = {row["id"]: row for row in taken}
        if wanted <= full.keys():
            return full
        ids = ", ".join(sql_string(i) for i in sorted(wanted))
        return {
            row["id"]: row
            for row in table.search().where(f"id IN ({ids})").select([*_COLUMNS, "vector"]).limit(len(wanted)).to_list()
        }

    def search(
        self,
        query: str,
        *,
        scopes: Iterable[str],
        k: int = 5,
        mode: SearchMode = "hybrid",
    ) -> list[Hit]:
        table = self._open()
        query = " ".join(query.split())
        if table is None or not query:
            return []
        self._check_vectors(table)
        where = scope_filter(scopes)
        n = max(k, self.candidates)
        # The text leg needs no query vector: in hybrid mode it runs while the query is
        # embedded and the vector leg runs (on object storage each leg waits on round trips).
        text_leg: Future[list[dict[str, Any]]] | None = None
        if mode == "hybrid":
            text_leg = _LEGS.submit(self._text_rows, table, query, where, n)
        rows: dict[str, list[dict[str, Any]]] = {}
        vector_ids: list[str] = []
        text_ids: list[str] = []
        vector_scores: list[float] = []
        text_scores: list[float] = []
        query_vector = self.embedder.embed([query])[0]
        if mode in {"hybrid", "vector"}:
            for row in self._vector_rows(table, query_vector, where, n):
                if _keep(rows, row, vector_ids):
                    vector_scores.append(1.0 - float(row["_distance"]))
        if mode in {"hybrid", "text"}:
            for row in text_leg.result() if text_leg is not None else self._text_rows(table, query, where, n):
                if _keep(rows, row, text_ids):
                    text_scores.append(float(row["_score"]))
        vector_weight, text_weight = self.vector_weight, self.text_weight
        if self.weigh_by_confidence:
            # Each search is sure of some questions: vector search of reworded FAQ questions,
            # BM25 of a research question's rare terms. The one whose first result stands out
            # leads; plain rank fusion let a middling result of both beat either's clear first.
            vector_weight *= 1 + VECTOR_CONFIDENCE * lead(vector_scores)
            text_weight *= 1 + TEXT_CONFIDENCE * lead(text_scores, relative=True)
        fused = reciprocal_rank_fusion([(vector_ids, vector_weight), (text_ids, text_weight)], k=self.rrf_k)
        ranked = sorted(fused.items(), key=lambda item: item[1], reverse=True)
        if self.weigh_by_confidence:
            first = clear_first(vector_ids, vector_scores, text_ids, text_scores)
            if first is not None:
                ranked = [(first, fused[first]), *(item for item in ranked if item[0] != first)]
        ranked = ranked[:k]
        full = self._full_rows(table, [row for cid, _ in ranked for row in rows[cid]])
        vector_rank = {cid: r for r, cid in enumerate(vector_ids, start=1)}
        text_rank = {cid: r for r, cid in enumerate(text_ids, start=1)}
        hits: list[Hit] = []
        for cid, score in ranked:
            entry_rows = [full[r["id"]] for r in rows[cid] if r["id"] in full]
            if not entry_rows:
                continue  # deleted by another process since the legs ran
            row = entry_rows[0]
            similarity = max(float(np.dot(np.asarray(r["vector"], dtype=np.float32), query_vector)) for r in entry_rows)
            hits.append(
                Hit(
                    chunk=_chunk_from_row(row),
                    score=score,
                    similarity=similarity,
                    vector_rank=vector_rank.get(cid),
                    text_rank=text_rank.get(cid),
                )
            )
        return hits



def search_breadth(indexed_rows: int, candidates: int) -> int:
    """How many candidates the HNSW search keeps in view (its ``ef``): about 1.5 sqrt(rows),
    never fewer than it must return (``candidates``: the limit times the refine factor). Recall@10 at 1M chunks was 0.88 with LanceDB's default and
    0.96 at 1,500; re-ranking more candidates on the full vectors instead cost a read of each
    from the object store (docs/benchmarks.md)."""
    return max(candidates, math.ceil(BREADTH_PER_ROOT * math.sqrt(indexed_rows)))


def _index_on(table: Any, column: str) -> Any | None:
    """The table's index on ``column``, as LanceDB describes it; None without one."""
    return next((i for i in table.list_indices() if column in (getattr(i, "columns", None) or [])), None)


def _indexed_rows(table: Any) -> int:
    """How many rows the table's vector index covers; 0 without one."""
    index = _index_on(table, "vector")
    if index is None:
        return 0
    return int(getattr(index, "num_indexed_rows", 0) or 0) or int(table.count_rows())


def _embedded_text(chunk: Chunk) -> str:
    return chunk.title if chunk.kind == QUESTION_ROW_KIND else embedding_text(chunk.title, chunk.text)


def clear_first(vector_ids: Sequence[str], vector_scores: Sequence[float], text_ids: Sequence[str], text_scores: Sequence[float]) -> str | None:
    """The first result of the search that leads its second clearly (the vector search's, if
    both do), or None when neither does: the fusion's order stands."""
    if len(vector_scores) > 1 and vector_scores[0] - vector_scores[1] >= VECTOR_CLEAR_LEAD:
        return vector_ids[0]
    if len(text_scores) > 1 and text_scores[0] > 0 and (text_scores[0] - text_scores[1]) / text_scores[0] >= TEXT_CLEAR_LEAD:
        return text_ids[0]
    return None


def lead(scores: Sequence[float], *, relative: bool = False) -> float:
    """How far a search's first score stands out from its fifth (or its last, with fewer), as a
    difference or, ``relative``, a share of the first; 0 for fewer than two."""
    if len(scores) < 2 or (relative and scores[0] <= 0):
        return 0.0
    gap = scores[0] - scores[min(CONFIDENCE_DEPTH, len(scores)) - 1]
    return max(0.0, gap / scores[0] if relative else gap)


def _keep(rows: dict[str, list[dict[str, Any]]], row: dict[str, Any], ranking: list[str]) -> bool:
    """Add a found row under its entry; an entry found by both its rows ranks by the better.
    True when the row is its entry's first in this ranking."""
    entry = entry_id(row["id"])
    found = rows.setdefault(entry, [])
    if not found or row["kind"] != QUESTION_ROW_KIND:
        found.insert(0, row)  # the entry's own row first: its text and metadata are the hit's
    else:
        found.append(row)
    if entry in ranking:
        return False
    ranking.append(entry)
    return True


def _build_full_text_index(table: Any) -> bool:
    """The BM25 index over each chunk's search text; False (logged) when LanceDB refuses it."""
    return _built(
        "full-text index",
        lambda: table.create_fts_index("search_text", replace=True, use_tantivy=False, with_position=False),
    )


COMMIT_ATTEMPTS = 8


def retry_commit_conflicts(write: Callable[[], T], *, attempts: int = COMMIT_ATTEMPTS) -> T:
    """Run a LanceDB write, retrying when another process committed a version first.

    Several writers (two `tidings ingest` runs, or a bot and an ingest, on one ``s3://``
    table) commit by writing the next manifest only if it does not exist yet; the loser of a
    race gets a commit conflict that LanceDB does not always resolve itself (a merge_insert
    or delete touching rows the winner changed). The write is idempotent here (insert only
    ids not present, delete by id), so running it again on the new version is safe."""
    for attempt in range(1, attempts + 1):
        try:
            return write()
        except Exception as error:
            if attempt == attempts or "conflict" not in str(error).lower():
                raise
            pause = min(2.0, 0.05 * 2**attempt) * (0.5 + random.random())
            log.info("LanceDB commit conflict (attempt %d of %d), retrying in %.2f s: %s", attempt, attempts, pause, error)
            time.sleep(pause)
    raise AssertionError("unreachable")


def _built(what: str, build: Callable[[], object]) -> bool:
    """Run one index build, logging instead of raising: the rows are already written, and a
    knowledge base without this index is slower, not wrong. The next refresh tries again."""
    try:
        build()
    except Exception as error:
        log.warning(
            "The knowledge base's %s could not be built, so searches go on without it: %s",
            what,
            " ".join(str(error).split())[:500],
        )
        return False
    return True


def _distinct_vectors(table: Any, *, stop_at: int) -> int:
    """How many distinct vectors the table holds, counting up to ``stop_at``. Vectors are
    compared rounded to 3 decimals, so near-copies (the same text embedded twice with float
    noise) count once, as k-means sees them; the column is streamed, never loaded whole."""
    seen: set[bytes] = set()
    reader = table.search().select(["vector"]).limit(None).to_batches(batch_size=8192)
    for batch in reader:
        column = batch.column("vector")
        if len(column) == 0:
            continue
        vectors = np.asarray(column.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
        vectors = np.round(vectors.reshape(len(column), -1), 3) + np.float32(0.0)  # + 0.0 makes -0.0 equal 0.0
        rows = np.ascontiguousarray(vectors).view(np.dtype((np.void, vectors.dtype.itemsize * vectors.shape[1])))
        seen.update(row.tobytes() for row in np.unique(rows))
        if len(seen) >= stop_at:
            return len(seen)
    return len(seen)


def _fts_query(query: str) -> str:
    """Plain words for BM25: punctuation that the query parser treats as syntax is dropped, and
    emoji are spelt by name, as the search text stores them ("👎" finds "thumbs down")."""
    cleaned = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in emoji_as_words(query))
    return " ".join(cleaned.split()) or query
