"""The Bot API request over aiohttp, against a real HTTP server on loopback: a JSON body, files as
multipart, and failures raised as PTB raises them, so that the retry rules (bot.tg.retry) still
tell a request that never left from one that may have arrived."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
import time

import pytest
from aiohttp import web
from telegram import InputFile
from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.ext import ExtBot

from bot.tg.request import AiohttpRequest, call_unparsed
from bot.tg.retry import RetryRequests, maybe_delivered

TOKEN = "123456:TEST"
THAI = "เขตส่งเสริมเมืองอัจฉริยะ <b>54</b> ข้อเสนอ"
ME = {"id": 1, "is_bot": True, "first_name": "b", "username": "b_bot"}


def message(chat_id: int, text: str) -> dict:
    return {"message_id": 1, "date": 0, "chat": {"id": chat_id, "type": "private"}, "text": text}


class Api:
    """A Bot API on loopback whose answer to each method but getMe is ``behaviour``."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.received: list[tuple[str, dict[str, str], bytes]] = []  # method, headers, body

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.path.rsplit("/", 1)[-1]
        if method == "getMe":
            return web.json_response({"ok": True, "result": ME})
        body = await request.read()
        self.received.append((method, dict(request.headers), body))
        return await self.behaviour(request, body)

    async def __aenter__(self) -> "Api":
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}/bot"
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()


def bot_for(base_url: str, **request) -> ExtBot:
    return ExtBot(TOKEN, base_url=base_url, request=AiohttpRequest(**request))


async def echo(request: web.Request, body: bytes) -> web.Response:
    params = json.loads(body)
    return web.json_response({"ok": True, "result": message(params["chat_id"], params["text"])})


def retrying_bot(base_url: str) -> ExtBot:
    """A bot whose calls go through the retry rules (bot.tg.retry), with short back-offs."""
    return ExtBot(TOKEN, base_url=base_url, request=AiohttpRequest(),
                  rate_limiter=RetryRequests(max_retries=4, backoff=(0.01,)))


def failing_first(*answers: web.Response):
    """A behaviour: these answers to the first calls, then ``echo``."""
    pending = iter(answers)

    async def behaviour(request: web.Request, body: bytes) -> web.Response:
        return next(pending, None) or await echo(request, body)
    return behaviour


async def test_parameters_go_as_one_json_body_with_the_thai_text_unescaped():
    async with Api(echo) as api, bot_for(api.base_url) as bot:
        sent = await bot.send_message(42, THAI, parse_mode="HTML",
                                      reply_markup={"inline_keyboard": [[{"text": "ที่มา", "callback_data": "s:1"}]]})
    assert sent.text == THAI and sent.chat_id == 42
    method, headers, body = api.received[-1]
    assert method == "sendMessage"
    assert headers["Content-Type"] == "application/json"
    assert THAI.encode() in body  # not %-escaped, not \u-escaped
    params = json.loads(body)
    assert params["chat_id"] == 42 and params["parse_mode"] == "HTML"
    assert params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "s:1"


async def test_a_file_goes_as_a_multipart_form_with_the_other_parameters():
    async def document(request: web.Request, body: bytes) -> web.Response:
        return web.json_response({"ok": True, "result": {**message(42, ""), "document": {
            "file_id": "f", "file_unique_id": "u", "file_name": "q.csv"}}})

    async with Api(document) as api, bot_for(api.base_url) as bot:
        await bot.send_document(42, InputFile(b"question,count\n", filename="q.csv"), caption=THAI)
    method, headers, body = api.received[-1]
    assert method == "sendDocument" and headers["Content-Type"].startswith("multipart/form-data")
    assert b"question,count\n" in body and b'filename="q.csv"' in body
    assert THAI.encode() in body and b'name="chat_id"' in body


async def test_a_telegram_error_answer_is_read_as_before():
    async def refuse(request: web.Request, body: bytes) -> web.Response:
        return web.json_response({"ok": False, "error_code": 400,
                                  "description": "Bad Request: message text is empty"}, status=400)

    async with Api(refuse) as api, bot_for(api.base_url) as bot:
        with pytest.raises(NetworkError, match="(?i)message text is empty"):
            await bot.send_message(42, " ")


async def test_no_connection_at_all_was_certainly_not_sent():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bot = bot_for(f"http://127.0.0.1:{port}/bot")
    await bot.request.initialize()  # not bot.initialize(): its getMe would fail, nobody listens
    try:
        with pytest.raises(NetworkError) as caught:
            await bot.send_message(42, THAI)
    finally:
        await bot.request.shutdown()
    assert not isinstance(caught.value, TimedOut)
    assert maybe_delivered(caught.value) is False


async def test_no_free_connection_in_time_was_certainly_not_sent():
    release = asyncio.Event()

    async def hold(request: web.Request, body: bytes) -> web.Response:
        await release.wait()
        return await echo(request, body)

    async with Api(hold) as api, bot_for(api.base_url, connection_pool_size=1, pool_timeout=0.2,
                                         connect_timeout=0.2) as bot:
        first = asyncio.create_task(bot.send_message(1, "first"))
        while not api.received:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        with pytest.raises(TimedOut) as caught:
            await bot.send_message(2, "second")
        assert time.monotonic() - started < 1.5  # the pool wait is bounded by pool + connect time-outs
        release.set()
        assert (await first).chat_id == 1
    assert maybe_delivered(caught.value) is False
    assert [json.loads(body)["chat_id"] for _, _, body in api.received] == [1]  # the second never left


async def test_a_slow_answer_may_have_arrived():
    async def slow(request: web.Request, body: bytes) -> web.Response:
        await asyncio.sleep(2)
        return await echo(request, body)

    async with Api(slow) as api, bot_for(api.base_url, read_timeout=0.2, write_timeout=0.0) as bot:
        with pytest.raises(TimedOut) as caught:
            await bot.send_message(42, THAI)
    assert len(api.received) == 1  # it did arrive
    assert maybe_delivered(caught.value) is True


async def test_a_connection_dropped_after_the_request_may_have_arrived():
    async def drop(request: web.Request, body: bytes) -> web.Response:
        request.transport.close()
        await asyncio.sleep(1)
        return await echo(request, body)

    async with Api(drop) as api, bot_for(api.base_url) as bot:
        with pytest.raises(NetworkError) as caught:
            await bot.send_message(42, THAI)
    assert len(api.received) == 1
    assert maybe_delivered(caught.value) is True


async def test_a_shut_down_request_refuses_to_send():
    request = AiohttpRequest()
    await request.initialize()
    await request.shutdown()
    with pytest.raises(RuntimeError):
        await request.do_request("http://127.0.0.1:9/bot/getMe", "POST")


async def test_a_stalled_write_ends_in_a_time_out():
    """aiohttp has no write time-out: a large file to a server that never reads must still end."""
    async def never_read(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    request = AiohttpRequest(read_timeout=0.3, write_timeout=0.3, connect_timeout=0.3, pool_timeout=0.3)
    bot = ExtBot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
    await request.initialize()
    started = time.monotonic()
    try:
        with pytest.raises(TimedOut) as caught:
            await bot.send_document(42, InputFile(b"x" * (64 << 20), filename="big.bin"))
    finally:
        await request.shutdown()
        server.close()
    assert time.monotonic() - started < 5
    assert maybe_delivered(caught.value) is True


def test_certificates_are_checked_against_certifi_authorities():
    context = AiohttpRequest.tls()
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 50


async def test_a_server_with_an_unknown_certificate_is_refused(tmp_path):
    """The session checks certificates (a self-signed one fails): nothing is sent."""
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                        "/CN=localhost", "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "c.pem")],
                       check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("openssl is not available to make a certificate")
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=served)
    await site.start()
    port = runner.addresses[0][1]
    bot = bot_for(f"https://localhost:{port}/bot")
    await bot.request.initialize()
    try:
        with pytest.raises(NetworkError, match="(?i)certificate") as caught:
            await bot.send_message(42, THAI)
    finally:
        await bot.request.shutdown()
        await runner.cleanup()
    assert maybe_delivered(caught.value) is False


async def test_a_5xx_answered_as_an_html_page_is_sent_again_and_arrives_once():
    """A proxy's "502 Bad Gateway" page is an answer, not a maybe: the message is sent again."""
    flaky = failing_first(
        web.Response(status=502, text="<html><h1>502 Bad Gateway</h1></html>", content_type="text/html"),
        web.Response(status=503, text="<html>Service Unavailable</html>", content_type="text/html"))
    async with Api(flaky) as api:
        async with retrying_bot(api.base_url) as bot:
            sent = await bot.send_message(42, THAI)
    assert sent.text == THAI
    assert [m for m, _, _ in api.received] == ["sendMessage"] * 3


def test_the_proxy_comes_from_the_environment_once_per_origin(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                 "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    request = AiohttpRequest()
    assert request.proxy_for("https://api.telegram.org/bot1:x/sendMessage") == "http://proxy.example:3128"
    assert request.proxy_for("https://internal.example/bot1:x/getMe") is None
    assert request.proxy_for("http://127.0.0.1:8081/bot1:x/getMe") is None  # no HTTP_PROXY
    monkeypatch.setenv("HTTPS_PROXY", "http://other.example:1")
    assert request.proxy_for("https://api.telegram.org/bot1:x/getMe") == "http://proxy.example:3128"  # read once


async def test_requests_go_through_the_proxy_the_environment_names(monkeypatch):
    """The proxy sees the request (an HTTP proxy is sent the absolute URL)."""
    seen: list[str] = []

    async def proxy(request: web.Request, body: bytes) -> web.Response:
        seen.append(str(request.url))
        return await echo(request, body)

    async with Api(proxy) as api:
        for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", api.base_url.rsplit("/", 1)[0])
        async with bot_for("http://telegram.invalid/bot") as bot:
            await bot.send_message(42, THAI)
    assert seen and seen[-1].startswith("http://telegram.invalid/bot")


async def test_a_call_unparsed_sends_the_json_it_is_given_and_returns_the_raw_result():
    """The replies' path: the parameters go as one JSON body, nothing of them dropped or renamed
    (None left out, as PTB leaves out what wasn't given), and Telegram's result comes back as
    decoded JSON, not as PTB objects."""
    async with Api(echo) as api:
        bot = ExtBot(TOKEN, base_url=api.base_url, request=AiohttpRequest(), rate_limiter=RetryRequests())
        async with bot:
            result = await call_unparsed(bot, "sendMessage", {
                "chat_id": -100123, "text": THAI, "parse_mode": "HTML", "message_thread_id": None,
                "link_preview_options": {"is_disabled": True},
                "reply_parameters": {"message_id": 7, "allow_sending_without_reply": True}})
    assert result == message(-100123, THAI)
    (method, headers, body), = api.received
    assert method == "sendMessage" and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"chat_id": -100123, "text": THAI, "parse_mode": "HTML",
                                "link_preview_options": {"is_disabled": True},
                                "reply_parameters": {"message_id": 7, "allow_sending_without_reply": True}}


async def test_a_call_unparsed_is_retried_and_fails_as_the_bots_own_calls_do():
    """Through the bot's rate limiter: a 5xx is sent again and arrives once; a 400 is PTB's BadRequest;
    a send that may have arrived (the connection dropped after the request) is not repeated."""
    flaky = failing_first(
        web.Response(status=502, text="<html>502 Bad Gateway</html>", content_type="text/html"),
        web.json_response({"ok": False, "error_code": 500, "description": "Internal"}, status=500))
    async with Api(flaky) as api:
        async with retrying_bot(api.base_url) as bot:
            result = await call_unparsed(bot, "sendMessage", {"chat_id": 42, "text": THAI})
    assert result["text"] == THAI
    assert [m for m, _, _ in api.received] == ["sendMessage"] * 3

    async def refuse(request: web.Request, body: bytes) -> web.Response:
        return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"},
                                 status=400)

    async with Api(refuse) as api:
        async with ExtBot(TOKEN, base_url=api.base_url, request=AiohttpRequest(), rate_limiter=RetryRequests()) as bot:
            with pytest.raises(BadRequest, match="text is empty"):
                await call_unparsed(bot, "sendMessage", {"chat_id": 42, "text": " "})
    assert len(api.received) == 1

    async def drop(request: web.Request, body: bytes) -> web.Response:
        request.transport.close()  # carried out, then the connection is gone before the answer
        return web.Response()

    async with Api(drop) as api:
        async with retrying_bot(api.base_url) as bot:
            with pytest.raises(NetworkError) as caught:
                await call_unparsed(bot, "sendMessage", {"chat_id": 42, "text": THAI})
    assert maybe_delivered(caught.value) and len(api.received) == 1  # not sent a second time


async def test_a_call_unparsed_without_a_rate_limiter_goes_straight_to_the_request():
    async with Api(echo) as api:
        async with bot_for(api.base_url) as bot:
            result = await call_unparsed(bot, "sendMessage", {"chat_id": 5, "text": "สวัสดี"})
    assert result["chat"]["id"] == 5 and len(api.received) == 1


async def test_a_call_unparsed_refuses_a_bot_whose_defaults_it_would_lose():
    """PTB applies a bot's Defaults (and arbitrary callback data) in its own methods; parameters
    sent as given would drop them without a word, so such a bot is refused (the app sets neither)."""
    from telegram.ext import Defaults

    async with Api(echo) as api:
        bot = ExtBot(TOKEN, base_url=api.base_url, request=AiohttpRequest(), defaults=Defaults(disable_notification=True))
        async with bot:
            with pytest.raises(ValueError, match="Defaults"):
                await call_unparsed(bot, "sendMessage", {"chat_id": 5, "text": "สวัสดี"})
    assert api.received == []
