"""Test harness for the Telegram layer: a stand-in Bot API server, updates in Bot API shape, and
the real `smartcity-bot run` process. Used by the unit tests, the end-to-end tests and
scripts/bench_bot.py.

The server (standard library http.server, in a thread, on 127.0.0.1) implements getMe,
getUpdates (offset and long polling), sendMessage, editMessageText, answerCallbackQuery,
sendChatAction, setMyCommands and deleteWebhook, and answers "ok" to anything else. Like
Telegram it refuses HTML it cannot parse, messages over 4,096 characters and callback data over
64 bytes (400 Bad Request). It records every call, and can be told to fail the next calls of a
method (429 with retry_after, 500, ...).
"""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parents[2]
BOT_ID = 777000111
BOT_USERNAME = "SmartCityTestBot"
TOKEN = "123:TEST"
T = TypeVar("T")

# Parameters PTB sends JSON-encoded; everything else is a plain string (or a number, below).
_JSON_PARAMS = {"reply_markup", "commands", "scope", "reply_parameters", "link_preview_options",
                "allowed_updates", "entities"}
_INT_PARAMS = {"chat_id", "message_id", "offset", "limit", "timeout", "user_id", "cache_time",
               "message_thread_id", "max_connections"}
_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "span",
         "tg-spoiler", "blockquote", "tg-emoji"}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# -- Telegram's HTML parse mode ---------------------------------------------------------------------
class _TelegramHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            raise ValueError(f'unsupported start tag "{tag}"')
        if tag == "a" and not dict(attrs).get("href"):
            raise ValueError("<a> without href")
        self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise ValueError(f'unsupported tag "{tag}/"')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            raise ValueError(f'unmatched end tag "{tag}"')
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        for ch in "<>&":
            if ch in data:
                raise ValueError(f"unescaped {ch!r} in text")
        self.text.append(data)

    def handle_entityref(self, name: str) -> None:
        if name not in ("lt", "gt", "amp", "quot"):
            raise ValueError(f"unsupported entity &{name};")
        self.text.append(html.unescape(f"&{name};"))

    def handle_charref(self, name: str) -> None:
        self.text.append(html.unescape(f"&#{name};"))

    def unknown_decl(self, data: str) -> None:
        raise ValueError("unexpected declaration")

    def handle_comment(self, data: str) -> None:
        raise ValueError("unexpected comment")


def parse_html(text: str) -> str:
    """The plain text of a Telegram-HTML message; ValueError where Telegram would refuse it."""
    parser = _TelegramHTML()
    parser.feed(text)
    parser.close()
    if parser.stack:
        raise ValueError(f"unclosed tag <{parser.stack[-1]}>")
    return "".join(parser.text)


# -- the stand-in server ----------------------------------------------------------------------------
@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when it arrived
    token: str
    status: int = 200
    result: Any = None
    plain: str = ""  # sendMessage/editMessageText: the text as the user sees it

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def buttons(self) -> list[dict[str, Any]]:
        markup = self.params.get("reply_markup") or {}
        return [b for row in markup.get("inline_keyboard", []) for b in row]


@dataclass
class _Failure:
    status: int
    payload: dict[str, Any]


DROP = -1  # handle()'s status for a call carried out whose connection is then dropped


def memory_mb(pid: int, peak: bool = False) -> float:
    """A process's resident memory (VmRSS), or its peak so far (VmHWM), in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"%s:\s+(\d+)\s+kB" % ("VmHWM" if peak else "VmRSS"), status).group(1)) / 1024


@dataclass
class FakeTelegram:
    """A Bot API stand-in. ``base_url`` is what TELEGRAM_API_BASE_URL should be."""

    bot_id: int = BOT_ID
    username: str = BOT_USERNAME
    calls: list[Call] = field(default_factory=list)
    delivered: dict[int, float] = field(default_factory=dict)  # update_id -> when getUpdates returned it

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._updates: list[dict[str, Any]] = []
        self._next_update = itertools.count(1)
        self._next_message = itertools.count(5000)
        self._failures: dict[str, list[_Failure]] = {}
        self._slow: dict[str, list[float]] = {}
        self._outages: dict[str, tuple[float, _Failure]] = {}  # method -> (until, the error meanwhile)
        self._drops: dict[str, int] = {}  # method -> how many more are accepted, then the connection dropped
        self._last_call = time.monotonic()  # of any method but getUpdates
        self._closed = False
        self._server: ThreadingHTTPServer | None = None
        # messages delivered, by chat: waiting for one chat's reply reads its own list, not every call
        # (50 users waiting at once in bench_bot.py spent most of the stand-in's CPU rescanning)
        self._sent_to: dict[Any, list[Call]] = {}

    # lifecycle
    def start(self) -> "FakeTelegram":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = server.handle(self.path, self.headers.get("Content-Type", ""), body)
                if status == DROP:  # carried out, but the connection goes before the answer
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                try:
                    data = json.dumps(payload, ensure_ascii=False).encode()
                except UnicodeEncodeError:  # a lone surrogate: escaped, as Telegram's JSON has it
                    data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the bot went away mid long poll
                    self.close_connection = True

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        class Server(ThreadingHTTPServer):
            request_queue_size = 1024  # the default 5 resets connections when hundreds arrive at once
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-telegram",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def me(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Smart City", "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}

    # what tests do
    def push(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; returns its update_id."""
        with self._cond:
            update = {"update_id": next(self._next_update), **update}
            self._updates.append(update)
            self._cond.notify_all()
            return update["update_id"]

    def fail_next(self, method: str, status: int, payload: dict[str, Any] | None = None) -> None:
        """The next call of ``method`` gets this error (queued: several calls fail in order)."""
        body = {"ok": False, "error_code": status, "description": f"Error {status}", **(payload or {})}
        with self._cond:
            self._failures.setdefault(method, []).append(_Failure(status, body))

    def outage(self, method: str, status: int, seconds: float) -> None:
        """Every call of ``method`` gets this error for the next ``seconds``."""
        body = {"ok": False, "error_code": status, "description": f"Error {status}"}
        with self._cond:
            self._outages[method] = (time.monotonic() + seconds, _Failure(status, body))

    def drop_next(self, method: str, count: int = 1) -> None:
        """The next ``count`` calls of ``method`` are carried out, then the connection is closed
        without an answer (the bot cannot know they arrived)."""
        with self._cond:
            self._drops[method] = self._drops.get(method, 0) + count

    def slow_next(self, method: str, seconds: float) -> None:
        """The next call of ``method`` succeeds, but its answer comes ``seconds`` late."""
        with self._cond:
            self._slow.setdefault(method, []).append(seconds)

    def settled(self, pushed: int, quiet: float) -> bool:
        """Whether all ``pushed`` updates were fetched and the bot has called nothing but getUpdates
        for ``quiet`` seconds (it has done all it will do with them)."""
        with self._cond:
            return len(self.delivered) >= pushed and time.monotonic() - self._last_call >= quiet

    def find(self, method: str | None = None, **where: Any) -> list[Call]:
        """Calls of ``method`` whose params match ``where`` (chat_id=..., ...)."""
        with self._cond:
            calls = list(self.calls)
        return [c for c in calls if (method is None or c.method == method)
                and all(c.params.get(k) == v for k, v in where.items())]

    def sent(self, chat_id: int | None = None) -> list[Call]:
        """Messages delivered (sendMessage answered 200), in order."""
        if chat_id is None:
            return [c for c in self.find("sendMessage") if c.ok]
        with self._cond:
            return list(self._sent_to.get(chat_id, ()))

    def wait_for(self, predicate: Callable[[], T], timeout: float = 10.0) -> T:
        """Wait until predicate() is truthy (checked on every call); returns it or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._cond.release()
                try:
                    value = predicate()
                finally:
                    self._cond.acquire()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the bot did not do what was expected in time")
                self._cond.wait(min(remaining, 0.5))

    def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 10.0) -> list[Call]:
        return self.wait_for(lambda: (lambda s: s if len(s) >= count else None)(self.sent(chat_id)), timeout)

    # the Bot API
    def handle(self, path: str, content_type: str, body: bytes) -> tuple[int, dict[str, Any]]:
        m = re.fullmatch(r"/bot([^/]+)/(\w+)", path.split("?")[0])
        if not m:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        token, method = m.groups()
        params = parse_params(content_type, body)
        call = Call(method, params, time.monotonic(), token)
        with self._cond:
            failures = self._failures.get(method)
            failure = failures.pop(0) if failures else None
            until, during = self._outages.get(method, (0.0, None))
            if failure is None and during is not None and time.monotonic() < until:
                failure = during
        if failure is not None:
            status, payload = failure.status, failure.payload
        elif method == "getUpdates":
            status, payload = 200, {"ok": True, "result": self._get_updates(params)}
        else:
            status, payload = self._answer(call)
        call.status = status
        call.result = payload.get("result")
        with self._cond:
            self.calls.append(call)
            if method == "sendMessage" and call.ok:
                self._sent_to.setdefault(call.params.get("chat_id"), []).append(call)
            if method != "getUpdates":
                self._last_call = call.at
            self._cond.notify_all()
            delays = self._slow.get(method)
            delay = delays.pop(0) if delays else 0.0
            dropped = status == 200 and self._drops.get(method, 0) > 0
            if dropped:
                self._drops[method] -= 1
        time.sleep(delay)  # accepted, then answered late
        if dropped:
            return DROP, {}
        return status, payload

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        with self._cond:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]  # confirmed ones go
            while not self._updates and not self._closed and time.monotonic() < deadline:
                self._cond.wait(deadline - time.monotonic())
            batch = self._updates[:limit]
            now = time.monotonic()
            for u in batch:
                self.delivered.setdefault(u["update_id"], now)
            return batch

    def _answer(self, call: Call) -> tuple[int, dict[str, Any]]:
        p = call.params
        if call.method == "getMe":
            return _ok(self.me)
        if call.method in ("sendMessage", "editMessageText"):
            try:
                call.plain = parse_html(p.get("text", "")) if p.get("parse_mode") == "HTML" else p.get("text", "")
            except ValueError as exc:
                return _bad(f"Bad Request: can't parse entities: {exc}")
            if not call.plain.strip():
                return _bad("Bad Request: message text is empty")
            if utf16_len(call.plain) > 4096:
                return _bad("Bad Request: message is too long")
            for button in call.buttons:
                if len(button.get("callback_data", "").encode()) > 64:
                    return _bad("Bad Request: BUTTON_DATA_INVALID")
            chat_id = p.get("chat_id")
            message = {"message_id": p.get("message_id") or next(self._next_message), "date": int(time.time()),
                       "chat": {"id": chat_id, "type": "private" if isinstance(chat_id, int) and chat_id > 0
                                else "supergroup", "title": "group"},
                       "from": self.me, "text": call.plain}
            if p.get("reply_markup"):
                message["reply_markup"] = p["reply_markup"]
            return _ok(message)
        if call.method == "setMyCommands":
            for c in p.get("commands", []):
                if not re.fullmatch(r"[a-z0-9_]{1,32}", c.get("command", "")) or not 1 <= len(c.get("description", "")) <= 256:
                    return _bad("Bad Request: BOT_COMMAND_INVALID")
            return _ok(True)
        return _ok(True)  # answerCallbackQuery, sendChatAction, deleteWebhook, anything else


def _ok(result: Any) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True, "result": result}


def _bad(description: str) -> tuple[int, dict[str, Any]]:
    return 400, {"ok": False, "error_code": 400, "description": description}


def parse_params(content_type: str, body: bytes) -> dict[str, Any]:
    """A Bot API request's parameters, as PTB sends them (form-encoded, or JSON)."""
    if not body:
        return {}
    if "json" in content_type:
        return json.loads(body)
    raw = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    params: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _JSON_PARAMS:
            params[key] = json.loads(value)
        elif key in _INT_PARAMS and re.fullmatch(r"-?\d+", value):
            params[key] = int(value)
        else:
            params[key] = value
    return params


# -- updates as Telegram sends them ------------------------------------------------------------------
def entities_for(text: str, username: str = BOT_USERNAME) -> list[dict[str, Any]]:
    """The bot_command and mention entities Telegram would attach (offsets in UTF-16 units)."""
    out = []
    m = re.match(r"/\w+(@\w+)?", text)
    if m:
        out.append({"type": "bot_command", "offset": 0, "length": utf16_len(m.group())})
    for m in re.finditer(r"@\w{5,32}", text):
        out.append({"type": "mention", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())})
    return out


class Updates:
    """Builds updates in Bot API shape (JSON dicts), without update_id (the server adds it)."""

    def __init__(self) -> None:
        self._ids = itertools.count(100)

    @staticmethod
    def user(user_id: int, lang: str = "th") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}", "language_code": lang}

    @staticmethod
    def private_chat(user_id: int) -> dict[str, Any]:
        return {"id": user_id, "type": "private", "first_name": f"User{user_id}"}

    @staticmethod
    def group_chat(chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "type": "supergroup", "title": "Smart city fans"}

    def message(self, chat: dict[str, Any], user_id: int, lang: str = "th", kind: str = "message",
                **content: Any) -> dict[str, Any]:
        message = {"message_id": next(self._ids), "date": int(time.time()), "chat": chat,
                   "from": self.user(user_id, lang), **content}
        return {kind: message}

    def text(self, user_id: int, text: str, lang: str = "th", chat: dict[str, Any] | None = None,
             **extra: Any) -> dict[str, Any]:
        entities = entities_for(text)
        content = {"text": text, **({"entities": entities} if entities else {}), **extra}
        return self.message(chat or self.private_chat(user_id), user_id, lang, **content)

    def group_text(self, chat_id: int, user_id: int, text: str, reply_to: dict[str, Any] | None = None,
                   lang: str = "th") -> dict[str, Any]:
        extra = {"reply_to_message": reply_to} if reply_to else {}
        return self.text(user_id, text, lang, chat=self.group_chat(chat_id), **extra)

    def sticker(self, user_id: int, chat: dict[str, Any] | None = None) -> dict[str, Any]:
        sticker = {"file_id": "CAACAgIAAx0", "file_unique_id": "AgAD", "type": "regular", "width": 512,
                   "height": 512, "is_animated": False, "is_video": False, "emoji": "😀"}
        return self.message(chat or self.private_chat(user_id), user_id, sticker=sticker)

    def photo(self, user_id: int) -> dict[str, Any]:
        size = {"file_id": "AgACAgIAAx0", "file_unique_id": "AQAD", "width": 90, "height": 90}
        return self.message(self.private_chat(user_id), user_id, photo=[size], caption="ภาพนี้คืออะไร")

    def voice(self, user_id: int) -> dict[str, Any]:
        return self.message(self.private_chat(user_id), user_id,
                            voice={"file_id": "AwACAgIAAx0", "file_unique_id": "AgADv", "duration": 3})

    def document(self, user_id: int) -> dict[str, Any]:
        return self.message(self.private_chat(user_id), user_id,
                            document={"file_id": "BQACAgIAAx0", "file_unique_id": "AgADd", "file_name": "a.pdf"})

    def location(self, user_id: int) -> dict[str, Any]:
        return self.message(self.private_chat(user_id), user_id, location={"latitude": 13.75, "longitude": 100.5})

    def edited(self, user_id: int, text: str) -> dict[str, Any]:
        return self.message(self.private_chat(user_id), user_id, kind="edited_message", text=text,
                            edit_date=int(time.time()))

    def channel_post(self, chat_id: int, text: str) -> dict[str, Any]:
        return {"channel_post": {"message_id": next(self._ids), "date": int(time.time()),
                                 "chat": {"id": chat_id, "type": "channel", "title": "news"}, "text": text}}

    def callback(self, user_id: int, data: str, message: dict[str, Any], lang: str = "th") -> dict[str, Any]:
        """A button press on ``message`` (a message the bot sent: a Call.result)."""
        return {"callback_query": {"id": f"cbq{next(self._ids)}", "from": self.user(user_id, lang),
                                   "chat_instance": "42", "data": data, "message": message}}


# -- the real process -------------------------------------------------------------------------------
class BotProcess:
    """`smartcity-bot run` against a FakeTelegram, with its output captured to files."""

    def __init__(self, server: FakeTelegram, workdir: Path, env: dict[str, str] | None = None):
        self.server = server
        self.workdir = Path(workdir)
        self.extra_env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.stdout_path = self.workdir / "bot.stdout"
        self.stderr_path = self.workdir / "bot.stderr"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.upper().startswith(("TELEGRAM_", "WEBHOOK_", "DATABASE_", "ADMIN_", "RATE_LIMIT"))}
        env.update({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": self.server.base_url,
                    "DATABASE_PATH": str(self.workdir / "data" / "bot.sqlite3"), "PYTHONUNBUFFERED": "1"})
        env.update(self.extra_env)
        return env

    def start(self, ready_timeout: float = 900.0) -> "BotProcess":
        exe = ROOT / ".venv" / "bin" / "smartcity-bot"
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen([str(exe), "run"], cwd=self.workdir, env=self.env(), stdout=out, stderr=err)
        deadline = time.monotonic() + ready_timeout
        while "ready" not in self.stderr():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the bot exited with {self.proc.returncode}:\n{self.stderr()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"the bot was not ready in {ready_timeout} s:\n{self.stderr()[-3000:]}")
            time.sleep(0.2)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def rss_mb(self, peak: bool = False) -> float:
        """Resident memory now, or its peak so far (``peak``)."""
        return memory_mb(self.pid, peak)

    def terminate(self, timeout: float = 15.0) -> tuple[int | None, float]:
        """SIGTERM; returns (exit code or None if it had to be killed, seconds it took)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            code = None
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def read_questions(paths: Iterable[Path]) -> list[str]:
    """Questions from JSON-lines evaluation files (a "question" field per line)."""
    out = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                q = json.loads(line).get("question", "").strip()
                if q:
                    out.append(q)
    return out
