"""The handlers, driven with Application.process_update against the stand-in Bot API server."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import replace

from tg_fakes import ADMIN, GROUP, USER, FakeEngine
from tg_harness import BOT_USERNAME, FakeTelegram, Updates

from bot.formatting import EXAMPLES, TEXTS
from bot.records import hash_user


def only(calls):
    assert len(calls) == 1, [c.plain for c in calls]
    return calls[0]


def rows(bot, sql: str) -> list[tuple]:
    with sqlite3.connect(bot.records.path) as db:
        return db.execute(sql).fetchall()


# -- commands -----------------------------------------------------------------------------------------
async def test_start_greets_in_thai_with_example_buttons(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "/start"))
    msg = only(api.sent(USER))
    assert msg.params["parse_mode"] == "HTML"
    assert "เมืองอัจฉริยะ" in msg.plain and "2 ฉบับ" in msg.plain and "เท่านั้น" in msg.plain
    buttons = msg.buttons
    assert [b["text"] for b in buttons] == list(EXAMPLES["th"])
    assert [b["callback_data"] for b in buttons] == [f"ex:th:{i}" for i in range(len(EXAMPLES["th"]))]


async def test_start_in_english_for_english_clients(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "/start", lang="en-GB"))
    msg = only(api.sent(USER))
    assert msg.plain.startswith("Hello") and "smart-city policy" in msg.plain
    assert [b["text"] for b in msg.buttons] == list(EXAMPLES["en"])


async def test_example_button_asks_the_question(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "/start"))
    greeting = only(api.sent(USER))
    await bot.feed(updates.callback(USER, greeting.buttons[1]["callback_data"], greeting.result))
    assert bot.engine.asked == [EXAMPLES["th"][1]]
    assert only(api.find("answerCallbackQuery"))
    assert "<b>" in api.sent(USER)[-1].params["text"]


async def test_help_and_sources(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "/help"))
    assert f"@{BOT_USERNAME}" in only(api.sent(USER)).plain
    await bot.feed(updates.text(USER, "/sources"))
    sources = api.sent(USER)[-1]
    text = sources.params["text"]
    assert "ตราสัญลักษณ์ &lt;เมือง&gt; &amp; เกณฑ์" in text  # the title, escaped
    assert 'href="https://example.org/a?x=1&amp;y=2"' in text  # the link, escaped as an attribute
    assert "27 ส.ค. 2568" in sources.plain and "5 ม.ค. 2567" in sources.plain


async def test_commands_registered_in_thai_english_and_for_admins(bot, api: FakeTelegram):
    await bot.service.set_commands(bot.app.bot)
    calls = api.find("setMyCommands")
    by_lang = {c.params.get("language_code"): c for c in calls if "scope" not in c.params}
    assert set(by_lang) == {None, "en"}
    thai = [c["command"] for c in by_lang[None].params["commands"]]
    assert thai == ["start", "help", "sources", "ask"]  # no admin commands for everyone
    assert "ตัวอย่าง" in by_lang[None].params["commands"][0]["description"]
    assert "example" in by_lang["en"].params["commands"][0]["description"]
    admin = only([c for c in calls if "scope" in c.params])
    assert admin.params["scope"] == {"type": "chat", "chat_id": ADMIN}
    assert {"stats", "reload"} <= {c["command"] for c in admin.params["commands"]}


async def test_unknown_command(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "/nonsense"))
    assert "ไม่รู้จักคำสั่ง" in only(api.sent(USER)).plain
    await bot.feed(updates.group_text(GROUP, USER, "/nonsense"))
    assert api.sent(GROUP) == []
    assert bot.engine.asked == []


# -- questions ----------------------------------------------------------------------------------------
async def test_a_slow_answer_shows_typing_first(bot, api: FakeTelegram, updates: Updates):
    """An answer that takes longer than TYPING_AFTER (the fake engine's "ช้า" takes a second) shows
    "typing…" in the chat before it arrives."""
    await bot.feed(updates.text(USER, "ตอบช้า ๆ หน่อย ตราสัญลักษณ์มีกี่ประเภท"))
    typing = only(api.find("sendChatAction", chat_id=USER))
    assert typing.params["action"] == "typing"
    msg = only(api.sent(USER))
    assert typing.at < msg.at


async def test_answer_shows_bold_passage_source_and_buttons(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    assert api.find("sendChatAction", chat_id=USER) == []  # answered at once: no "typing" first
    msg = only(api.sent(USER))
    text = msg.params["text"]
    assert text.count("<b>ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็น 2 ประเภท") == 1
    assert "&lt;b&gt;ไม่ใช่แท็ก&lt;/b&gt; &amp; สัญลักษณ์" in text  # document text escaped
    assert '<a href="https://example.org/a?x=1&amp;y=2">ตราสัญลักษณ์ &lt;เมือง&gt; &amp; เกณฑ์</a>' in text
    assert "สำนักงาน depa · 27 ส.ค. 2568" in msg.plain and "หัวข้อ: ประเภทตรา" in msg.plain
    (answer_id,) = rows(bot, "SELECT id FROM questions")[0]
    assert [b["callback_data"] for b in msg.buttons] == [f"more:{answer_id}", f"sect:{answer_id}",
                                                         f"up:{answer_id}", f"down:{answer_id}"]
    assert [b["text"] for b in msg.buttons][2:] == ["👍", "👎"]


async def test_questions_are_recorded_with_a_hashed_user(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    await bot.feed(updates.text(USER, "ต้มยำกุ้งทำอย่างไร"))
    recorded = rows(bot, "SELECT user_hash, chat_type, text, answered, reason, top_doc, latency_ms FROM questions")
    assert [r[1:6] for r in recorded] == [("private", "ตราสัญลักษณ์มีกี่ประเภท", 1, "ok", "a.md"),
                                         ("private", "ต้มยำกุ้งทำอย่างไร", 0, "not_found", "a.md")]
    assert {r[0] for r in recorded} == {hash_user(USER, "pepper")}
    assert all(r[6] >= 0 for r in recorded)
    assert str(USER) not in bot.records.path.read_bytes().decode(errors="ignore")


async def test_a_question_is_recorded_as_the_engine_read_it(bot, api: FakeTelegram, updates: Updates):
    """What is stored is the clean text the engine answered (Answer.read_as): no control or
    invisible characters, no lone surrogate (SQLite could not store it), Thai digits as Arabic."""
    sent = "  ตราสัญลักษณ์\x00มี\u200bกี่ประเภท\ud800 ปี ๖๖  "
    await bot.feed(updates.text(USER, sent))
    assert "ตราสัญลักษณ์" in only(api.sent(USER)).plain
    assert rows(bot, "SELECT text FROM questions") == [("ตราสัญลักษณ์มีกี่ประเภท ปี 66",)]
    assert bot.engine.received == [sent.strip()]  # handed over as sent: the engine does the cleaning


async def test_what_is_recorded_is_the_engines_reading(bot, api: FakeTelegram, updates: Updates, monkeypatch):
    """The record is Answer.read_as, whatever it is, not the bot's own reading of the text."""
    ask = bot.engine.ask
    monkeypatch.setattr(bot.engine, "ask", lambda question: replace(ask(question), read_as="ตรากี่ประเภท"))
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภทครับ"))
    assert only(api.sent(USER))
    assert rows(bot, "SELECT text FROM questions") == [("ตรากี่ประเภท",)]


async def test_not_found_is_polite_lists_topics_and_shows_no_passage(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "<b>ต้มยำ</b> & แกงเขียวหวาน"))
    msg = only(api.sent(USER))
    assert "ขออภัย" in msg.plain and "ไม่พบคำตอบที่มั่นใจได้" in msg.plain
    assert "“<b>ต้มยำ</b> & แกงเขียวหวาน”" in msg.plain  # the question, shown as typed
    assert "&lt;b&gt;ต้มยำ&lt;/b&gt; &amp;" in msg.params["text"]  # ... because it was escaped
    assert "ตราสัญลักษณ์ <เมือง> & เกณฑ์" in msg.plain and "เขตส่งเสริมเมืองอัจฉริยะ" in msg.plain
    assert "2 ประเภท" not in msg.plain  # no passage presented as an answer
    assert msg.buttons == []


async def test_empty_reason_replies_with_the_engine_message(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.group_text(GROUP, USER, f"@{BOT_USERNAME}"))
    assert bot.engine.asked == [""]
    assert only(api.sent(GROUP)).plain == TEXTS["th"]["empty_question"]  # the catalog's text, in the user's language


async def test_why_there_is_no_answer_is_said_in_the_users_language(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "😀🎉", lang="en-GB"))
    assert only(api.sent(USER)).plain == TEXTS["en"]["no_words"]  # not the Thai default of an emoji-only text
    await bot.feed(updates.text(ADMIN, "😀🎉"))
    assert only(api.sent(ADMIN)).plain == TEXTS["th"]["no_words"]


async def test_long_question_is_trimmed_with_a_notice(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์ " * 900))
    msg = only(api.sent(USER))
    assert f"ใช้เฉพาะ {bot.engine.max_question_chars} ตัวอักษรแรก" in msg.plain and "<b>" in msg.params["text"]
    assert len(msg.params["text"]) <= 4096


async def test_long_passage_is_trimmed_around_the_answer(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "ขอคำตอบยาวมาก"))
    msg = only(api.sent(USER))
    assert len(msg.params["text"]) <= 4096
    assert "<b>ประโยคที่ 150 " in msg.params["text"]
    # the answering sentence first, then the passage around it, trimmed at both ends; the source kept
    assert msg.plain.startswith("ประโยคที่ 150 ") and "\n\n…" in msg.plain and "…\n\n📄 ที่มา:" in msg.plain


async def test_english_question_gets_english_interface(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "What is a smart city?"))
    msg = only(api.sent(USER))
    assert "Source:" in msg.plain and "27 Aug 2025" in msg.plain
    assert [b["text"] for b in msg.buttons][:2] == ["🔎 More results", "📖 Full section"]


async def test_slow_question_does_not_block_others(bot, api: FakeTelegram, updates: Updates):
    slow = bot.feed(updates.text(USER, "คำถามช้า"))
    fast = bot.feed(updates.text(ADMIN, "คำถามเร็ว"))
    started = asyncio.get_running_loop().time()
    await asyncio.gather(slow, fast)
    assert asyncio.get_running_loop().time() - started < 1.9
    fast_msg, slow_msg = only(api.sent(ADMIN)), only(api.sent(USER))
    assert fast_msg.at + 0.5 < slow_msg.at


# -- other messages -----------------------------------------------------------------------------------
async def test_non_text_messages_get_a_polite_request_for_text(bot, api: FakeTelegram, updates: Updates):
    for update in (updates.sticker(USER), updates.photo(USER), updates.voice(USER), updates.document(USER),
                   updates.location(USER)):
        await bot.feed(update)
    sent = api.sent(USER)
    assert len(sent) == 5 and all("พิมพ์คำถามเป็นข้อความ" in m.plain for m in sent)
    assert bot.engine.asked == []


async def test_edited_messages_and_channel_posts_are_ignored(bot, api: FakeTelegram, updates: Updates, caplog):
    with caplog.at_level(logging.ERROR):
        await bot.feed(updates.edited(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
        await bot.feed(updates.channel_post(-100777, "ตราสัญลักษณ์มีกี่ประเภท"))
    assert api.find("sendMessage") == [] and bot.engine.asked == []
    assert not caplog.records


# -- groups -------------------------------------------------------------------------------------------
async def test_group_answers_only_when_addressed(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.group_text(GROUP, USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    await bot.feed(updates.sticker(USER, chat=updates.group_chat(GROUP)))
    assert api.sent(GROUP) == [] and bot.engine.asked == []

    mention = updates.group_text(GROUP, USER, f"@{BOT_USERNAME} ตราสัญลักษณ์มีกี่ประเภท")
    await bot.feed(mention)
    assert bot.engine.asked == ["ตราสัญลักษณ์มีกี่ประเภท"]  # the mention stripped
    reply = only(api.sent(GROUP))
    assert reply.params["reply_parameters"]["message_id"] == mention["message"]["message_id"]

    await bot.feed(updates.group_text(GROUP, USER, "แล้วเขตส่งเสริมล่ะ", reply_to=reply.result))
    await bot.feed(updates.group_text(GROUP, USER, f"/ask@{BOT_USERNAME} เกณฑ์มีอะไรบ้าง"))
    await bot.feed(updates.group_text(GROUP, USER, "/ask"))
    assert bot.engine.asked[1:] == ["แล้วเขตส่งเสริมล่ะ", "เกณฑ์มีอะไรบ้าง"]
    assert "/ask" in api.sent(GROUP)[-1].plain  # the usage line
    assert len(api.sent(GROUP)) == 4


async def test_reply_to_someone_else_in_a_group_is_ignored(bot, api: FakeTelegram, updates: Updates):
    other = updates.group_text(GROUP, 999, "สวัสดี")["message"]
    await bot.feed(updates.group_text(GROUP, USER, "ตราสัญลักษณ์มีกี่ประเภท", reply_to=other))
    assert api.sent(GROUP) == []


# -- limits -------------------------------------------------------------------------------------------
async def test_rate_limit_notifies_once(bot, api: FakeTelegram, updates: Updates):
    for _ in range(6):
        await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    sent = api.sent(USER)
    assert len(sent) == 4  # three answers (the limit) and one notice
    assert "ถี่เกินไป" in sent[3].plain and "3 คำถามต่อนาที" in sent[3].plain
    assert len(bot.engine.asked) == 3
    await bot.feed(updates.text(ADMIN, "ตราสัญลักษณ์มีกี่ประเภท"))  # others are not limited
    assert len(api.sent(ADMIN)) == 1


async def test_flood_control_and_server_errors_are_retried(bot, api: FakeTelegram, updates: Updates):
    api.fail_next("sendMessage", 429, {"parameters": {"retry_after": 1}})
    api.fail_next("sendMessage", 500)
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    attempts = api.find("sendMessage", chat_id=USER)
    assert [c.status for c in attempts] == [429, 500, 200]
    assert attempts[1].at - attempts[0].at >= 0.95  # retry_after honoured
    assert attempts[0].params["text"] == attempts[2].params["text"]


async def test_a_slow_answer_from_telegram_does_not_double_the_message(bot, api: FakeTelegram, updates: Updates):
    api.slow_next("sendMessage", 6.0)  # over httpx's default 5 s read time-out
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    assert len(api.sent(USER)) == 1


# -- buttons ------------------------------------------------------------------------------------------
async def test_feedback_is_tied_to_the_answer(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    answer = only(api.sent(USER))
    up, down = answer.buttons[2]["callback_data"], answer.buttons[3]["callback_data"]
    await bot.feed(updates.callback(USER, up, answer.result))
    toast = only(api.find("answerCallbackQuery"))
    assert toast.params["text"] == "ขอบคุณสำหรับความคิดเห็น 🙏"
    (answer_id,) = rows(bot, "SELECT id FROM questions")[0]
    assert rows(bot, "SELECT answer_id, value FROM feedback") == [(answer_id, 1)]
    await bot.feed(updates.callback(USER, down, answer.result))  # a change of mind replaces the vote
    await bot.feed(updates.callback(ADMIN, up, answer.result))
    assert sorted(rows(bot, "SELECT answer_id, value FROM feedback")) == [(answer_id, -1), (answer_id, 1)]
    assert len(api.sent(USER)) == 1  # votes send no messages


async def test_every_button_press_is_answered_even_when_handling_it_fails(bot, api: FakeTelegram,
                                                                            updates: Updates, monkeypatch):
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    answer = only(api.sent(USER))

    def broken(*args, **kwargs):
        raise RuntimeError("records unavailable")

    monkeypatch.setattr(bot.service.records, "add_feedback", broken)
    await bot.feed(updates.callback(USER, answer.buttons[2]["callback_data"], answer.result))
    await bot.feed(updates.callback(USER, f"up:{10 ** 30}", answer.result))  # beyond SQLite's integers
    assert len(api.find("answerCallbackQuery")) == 2  # no button left spinning


async def test_an_answer_is_sent_even_when_recording_the_question_fails(bot, api: FakeTelegram,
                                                                        updates: Updates, monkeypatch, caplog):
    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(bot.service.records, "add_question", locked)
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    msg = only(api.sent(USER))
    assert "<b>ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็น 2 ประเภท" in msg.params["text"]  # the answer, not an apology
    assert msg.buttons == []  # no record to vote on or to expand
    assert any("could not be recorded" in r.getMessage() for r in caplog.records)


async def test_more_results_and_full_section(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    answer = only(api.sent(USER))
    await bot.feed(updates.callback(USER, answer.buttons[0]["callback_data"], answer.result))
    more = api.sent(USER)[-1]
    assert "ผลอื่นที่เกี่ยวข้อง" in more.plain
    assert "2. ตราสัญลักษณ์ <เมือง> & เกณฑ์ › ประเภทตรา" in more.plain
    assert "3. เขตส่งเสริมเมืองอัจฉริยะ › ความหมาย" in more.plain
    assert more.params["reply_parameters"]["message_id"] == answer.result["message_id"]

    await bot.feed(updates.callback(USER, answer.buttons[1]["callback_data"], answer.result))
    section = api.sent(USER)[-1]
    assert "ผู้สมัครต้องยื่นข้อเสนอต่อ depa การพิจารณาใช้เวลาประมาณสามเดือน" in section.plain
    assert section.plain.count("ผู้สมัครต้องยื่นข้อเสนอต่อ depa") == 1  # the overlap between chunks, once
    assert "ที่มา:" in section.plain
    assert len(api.find("answerCallbackQuery")) == 2


async def test_buttons_of_unknown_answers_expire_politely(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    answer = only(api.sent(USER))
    await bot.feed(updates.callback(USER, "sect:987654", answer.result))
    assert "ไม่มีแล้ว" in api.sent(USER)[-1].plain
    await bot.feed(updates.callback(USER, "up:987654", answer.result))
    assert "ไม่มีแล้ว" in api.find("answerCallbackQuery")[-1].params["text"]
    await bot.feed(updates.callback(USER, "garbage", answer.result))
    assert "text" not in api.find("answerCallbackQuery")[-1].params


# -- admin --------------------------------------------------------------------------------------------
async def test_stats_for_admins_only(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    await bot.feed(updates.text(USER, "<i>ต้มยำ</i>กุ้ง"))
    answer = api.sent(USER)[0]
    await bot.feed(updates.callback(USER, answer.buttons[2]["callback_data"], answer.result))
    await bot.feed(updates.text(USER, "/stats"))
    assert "ไม่รู้จักคำสั่ง" in api.sent(USER)[-1].plain  # the same as any unknown command
    await bot.feed(updates.group_text(GROUP, USER, "/stats"))
    assert api.sent(GROUP) == []

    await bot.feed(updates.text(ADMIN, "/stats"))
    stats = only(api.sent(ADMIN)).plain
    assert "วันนี้: 2 คำถาม (ตอบได้ 1)" in stats and "ทั้งหมด: 2 คำถาม (ตอบได้ 50%)" in stats
    assert "👍 1 · 👎 0" in stats
    assert "1. <i>ต้มยำ</i>กุ้ง (1 ครั้ง)" in stats


async def test_reload_for_admins_only(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "/reload"))
    assert bot.engine.reloads == 0 and "ไม่รู้จักคำสั่ง" in api.sent(USER)[-1].plain
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    answer = api.sent(USER)[-1]
    await bot.feed(updates.text(ADMIN, "/reload"))
    assert bot.engine.reloads == 1
    start, done = [m.plain for m in api.sent(ADMIN)]
    assert "กำลังสร้างดัชนีใหม่" in start and done.startswith("✅") and "2 เอกสาร 4 ช่วงข้อความ" in done
    assert "ข้ามไฟล์" not in done  # nothing skipped, nothing said about it
    # the buttons of earlier answers still work with the new index
    await bot.feed(updates.callback(USER, answer.buttons[1]["callback_data"], answer.result))
    assert "การพิจารณาใช้เวลาประมาณสามเดือน" in api.sent(USER)[-1].plain


# -- errors -------------------------------------------------------------------------------------------
async def test_errors_are_logged_and_apologised_for(bot, api: FakeTelegram, updates: Updates, caplog):
    with caplog.at_level(logging.ERROR):
        await bot.feed(updates.text(USER, "คำถามพัง"))
    apology = only(api.sent(USER)).plain
    assert apology.startswith("ขออภัย") and "Traceback" not in apology and "exploded" not in apology
    assert any(r.exc_info and "engine exploded" in str(r.exc_info[1]) for r in caplog.records)
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))  # and the bot goes on
    assert "<b>" in api.sent(USER)[-1].params["text"]


async def test_a_refused_send_does_not_stop_the_bot(bot, api: FakeTelegram, updates: Updates):
    api.fail_next("sendMessage", 403, {"description": "Forbidden: bot was blocked by the user"})
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    await bot.feed(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    statuses = [c.status for c in api.find("sendMessage", chat_id=USER)]
    assert statuses[0] == 403 and statuses[-1] == 200


async def test_help_says_what_is_stored_and_for_how_long(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "/help"))
    msg = only(api.sent(USER))
    assert "ปิดบังเลขบัตรประชาชน" in msg.plain and "90 วัน" in msg.plain
    await bot.feed(updates.text(USER, "/help", lang="en"))
    assert "erased after 90 days" in api.sent(USER)[-1].plain


async def test_personal_data_in_a_question_is_not_stored(bot, api: FakeTelegram, updates: Updates):
    await bot.feed(updates.text(USER, "ติดต่อผมที่ 081-234-5678 หรือ somchai@example.com เรื่องตราเมืองอัจฉริยะ"))
    assert api.sent(USER)
    stored = rows(bot, "SELECT text FROM questions")
    assert stored == [("ติดต่อผมที่ [เบอร์โทรศัพท์] หรือ [อีเมล] เรื่องตราเมืองอัจฉริยะ",)]
