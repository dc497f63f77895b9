"""Building and running the Telegram Application: long polling, or a webhook when WEBHOOK_URL is set."""

from __future__ import annotations

import asyncio
import logging
import secrets
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder

from ..privacy import mask_personal
from ..records import Records, deployment_key
from .handlers import AnswerEngine, SmartCityBot
from .request import AiohttpRequest
from .retry import RetryRequests
from .updates import SkippingRequest, Stop, UpdatesBot, start_webhook

log = logging.getLogger(__name__)

ALLOWED_UPDATES = ["message", "callback_query"]
POLL_TIMEOUT = 10  # seconds a getUpdates long poll waits on the server
QUIET_LOGGERS = ("httpx", "httpcore", "aiohttp")  # they may log request URLs, and those carry the token


def file_url(base_url: str) -> str:
    """The file download base for an API base: https://host/bot → https://host/file/bot."""
    return base_url[: -len("bot")] + "file/bot" if base_url.endswith("/bot") else base_url.rstrip("/") + "/file/bot"


READ_TIMEOUT = 40.0  # seconds
POOL_SIZE = 256  # connections to the Bot API at most


def build_application(settings: Any, engine: AnswerEngine, records: Records,
                      workers: int | None = None) -> tuple[Application, SmartCityBot]:
    """The Application with every handler registered (not yet initialized)."""
    base = settings.telegram_api_base_url
    bot = UpdatesBot(settings.telegram_bot_token.get_secret_value(), base_url=base, base_file_url=file_url(base),
                     # a read time-out well above Telegram's slow answers: a message that timed out may
                     # have arrived and is not sent again (bot.tg.retry)
                     # (aiohttp, parameters as one JSON body: bot.tg.request)
                     request=AiohttpRequest(connection_pool_size=POOL_SIZE, read_timeout=READ_TIMEOUT,
                                            write_timeout=READ_TIMEOUT),
                     get_updates_request=SkippingRequest(),  # an update that doesn't parse is skipped
                     rate_limiter=RetryRequests())
    app = ApplicationBuilder().bot(bot).concurrent_updates(True).build()
    service = SmartCityBot(settings, engine, records,
                           workers=workers or settings.engine_workers)
    service.register(app)
    return app, service


# -- keeping the token out of logs and output ----------------------------------------------------------
class RedactingFormatter(logging.Formatter):
    """Formats with another formatter, then blanks out the secrets (also in tracebacks) and masks
    personal data a user may have typed (bot.privacy)."""

    def __init__(self, inner: logging.Formatter, hidden: list[str]):
        super().__init__()
        self.inner = inner
        self.hidden = [h for h in hidden if h]

    def format(self, record: logging.LogRecord) -> str:
        return mask_personal(redact(self.inner.format(record), self.hidden))


def redact(text: str, hidden: list[str]) -> str:
    for secret in hidden:
        text = text.replace(secret, "[redacted]")
    return text


def protect_logs(*hidden: str) -> None:
    """Quiet the HTTP loggers and redact the secrets from every root log handler."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in root.handlers:
        inner = handler.formatter or logging.Formatter("%(levelname)s %(name)s: %(message)s")
        if not isinstance(inner, RedactingFormatter):
            handler.setFormatter(RedactingFormatter(inner, list(hidden)))


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt meanwhile (to stop cleanly during the slow engine load)."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- running -------------------------------------------------------------------------------------------
async def _start_updates(app: Application, settings: Any) -> tuple[str, Stop]:
    """Start polling or the webhook; returns how updates arrive (for the "ready" line) and how to
    stop receiving them."""
    if not settings.webhook_url:
        await app.updater.start_polling(timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES)

        async def stop_polling() -> None:
            if app.updater.running:
                await app.updater.stop()
        return "long polling", stop_polling
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else secrets.token_urlsafe(32)
    stop = await start_webhook(app, settings.webhook_url, settings.webhook_listen, settings.webhook_port,
                               urlsplit(settings.webhook_url).path, secret, ALLOWED_UPDATES)
    return f"webhook on {settings.webhook_listen}:{settings.webhook_port}", stop


async def serve(settings: Any, engine: AnswerEngine, records: Records) -> int:
    """Run until SIGINT or SIGTERM, then stop cleanly."""
    app, service = build_application(settings, engine, records)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with app:  # initialize (getMe) … shutdown
            await service.set_commands(app.bot)
            await app.start()
            stop_updates: Stop | None = None
            try:
                mode, stop_updates = await _start_updates(app, settings)
                say(f"ready: @{app.bot.username}, {len(service.documents())} documents, {mode}")
                await stop.wait()
                say("stopping ...")
            finally:
                service.cancel_background()
                if stop_updates is not None:
                    await stop_updates()
                await app.stop()
    finally:
        service.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    return 0


def run_bot(settings: Any) -> int:
    """`smartcity-bot run`: load the engine once, then serve Telegram until stopped. Exit code."""
    from ..engine import Engine

    token = settings.telegram_bot_token.get_secret_value()
    hidden = [token] + ([settings.webhook_secret.get_secret_value()] if settings.webhook_secret else [])
    protect_logs(*hidden)
    say("loading the model and the index ...")
    try:
        with sigterm_interrupts():
            engine = Engine.load(settings)
    except KeyboardInterrupt:
        say("stopped before start-up finished")
        return 0
    key = (settings.user_id_salt.get_secret_value() if settings.user_id_salt
           else deployment_key(settings.database_path))
    records = Records(settings.database_path, key, retention_days=settings.question_retention_days)
    try:
        return asyncio.run(serve(settings, engine, records))
    except TelegramError as exc:  # getMe failed: a wrong token or an unreachable server
        say(f"error: Telegram: {redact(str(exc), hidden)}")
        return 1
    finally:
        records.close()
