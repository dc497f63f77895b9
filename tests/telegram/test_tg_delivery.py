"""Replies neither lost nor doubled under Bot API faults, end to end: the Application polling the
stand-in server over HTTP, with the faults injected there (issue 12: outages up to 60 s, answers
up to 15 s slow, connections dropped after Telegram accepted a message)."""

from __future__ import annotations

import asyncio
import time

import pytest
from tg_harness import FakeTelegram, Updates

from bot.formatting import TEXTS

pytestmark = pytest.mark.slow
APOLOGIES = (TEXTS["th"]["error"], TEXTS["en"]["error"])
FIRST = 7_000_100


async def each_gets_one_reply(api: FakeTelegram, users: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(api.sent(u) for u in users):
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)  # a late duplicate would show by now
    counts = {u: [c.params.get("text", "")[:40] for c in api.sent(u)] for u in users}
    counts = {u: (len(v), v) if len(v) != 1 else 1 for u, v in counts.items()}
    assert all(n == 1 for n in counts.values()), counts
    assert not [c for c in api.sent() if any(a in str(c.params.get("text")) for a in APOLOGIES)]


async def polling(bot):
    await bot.app.start()
    await bot.app.updater.start_polling(timeout=1)


async def stop(bot):
    await bot.app.updater.stop()
    await bot.app.stop()


async def test_a_60_second_outage_loses_no_reply_and_doubles_none(bot, api: FakeTelegram, updates: Updates):
    users = list(range(FIRST, FIRST + 12))
    api.outage("sendMessage", 502, 60.0)
    started = time.monotonic()
    for u in users:
        api.push(updates.text(u, "ตราสัญลักษณ์มีกี่ประเภท"))
    await polling(bot)
    try:
        await each_gets_one_reply(api, users, timeout=150)
        first_ok = min(c.at for c in api.sent())
        assert first_ok - started >= 59  # nothing got through during the outage: the retries did
    finally:
        await stop(bot)


async def test_slow_and_dropped_answers_are_not_sent_twice(bot, api: FakeTelegram, updates: Updates):
    slow = list(range(FIRST + 100, FIRST + 104))
    dropped = list(range(FIRST + 200, FIRST + 204))
    for _ in slow:
        api.slow_next("sendMessage", 15.0)
    await polling(bot)
    try:
        for u in slow:
            api.push(updates.text(u, "ตราสัญลักษณ์มีกี่ประเภท"))
        await each_gets_one_reply(api, slow, timeout=60)
        api.drop_next("sendMessage", len(dropped))
        for u in dropped:
            api.push(updates.text(u, "ตราสัญลักษณ์มีกี่ประเภท"))
        await each_gets_one_reply(api, dropped, timeout=60)
    finally:
        await stop(bot)


async def test_polling_recovers_within_seconds_after_a_getupdates_outage(bot, api: FakeTelegram, updates: Updates):
    """PTB alone backs off up to 30 s (after a 30 s outage it stayed deaf 17–19 s longer)."""
    await polling(bot)
    try:
        api.outage("getUpdates", 502, 33.0)  # PTB's own next try would come at about 49 s
        ends = time.monotonic() + 33.0
        await asyncio.sleep(33.2)
        api.push(updates.text(FIRST + 300, "ตราสัญลักษณ์มีกี่ประเภท"))
        await each_gets_one_reply(api, [FIRST + 300], timeout=30)
        delivered = max(api.delivered.values())
        assert delivered - ends <= 3.0, delivered - ends
    finally:
        await stop(bot)


async def test_a_flood_is_told_to_wait_instead_of_queueing_for_ever(api: FakeTelegram, updates: Updates, settings,
                                                                    engine):
    """With at most 3 questions waiting, 12 slow ones at once: 3 answered, 9 asked to send again."""
    from bot.records import Records
    from bot.telegram_bot import build_application

    crowded = settings.model_copy(update={"max_waiting_questions": 3, "engine_workers": 1})
    records = Records(crowded.database_path, "k")
    app, service = build_application(crowded, engine, records)
    users = list(range(FIRST + 400, FIRST + 412))
    for u in users:
        api.push(updates.text(u, "ตอบช้า ๆ หน่อย ตราสัญลักษณ์มีกี่ประเภท"))  # "ช้า": the fake engine takes 1 s
    async with app:
        await app.start()
        await app.updater.start_polling(timeout=1)
        try:
            await each_gets_one_reply(api, users, timeout=60)
        finally:
            await app.updater.stop()
            await app.stop()
    service.close()
    records.close()
    texts = [api.sent(u)[0].params["text"] for u in users]
    told = [x for x in texts if x == TEXTS["th"]["busy"]]
    assert len(told) == 9 and len(texts) - len(told) == 3, texts
