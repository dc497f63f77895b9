"""SQLite records of the bot's questions and the 👍/👎 given to its answers (no telegram here).

A user is stored only as an HMAC-SHA256 of their Telegram id under a secret key: USER_ID_SALT when
set, else a random key made at first start and kept beside the database (readable by its owner only),
so that the stored hashes cannot be reversed by trying every Telegram id. Each question row also keeps the
chunk ids of its hits, so that the answer's buttons (more results, full section) keep working
after a restart.

Question texts are stored with personal data masked (bot.privacy: national ID numbers, telephone
numbers, e-mail addresses), and are kept for ``retention_days``: older texts are erased (set to
''), while their rows, and so every count /stats shows, remain.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .privacy import mask_personal

THAILAND = timezone(timedelta(hours=7), "ICT")  # "today" for /stats; Thailand has no daylight saving

_SCHEMA = """
CREATE TABLE IF NOT EXISTS questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    user_hash TEXT NOT NULL,
    chat_type TEXT NOT NULL,
    text TEXT NOT NULL,
    answered INTEGER NOT NULL,
    reason TEXT NOT NULL,
    top_doc TEXT,
    latency_ms REAL NOT NULL,
    hits TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS questions_ts ON questions (ts);
CREATE TABLE IF NOT EXISTS feedback (
    answer_id INTEGER NOT NULL REFERENCES questions (id),
    user_hash TEXT NOT NULL,
    value INTEGER NOT NULL CHECK (value IN (-1, 1)),
    ts REAL NOT NULL,
    PRIMARY KEY (answer_id, user_hash)
);
"""


def hash_user(user_id: int, key: str) -> str:
    """The stored form of a Telegram user id: its HMAC-SHA256 under the deployment's key."""
    return hmac.new(key.encode(), str(user_id).encode(), hashlib.sha256).hexdigest()


def deployment_key(database: Path) -> str:
    """This deployment's secret key, made at first start beside the database (mode 0600)."""
    path = Path(database).with_name(Path(database).name + ".key")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if len(key) < 32:
            raise ValueError(f"{path} does not hold a key; remove it to make a new one (stored hashes change)")
        return key
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path.read_text(encoding="ascii").strip()


@dataclass(frozen=True)
class QuestionRecord:
    id: int
    text: str
    answered: bool
    reason: str
    top_doc: str | None
    hits: tuple[str, ...]  # chunk ids, best first


@dataclass(frozen=True)
class Stats:
    today: int
    today_answered: int
    total: int
    answered: int
    thumbs_up: int
    thumbs_down: int
    top_unanswered: tuple[tuple[str, int], ...]  # (question, how often), most frequent first


class Records:
    """One SQLite file; safe to share between threads (one connection behind a lock)."""

    PURGE_EVERY = 3600.0  # seconds between two erasures of expired question texts

    def __init__(self, path: Path, salt: str, clock: Callable[[], float] = time.time, retention_days: int = 0):
        """retention_days: how long question texts are kept (0: no limit)."""
        self.path = Path(path)
        self.retention_days = retention_days
        self._purged_at = float("-inf")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._salt = salt
        self._clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self.forget_expired()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def user_hash(self, user_id: int) -> str:
        return hash_user(user_id, self._salt)

    # -- writing ------------------------------------------------------------------------------------
    def add_question(self, user_id: int, chat_type: str, text: str, answered: bool, reason: str,
                     top_doc: str | None, latency_ms: float, hits: Sequence[str] = ()) -> int:
        """Record a question (personal data masked) and what became of it; returns its row id (the answer id)."""
        if self._clock() - self._purged_at >= self.PURGE_EVERY:
            self.forget_expired()
        text = mask_personal(text)
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO questions (ts, user_hash, chat_type, text, answered, reason, top_doc, latency_ms, hits)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (self._clock(), self.user_hash(user_id), chat_type, text, int(answered), reason, top_doc,
                 round(float(latency_ms), 1), json.dumps(list(hits))))
            return int(cur.lastrowid)

    def add_feedback(self, answer_id: int, user_id: int, value: int) -> bool:
        """A 👍 (1) or 👎 (-1) for an answer; a user's later vote replaces their earlier one.

        False when there is no such answer.
        """
        if value not in (1, -1):
            raise ValueError("feedback is 1 or -1")
        with self._lock:
            if self._db.execute("SELECT 1 FROM questions WHERE id = ?", (answer_id,)).fetchone() is None:
                return False
            self._db.execute(
                "INSERT INTO feedback (answer_id, user_hash, value, ts) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (answer_id, user_hash) DO UPDATE SET value = excluded.value, ts = excluded.ts",
                (answer_id, self.user_hash(user_id), value, self._clock()))
            return True

    def forget_expired(self) -> int:
        """Erase the texts of questions older than the retention period; returns how many."""
        now = self._clock()
        self._purged_at = now
        if self.retention_days <= 0:
            return 0
        with self._lock:
            cur = self._db.execute("UPDATE questions SET text = '' WHERE ts < ? AND text != ''",
                                   (now - self.retention_days * 86400.0,))
            return cur.rowcount

    # -- reading ------------------------------------------------------------------------------------
    def question(self, answer_id: int) -> QuestionRecord | None:
        with self._lock:
            row = self._db.execute("SELECT id, text, answered, reason, top_doc, hits FROM questions WHERE id = ?",
                                   (answer_id,)).fetchone()
        if row is None:
            return None
        return QuestionRecord(row[0], row[1], bool(row[2]), row[3], row[4], tuple(json.loads(row[5])))

    def stats(self, top: int = 5) -> Stats:
        """Today's (Thailand time) and all-time figures, and the most frequent unanswered questions."""
        now = datetime.fromtimestamp(self._clock(), THAILAND)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        with self._lock:
            total, answered = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(answered), 0) FROM questions").fetchone()
            today, today_answered = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(answered), 0) FROM questions WHERE ts >= ?", (midnight,)).fetchone()
            up, down = self._db.execute(
                "SELECT COALESCE(SUM(value = 1), 0), COALESCE(SUM(value = -1), 0) FROM feedback").fetchone()
            rows = self._db.execute(
                "SELECT MIN(text), COUNT(*) AS n FROM questions WHERE reason = 'not_found' AND text != ''"
                " GROUP BY lower(trim(text)) ORDER BY n DESC, MAX(ts) DESC LIMIT ?", (top,)).fetchall()
        return Stats(today, today_answered, total, answered, up, down, tuple((q, n) for q, n in rows))
