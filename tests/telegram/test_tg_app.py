"""The Application as run: updates through its queue (concurrently), the webhook mode, odd updates."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time

import httpx
import pytest
from tg_fakes import USER
from pydantic import SecretStr
from telegram import Update
from telegram.error import NetworkError
from tg_harness import FakeTelegram, Updates

from bot.tg.app import _start_updates
from bot.tg.updates import SkippingRequest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_until(predicate, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := predicate()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)
    return value


async def test_a_slow_question_does_not_hold_up_the_queue(bot, api: FakeTelegram, updates: Updates):
    """Updates from the queue are processed concurrently (concurrent_updates) and the engine
    runs off the event loop: a quick question put behind a slow one is answered first."""
    await bot.app.start()
    try:
        for n, update in enumerate((updates.text(USER, "คำถามช้า"), updates.text(USER + 1, "คำถามเร็ว")), 1):
            await bot.app.update_queue.put(Update.de_json({"update_id": n, **update}, bot.app.bot))
        slow = (await wait_until(lambda: api.sent(USER)))[0]
        fast = api.sent(USER + 1)[0]
        assert fast.at + 0.5 < slow.at
    finally:
        await bot.app.stop()


async def test_webhook_mode_uses_a_secret_token(bot, api: FakeTelegram, updates: Updates, settings):
    port = free_port()
    hooked = settings.model_copy(update={"webhook_url": "https://bot.example.org/tg/hook", "webhook_port": port,
                                         "webhook_listen": "127.0.0.1", "webhook_secret": SecretStr("s3cret-Token")})
    await bot.app.start()
    stop = None
    try:
        mode, stop = await _start_updates(bot.app, hooked)
        assert mode == f"webhook on 127.0.0.1:{port}"
        (registered,) = api.find("setWebhook")
        assert registered.params["url"] == "https://bot.example.org/tg/hook"
        assert registered.params["secret_token"] == "s3cret-Token"
        body = json.dumps({"update_id": 1, **updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท")})
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/tg/hook"
            headers = {"Content-Type": "application/json"}
            forged = await client.post(url, content=body, headers={**headers, "X-Telegram-Bot-Api-Secret-Token": "x"})
            assert forged.status_code == 403
            real = await client.post(url, content=body,
                                     headers={**headers, "X-Telegram-Bot-Api-Secret-Token": "s3cret-Token"})
            assert real.status_code == 200
        answer = (await wait_until(lambda: api.sent(USER)))[0]
        assert "<b>" in answer.params["text"] and len(api.sent(USER)) == 1
    finally:
        if stop is not None:
            await stop()
        await bot.app.stop()


async def test_an_unparseable_update_is_skipped_by_the_webhook_in_one_line(bot, api: FakeTelegram, updates: Updates,
                                                                         settings, caplog):
    """Answered 200 (a 400 makes Telegram send it again), logged as one line without its content."""
    port = free_port()
    hooked = settings.model_copy(update={"webhook_url": "https://bot.example.org/hook", "webhook_port": port,
                                         "webhook_secret": SecretStr("tok")})
    await bot.app.start()
    mode, stop = await _start_updates(bot.app, hooked)
    try:
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": "tok"}
        bad = {"update_id": 7, "poll_answer": {"poll_id": "1", "user": {"id": USER, "first_name": "สมชาย 0812345678"},
                                               "option_ids": [0]}}
        good = {"update_id": 8, **updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท")}
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/hook"
            for body in (json.dumps(bad), "not json {", json.dumps([1, 2]), json.dumps(good)):
                response = await client.post(url, content=body, headers=headers)
                assert response.status_code == 200, body
        answer = (await wait_until(lambda: api.sent(USER)))[0]
        assert "<b>" in answer.params["text"] and len(api.sent(USER)) == 1
        skipped = [r for r in caplog.records if "skipping" in r.getMessage()]
        assert len(skipped) == 3 and all(r.exc_info is None for r in skipped)
        assert "update 7" in skipped[0].getMessage()
        assert not any("0812345678" in r.getMessage() or "สมชาย" in r.getMessage() for r in caplog.records)
    finally:
        await stop()
        await bot.app.stop()


async def test_odd_updates_do_not_break_anything(bot, api: FakeTelegram, updates: Updates):
    # a message with no sender and no text, one sent on behalf of a chat, an update of a kind not handled
    await bot.feed({"message": {"message_id": 1, "date": 0, "chat": {"id": USER, "type": "private"}}})
    await bot.feed({"message": {"message_id": 2, "date": 0, "chat": {"id": -1007, "type": "supergroup", "title": "g"},
                                "sender_chat": {"id": -1007, "type": "supergroup", "title": "g"},
                                "text": "@SmartCityTestBot ตราสัญลักษณ์มีกี่ประเภท",
                                "entities": [{"type": "mention", "offset": 0, "length": 17}]}})
    await bot.feed({"message_reaction": {"chat": {"id": USER, "type": "private"}, "message_id": 5, "date": 0,
                                         "old_reaction": [], "new_reaction": [{"type": "emoji", "emoji": "👍"}]}})
    assert "ข้อความ" in api.sent(USER)[0].plain
    assert "<b>" in api.sent(-1007)[0].params["text"]
    assert not [c for c in api.find("sendMessage") if "ขัดข้อง" in c.plain or "ผิดพลาด" in c.plain]


async def test_an_unparseable_update_is_skipped_while_polling(bot, api: FakeTelegram, updates: Updates, caplog):
    """PTB alone would log the whole batch (the sender's data included) with a traceback, then fetch
    it again and again; the bot polls it once more, skips the bad update in one line, answers the rest."""
    caplog.set_level(logging.DEBUG, logger="telegram")
    api.push({"poll_answer": {"poll_id": "1", "user": {**Updates.user(USER), "first_name": "สมชาย"}, "option_ids": [0]}})  # lacks a field
    api.push(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
    await bot.app.start()
    try:
        await bot.app.updater.start_polling(timeout=1)
        answer = (await wait_until(lambda: api.sent(USER)))[0]
        assert "<b>" in answer.params["text"]
        await asyncio.sleep(0.5)
        assert len(api.find("getUpdates")) <= 4  # no tight loop over the bad update
        skipped = [r for r in caplog.records if "cannot be parsed" in r.getMessage()]
        assert len(skipped) == 1 and "update 1" in skipped[0].getMessage()
        assert not [r for r in caplog.records if r.exc_info is not None or r.levelno >= logging.CRITICAL]
        assert not any("สมชาย" in r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    finally:
        await bot.app.updater.stop()
        await bot.app.stop()


async def test_polling_gathers_updates_under_load_and_not_when_idle(bot, api: FakeTelegram, updates: Updates):
    """After a poll that brought updates the next waits a moment, so that questions arriving one by
    one come in batches, none held back longer than that moment."""
    gather = SkippingRequest.GATHER
    await bot.app.start()
    try:
        await bot.app.updater.start_polling(timeout=5)
        await asyncio.sleep(0.3)  # polling, idle
        api.push(updates.text(USER, "ตราสัญลักษณ์มีกี่ประเภท"))
        await wait_until(lambda: api.sent(USER))
        pushed = {}
        for i in range(20):  # questions arriving every 5 ms, from different users
            pushed[api.push(updates.text(USER + 1 + i, "ตราสัญลักษณ์มีกี่ประเภท"))] = time.monotonic()
            await asyncio.sleep(0.005)
        await wait_until(lambda: all(api.sent(USER + 1 + i) for i in range(20)))
        polls = [c for c in api.find("getUpdates") if c.result]
        assert len(polls) <= 1 + 20 * 0.005 / gather + 2, [len(c.result) for c in polls]
        brought = [c.at for c in polls]
        assert all(b - a >= gather * 0.9 for a, b in zip(brought, brought[1:]))  # gathered
        # and none held back for long: each fetched within a gathering window (and some slack)
        assert max(api.delivered[u] - at for u, at in pushed.items()) < gather + 0.15
    finally:
        await bot.app.updater.stop()
        await bot.app.stop()


async def test_a_batch_that_still_fails_is_a_network_error_for_polling_to_back_off(bot, api: FakeTelegram,
                                                                                   monkeypatch):
    """Should the check find nothing to skip in a batch PTB cannot parse, polling must not spin."""
    import bot.tg.updates as polling

    api.push({"poll_answer": {"poll_id": "1", "user": Updates.user(USER), "option_ids": [0]}})  # lacks a field
    monkeypatch.setattr(polling, "parse", lambda raw, bot=None: object())  # the check passes everything
    with pytest.raises(NetworkError, match="cannot be parsed"):
        await bot.app.bot.get_updates(timeout=0)
    assert len(api.find("getUpdates")) == 2
