"""How updates reach the Application, with an update that cannot be parsed skipped in one log line.

- Long polling: ``SkippingRequest`` is the getUpdates request (a ``BaseRequest``, PTB's public
  extension point). PTB parses a getUpdates batch as a whole and, when one update fails, logs the
  whole batch (the senders' data included) with a traceback and polls the same batch again for
  ever. ``UpdatesBot.get_updates`` lets PTB parse each batch once, as usual; only when a batch
  fails is it polled again, and the request then reduces each update that doesn't parse to its
  update_id before PTB sees it, so the offset moves past it and no handler matches it; PTB's dump
  of the batch is dropped. (Checking every update before PTB parsed it had doubled the parsing of
  every question.) The request also polls again every second while Telegram is unreachable, so
  that the bot hears again within a second or two of an outage's end.
- Webhook: ``WebhookServer``, a small tornado server in place of PTB's, which logs the whole update
  (the sender's data included) at CRITICAL and answers 400, so that Telegram sends it again. Here
  it is skipped with one line and answered 200. The secret token is checked in constant time.

Neither logs an update's content: only its id and the kind of error.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import tornado.httpserver
import tornado.web
from telegram import Update
from telegram.ext import Application, ExtBot
from telegram.error import NetworkError, TelegramError, TimedOut

from .request import AiohttpRequest

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # bytes; an update is a few kB


def parse(raw: Any, bot: Any = None) -> Update | None:
    """The update, or None (logged in one line: its id and the error's kind) when it doesn't parse."""
    try:
        return Update.de_json(raw, bot)
    except Exception as exc:  # whatever a malformed update raises inside PTB
        log.error("skipping update %s, which cannot be parsed: %s",
                  raw.get("update_id") if isinstance(raw, dict) else None, type(exc).__name__)
        return None


def skip_unparseable(payload: bytes) -> bytes:
    """A getUpdates response with each update that doesn't parse reduced to its update_id."""
    try:
        body = json.loads(payload)
    except ValueError:
        return payload  # PTB reports a response that isn't JSON itself
    result = body.get("result") if isinstance(body, dict) else None
    if not isinstance(result, list):
        return payload
    kept, changed = [], False
    for raw in result:
        if isinstance(raw, dict) and isinstance(raw.get("update_id"), int) and parse(raw) is None:
            raw, changed = {"update_id": raw["update_id"]}, True
        kept.append(raw)
    return json.dumps({**body, "result": kept}).encode() if changed else payload


class SkippingRequest(AiohttpRequest):
    """The getUpdates request: an update that cannot be parsed is skipped, not polled for ever; and
    while Telegram is unreachable or answers 5xx, polling tries again every second.

    PTB's polling loop waits longer after each failed getUpdates (1.5 times, up to 30 s), so after an
    outage of half a minute the bot stayed deaf for another 17–19 s. A failure here is reported to
    it as a time-out, after which it polls again at once; the one-second pause is ours.

    After a poll that brought updates, the next one waits until ``GATHER`` seconds have passed (an
    idle bot's long poll still returns the moment a question arrives). PTB polls again the moment
    a batch is handed over, so under load each getUpdates brought one or two updates: with 50 users
    asking, a getUpdates round trip (and its parsing) per question. Gathering them costs a question
    at most those milliseconds.
    """

    RETRY_EVERY = 1.0  # seconds between two getUpdates while Telegram is unreachable
    GATHER = 0.05  # seconds from a poll that brought updates to the next poll

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._down_since: float | None = None
        self._brought_at: float | None = None  # when the last poll brought updates
        self.check_next = False  # set by UpdatesBot for one poll, after a batch PTB could not parse

    async def do_request(self, url: str, method: str, request_data: Any = None, read_timeout: Any = None,
                         write_timeout: Any = None, connect_timeout: Any = None,
                         pool_timeout: Any = None) -> tuple[int, bytes]:
        polling = url.rstrip("/").endswith("/getUpdates")
        if polling and self._brought_at is not None:
            wait, self._brought_at = self.GATHER - (time.monotonic() - self._brought_at), None
            if wait > 0:
                await asyncio.sleep(wait)
        try:
            code, payload = await super().do_request(url, method, request_data, read_timeout, write_timeout,
                                                     connect_timeout, pool_timeout)
        except TimedOut:
            raise
        except NetworkError as exc:
            if not polling:
                raise
            await self._unavailable(str(exc))
            raise TimedOut("Telegram is unreachable; polling again") from exc
        if not polling:
            return code, payload
        if code >= HTTPStatus.INTERNAL_SERVER_ERROR:
            await self._unavailable(f"HTTP {code}")
            raise TimedOut(f"getUpdates answered {code}; polling again")
        if self._down_since is not None:
            log.warning("getUpdates works again after %.0f s", time.monotonic() - self._down_since)
            self._down_since = None
        if code == HTTPStatus.OK:
            if self.check_next:
                self.check_next = False
                payload = skip_unparseable(payload)
            if b'"update_id"' in payload:  # it brought updates (PTB decodes the JSON; this needn't)
                self._brought_at = time.monotonic()
        return code, payload

    async def _unavailable(self, why: str) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            log.warning("getUpdates failed (%s): polling again every %.0f s", why, self.RETRY_EVERY)
        await asyncio.sleep(self.RETRY_EVERY)


class _NoBatchDump(logging.Filter):
    """Drops PTB's log of a getUpdates batch it could not parse: the whole batch, the senders' data
    included, at CRITICAL with a traceback (UpdatesBot polls the batch again and skips the update)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("Error while parsing updates"))


_PTB_BOT_LOG = logging.getLogger("telegram.ext.ExtBot")


class UpdatesBot(ExtBot[Any]):
    """The bot, polling with a ``SkippingRequest``: a batch with an update that doesn't parse is
    polled again, with that update reduced to its id."""

    def __init__(self, token: str, *args: Any, get_updates_request: SkippingRequest, **kwargs: Any):
        super().__init__(token, *args, get_updates_request=get_updates_request, **kwargs)
        self._updates_request = get_updates_request  # (PTB freezes a bot's public attributes)
        if not any(isinstance(f, _NoBatchDump) for f in _PTB_BOT_LOG.filters):
            _PTB_BOT_LOG.addFilter(_NoBatchDump())

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        try:
            return await super().get_updates(*args, **kwargs)
        except TelegramError:
            raise
        except Exception:  # whatever a malformed update raises inside PTB: this batch again, checked
            self._updates_request.check_next = True
        try:
            return await super().get_updates(*args, **kwargs)
        except TelegramError:
            raise
        except Exception as exc:  # still: a network error to PTB, which then waits longer each time
            raise NetworkError("a getUpdates batch cannot be parsed even with its bad updates skipped: "
                               f"{type(exc).__name__}") from None


class _WebhookHandler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("POST",)  # type: ignore[assignment]

    def initialize(self, app: Application, secret: str) -> None:
        self.app = app
        self.secret = secret

    async def post(self) -> None:
        token = self.request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(token.encode(), self.secret.encode()):
            raise tornado.web.HTTPError(HTTPStatus.FORBIDDEN)
        try:
            raw = json.loads(self.request.body)
        except ValueError:
            log.error("skipping a webhook request whose body is not JSON")
            return  # 200: Telegram would only send it again
        if not isinstance(raw, dict):
            log.error("skipping a webhook request that is not an update")
            return
        update = parse(raw, self.app.bot)
        if update is None:
            return
        if isinstance(self.app.bot, ExtBot):
            self.app.bot.insert_callback_data(update)
        await self.app.update_queue.put(update)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.finish()  # no HTML page, no traceback


@dataclass
class WebhookServer:
    app: Application
    listen: str
    port: int
    path: str
    secret: str
    _server: tornado.httpserver.HTTPServer | None = None

    async def start(self) -> None:
        handlers = [(f"/{self.path.strip('/')}" if self.path.strip("/") else "/", _WebhookHandler,
                     {"app": self.app, "secret": self.secret})]
        web = tornado.web.Application(handlers, log_function=lambda handler: None)
        self._server = tornado.httpserver.HTTPServer(web, max_body_size=MAX_BODY)
        self._server.listen(self.port, self.listen)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            await self._server.close_all_connections()
            self._server = None


Stop = Callable[[], Awaitable[None]]


async def start_webhook(app: Application, url: str, listen: str, port: int, path: str, secret: str,
                        allowed_updates: list[str]) -> Stop:
    """Serve the webhook, then register it with Telegram; returns how to stop serving."""
    server = WebhookServer(app, listen, port, path, secret)
    await server.start()
    try:
        await app.bot.set_webhook(url=url, secret_token=secret, allowed_updates=allowed_updates)
    except BaseException:
        await server.stop()
        raise
    return server.stop
