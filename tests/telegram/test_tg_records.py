"""bot.records: questions, feedback and statistics in SQLite."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import pytest

from bot.records import THAILAND, Records, hash_user


class Clock:
    def __init__(self, when: datetime):
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2025, 9, 1, 10, 0, tzinfo=THAILAND))


@pytest.fixture
def records(tmp_path, clock):
    r = Records(tmp_path / "nested" / "dir" / "bot.sqlite3", "salt", clock=clock)
    yield r
    r.close()


def test_user_ids_are_keyed_hashes():
    assert hash_user(42, "salt") == hmac.new(b"salt", b"42", hashlib.sha256).hexdigest()
    assert hash_user(42, "salt") != hash_user(42, "pepper") != hash_user(43, "pepper")


def test_each_deployment_makes_its_own_secret_key_once(tmp_path):
    import stat

    from bot.records import deployment_key

    db = tmp_path / "data" / "bot.sqlite3"
    key = deployment_key(db)
    path = tmp_path / "data" / "bot.sqlite3.key"
    assert len(key) == 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert deployment_key(db) == key  # kept across restarts
    assert deployment_key(tmp_path / "other" / "bot.sqlite3") != key  # another deployment, another key
    path.write_text("short")
    with pytest.raises(ValueError, match="does not hold a key"):
        deployment_key(db)


def test_questions_are_stored_and_read_back(records, tmp_path):
    assert (tmp_path / "nested" / "dir").is_dir()
    first = records.add_question(9876543, "private", "ตรามีกี่ประเภท", True, "ok", "a.md", 31.26, ["a.md#0", "b.md#2"])
    second = records.add_question(9876543, "group", "ราคาทอง", False, "not_found", "b.md", 12.0)
    assert second == first + 1
    got = records.question(first)
    assert (got.text, got.answered, got.reason, got.top_doc, got.hits) == (
        "ตรามีกี่ประเภท", True, "ok", "a.md", ("a.md#0", "b.md#2"))
    assert records.question(second).hits == () and records.question(999) is None
    raw = records.path.read_bytes() + (records.path.parent / "bot.sqlite3-wal").read_bytes()
    assert b"9876543" not in raw and hash_user(9876543, "salt").encode() in raw


def test_feedback_is_tied_to_an_answer_and_replaced_by_a_later_vote(records):
    answer = records.add_question(1, "private", "q", True, "ok", "a.md", 1.0)
    assert records.add_feedback(answer, 1, 1) and records.add_feedback(answer, 2, 1)
    assert records.add_feedback(answer, 1, -1)  # user 1 changes their mind
    assert not records.add_feedback(answer + 100, 1, 1)  # no such answer
    stats = records.stats()
    assert (stats.thumbs_up, stats.thumbs_down) == (1, 1)
    with pytest.raises(ValueError):
        records.add_feedback(answer, 1, 0)


def test_stats_today_all_time_and_frequent_unanswered(records, clock):
    clock.now -= 86_400  # yesterday
    records.add_question(1, "private", "ราคาทอง", False, "not_found", None, 5)
    records.add_question(1, "private", "ตรา", True, "ok", "a.md", 5)
    clock.now += 86_400
    for text in ("ราคาทอง", " ราคาทอง ", "ผลบอล"):
        records.add_question(2, "private", text, False, "not_found", None, 5)
    records.add_question(2, "private", "", False, "empty", None, 0)
    records.add_question(3, "group", "เขตส่งเสริม", True, "ok", "b.md", 5)
    stats = records.stats(top=5)
    assert (stats.today, stats.today_answered, stats.total, stats.answered) == (5, 1, 7, 2)
    assert stats.top_unanswered[0][1] == 3 and stats.top_unanswered[0][0].strip() == "ราคาทอง"
    assert stats.top_unanswered[1] == ("ผลบอล", 1)
    assert len(stats.top_unanswered) == 2  # "empty" is not an unanswered question


def test_today_starts_at_midnight_in_thailand(tmp_path):
    clock = Clock(datetime(2025, 9, 1, 0, 30, tzinfo=THAILAND))  # 17:30 UTC the day before
    r = Records(tmp_path / "b.sqlite3", "s", clock=clock)
    r.add_question(1, "private", "หลังเที่ยงคืน", True, "ok", None, 1)
    clock.now -= 3600  # 23:30 in Thailand, the previous day
    r.add_question(1, "private", "ก่อนเที่ยงคืน", True, "ok", None, 1)
    clock.now += 3600
    assert r.stats().today == 1
    r.close()


def test_records_persist_across_restarts(tmp_path):
    path = tmp_path / "p.sqlite3"
    r = Records(path, "s")
    answer = r.add_question(1, "private", "q", True, "ok", None, 1)
    r.close()
    again = Records(path, "s")
    assert again.question(answer).text == "q" and again.stats().total == 1
    again.close()
