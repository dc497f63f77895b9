"""Outgoing requests that survive flood control, network errors and 5xx answers, and are never
sent twice.

Plugged into python-telegram-bot as its rate limiter (every Bot API call but getUpdates passes
through it): a 429 waits ``retry_after`` and tries again; a failure that certainly did not reach
Telegram (no connection, a 5xx answer) is retried with a growing back-off for about a minute, long
enough to ride out a short outage. Telegram has no idempotency key, so a request that may have
arrived (a read time-out, a connection lost after sending) is repeated only when repeating it is
harmless: never a ``send…`` call, whose repeat would be a second message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import BaseRateLimiter

from .request import NOT_SENT

log = logging.getLogger(__name__)

NO_RETRY = frozenset({"sendChatAction"})  # stale by the time a retry would get through
NOT_REPEATABLE = ("send", "forward", "copy")  # endpoints whose repeat makes another message


def maybe_delivered(exc: NetworkError) -> bool:
    """Whether the failed request may have reached Telegram all the same."""
    cause = exc.__cause__
    if isinstance(cause, NOT_SENT):
        return False
    if isinstance(cause, TelegramError):  # Telegram (or a proxy) answered an error whose body isn't
        return False                      # JSON, e.g. an HTML "502 Bad Gateway": answered, not done
    if cause is None and not isinstance(exc, TimedOut):  # Telegram answered, with a 5xx: not done
        return False
    return True  # a read or write time-out, a connection dropped mid-way, anything unknown


def repeatable(endpoint: str) -> bool:
    return not endpoint.startswith(NOT_REPEATABLE)


def retry_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class RetryRequests(BaseRateLimiter[None]):
    # 15 retries: 0.5 + 1 + 2 + 4 + 11 × 8 = 95.5 s of waiting, past a 60 s outage
    def __init__(self, max_retries: int = 15, backoff: Sequence[float] = (0.5, 1.0, 2.0, 4.0, 8.0)):
        self.max_retries = max_retries
        self.backoff = tuple(backoff)

    async def initialize(self) -> None:  # nothing to set up
        return None

    async def shutdown(self) -> None:
        return None

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        attempt = 0
        while True:
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                if attempt >= self.max_retries:
                    raise
                delay = retry_seconds(exc)
                log.warning("flood control on %s: retrying in %.1f s", endpoint, delay)
            except BadRequest:
                raise
            except NetworkError as exc:  # also TimedOut and 5xx answers
                if attempt >= self.max_retries or endpoint in NO_RETRY:
                    raise
                if maybe_delivered(exc) and not repeatable(endpoint):
                    log.warning("%s failed (%s) after it may have arrived: not sent again", endpoint, exc)
                    raise
                delay = self.backoff[min(attempt, len(self.backoff) - 1)]
                log.warning("%s failed (%s): retrying in %.1f s", endpoint, exc, delay)
            attempt += 1
            await asyncio.sleep(delay)
