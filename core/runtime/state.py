"""Durable state shared by every replica: a SQLite file under ``TIDINGS_HOME`` by default,
or PostgreSQL (``[state] url``) when several replicas run on several machines.

- claims: a platform event or question is claimed by one replica with a lease it renews
  while it works; a retry reaching any replica while the holder lives is dropped, a claim
  whose holder died (lease expired, not completed) is taken over, a completed claim is never
  taken again (kept a day);
- questions being answered (so a restart can tell their askers) and the answers given;
- feedback on answers (👍/👎 with question, answer and citations, exportable as JSONL, the
  same fields whatever the platform: ``FeedbackRecord``);
- digests: a window is claimed under (platform, channel, window) *before* posting, its claim
  renewed while it is summarised, and marked with the posted message id *after*, so a
  restart, a double fire or a second replica never posts the same window twice;
- cached partial digest notes, keyed by the content they summarise;
- digests switched on from the chat, how each digest's latest run went, and one-off
  upgrades done to this deployment (milestones);
- the per-user question rate limit, so it holds whichever replica gets the question.

Every table is declared once in ``core.runtime.schema`` and created or changed only by the
Alembic migrations in ``core.runtime.migrations``, applied here on start under a database
lock. Every method is one short transaction; on SQLite each one takes the write lock first
(``BEGIN IMMEDIATE``), on PostgreSQL the statements are written so that concurrent callers
on READ COMMITTED cannot both win (conditional inserts and updates, row locks).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import make_url

from core.runtime.schema import (
    answers,
    claims,
    digest_runs,
    digest_subscriptions,
    digests,
    feedback,
    milestones,
    notes_cache,
    oauth_states,
    pending_questions,
    rate_events,
    rate_users,
    slack_installations,
)

DONE_TTL_S = 24 * 3600
"""How long a completed claim is remembered (Slack retries for minutes, not days)."""


def state_url(location: str | Path) -> str:
    """A SQLAlchemy URL for ``location``: a URL as given, a path as a SQLite file."""
    text_location = str(location)
    if "://" in text_location:
        url = make_url(text_location)
        if url.drivername in {"postgresql", "postgres"}:
            # psycopg 3 is the driver we ship; a password, if any, comes from the environment.
            url = url.set(drivername="postgresql+psycopg")
        return url.render_as_string(hide_password=False)
    return f"sqlite:///{Path(location)}"


def new_owner() -> str:
    """Who holds a claim: host, process and a random part (a restarted process is someone else)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class FeedbackRecord:
    """One 👍/👎 on an answer, as ``tidings feedback export`` writes it: the same fields
    whatever the platform it was given on."""

    created_at: str
    platform: str
    channel: str
    """The scope of the channel the answer was asked in (``slack:T:C``, ``discord:G:C``)."""
    user: str
    """Who rated it."""
    rating: int
    """+1 or -1."""
    question: str
    answer: str
    citations: list[dict[str, Any]]
    answer_id: str
    asker: str = ""
    """Who asked the question ("" when not remembered)."""
    grounded: bool | None = None
    """Whether the answer came from the knowledge base (None when not remembered)."""

    def row(self) -> dict[str, Any]:
        return asdict(self)


FEEDBACK_COLUMNS = tuple(f.name for f in fields(FeedbackRecord))


@dataclass(frozen=True)
class DigestRecord:
    platform: str
    channel: str
    window_start: datetime
    window_end: datetime
    status: str  # "claimed" | "posted" | "skipped"
    message_id: str | None = None


@dataclass(frozen=True)
class DigestSubscription:
    """A daily digest switched on from the chat (``/tidings digest on``)."""

    platform: str
    workspace: str
    channel: str
    cron: str
    timezone: str
    name: str = ""
    created_by: str = ""
    created_at: str = ""


@dataclass(frozen=True)
class DigestRun:
    """How a digest's latest scheduled run went: ``posted``, ``quiet``, ``nothing new`` or
    ``failed: <reason>``; ``failures`` counts every failed run so far."""

    job_id: str
    platform: str
    last_run: datetime
    last_result: str
    failures: int = 0


@dataclass(frozen=True)
class UnansweredQuestion:
    """A question Tidings could not answer from its knowledge base: what the team may want to
    add. Askings that differ only in case and spacing are one question."""

    question: str
    times: int
    last_asked: datetime
    channels: tuple[str, ...]


def _names(payload: dict[str, Any], user: str) -> bool:
    """Whether a stored answer or question in progress was asked by ``user`` (older Slack
    entries named the asker ``user``)."""
    return user in (str(payload.get("asker") or ""), str(payload.get("user") or ""))


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def _from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


class StateStore:
    """The state database. Safe to share between threads of one process, between processes
    on one machine (SQLite) and between replicas on many machines (PostgreSQL)."""

    def __init__(self, location: str | Path, *, claim_lease_s: float = 30.0, owner: str | None = None, migrate: bool = True) -> None:
        self.url = state_url(location)
        self.claim_lease_s = float(claim_lease_s)
        self.owner = owner or new_owner()
        self.path: Path | None = None
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite":
            self.path = Path(url.database or "")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30})
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=5, max_overflow=10)
        if migrate:
            from core.runtime.migrations import upgrade

            upgrade(self.engine)

    @property
    def dialect(self) -> str:
        """"sqlite" or "postgresql"."""
        return str(self.engine.dialect.name)

    def close(self) -> None:
        self.engine.dispose()

    def schema_revision(self) -> str | None:
        from core.runtime.migrations import current_revision

        return current_revision(self.engine)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    def _insert_ignoring_conflicts(self, table: Any, values: dict[str, Any], *, keys: list[str]) -> Any:
        """INSERT that does nothing when the row exists; it returns a row only when it inserted
        (RETURNING, not rowcount: psycopg reports no rowcount for ON CONFLICT DO NOTHING)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).values(**values).on_conflict_do_nothing(index_elements=keys).returning(table.c[keys[0]])
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).values(**values).on_conflict_do_nothing(index_elements=keys).returning(table.c[keys[0]])

    def _upsert(self, table: Any, values: dict[str, Any], *, keys: list[str], update_columns: list[str]) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement: Any = pg_insert(table).values(**values)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(table).values(**values)
        return statement.on_conflict_do_update(
            index_elements=keys, set_={column: statement.excluded[column] for column in update_columns}
        )

    # -- claims with leases ---------------------------------------------------------------

    def claim(
        self,
        key: str,
        *,
        lease_s: float | None = None,
        owner: str | None = None,
        now: float | None = None,
        take_over: bool = False,
    ) -> bool:
        """Claim ``key`` for ``owner`` (this store's owner by default) for ``lease_s``.

        True when the caller now holds it: nobody had it, or its holder's lease ran out
        without completing (or, with ``take_over``, whatever its lease: a question a restarted
        process resumes, whose holder was the process before it). False while another
        holder's lease lives, and for ever (a day) once it was completed."""
        moment = time.time() if now is None else now
        lease = self.claim_lease_s if lease_s is None else lease_s
        holder = owner or self.owner
        with self._transaction() as db:
            db.execute(delete(claims).where(and_(claims.c.status == "done", claims.c.expires_at < moment)))
            inserted = db.execute(
                self._insert_ignoring_conflicts(
                    claims,
                    {"key": key, "owner": holder, "status": "held", "lease_until": moment + lease, "expires_at": moment + DONE_TTL_S},
                    keys=["key"],
                )
            )
            if inserted.first() is not None:
                return True
            # Taken over only if still unfinished and its lease ran out; the condition is
            # re-checked under the row lock, so of two replicas at most one wins.
            expired = [] if take_over else [claims.c.lease_until < moment]
            taken = db.execute(
                update(claims)
                .where(and_(claims.c.key == key, claims.c.status == "held", *expired))
                .values(owner=holder, lease_until=moment + lease, expires_at=moment + DONE_TTL_S)
                .returning(claims.c.key)
            )
            return taken.first() is not None

    def renew(self, key: str, *, lease_s: float | None = None, owner: str | None = None, now: float | None = None) -> bool:
        """Extend a held claim's lease; False when the caller no longer holds it."""
        moment = time.time() if now is None else now
        lease = self.claim_lease_s if lease_s is None else lease_s
        with self._transaction() as db:
            renewed = db.execute(
                update(claims)
                .where(and_(claims.c.key == key, claims.c.owner == (owner or self.owner), claims.c.status == "held"))
                .values(lease_until=moment + lease)
                .returning(claims.c.key)
            )
            return renewed.first() is not None

    def complete(self, key: str, *, now: float | None = None) -> None:
        """Mark ``key`` done: never claimed again (for a day)."""
        moment = time.time() if now is None else now
        with self._transaction() as db:
            db.execute(update(claims).where(claims.c.key == key).values(status="done", expires_at=moment + DONE_TTL_S))

    def release(self, key: str, *, owner: str | None = None) -> None:
        """Give a held claim up unfinished, so the next delivery is answered at once."""
        with self._transaction() as db:
            db.execute(
                delete(claims).where(and_(claims.c.key == key, claims.c.owner == (owner or self.owner), claims.c.status == "held"))
            )

    def claim_state(self, key: str) -> tuple[str, str, float] | None:
        """(status, owner, lease_until) of a claim, for checks and tests."""
        with self.engine.connect() as db:
            row = db.execute(select(claims.c.status, claims.c.owner, claims.c.lease_until).where(claims.c.key == key)).first()
        return None if row is None else (str(row[0]), str(row[1]), float(row[2]))

    def first_time(self, key: str, *, ttl_s: float = DONE_TTL_S, now: float | None = None) -> bool:
        """Claim and complete ``key`` at once: True only for the first caller (atomic). For
        work that cannot be half done (a Discord message handed to its handler)."""
        moment = time.time() if now is None else now
        with self._transaction() as db:
            db.execute(delete(claims).where(and_(claims.c.status == "done", claims.c.expires_at < moment)))
            inserted = db.execute(
                self._insert_ignoring_conflicts(
                    claims,
                    {"key": key, "owner": self.owner, "status": "done", "lease_until": moment, "expires_at": moment + ttl_s},
                    keys=["key"],
                )
            )
            return inserted.first() is not None

    # -- one-off upgrades -------------------------------------------------------------------

    def milestone_reached(self, key: str) -> bool:
        """Whether the one-off upgrade ``key`` has been done on this deployment."""
        with self.engine.connect() as db:
            return db.execute(select(milestones.c.key).where(milestones.c.key == key)).first() is not None

    def reach_milestone(self, key: str) -> None:
        with self._transaction() as db:
            db.execute(
                self._insert_ignoring_conflicts(milestones, {"key": key, "done_at": datetime.now(UTC).isoformat()}, keys=["key"])
            )

    # -- the shared rate limit ------------------------------------------------------------

    def allow_question(self, user: str, *, per_minute: int, now: float | None = None) -> bool:
        """Count a question of ``user`` against a sliding one-minute window shared by every
        replica; False (and nothing counted) when the user already asked ``per_minute``."""
        if per_minute <= 0:
            return True
        moment = time.time() if now is None else now
        with self._transaction() as db:
            db.execute(self._insert_ignoring_conflicts(rate_users, {"user": user}, keys=["user"]))
            # The user's row lock serialises this user's questions across replicas.
            db.execute(select(rate_users.c.user).where(rate_users.c.user == user).with_for_update())
            db.execute(delete(rate_events).where(rate_events.c.at <= moment - 60.0))
            recent = db.execute(select(func.count()).select_from(rate_events).where(rate_events.c.user == user)).scalar_one()
            if int(recent) >= per_minute:
                return False
            db.execute(insert(rate_events).values(user=user, at=moment))
            return True

    # -- answers and feedback -----------------------------------------------------------

    def remember_answer(self, answer_id: str, payload: dict[str, Any]) -> None:
        """Keep what was answered so a later 👍/👎 can be stored with it."""
        with self._transaction() as db:
            db.execute(
                self._upsert(
                    answers,
                    {"answer_id": answer_id, "created_at": time.time(), "payload": json.dumps(payload)},
                    keys=["answer_id"],
                    update_columns=["created_at", "payload"],
                )
            )

    def recall_answer(self, answer_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as db:
            row = db.execute(select(answers.c.payload).where(answers.c.answer_id == answer_id)).first()
        return json.loads(row[0]) if row else None

    def record_feedback(
        self,
        *,
        answer_id: str,
        platform: str,
        channel: str,
        user: str,
        rating: int,
        question: str = "",
        answer: str = "",
        citations: list[dict[str, Any]] | None = None,
    ) -> None:
        """Store a 👍 (+1) or 👎 (-1) with what was asked and answered (from the remembered
        answer unless given) and the channel it was asked in (``channel`` when the answer is
        no longer remembered). A user's second click on the same answer replaces the first."""
        remembered = self.recall_answer(answer_id) or {}
        channel = str(remembered.get("channel") or "") or channel
        question = question or str(remembered.get("question", ""))
        answer = answer or str(remembered.get("answer", ""))
        cited = citations if citations is not None else remembered.get("citations", [])
        grounded = remembered.get("grounded")
        values = {
            "created_at": datetime.now(UTC).isoformat(),
            "platform": platform,
            "channel": channel,
            "user": user,
            "rating": 1 if rating > 0 else -1,
            "question": question,
            "answer": answer,
            "citations": json.dumps(cited),
            "answer_id": answer_id,
            "asker": str(remembered.get("asker") or ""),
            "grounded": None if grounded is None else int(bool(grounded)),
        }
        with self._transaction() as db:
            db.execute(self._upsert(feedback, values, keys=["answer_id", "user"], update_columns=["rating", "created_at"]))

    def feedback_records(self) -> list[FeedbackRecord]:
        columns = [feedback.c[name] for name in FEEDBACK_COLUMNS]
        with self.engine.connect() as db:
            rows = db.execute(select(*columns).order_by(feedback.c.id)).all()
        return [
            FeedbackRecord(
                created_at=r.created_at,
                platform=r.platform,
                channel=r.channel,
                user=r.user,
                rating=r.rating,
                question=r.question,
                answer=r.answer,
                citations=json.loads(r.citations),
                answer_id=r.answer_id,
                asker=r.asker,
                grounded=None if r.grounded is None else bool(r.grounded),
            )
            for r in rows
        ]

    def feedback(self) -> list[dict[str, Any]]:
        """Every feedback record as a row of ``FEEDBACK_COLUMNS`` (``tidings feedback export``)."""
        return [record.row() for record in self.feedback_records()]

    # -- what was answered lately -------------------------------------------------------------

    def answer_activity(self, *, since: datetime, scope_prefix: str = "", limit: int = 5) -> dict[str, Any]:
        """Answers remembered since ``since`` in channels whose scope starts with
        ``scope_prefix`` (``slack:T0123:`` for one workspace): how many, how many were refusals
        (not grounded), the 👍/👎 given on them, and up to ``limit`` refused and 👎-rated
        questions, newest first."""
        with self.engine.connect() as db:
            answered = [payload for _at, payload in self._answers_since(db, since, scope_prefix)]
            votes = db.execute(
                select(feedback.c.rating, feedback.c.question, feedback.c.channel)
                .where(feedback.c.created_at >= _iso(since))
                .order_by(feedback.c.created_at.desc())
            ).all()
        rated = [(int(rating), str(question)) for rating, question, channel in votes if str(channel).startswith(scope_prefix)]
        refused = [str(a.get("question", "")) for a in answered if a.get("grounded") is False]
        down = [question for rating, question in rated if rating < 0 and question]
        return {
            "answers": len(answered),
            "refusals": len(refused),
            "up": sum(1 for rating, _q in rated if rating > 0),
            "down": sum(1 for rating, _q in rated if rating < 0),
            "refused_questions": refused[:limit],
            "down_questions": down[:limit],
        }

    def unanswered_questions(self, *, since: datetime, scope_prefix: str = "", channel: str = "") -> list[UnansweredQuestion]:
        """The questions refused since ``since`` (answers not from the knowledge base), in
        channels whose scope starts with ``scope_prefix``, or only in the one whose scope is
        ``channel``: most asked first, then most recent."""
        with self.engine.connect() as db:
            found_since = self._answers_since(db, since, scope_prefix or channel)
        refused = [
            (at, a) for at, a in found_since if a.get("grounded") is False and (not channel or a.get("channel") == channel)
        ]
        found: dict[str, UnansweredQuestion] = {}
        for at, answer in refused:  # newest first: the first asking seen is the latest
            question = " ".join(str(answer.get("question", "")).split())
            if not question:
                continue
            where = str(answer.get("channel") or "")
            seen = found.get(question.casefold())
            if seen is None:
                found[question.casefold()] = UnansweredQuestion(question, 1, datetime.fromtimestamp(at, UTC), (where,))
            else:
                channels = seen.channels if where in seen.channels else (*seen.channels, where)
                found[question.casefold()] = replace(seen, times=seen.times + 1, channels=channels)
        return sorted(found.values(), key=lambda q: (-q.times, -q.last_asked.timestamp()))

    def _answers_since(self, db: Connection, since: datetime, scope_prefix: str) -> list[tuple[float, dict[str, Any]]]:
        """Remembered answers since ``since`` with when each was given, newest first."""
        rows = db.execute(
            select(answers.c.created_at, answers.c.payload)
            .where(answers.c.created_at >= since.timestamp())
            .order_by(answers.c.created_at.desc())
        ).all()
        # The channel lives inside the JSON payload; filtered here, the same on both databases.
        found = [(float(at), json.loads(payload)) for at, payload in rows]
        return [(at, a) for at, a in found if str(a.get("channel") or "").startswith(scope_prefix)]

    # -- what is stored about one person ------------------------------------------------------

    def _naming(self, db: Connection, user: str) -> dict[str, list[Any]]:
        """The keys of the records that name ``user``, by kind (``ABOUT_USER``)."""
        answer_rows = db.execute(select(answers.c.answer_id, answers.c.payload)).all()
        pending_rows = db.execute(select(pending_questions.c.key, pending_questions.c.payload)).all()
        feedback_ids = db.execute(
            select(feedback.c.id).where((feedback.c.user == user) | (feedback.c.asker == user))
        ).scalars().all()
        return {
            "answers": [key for key, payload in answer_rows if _names(json.loads(payload), user)],
            "feedback": list(feedback_ids),
            "pending": [key for key, payload in pending_rows if _names(json.loads(payload), user)],
        }

    def about_user(self, user: str) -> dict[str, int]:
        """How many records name ``user``: questions with their answers, feedback (given on
        or about their answers) and questions in progress."""
        with self.engine.connect() as db:
            return {kind: len(keys) for kind, keys in self._naming(db, user).items()}

    def forget_user(self, user: str) -> dict[str, int]:
        """Delete everything stored about ``user`` (``/tidings forget me``, ``tidings forget
        --user``); the digests they switched on stay, without their name. Returns the counts."""
        if not user:
            raise ValueError("forget_user needs a user id")
        with self._transaction() as db:
            naming = self._naming(db, user)
            if naming["answers"]:
                db.execute(delete(answers).where(answers.c.answer_id.in_(naming["answers"])))
            if naming["feedback"]:
                db.execute(delete(feedback).where(feedback.c.id.in_(naming["feedback"])))
            if naming["pending"]:
                db.execute(delete(pending_questions).where(pending_questions.c.key.in_(naming["pending"])))
            db.execute(update(digest_subscriptions).where(digest_subscriptions.c.created_by == user).values(created_by=""))
        return {kind: len(keys) for kind, keys in naming.items()}

    # -- retention ------------------------------------------------------------------------

    def prune(self, *, older_than: datetime) -> dict[str, int]:
        """Forget what is older than ``older_than``: remembered answers, the question and
        answer text of feedback (the rating stays, for the counts), cached digest notes and
        questions in progress. Returns how many records each lost."""
        cutoff = older_than.timestamp()

        def count(result: Any) -> int:
            return len(result.all())

        with self._transaction() as db:
            return {
                "answers": count(db.execute(delete(answers).where(answers.c.created_at < cutoff).returning(answers.c.answer_id))),
                "feedback": count(
                    db.execute(
                        update(feedback)
                        .where(
                            and_(
                                feedback.c.created_at < _iso(older_than),
                                (feedback.c.question != "") | (feedback.c.answer != "") | (feedback.c.citations != "[]"),
                            )
                        )
                        .values(question="", answer="", citations="[]")
                        .returning(feedback.c.id)
                    )
                ),
                "notes": count(db.execute(delete(notes_cache).where(notes_cache.c.created_at < cutoff).returning(notes_cache.c.key))),
                "pending": count(
                    db.execute(
                        delete(pending_questions).where(pending_questions.c.created_at < cutoff).returning(pending_questions.c.key)
                    )
                ),
            }

    # -- questions in flight (answered or told after a crash) ---------------------------

    def question_started(self, key: str, payload: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                self._upsert(
                    pending_questions,
                    {"key": key, "created_at": time.time(), "payload": json.dumps(payload)},
                    keys=["key"],
                    update_columns=["created_at", "payload"],
                )
            )

    def question_finished(self, key: str) -> None:
        with self._transaction() as db:
            db.execute(delete(pending_questions).where(pending_questions.c.key == key))

    def unfinished_questions(self) -> list[dict[str, Any]]:
        """The questions in flight now, left in place."""
        with self.engine.connect() as db:
            rows = db.execute(
                select(pending_questions.c.key, pending_questions.c.payload).order_by(pending_questions.c.created_at)
            ).all()
        return [{"key": key, **json.loads(payload)} for key, payload in rows]

    def take_unfinished_questions(self, *, only_dead: bool | None = None, now: float | None = None) -> list[dict[str, Any]]:
        """Questions a previous process accepted but never answered; removed as they are taken.

        With ``only_dead`` (the default on PostgreSQL, where other replicas are answering
        right now) a question whose claim is still held under a live lease is left alone:
        its replica is alive and will answer it. On the SQLite file (one machine) every
        entry is taken, as a restarted process is the only one answering."""
        moment = time.time() if now is None else now
        dead_only = self.dialect == "postgresql" if only_dead is None else only_dead
        with self._transaction() as db:
            query = select(pending_questions.c.key, pending_questions.c.payload).order_by(pending_questions.c.created_at)
            if dead_only:
                alive = select(claims.c.key).where(and_(claims.c.status == "held", claims.c.lease_until >= moment))
                query = query.where(pending_questions.c.key.not_in(alive))
            rows = db.execute(query.with_for_update(skip_locked=True)).all()
            if rows:
                db.execute(delete(pending_questions).where(pending_questions.c.key.in_([r.key for r in rows])))
        return [{"key": key, **json.loads(payload)} for key, payload in rows]

    # -- digests ------------------------------------------------------------------------

    def _digest_key(self, platform: str, channel: str, window_start: datetime, window_end: datetime) -> Any:
        return and_(
            digests.c.platform == platform,
            digests.c.channel == channel,
            digests.c.window_start == _iso(window_start),
            digests.c.window_end == _iso(window_end),
        )

    def claim_digest(
        self,
        platform: str,
        channel: str,
        window_start: datetime,
        window_end: datetime,
        *,
        owner: str = "",
        stale_after_s: float | None = None,
        now: float | None = None,
    ) -> DigestRecord | None:
        """Record the intent to post a window, with a lease of ``stale_after_s`` (default:
        the store's claim lease) that its owner renews with ``renew_digest``. Returns the
        record when this caller now owns it, None when the window is already posted or
        skipped, or another caller holds it under a live lease."""
        moment = time.time() if now is None else now
        lease = self.claim_lease_s if stale_after_s is None else stale_after_s
        holder = owner or self.owner
        where = self._digest_key(platform, channel, window_start, window_end)
        with self._transaction() as db:
            inserted = db.execute(
                self._insert_ignoring_conflicts(
                    digests,
                    {
                        "platform": platform,
                        "channel": channel,
                        "window_start": _iso(window_start),
                        "window_end": _iso(window_end),
                        "status": "claimed",
                        "claimed_at": moment,
                        "owner": holder,
                    },
                    keys=["platform", "channel", "window_start", "window_end"],
                )
            )
            if inserted.first() is None:
                taken = db.execute(
                    update(digests)
                    .where(and_(where, digests.c.status == "claimed", digests.c.claimed_at <= moment - lease))
                    .values(claimed_at=moment, owner=holder)
                    .returning(digests.c.status)
                )
                if taken.first() is None:
                    return None
        return DigestRecord(platform, channel, window_start, window_end, "claimed")

    def renew_digest(
        self, platform: str, channel: str, window_start: datetime, window_end: datetime, *, owner: str = "", now: float | None = None
    ) -> bool:
        """Keep a claimed window's lease alive; False when the caller no longer holds it."""
        moment = time.time() if now is None else now
        where = self._digest_key(platform, channel, window_start, window_end)
        with self._transaction() as db:
            renewed = db.execute(
                update(digests)
                .where(and_(where, digests.c.status == "claimed", digests.c.owner == (owner or self.owner)))
                .values(claimed_at=moment)
                .returning(digests.c.status)
            )
            return renewed.first() is not None

    def finish_digest(
        self,
        platform: str,
        channel: str,
        window_start: datetime,
        window_end: datetime,
        *,
        message_id: str | None,
        status: str = "posted",
    ) -> None:
        with self._transaction() as db:
            db.execute(
                update(digests)
                .where(self._digest_key(platform, channel, window_start, window_end))
                .values(status=status, message_id=message_id, posted_at=datetime.now(UTC).isoformat())
            )

    def release_digest(self, platform: str, channel: str, window_start: datetime, window_end: datetime) -> None:
        """Give a claimed window up (the post failed before anything reached the platform)."""
        with self._transaction() as db:
            db.execute(
                delete(digests).where(and_(self._digest_key(platform, channel, window_start, window_end), digests.c.status == "claimed"))
            )

    def digests(self, platform: str | None = None, channel: str | None = None) -> list[DigestRecord]:
        query = select(
            digests.c.platform, digests.c.channel, digests.c.window_start, digests.c.window_end, digests.c.status, digests.c.message_id
        )
        if platform is not None:
            query = query.where(digests.c.platform == platform)
        if channel is not None:
            query = query.where(digests.c.channel == channel)
        with self.engine.connect() as db:
            rows = db.execute(query.order_by(digests.c.window_end)).all()
        return [DigestRecord(r[0], r[1], _from_iso(r[2]), _from_iso(r[3]), r[4], r[5]) for r in rows]

    def last_digest_end(self, platform: str, channel: str) -> datetime | None:
        """End of the latest window recorded for the channel (posted, skipped or claimed)."""
        with self.engine.connect() as db:
            value = db.execute(
                select(func.max(digests.c.window_end)).where(and_(digests.c.platform == platform, digests.c.channel == channel))
            ).scalar()
        return _from_iso(value) if value else None

    # -- digests switched on from the chat, and how each digest's runs went ----------------

    def subscribe_digest(self, subscription: DigestSubscription) -> None:
        """Add or change the chat digest of a channel."""
        values = {
            "platform": subscription.platform,
            "workspace": subscription.workspace,
            "channel": subscription.channel,
            "name": subscription.name,
            "cron": subscription.cron,
            "timezone": subscription.timezone,
            "created_by": subscription.created_by,
            "created_at": subscription.created_at or datetime.now(UTC).isoformat(),
        }
        with self._transaction() as db:
            db.execute(
                self._upsert(
                    digest_subscriptions,
                    values,
                    keys=["platform", "workspace", "channel"],
                    update_columns=["name", "cron", "timezone", "created_by", "created_at"],
                )
            )

    def unsubscribe_digest(self, platform: str, workspace: str, channel: str) -> bool:
        """Switch a channel's chat digest off; False when it had none."""
        table = digest_subscriptions
        with self._transaction() as db:
            removed = db.execute(
                delete(table)
                .where(and_(table.c.platform == platform, table.c.workspace == workspace, table.c.channel == channel))
                .returning(table.c.channel)
            )
            return removed.first() is not None

    def digest_subscriptions(self, platform: str | None = None, workspace: str | None = None) -> list[DigestSubscription]:
        table = digest_subscriptions
        query = select(
            table.c.platform, table.c.workspace, table.c.channel, table.c.cron, table.c.timezone,
            table.c.name, table.c.created_by, table.c.created_at,
        )
        if platform is not None:
            query = query.where(table.c.platform == platform)
        if workspace is not None:
            query = query.where(table.c.workspace == workspace)
        with self.engine.connect() as db:
            rows = db.execute(query.order_by(table.c.platform, table.c.workspace, table.c.channel)).all()
        return [DigestSubscription(*row) for row in rows]

    def record_digest_run(self, job_id: str, *, platform: str, result: str, failed: bool = False, at: datetime | None = None) -> None:
        """Note how a scheduled digest run went (a failure also counts, for ``/metrics``)."""
        values = {"job_id": job_id, "platform": platform, "last_run": _iso(at or datetime.now(UTC)), "last_result": result,
                  "failures": 1 if failed else 0}
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement: Any = pg_insert(digest_runs).values(**values)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(digest_runs).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["job_id"],
            set_={
                "last_run": statement.excluded.last_run,
                "last_result": statement.excluded.last_result,
                "failures": digest_runs.c.failures + statement.excluded.failures,
            },
        )
        with self._transaction() as db:
            db.execute(statement)

    def digest_runs(self) -> dict[str, DigestRun]:
        with self.engine.connect() as db:
            rows = db.execute(
                select(digest_runs.c.job_id, digest_runs.c.platform, digest_runs.c.last_run, digest_runs.c.last_result, digest_runs.c.failures)
            ).all()
        return {r[0]: DigestRun(r[0], r[1], _from_iso(r[2]), r[3], int(r[4])) for r in rows}

    # -- Slack installations (OAuth) and the OAuth flow's states --------------------------

    def save_slack_installation(self, *, team_id: str, enterprise_id: str = "", payload: dict[str, Any]) -> None:
        """Keep (or replace) a workspace's installation as bolt describes it (its bot token
        included: this database must be protected like the tokens in ``.env``)."""
        values = {
            "enterprise_id": enterprise_id,
            "team_id": team_id,
            "installed_at": datetime.now(UTC).isoformat(),
            "payload": json.dumps(payload),
        }
        with self._transaction() as db:
            db.execute(
                self._upsert(
                    slack_installations, values, keys=["enterprise_id", "team_id"], update_columns=["installed_at", "payload"]
                )
            )

    def slack_installation(self, *, team_id: str, enterprise_id: str = "") -> dict[str, Any] | None:
        table = slack_installations
        with self.engine.connect() as db:
            row = db.execute(
                select(table.c.payload).where(and_(table.c.enterprise_id == enterprise_id, table.c.team_id == team_id))
            ).first()
        return json.loads(row[0]) if row else None

    def slack_installations(self) -> list[dict[str, Any]]:
        with self.engine.connect() as db:
            rows = db.execute(select(slack_installations.c.payload).order_by(slack_installations.c.installed_at)).all()
        return [json.loads(row[0]) for row in rows]

    def delete_slack_installation(self, *, team_id: str, enterprise_id: str = "") -> bool:
        table = slack_installations
        with self._transaction() as db:
            removed = db.execute(
                delete(table)
                .where(and_(table.c.enterprise_id == enterprise_id, table.c.team_id == team_id))
                .returning(table.c.team_id)
            )
            return removed.first() is not None

    def issue_oauth_state(self, state: str, *, ttl_s: float) -> None:
        now = time.time()
        with self._transaction() as db:
            db.execute(delete(oauth_states).where(oauth_states.c.expires_at < now))
            db.execute(insert(oauth_states).values(state=state, expires_at=now + ttl_s))

    def consume_oauth_state(self, state: str) -> bool:
        """True once for a state issued and not expired (a replayed redirect gets False)."""
        with self._transaction() as db:
            removed = db.execute(
                delete(oauth_states)
                .where(and_(oauth_states.c.state == state, oauth_states.c.expires_at >= time.time()))
                .returning(oauth_states.c.state)
            )
            return removed.first() is not None

    # -- cached partial notes -----------------------------------------------------------

    def cached_notes(self, key: str) -> Any | None:
        with self.engine.connect() as db:
            row = db.execute(select(notes_cache.c.payload).where(notes_cache.c.key == key)).first()
        return json.loads(row[0]) if row else None

    def cache_notes(self, key: str, payload: Any) -> None:
        with self._transaction() as db:
            db.execute(
                self._upsert(
                    notes_cache,
                    {"key": key, "created_at": time.time(), "payload": json.dumps(payload)},
                    keys=["key"],
                    update_columns=["created_at", "payload"],
                )
            )


def _sqlite_connect(connection: Any, _record: Any) -> None:
    # Transactions are begun by hand (below), so sqlite3's own implicit BEGIN is turned off.
    connection.isolation_level = None
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Take the write lock up front: a read that later wants to write could otherwise fail
    # with "database is locked" when another process wrote in between.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


