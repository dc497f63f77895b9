"""Rate limiting, callback data and keyboards, admin checks, retries, keeping the token out of logs."""

from __future__ import annotations

import logging

import pytest
from types import SimpleNamespace

import aiohttp
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot.formatting import EXAMPLES
from bot.records import Records
from bot.tg.app import RedactingFormatter, file_url, protect_logs
from bot.tg.handlers import SmartCityBot
from bot.tg.keyboards import MAX_CALLBACK_BYTES, ButtonData, answer_keyboard, examples_keyboard, parse_button
from bot.tg.ratelimit import UserRateLimit, Verdict
from bot.tg.retry import RetryRequests


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- rate limit ---------------------------------------------------------------------------------------
def test_sliding_window_allows_the_limit_then_notifies_once():
    clock = Clock()
    limit = UserRateLimit(3, window=60, clock=clock)
    verdicts = []
    for _ in range(6):
        verdicts.append(limit.check(7))
        clock.now += 1
    assert verdicts == [Verdict.ALLOW] * 3 + [Verdict.NOTIFY] + [Verdict.SILENT] * 2
    assert limit.check(8) is Verdict.ALLOW  # per user


def test_window_slides():
    clock = Clock()
    limit = UserRateLimit(2, window=60, clock=clock)
    assert [limit.check(1), limit.check(1)] == [Verdict.ALLOW, Verdict.ALLOW]  # t=1000
    clock.now += 30
    assert limit.check(1) is Verdict.NOTIFY
    clock.now += 29.9  # t=1059.9: the first two are still in the window
    assert limit.check(1) is Verdict.SILENT
    clock.now += 0.1  # t=1060: they slide out
    assert limit.check(1) is Verdict.ALLOW
    assert limit.check(1) is Verdict.ALLOW
    assert limit.check(1) is Verdict.SILENT  # notified 30 s ago: still the same window
    clock.now += 31
    assert limit.check(1) is Verdict.NOTIFY  # a new window, a new notice


def test_rate_limit_memory_is_bounded():
    clock = Clock()
    limit = UserRateLimit(1, window=60, clock=clock, max_users=100)
    for user in range(1000):
        limit.check(user)
        clock.now += 1
    assert len(limit._asked) <= 161  # users of the last minute, plus at most the prune threshold


def test_rate_limit_needs_a_positive_limit():
    with pytest.raises(ValueError):
        UserRateLimit(0)


# -- callback data and keyboards ----------------------------------------------------------------------
def test_callback_data_round_trips_and_fits_64_bytes():
    for data in (ButtonData("more", 1), ButtonData("sect", 2**63 - 1), ButtonData("up", 5), ButtonData("down", 9),
                 ButtonData("ex", 3, "en")):
        encoded = data.encode()
        assert len(encoded.encode()) <= MAX_CALLBACK_BYTES
        assert parse_button(encoded) == data
    with pytest.raises(ValueError):
        ButtonData("more", 10**70).encode()


@pytest.mark.parametrize("junk", [None, "", "more", "more:", "more:x", "up:1:2", "ex:th:99", "ex:fr:0", "zzz:1",
                                  "ex:th:-1", f"up:{2 ** 63}", "sect:99999999999999999999999", "down:-5", "more:0"])
def test_foreign_callback_data_is_refused(junk):
    assert parse_button(junk) is None


def test_answer_keyboard():
    rows = answer_keyboard(12, "th").inline_keyboard
    assert [[b.callback_data for b in row] for row in rows] == [["more:12", "sect:12"], ["up:12", "down:12"]]
    assert [b.text for b in rows[1]] == ["👍", "👎"]
    assert [b.callback_data for b in answer_keyboard(12, "en", more=False).inline_keyboard[0]] == ["sect:12"]


def test_examples_keyboard_asks_each_example():
    rows = examples_keyboard("th").inline_keyboard
    assert [parse_button(row[0].callback_data).example for row in rows] == list(EXAMPLES["th"])
    assert 3 <= len(rows) <= 4


# -- admins -------------------------------------------------------------------------------------------
def test_only_configured_admins_are_admins(settings, tmp_path):
    from telegram import User

    records = Records(tmp_path / "r.sqlite3", "s")
    service = SmartCityBot(settings, engine=None, records=records)
    try:
        assert service.is_admin(User(1001, "A", False))
        assert not service.is_admin(User(2002, "B", False))
        assert not service.is_admin(None)
    finally:
        service.close()
        records.close()


# -- retries ------------------------------------------------------------------------------------------
class Flaky:
    """An API call failing with the given errors first."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return True


def caused(error: Exception, cause: Exception) -> Exception:
    error.__cause__ = cause
    return error


def not_connected() -> Exception:
    refused = aiohttp.ClientConnectorError(SimpleNamespace(host="api.telegram.org", port=443, ssl=True),
                                           ConnectionRefusedError(111, "refused"))
    return caused(NetworkError("aiohttp.ClientConnectorError: refused"), refused)


def read_timed_out() -> Exception:
    return caused(TimedOut(), aiohttp.SocketTimeoutError("slow"))


def dropped_after_sending() -> Exception:
    return caused(NetworkError("aiohttp.ServerDisconnectedError"), aiohttp.ServerDisconnectedError())


async def test_retries_flood_control_and_what_certainly_did_not_arrive():
    retry = RetryRequests(max_retries=4, backoff=(0.01,))
    call = Flaky(RetryAfter(0), not_connected(), caused(TimedOut(), aiohttp.ConnectionTimeoutError("no free connection")),
                 NetworkError("Internal Server Error (500)"))
    assert await retry.process_request(call, (), {}, "sendMessage", {}, None) is True
    assert call.calls == 5


@pytest.mark.parametrize("failure", [read_timed_out, dropped_after_sending, TimedOut])
async def test_a_message_that_may_have_arrived_is_not_sent_twice(failure):
    retry = RetryRequests(max_retries=4, backoff=(0.01,))
    send = Flaky(failure())
    with pytest.raises(NetworkError):
        await retry.process_request(send, (), {}, "sendMessage", {}, None)
    assert send.calls == 1
    edit = Flaky(failure())  # repeating an edit or a callback answer is harmless
    assert await retry.process_request(edit, (), {}, "editMessageText", {}, None) is True
    assert edit.calls == 2


async def test_a_short_outage_is_ridden_out():
    retry = RetryRequests(backoff=(0.001,))  # the default number of retries
    outage = Flaky(*[NetworkError("Bad Gateway")] * 14)
    assert await retry.process_request(outage, (), {}, "sendMessage", {}, None) is True
    assert sum(RetryRequests().backoff[min(i, 4)] for i in range(RetryRequests().max_retries)) >= 90


async def test_does_not_retry_refusals_or_forever():
    retry = RetryRequests(max_retries=2, backoff=(0.01,))
    refused = Flaky(BadRequest("can't parse entities"))
    with pytest.raises(BadRequest):
        await retry.process_request(refused, (), {}, "sendMessage", {}, None)
    assert refused.calls == 1
    down = Flaky(*[NetworkError("Bad Gateway")] * 5)
    with pytest.raises(NetworkError):
        await retry.process_request(down, (), {}, "sendMessage", {}, None)
    assert down.calls == 3
    typing = Flaky(TimedOut())
    with pytest.raises(TimedOut):
        await retry.process_request(typing, (), {}, "sendChatAction", {}, None)
    assert typing.calls == 1


# -- the token stays secret ---------------------------------------------------------------------------
def test_token_is_redacted_from_log_lines_and_tracebacks():
    formatter = RedactingFormatter(logging.Formatter("%(message)s"), ["123:SECRET"])
    try:
        raise RuntimeError("POST https://api.telegram.org/bot123:SECRET/sendMessage failed")
    except RuntimeError as exc:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "url %s", ("bot123:SECRET/getMe",),
                                   (type(exc), exc, exc.__traceback__))
    out = formatter.format(record)
    assert "123:SECRET" not in out and "[redacted]" in out and "RuntimeError" in out


def test_protect_logs_quiets_http_loggers_and_wraps_handlers():
    root = logging.getLogger()
    handler = logging.StreamHandler()
    root.addHandler(handler)
    loud = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "aiohttp")}
    for name in loud:  # as a library or a user's logging config could leave them
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        protect_logs("123:SECRET")
        assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
        assert logging.getLogger("httpcore").getEffectiveLevel() >= logging.WARNING
        assert logging.getLogger("aiohttp.client").getEffectiveLevel() >= logging.WARNING
        assert isinstance(handler.formatter, RedactingFormatter)
    finally:
        root.removeHandler(handler)
        for name, level in loud.items():
            logging.getLogger(name).setLevel(level)


def test_file_url():
    assert file_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
