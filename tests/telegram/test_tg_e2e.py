"""End to end: the real `smartcity-bot run` (real model and index) against the stand-in Bot API.

One process start for the module (start-up loads the model and the index). The tests run in file
order and the last one stops the process with SIGTERM.
"""

from __future__ import annotations

import sqlite3
import time
from types import SimpleNamespace

import pytest
from tg_harness import BOT_USERNAME, TOKEN, BotProcess, Call, FakeTelegram, Updates

pytestmark = pytest.mark.slow

ADMIN = 424242
WAIT = 90.0  # seconds for one reply; the machine is shared
QUESTION = "ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็นกี่ประเภท"
APOLOGY = "เกิดข้อผิดพลาด"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = FakeTelegram().start()
    workdir = tmp_path_factory.mktemp("bot")
    proc = BotProcess(server, workdir, env={"ADMIN_USER_IDS": str(ADMIN)})
    try:
        proc.start()
        yield SimpleNamespace(server=server, proc=proc, updates=Updates(), db=workdir / "data" / "bot.sqlite3")
    finally:
        proc.kill()
        server.stop()


def ask(live, update: dict, chat_id: int, count: int = 1) -> list[Call]:
    before = len(live.server.sent(chat_id))
    live.server.push(update)
    return live.server.wait_sent(chat_id, before + count, timeout=WAIT)[before:]


def query(live, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(live.db) as db:
        return db.execute(sql, args).fetchall()


def test_starts_polling_with_commands_registered(live):
    server: FakeTelegram = live.server
    assert "ready" in live.proc.stderr()
    assert server.find("getMe") and server.find("deleteWebhook")
    polls = server.wait_for(lambda: server.find("getUpdates"), WAIT)
    assert any(int(p.params.get("timeout", 0)) >= 5 for p in polls)  # long polling
    menus = server.find("setMyCommands")
    assert {c.params.get("language_code") for c in menus if "scope" not in c.params} == {None, "en"}
    public = [c for c in menus if "scope" not in c.params]
    assert all("stats" not in {x["command"] for x in c.params["commands"]} for c in public)
    assert [c.params["scope"] for c in menus if "scope" in c.params] == [{"type": "chat", "chat_id": ADMIN}]


def test_start_greets_with_example_buttons(live):
    (greeting,) = ask(live, live.updates.text(501, "/start"), 501)
    assert greeting.params["parse_mode"] == "HTML"
    assert "เมืองอัจฉริยะ" in greeting.plain and "เอกสาร" in greeting.plain
    assert 3 <= len(greeting.buttons) <= 4
    assert all(b["callback_data"].startswith("ex:th:") for b in greeting.buttons)


def test_answer_arrives_despite_429_and_500(live):
    server: FakeTelegram = live.server
    server.fail_next("sendMessage", 429, {"parameters": {"retry_after": 1}})
    server.fail_next("sendMessage", 500)
    (answer,) = ask(live, live.updates.text(502, QUESTION), 502)
    attempts = server.find("sendMessage", chat_id=502)
    assert [c.status for c in attempts] == [429, 500, 200]
    assert attempts[1].at - attempts[0].at >= 0.95  # retry_after honoured
    assert answer.params["parse_mode"] == "HTML" and "<b>" in answer.params["text"]
    assert "ประเภท" in answer.plain and "ที่มา:" in answer.plain and "<a href=" in answer.params["text"]
    assert [b["text"] for b in answer.buttons][2:] == ["👍", "👎"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in answer.buttons)


def test_an_answer_opens_with_its_sentence_and_links_the_source_of_the_fact(live):
    (answer,) = ask(live, live.updates.text(520, "ตอนนี้มีเมืองอัจฉริยะที่ได้ตราแล้วทั้งหมดกี่เมือง"), 520)
    html = answer.params["text"]
    assert html.startswith("<b>") and "37 เมือง" in html[:html.index("</b>")]  # the answer first, in bold
    assert "<blockquote expandable>" in html  # the context after it, folded
    assert ('href="https://www.matichon.co.th/' in html) or ('href="https://www.nationthailand.com/' in html)
    assert "เรียบเรียงใน:" in answer.plain
    assert "newsdataonline.com" not in html  # not the document's general link


def test_a_list_answer_shows_every_item_its_sentence_introduces(live):
    (answer,) = ask(live, live.updates.text(521, "เขตส่งเสริมเมืองอัจฉริยะได้สิทธิประโยชน์อะไรบ้าง"), 521)
    html = answer.params["text"]
    lead = html[html.index("<b>") + 3:html.index("</b>")]
    assert "ดังนี้" in lead.split("\n")[0]  # the sentence that introduces the list ...
    items = [line for line in lead.split("\n")[1:] if line[:1].isdigit() or line.startswith("•")]
    assert len(items) >= 5, lead  # ... and every item of it, each on its own line
    assert "(ที่มา:" not in lead and "**" not in html  # citations go to the footer, no Markdown
    assert html.count('<a href="http') >= 3  # the items' own sources, linked


def test_thumbs_up_is_recorded_against_the_answer(live):
    (answer,) = ask(live, live.updates.text(503, QUESTION), 503)
    up = answer.buttons[2]["callback_data"]
    answer_id = int(up.split(":")[1])
    live.server.push(live.updates.callback(503, up, answer.result))
    toast = live.server.wait_for(lambda: live.server.find("answerCallbackQuery"), WAIT)[-1]
    assert toast.ok and "ขอบคุณ" in toast.params.get("text", "")
    live.server.wait_for(lambda: query(live, "SELECT answer_id, value FROM feedback"), WAIT)
    assert query(live, "SELECT answer_id, value FROM feedback") == [(answer_id, 1)]
    text, answered, chat_type = query(live, "SELECT text, answered, chat_type FROM questions WHERE id = ?",
                                      answer_id)[0]
    assert (text, answered, chat_type) == (QUESTION, 1, "private")


def test_sticker_gets_a_polite_request_for_text(live):
    (reply,) = ask(live, live.updates.sticker(504), 504)
    assert "ข้อความ" in reply.plain and APOLOGY not in reply.plain


def test_very_long_question_is_trimmed_not_refused(live):
    text = ("ตราสัญลักษณ์เมืองอัจฉริยะมีกี่ประเภท " * 400)[:10_000]
    (reply,) = ask(live, live.updates.text(505, text), 505)
    assert "ยาวเกินไป" in reply.plain and APOLOGY not in reply.plain
    assert len(reply.params["text"]) <= 4096


def test_unrelated_question_with_markup_gets_an_escaped_not_found(live):
    question = "<b>สูตรต้มยำกุ้ง</b> & วิธีทำแกงเขียวหวาน"
    (reply,) = ask(live, live.updates.text(506, question), 506)
    attempts = live.server.find("sendMessage", chat_id=506)
    assert [c.status for c in attempts] == [200]  # the stand-in refuses HTML Telegram could not parse
    assert "ไม่พบคำตอบที่มั่นใจได้" in reply.plain and reply.buttons == []  # no policy passage as an answer
    assert f"“{question}”" in reply.plain  # quoted as typed ...
    assert "&lt;b&gt;สูตรต้มยำกุ้ง&lt;/b&gt; &amp;" in reply.params["text"]  # ... because it was escaped
    assert "เขตส่งเสริมเมืองอัจฉริยะ" in reply.plain  # the topics the documents do cover
    (answered,) = query(live, "SELECT answered FROM questions WHERE text = ?", question)[0]
    assert answered == 0


def test_groups_answer_only_when_mentioned(live):
    group = -100123
    silent = live.updates.group_text(group, 507, QUESTION)
    live.server.push(silent)
    mention = live.updates.group_text(group, 507, f"@{BOT_USERNAME} {QUESTION}")
    (reply,) = ask(live, mention, group)
    assert reply.params["reply_parameters"]["message_id"] == mention["message"]["message_id"]
    time.sleep(1.0)  # give a wrong reply to the first message time to show up
    assert len(live.server.sent(group)) == 1
    texts = [t for (t,) in query(live, "SELECT text FROM questions WHERE chat_type = 'supergroup'")]
    assert texts == [QUESTION]  # asked once, the mention stripped


def test_edits_channel_posts_and_bad_updates_are_ignored(live):
    live.server.push(live.updates.edited(508, QUESTION))
    live.server.push(live.updates.channel_post(-100999, QUESTION))
    live.server.push({"poll_answer": {"poll_id": "1", "user": Updates.user(508), "option_ids": [0]}})  # unparseable
    ask(live, live.updates.text(508, "/help"), 508)  # the bot went on
    time.sleep(0.5)
    assert len(live.server.sent(508)) == 1 and live.server.sent(-100999) == []


def test_stats_for_the_admin_only(live):
    (refused,) = ask(live, live.updates.text(509, "/stats"), 509)
    (unknown,) = ask(live, live.updates.text(509, "/whatever"), 509)
    assert refused.plain == unknown.plain
    (total,), = query(live, "SELECT COUNT(*) FROM questions")
    (up,), = query(live, "SELECT COUNT(*) FROM feedback WHERE value = 1")
    (stats,) = ask(live, live.updates.text(ADMIN, "/stats"), ADMIN)
    assert "สถิติ" in stats.plain and f"ทั้งหมด: {total} คำถาม" in stats.plain and f"👍 {up} ·" in stats.plain


def test_every_message_was_valid_and_short(live):
    sent = live.server.find("sendMessage")
    assert sent and all(c.params.get("parse_mode") == "HTML" for c in sent)
    assert all(c.status in (200, 429, 500) for c in sent)  # no 400: nothing Telegram would refuse
    assert all(len(c.params["text"]) <= 4096 for c in sent)
    assert not [c.plain for c in sent if APOLOGY in c.plain]


def test_sigterm_stops_cleanly_and_the_token_never_shows(live):
    code, seconds = live.proc.terminate(timeout=15)
    assert code == 0 and seconds < 10
    output = live.proc.stdout() + live.proc.stderr()
    assert TOKEN not in output and "Traceback" not in output
