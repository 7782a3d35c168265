"""Small durable state in one SQLite file under ``TIDINGS_HOME``.

- processed platform events (so a retried Slack event is answered once, across restarts);
- questions being answered (so a restart can tell their askers) and the answers given;
- feedback on answers (👍/👎 with question, answer and citations, exportable as JSONL, the
  same fields whatever the platform: ``FeedbackRecord``);
- digests: recorded under (platform, channel, window) *before* posting and marked with the
  posted message id *after*, so a restart, a double fire or a second replica never posts the
  same window twice;
- cached partial digest notes, keyed by the content they summarise.

SQLite in WAL mode lets several processes on one machine share the file safely; every
method is one short transaction. The schema is ``SCHEMA`` plus ``MIGRATIONS`` in order; the
file's ``user_version`` says how many have run.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS seen_events (
    key TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    platform TEXT NOT NULL,
    channel TEXT NOT NULL,
    user TEXT NOT NULL,
    rating INTEGER NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    answer_id TEXT NOT NULL DEFAULT '',
    UNIQUE (answer_id, user)
);
CREATE TABLE IF NOT EXISTS answers (
    answer_id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS digests (
    platform TEXT NOT NULL,
    channel TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    status TEXT NOT NULL,
    claimed_at REAL NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    message_id TEXT,
    posted_at TEXT,
    PRIMARY KEY (platform, channel, window_start, window_end)
);
CREATE TABLE IF NOT EXISTS notes_cache (
    key TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_questions (
    key TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    payload TEXT NOT NULL
);
"""

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: feedback says who asked and whether the answer was grounded, on every platform.
    (
        "ALTER TABLE feedback ADD COLUMN asker TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE feedback ADD COLUMN grounded INTEGER",
    ),
    # 2: one-off upgrades done to this deployment (the bundled docs moved to their own scope).
    (
        "CREATE TABLE IF NOT EXISTS milestones (key TEXT PRIMARY KEY, done_at TEXT NOT NULL)",
    ),
    # 3: digests switched on from the chat (/tidings digest on), and each digest's last run.
    (
        """CREATE TABLE IF NOT EXISTS digest_subscriptions (
            platform TEXT NOT NULL,
            workspace TEXT NOT NULL,
            channel TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            cron TEXT NOT NULL,
            timezone TEXT NOT NULL,
            created_by TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            PRIMARY KEY (platform, workspace, channel)
        )""",
        """CREATE TABLE IF NOT EXISTS digest_runs (
            job_id TEXT PRIMARY KEY,
            platform TEXT NOT NULL,
            last_run TEXT NOT NULL,
            last_result TEXT NOT NULL,
            failures INTEGER NOT NULL DEFAULT 0
        )""",
    ),
    # 4: Slack workspaces installed through the OAuth flow, and the flow's one-time states.
    (
        """CREATE TABLE IF NOT EXISTS slack_installations (
            enterprise_id TEXT NOT NULL DEFAULT '',
            team_id TEXT NOT NULL,
            installed_at TEXT NOT NULL,
            payload TEXT NOT NULL,
            PRIMARY KEY (enterprise_id, team_id)
        )""",
        "CREATE TABLE IF NOT EXISTS oauth_states (state TEXT PRIMARY KEY, expires_at REAL NOT NULL)",
    ),
)


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
    """The SQLite state. Safe to share between threads of one process and between
    processes on one machine."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(SCHEMA)
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _migrate(self) -> None:
        """Run the migrations this file has not had yet, once even with several processes."""
        with self._transaction() as db:
            done = int(db.execute("PRAGMA user_version").fetchone()[0])
            for version, statements in enumerate(MIGRATIONS[done:], start=done + 1):
                for statement in statements:
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {version:d}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    # -- processed events ---------------------------------------------------------------

    def first_time(self, key: str, *, ttl_s: float = 24 * 3600, now: float | None = None) -> bool:
        """Record ``key`` as processed; True only for the first caller (atomic)."""
        moment = time.time() if now is None else now
        with self._transaction() as db:
            db.execute("DELETE FROM seen_events WHERE expires_at < ?", (moment,))
            cursor = db.execute(
                "INSERT OR IGNORE INTO seen_events (key, expires_at) VALUES (?, ?)",
                (key, moment + ttl_s),
            )
            return cursor.rowcount == 1

    # -- one-off upgrades -------------------------------------------------------------------

    def milestone_reached(self, key: str) -> bool:
        """Whether the one-off upgrade ``key`` has been done on this deployment."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM milestones WHERE key = ?", (key,)).fetchone() is not None

    def reach_milestone(self, key: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO milestones (key, done_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, datetime.now(UTC).isoformat())
            )

    # -- answers and feedback -----------------------------------------------------------

    def remember_answer(self, answer_id: str, payload: dict[str, Any]) -> None:
        """Keep what was answered so a later 👍/👎 can be stored with it."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO answers (answer_id, created_at, payload) VALUES (?, ?, ?)",
                (answer_id, time.time(), json.dumps(payload)),
            )

    def recall_answer(self, answer_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT payload FROM answers WHERE answer_id = ?", (answer_id,)).fetchone()
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
        with self._transaction() as db:
            db.execute(
                """INSERT INTO feedback
                       (created_at, platform, channel, user, rating, question, answer, citations, answer_id, asker, grounded)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (answer_id, user) DO UPDATE SET rating = excluded.rating, created_at = excluded.created_at""",
                (
                    datetime.now(UTC).isoformat(),
                    platform,
                    channel,
                    user,
                    1 if rating > 0 else -1,
                    question,
                    answer,
                    json.dumps(cited),
                    answer_id,
                    str(remembered.get("asker") or ""),
                    None if grounded is None else int(bool(grounded)),
                ),
            )

    def feedback_records(self) -> list[FeedbackRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT created_at, platform, channel, user, rating, question, answer, citations, answer_id, asker, grounded"
                " FROM feedback ORDER BY id"
            ).fetchall()
        return [
            FeedbackRecord(
                created_at=r[0],
                platform=r[1],
                channel=r[2],
                user=r[3],
                rating=r[4],
                question=r[5],
                answer=r[6],
                citations=json.loads(r[7]),
                answer_id=r[8],
                asker=r[9],
                grounded=None if r[10] is None else bool(r[10]),
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
        questions, newest first. Plain SQL; the payloads are read here (no JSON operators, so
        the same on every database)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT payload FROM answers WHERE created_at >= ? ORDER BY created_at DESC", (since.timestamp(),)
            ).fetchall()
            votes = self._db.execute(
                "SELECT rating, question, channel FROM feedback WHERE created_at >= ? ORDER BY created_at DESC",
                (_iso(since),),
            ).fetchall()
        answers = [a for a in (json.loads(row[0]) for row in rows) if str(a.get("channel") or "").startswith(scope_prefix)]
        here = [(rating, question) for rating, question, channel in votes if str(channel).startswith(scope_prefix)]
        refused = [str(a.get("question", "")) for a in answers if a.get("grounded") is False]
        return {
            "answers": len(answers),
            "refusals": len(refused),
            "up": sum(1 for rating, _q in here if rating > 0),
            "down": sum(1 for rating, _q in here if rating < 0),
            "refused_questions": refused[:limit],
            "down_questions": [str(q) for rating, q in here if rating < 0 and q][:limit],
        }

    # -- what is stored about one person ------------------------------------------------------

    def _about(self, db: sqlite3.Connection, user: str) -> dict[str, list[str]]:
        """The keys of the records that name ``user``, by kind."""
        answers = [k for k, p in db.execute("SELECT answer_id, payload FROM answers").fetchall() if _names(json.loads(p), user)]
        pending = [k for k, p in db.execute("SELECT key, payload FROM pending_questions").fetchall() if _names(json.loads(p), user)]
        feedback = [
            str(row[0]) for row in db.execute("SELECT id FROM feedback WHERE user = ? OR asker = ?", (user, user)).fetchall()
        ]
        return {"answers": answers, "feedback": feedback, "pending": pending}

    def about_user(self, user: str) -> dict[str, int]:
        """How many records name ``user``: questions with their answers, feedback (given on
        or about their answers) and questions in progress."""
        with self._lock:
            return {name: len(keys) for name, keys in self._about(self._db, user).items()}

    def forget_user(self, user: str) -> dict[str, int]:
        """Delete everything stored about ``user`` (``/tidings forget me``, ``tidings forget
        --user``); the digests they switched on stay, without their name. Returns the counts."""
        if not user:
            raise ValueError("forget_user needs a user id")
        with self._transaction() as db:
            found = self._about(db, user)
            db.executemany("DELETE FROM answers WHERE answer_id = ?", [(k,) for k in found["answers"]])
            db.executemany("DELETE FROM pending_questions WHERE key = ?", [(k,) for k in found["pending"]])
            db.executemany("DELETE FROM feedback WHERE id = ?", [(int(k),) for k in found["feedback"]])
            db.execute("UPDATE digest_subscriptions SET created_by = '' WHERE created_by = ?", (user,))
        return {name: len(keys) for name, keys in found.items()}

    # -- retention ------------------------------------------------------------------------

    def prune(self, *, older_than: datetime) -> dict[str, int]:
        """Forget what is older than ``older_than``: remembered answers, the question and
        answer text of feedback (the rating stays, for the counts), cached digest notes and
        questions in progress. Returns how many records each lost."""
        cutoff = older_than.timestamp()
        with self._transaction() as db:
            return {
                "answers": db.execute("DELETE FROM answers WHERE created_at < ?", (cutoff,)).rowcount,
                "feedback": db.execute(
                    "UPDATE feedback SET question = '', answer = '', citations = '[]'"
                    " WHERE created_at < ? AND (question != '' OR answer != '' OR citations != '[]')",
                    (_iso(older_than),),
                ).rowcount,
                "notes": db.execute("DELETE FROM notes_cache WHERE created_at < ?", (cutoff,)).rowcount,
                "pending": db.execute("DELETE FROM pending_questions WHERE created_at < ?", (cutoff,)).rowcount,
            }

    # -- questions in flight (answered or told after a crash) ---------------------------

    def question_started(self, key: str, payload: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO pending_questions (key, created_at, payload) VALUES (?, ?, ?)",
                (key, time.time(), json.dumps(payload)),
            )

    def question_finished(self, key: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM pending_questions WHERE key = ?", (key,))

    def unfinished_questions(self) -> list[dict[str, Any]]:
        """The questions in flight now, left in place."""
        with self._lock:
            rows = self._db.execute("SELECT key, payload FROM pending_questions ORDER BY created_at").fetchall()
        return [{"key": key, **json.loads(payload)} for key, payload in rows]

    def take_unfinished_questions(self) -> list[dict[str, Any]]:
        """Questions a previous process accepted but never answered; removed as they are taken."""
        with self._transaction() as db:
            rows = db.execute("SELECT key, payload FROM pending_questions ORDER BY created_at").fetchall()
            db.execute("DELETE FROM pending_questions")
        return [{"key": key, **json.loads(payload)} for key, payload in rows]

    # -- digests ------------------------------------------------------------------------

    def claim_digest(
        self,
        platform: str,
        channel: str,
        window_start: datetime,
        window_end: datetime,
        *,
        owner: str = "",
        stale_after_s: float = 3600,
    ) -> DigestRecord | None:
        """Record the intent to post a window. Returns the record when this caller now owns
        it, None when the window is already posted or another live caller holds it."""
        key = (platform, channel, _iso(window_start), _iso(window_end))
        now = time.time()
        with self._transaction() as db:
            row = db.execute(
                "SELECT status, claimed_at, message_id FROM digests WHERE platform=? AND channel=? AND window_start=? AND window_end=?",
                key,
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO digests (platform, channel, window_start, window_end, status, claimed_at, owner) VALUES (?, ?, ?, ?, 'claimed', ?, ?)",
                    (*key, now, owner),
                )
            elif row[0] != "claimed" or now - row[1] < stale_after_s:
                return None
            else:
                db.execute(
                    "UPDATE digests SET claimed_at=?, owner=? WHERE platform=? AND channel=? AND window_start=? AND window_end=?",
                    (now, owner, *key),
                )
        return DigestRecord(platform, channel, window_start, window_end, "claimed")

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
                "UPDATE digests SET status=?, message_id=?, posted_at=? WHERE platform=? AND channel=? AND window_start=? AND window_end=?",
                (status, message_id, datetime.now(UTC).isoformat(), platform, channel, _iso(window_start), _iso(window_end)),
            )

    def release_digest(self, platform: str, channel: str, window_start: datetime, window_end: datetime) -> None:
        """Give a claimed window up (the post failed before anything reached the platform)."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM digests WHERE platform=? AND channel=? AND window_start=? AND window_end=? AND status='claimed'",
                (platform, channel, _iso(window_start), _iso(window_end)),
            )

    def digests(self, platform: str | None = None, channel: str | None = None) -> list[DigestRecord]:
        query = "SELECT platform, channel, window_start, window_end, status, message_id FROM digests"
        clauses, params = [], []
        if platform is not None:
            clauses.append("platform = ?")
            params.append(platform)
        if channel is not None:
            clauses.append("channel = ?")
            params.append(channel)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        query += " ORDER BY window_end"
        with self._lock:
            rows = self._db.execute(query, params).fetchall()
        return [DigestRecord(r[0], r[1], _from_iso(r[2]), _from_iso(r[3]), r[4], r[5]) for r in rows]

    def last_digest_end(self, platform: str, channel: str) -> datetime | None:
        """End of the latest window recorded for the channel (posted, skipped or claimed)."""
        with self._lock:
            row = self._db.execute(
                "SELECT MAX(window_end) FROM digests WHERE platform=? AND channel=?", (platform, channel)
            ).fetchone()
        return _from_iso(row[0]) if row and row[0] else None

    # -- digests switched on from the chat, and how each digest's runs went ----------------

    def subscribe_digest(self, subscription: DigestSubscription) -> None:
        """Add or change the chat digest of a channel."""
        created = subscription.created_at or datetime.now(UTC).isoformat()
        with self._transaction() as db:
            db.execute(
                """INSERT INTO digest_subscriptions (platform, workspace, channel, name, cron, timezone, created_by, created_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (platform, workspace, channel) DO UPDATE SET
                       name = excluded.name, cron = excluded.cron, timezone = excluded.timezone,
                       created_by = excluded.created_by, created_at = excluded.created_at""",
                (
                    subscription.platform,
                    subscription.workspace,
                    subscription.channel,
                    subscription.name,
                    subscription.cron,
                    subscription.timezone,
                    subscription.created_by,
                    created,
                ),
            )

    def unsubscribe_digest(self, platform: str, workspace: str, channel: str) -> bool:
        """Switch a channel's chat digest off; False when it had none."""
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM digest_subscriptions WHERE platform = ? AND workspace = ? AND channel = ?",
                (platform, workspace, channel),
            )
            return cursor.rowcount > 0

    def digest_subscriptions(self, platform: str | None = None, workspace: str | None = None) -> list[DigestSubscription]:
        query = "SELECT platform, workspace, channel, cron, timezone, name, created_by, created_at FROM digest_subscriptions"
        clauses, params = [], []
        if platform is not None:
            clauses.append("platform = ?")
            params.append(platform)
        if workspace is not None:
            clauses.append("workspace = ?")
            params.append(workspace)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY platform, workspace, channel", params).fetchall()
        return [DigestSubscription(*row) for row in rows]

    def record_digest_run(self, job_id: str, *, platform: str, result: str, failed: bool = False, at: datetime | None = None) -> None:
        """Note how a scheduled digest run went (a failure also counts, for ``/metrics``)."""
        moment = _iso(at or datetime.now(UTC))
        with self._transaction() as db:
            db.execute(
                """INSERT INTO digest_runs (job_id, platform, last_run, last_result, failures) VALUES (?, ?, ?, ?, ?)
                   ON CONFLICT (job_id) DO UPDATE SET last_run = excluded.last_run, last_result = excluded.last_result,
                       failures = digest_runs.failures + excluded.failures""",
                (job_id, platform, moment, result, 1 if failed else 0),
            )

    def digest_runs(self) -> dict[str, DigestRun]:
        with self._lock:
            rows = self._db.execute("SELECT job_id, platform, last_run, last_result, failures FROM digest_runs").fetchall()
        return {r[0]: DigestRun(r[0], r[1], _from_iso(r[2]), r[3], int(r[4])) for r in rows}

    # -- Slack installations (OAuth) and the OAuth flow's states --------------------------

    def save_slack_installation(self, *, team_id: str, enterprise_id: str = "", payload: dict[str, Any]) -> None:
        """Keep (or replace) a workspace's installation as bolt describes it (its bot token
        included: this database must be protected like the tokens in ``.env``)."""
        with self._transaction() as db:
            db.execute(
                """INSERT INTO slack_installations (enterprise_id, team_id, installed_at, payload) VALUES (?, ?, ?, ?)
                   ON CONFLICT (enterprise_id, team_id) DO UPDATE SET installed_at = excluded.installed_at,
                       payload = excluded.payload""",
                (enterprise_id, team_id, datetime.now(UTC).isoformat(), json.dumps(payload)),
            )

    def slack_installation(self, *, team_id: str, enterprise_id: str = "") -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT payload FROM slack_installations WHERE enterprise_id = ? AND team_id = ?", (enterprise_id, team_id)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def slack_installations(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT payload FROM slack_installations ORDER BY installed_at").fetchall()
        return [json.loads(row[0]) for row in rows]

    def delete_slack_installation(self, *, team_id: str, enterprise_id: str = "") -> bool:
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM slack_installations WHERE enterprise_id = ? AND team_id = ?", (enterprise_id, team_id)
            )
            return cursor.rowcount > 0

    def issue_oauth_state(self, state: str, *, ttl_s: float) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM oauth_states WHERE expires_at < ?", (time.time(),))
            db.execute("INSERT INTO oauth_states (state, expires_at) VALUES (?, ?)", (state, time.time() + ttl_s))

    def consume_oauth_state(self, state: str) -> bool:
        """True once for a state issued and not expired (a replayed redirect gets False)."""
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM oauth_states WHERE state = ? AND expires_at >= ?", (state, time.time()))
            return cursor.rowcount == 1

    # -- cached partial notes -----------------------------------------------------------

    def cached_notes(self, key: str) -> Any | None:
        with self._lock:
            row = self._db.execute("SELECT payload FROM notes_cache WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def cache_notes(self, key: str, payload: Any) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO notes_cache (key, created_at, payload) VALUES (?, ?, ?)",
                (key, time.time(), json.dumps(payload)),
            )
