"""Generated updates (tests/telegram/fuzz_updates.py) through polling into the Application: no
traceback, every button press answered, no apology for anything a client can send, and the
malformed updates skipped in one line each. scripts/fuzz_bot.py runs thousands against the real
process and engine."""

from __future__ import annotations

import asyncio
import logging
import os
import time

from fuzz_updates import UpdateFuzzer
from tg_harness import BOT_USERNAME, FakeTelegram

from bot.formatting import TEXTS

APOLOGIES = (TEXTS["th"]["error"], TEXTS["en"]["error"])


async def settle(api: FakeTelegram, pushed: int, quiet: float = 1.5, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not api.settled(pushed, quiet):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(api.delivered)} of {pushed} updates fetched")
        await asyncio.sleep(0.2)


async def test_generated_updates_are_handled_quietly(bot, api: FakeTelegram, caplog):
    caplog.set_level(logging.INFO)
    generated = UpdateFuzzer(seed=int(os.environ.get("FUZZ_SEED", 20261201)), bot_username=BOT_USERNAME).take(
        int(os.environ.get("FUZZ_UPDATES", 600)))
    for g in generated:
        api.push(g.update)
    await bot.app.start()
    try:
        await bot.app.updater.start_polling(timeout=1)
        await settle(api, len(generated))
    finally:
        await bot.app.updater.stop()
        await bot.app.stop()
    tracebacks = [r for r in caplog.records if r.exc_info is not None or "Traceback" in r.getMessage()]
    assert not tracebacks, [r.getMessage() for r in tracebacks[:3]]
    assert not [r for r in caplog.records if "failed" in r.getMessage() and r.name.startswith("bot.")]
    pressed = {g.update["callback_query"]["id"] for g in generated if g.kind == "callback"}
    answered = {c.params.get("callback_query_id") for c in api.find("answerCallbackQuery")}
    assert pressed and pressed <= answered, sorted(pressed - answered)[:5]
    assert not [c for c in api.find("sendMessage") if any(a in str(c.params.get("text")) for a in APOLOGIES)]
    malformed = sum(not g.client for g in generated)
    skipped = [r for r in caplog.records if "cannot be parsed" in r.getMessage()]
    assert malformed and len(skipped) == malformed
    assert api.sent(), "the bot answered nothing"
