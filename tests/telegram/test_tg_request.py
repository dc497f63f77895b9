"""The Bot API request: a JSON body, and failures raised as PTB raises them, so that the retry
rules (bot.tg.retry) still tell a request that never left from one that may have arrived."""

from __future__ import annotations

import json

import httpx
import pytest
from telegram.error import NetworkError, TimedOut
from telegram.ext import ExtBot

from bot.tg.request import JsonBodyRequest
from bot.tg.retry import maybe_delivered

TOKEN = "123456:TEST"
THAI = "เขตส่งเสริมเมืองอัจฉริยะ <b>54</b> ข้อเสนอ"


def message(chat_id: int, text: str) -> dict:
    return {"message_id": 1, "date": 0, "chat": {"id": chat_id, "type": "private"}, "text": text}


ME = {"id": 1, "is_bot": True, "first_name": "b", "username": "b_bot"}


def bot_with(handler) -> ExtBot:
    request = JsonBodyRequest(httpx_kwargs={"transport": httpx.MockTransport(handler)})
    return ExtBot(TOKEN, request=request)


async def test_parameters_go_as_one_json_body_with_the_thai_text_unescaped():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/getMe"):
            return httpx.Response(200, json={"ok": True, "result": ME})
        seen.append(request)
        params = json.loads(request.content)
        return httpx.Response(200, json={"ok": True, "result": message(params["chat_id"], params["text"])})

    bot = bot_with(handler)
    async with bot:
        sent = await bot.send_message(42, THAI, parse_mode="HTML",
                                      reply_markup={"inline_keyboard": [[{"text": "ที่มา", "callback_data": "s:1"}]]})
    assert sent.text == THAI and sent.chat_id == 42
    request = seen[-1]
    assert request.url.path.endswith("/sendMessage")
    assert request.headers["content-type"] == "application/json"
    assert THAI.encode() in request.content  # not %-escaped, not \u-escaped
    params = json.loads(request.content)
    assert params["chat_id"] == 42 and params["parse_mode"] == "HTML"
    assert params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "s:1"


@pytest.mark.parametrize("failure, error, may_have_arrived", [
    (httpx.PoolTimeout("no connection free"), TimedOut, False),
    (httpx.ConnectError("refused"), NetworkError, False),
    (httpx.ReadTimeout("slow"), TimedOut, True),
    (httpx.RemoteProtocolError("server disconnected"), NetworkError, True),
])
async def test_failures_are_ptb_errors_that_say_whether_the_request_may_have_arrived(failure, error, may_have_arrived):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/getMe"):
            return httpx.Response(200, json={"ok": True, "result": ME})
        raise failure

    bot = bot_with(handler)
    async with bot:
        with pytest.raises(error) as caught:
            await bot.send_message(42, THAI)
    assert caught.value.__cause__ is failure
    assert maybe_delivered(caught.value) is may_have_arrived


async def test_a_telegram_error_answer_is_read_as_before():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"ok": False, "error_code": 400,
                                         "description": "Bad Request: message text is empty"})

    bot = bot_with(handler)
    with pytest.raises(NetworkError, match="(?i)message text is empty"):
        await bot.send_message(42, " ")
