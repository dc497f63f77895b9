"""Personal data masked before it is stored or logged (PDPA), and question texts kept for a limited time."""

import logging
import sqlite3

import pytest

from bot.formatting import TEXTS
from bot.privacy import EMAIL_MASK, ID_MASK, PHONE_MASK, mask_personal, valid_national_id
from bot.records import Records
from bot.tg.app import RedactingFormatter


def national_id(first12: str) -> str:
    total = sum(int(d) * (13 - i) for i, d in enumerate(first12))
    return first12 + str((11 - total % 11) % 10)


ID = national_id("310050012345")


def test_the_national_id_checksum():
    assert valid_national_id(ID)
    wrong = ID[:12] + str((int(ID[12]) + 1) % 10)
    assert not valid_national_id(wrong) and not valid_national_id("12345") and not valid_national_id("x" * 13)


@pytest.mark.parametrize("written", [ID, f"{ID[0]}-{ID[1:5]}-{ID[5:10]}-{ID[10:12]}-{ID[12]}",
                                     f"{ID[0]} {ID[1:5]} {ID[5:10]} {ID[10:12]} {ID[12]}"])
def test_national_ids_are_masked_however_grouped(written):
    assert mask_personal(f"เลขบัตร {written} ยื่นได้ไหม") == f"เลขบัตร {ID_MASK} ยื่นได้ไหม"


def test_thirteen_digits_that_fail_the_checksum_are_not_an_id():
    other = ID[:12] + str((int(ID[12]) + 1) % 10)
    assert mask_personal(f"งบ {other} บาท") == f"งบ {other} บาท"


@pytest.mark.parametrize("phone", ["081-234-5678", "0812345678", "+66 81 234 5678", "+66812345678",
                                   "02-123-4567", "(02) 123 4567", "053-123456", "09 1234 5678"])
def test_phone_numbers_are_masked(phone):
    assert mask_personal(f"โทรหาผมที่ {phone} นะครับ") == f"โทรหาผมที่ {PHONE_MASK} นะครับ"


def test_email_addresses_are_masked():
    assert mask_personal("ส่งมาที่ som.chai+city@mail.go.th ได้เลย") == f"ส่งมาที่ {EMAIL_MASK} ได้เลย"


@pytest.mark.parametrize("question", [
    "แผนปี 2566-2570 มีกี่เมือง", "ปีงบ 68 ได้งบ 1,500 ล้านบาท", "36 พื้นที่ ใน 25 จังหวัด เมื่อ 21 ส.ค. 2566",
    "ต่ออายุต้องคืบหน้าเกิน 50% ใช่ไหม", "ประชุมครั้งที่ 1/2562 วันที่ 8.2.2562", "update 123456789 of chat -1001234567890",
])
def test_the_figures_people_ask_about_are_left_alone(question):
    assert mask_personal(question) == question


def test_records_store_masked_questions_and_stats_show_them_masked(tmp_path):
    records = Records(tmp_path / "r.sqlite3", "key")
    records.add_question(1, "private", f"บัตร {ID} โทร 0812345678 ยื่นตราได้ไหม", False, "not_found", None, 5.0)
    with sqlite3.connect(records.path) as db:
        (text,) = db.execute("SELECT text FROM questions").fetchone()
    assert text == f"บัตร {ID_MASK} โทร {PHONE_MASK} ยื่นตราได้ไหม"
    assert records.stats().top_unanswered == ((text, 1),)
    raw = (tmp_path / "r.sqlite3").read_bytes() + (tmp_path / "r.sqlite3-wal").read_bytes()
    assert ID.encode() not in raw and b"0812345678" not in raw
    records.close()


def test_question_texts_are_erased_after_the_retention_period_and_counts_kept(tmp_path):
    now = [1_800_000_000.0]
    records = Records(tmp_path / "r.sqlite3", "key", clock=lambda: now[0], retention_days=30)
    old = records.add_question(1, "private", "คำถามเก่า", False, "not_found", None, 5.0)
    now[0] += 31 * 86400
    new = records.add_question(1, "private", "คำถามใหม่", True, "answered", "a.md", 5.0)
    assert records.question(old).text == "" and records.question(new).text == "คำถามใหม่"
    stats = records.stats()
    assert stats.total == 2 and stats.top_unanswered == ()
    records.close()
    again = Records(tmp_path / "r.sqlite3", "key", clock=lambda: now[0] + 31 * 86400, retention_days=30)
    assert again.question(new).text == ""  # at start-up too
    again.close()


def test_no_retention_limit_keeps_texts(tmp_path):
    now = [1_800_000_000.0]
    records = Records(tmp_path / "r.sqlite3", "key", clock=lambda: now[0], retention_days=0)
    first = records.add_question(1, "private", "คำถาม", False, "not_found", None, 5.0)
    now[0] += 400 * 86400
    records.add_question(1, "private", "อีกคำถาม", False, "not_found", None, 5.0)
    assert records.question(first).text == "คำถาม"
    records.close()


def test_logs_mask_personal_data_and_secrets():
    formatter = RedactingFormatter(logging.Formatter("%(message)s"), ["SECRET"])
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "token SECRET from %s at %s", ("a@b.co", ID), None)
    assert formatter.format(record) == f"token [redacted] from {EMAIL_MASK} at {ID_MASK}"


def test_the_privacy_note_exists_in_both_languages_with_the_same_fields():
    for key in ("privacy", "privacy_unlimited"):
        assert ("{days}" in TEXTS["th"][key]) == ("{days}" in TEXTS["en"][key])
    assert "{days}" in TEXTS["th"]["privacy"]
