"""Per-user question limit: a sliding window, with one notice per window for whoever exceeds it."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from enum import Enum


class Verdict(Enum):
    ALLOW = "allow"  # answer the question
    NOTIFY = "notify"  # over the limit: tell the user once
    SILENT = "silent"  # over the limit and already told


class UserRateLimit:
    """At most ``per_window`` questions per user in any ``window`` seconds."""

    def __init__(self, per_window: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_users: int = 10_000):
        if per_window < 1:
            raise ValueError("per_window must be at least 1")
        self.per_window = per_window
        self.window = window
        self._clock = clock
        self._max_users = max_users
        self._asked: dict[int, deque[float]] = {}
        self._notified: dict[int, float] = {}

    def check(self, user_id: int) -> Verdict:
        """Count a question by the user if the window has room; otherwise say whether to notify."""
        now = self._clock()
        times = self._asked.setdefault(user_id, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) < self.per_window:
            times.append(now)
            self._prune(now)
            return Verdict.ALLOW
        last = self._notified.get(user_id)
        if last is None or now - last >= self.window:
            self._notified[user_id] = now
            return Verdict.NOTIFY
        return Verdict.SILENT

    def _prune(self, now: float) -> None:
        """Forget users with nothing in their window, so memory stays bounded."""
        if len(self._asked) <= self._max_users:
            return
        for user in [u for u, times in self._asked.items() if not times or now - times[-1] >= self.window]:
            del self._asked[user]
            self._notified.pop(user, None)
