"""The Bot API requests, over aiohttp: PTB's ``BaseRequest`` (its public extension point for the
HTTP library) implemented with one ``aiohttp.ClientSession``.

Why not PTB's own ``HTTPXRequest``: measured against the stand-in Bot API on this project's 2-core
machine, a sendMessage with a Thai answer cost 1.6 ms of CPU through httpx one at a time and 2.8 ms
with 50 under way (httpcore checks every pooled connection with a system call on each request, and
opens and closes connections past the ones it keeps alive); through aiohttp 0.8 ms and 0.5 ms. On a
bot answering fifty people at once that was a third of what it spent outside the engine.

Parameters go as one JSON body (``application/json``, which the Bot API accepts for every method):
PTB's form encoding escapes every byte of Thai text as ``%XX``. Requests with files go as
multipart forms.

Failures are raised as PTB's classes, with the aiohttp error as their cause, so that
``bot.tg.retry`` tells what may have reached Telegram: no connection made, or none free in the
pool in time, was certainly not sent (``NOT_SENT``); a read time-out or a connection lost on the
way may have been.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp
import certifi
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# the request never left: no connection could be made, or none was free in time
NOT_SENT: tuple[type[BaseException], ...] = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)

_UNSET = type(BaseRequest.DEFAULT_NONE)  # PTB's "not given in this call" marker (its public constant's class)


def _or(value: Any, default: float | None) -> float | None:
    """A time-out given for this call, or the request's own when the call left it to the default."""
    return default if isinstance(value, _UNSET) else value


def _sum(*parts: float | None) -> float | None:
    """Time-outs added up; None (no limit) when any part has none."""
    return None if None in parts else sum(parts)  # type: ignore[arg-type]


class AiohttpRequest(BaseRequest):
    """One connection pool to the Bot API. ``connection_pool_size`` connections at most, idle ones
    kept open ``keepalive`` seconds (aiohttp learns of a connection the server closed from the event
    loop, without a system call per request)."""

    def __init__(self, connection_pool_size: int = 8, read_timeout: float | None = 5.0,
                 write_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, keepalive: float = 30.0):
        self.pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._keepalive = keepalive
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}  # origin -> the environment's proxy for it

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    def proxy_for(self, url: str) -> str | None:
        """The proxy the environment names for ``url``'s origin (HTTPS_PROXY, ALL_PROXY, NO_PROXY…),
        as PTB's httpx request honours them; read once per origin. (aiohttp's own ``trust_env``
        looks them up, and ~/.netrc, in a thread on every request.)"""
        origin = "/".join(url.split("/", 3)[:3])
        if origin not in self._proxies:
            parts = urlsplit(origin)
            proxies = getproxies()
            proxy = proxies.get(parts.scheme) or proxies.get("all")
            self._proxies[origin] = None if not proxy or proxy_bypass(parts.hostname or "") else proxy
        return self._proxies[origin]

    @staticmethod
    def tls() -> ssl.SSLContext:
        """Certificates checked against certifi's authorities, as PTB's httpx request does: the same
        on a server whose system store is missing or old."""
        return ssl.create_default_context(cafile=certifi.where())

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.pool_size, keepalive_timeout=self._keepalive,
                                             ssl=self.tls())
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _timeout(self, read: Any, write: Any, connect: Any, pool: Any) -> aiohttp.ClientTimeout:
        pool, connect = _or(pool, self._pool_timeout), _or(connect, self._connect_timeout)
        read, write = _or(read, self._read_timeout), _or(write, self._write_timeout)
        return aiohttp.ClientTimeout(
            # waiting for a free connection, then making one (the pool wait is bounded by the two
            # together): past it, nothing was sent
            connect=_sum(pool, connect),
            sock_connect=connect,
            sock_read=read,  # between two reads of the answer, counted once the request is written
            # aiohttp has no write time-out: the whole request is bounded instead, so that a write
            # that stalls (a large file to a server that doesn't read) ends too
            total=_sum(pool, connect, write, read))

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("this request is not initialized, or shut down")
        body: bytes | aiohttp.FormData | None = None
        headers: dict[str, str] = {}
        if request_data is not None and request_data.multipart_data:
            form = aiohttp.FormData()
            for name, value in (request_data.json_parameters or {}).items():
                form.add_field(name, value)
            for name, (filename, content, mimetype) in request_data.multipart_data.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            body = form
        elif request_data is not None and request_data.parameters:
            body = json.dumps(request_data.parameters, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout, pool_timeout)
        try:
            async with self._session.request(method, url, data=body, headers=headers, timeout=timeout,
                                             proxy=self.proxy_for(url)) as res:
                return res.status, await res.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise TimedOut("no connection to the Bot API in time: the request was not sent") from exc
        except (aiohttp.ServerTimeoutError, asyncio.TimeoutError) as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc


class JsonParameters(RequestData):
    """A call's parameters already in their JSON form, through ``RequestData``'s public interface
    (PTB builds its own from a method's arguments, as PTB objects)."""

    def __init__(self, parameters: dict[str, Any]):
        super().__init__()
        self._json = {k: v for k, v in parameters.items() if v is not None}

    @property
    def parameters(self) -> dict[str, Any]:
        return self._json

    @property
    def json_parameters(self) -> dict[str, str]:  # what a form-encoding request (PTB's httpx one) sends
        return {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in self._json.items()}

    @property
    def multipart_data(self) -> dict[str, Any]:
        return {}


async def call_unparsed(bot: Any, endpoint: str, parameters: dict[str, Any]) -> Any:
    """Call a Bot API method through the bot's request and rate limiter (bot.tg.retry: the same
    retries and the same errors as ``bot.send_message``), returning Telegram's result as decoded
    JSON, not made into PTB objects.

    For the replies, whose result nobody reads: PTB turns the message Telegram returns into a
    ``Message``, with the entities of the HTML and, in groups, the whole message replied to, about
    a fifth of the event loop's work per answer under load.

    PTB's documentation asks that ``Bot.request`` and ``BaseRequest.post`` not be used by hand,
    because its methods add what a bare call would miss: the rate limiter (applied here), the
    bot's ``Defaults`` and arbitrary callback data (a bot with either is refused here). Its one
    method for calls by hand, ``do_api_request``, warns when used for a method it has."""
    if getattr(bot, "defaults", None) is not None or getattr(bot, "callback_data_cache", None) is not None:
        # PTB's own methods apply these; parameters sent as given would silently lose them
        raise ValueError("call_unparsed: a bot with Defaults or arbitrary callback data needs PTB's own methods")
    url = f"{bot.base_url}/{endpoint}"
    data = JsonParameters(parameters)
    limiter = bot.rate_limiter
    if limiter is None:
        return await bot.request.post(url, data)
    return await limiter.process_request(callback=bot.request.post, args=(url, data), kwargs={},
                                         endpoint=endpoint, data=data.parameters, rate_limit_args=None)
