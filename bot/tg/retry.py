"""Outgoing requests that survive flood control, network errors and 5xx answers.

Plugged into python-telegram-bot as its rate limiter (every Bot API call but getUpdates passes
through it): a 429 waits ``retry_after`` and tries again; a network error, a time-out or a 5xx
(all ``NetworkError`` in PTB, unlike 400-class refusals) is retried with a short back-off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

NO_RETRY = frozenset({"sendChatAction"})  # stale by the time a retry would get through


def retry_seconds(exc: RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class RetryRequests(BaseRateLimiter[None]):
    def __init__(self, max_retries: int = 4, backoff: Sequence[float] = (0.5, 1.0, 2.0, 4.0)):
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
                delay = self.backoff[min(attempt, len(self.backoff) - 1)]
                log.warning("%s failed (%s): retrying in %.1f s", endpoint, exc, delay)
            attempt += 1
            await asyncio.sleep(delay)
