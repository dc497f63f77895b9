"""The bot's handlers: commands, questions, buttons, other messages, admin commands and errors."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, AsyncIterator, Protocol, TypeVar

from telegram import Bot, BotCommand, BotCommandScopeChat, Message, MaybeInaccessibleMessage, Update, User
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import NetworkError, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from ..engine import knowledge_summary
from ..index import BuildReport
from ..formatting import (answer_message, more_results_messages, not_found_messages, notice_text, reply_message,
                          section_messages, sources_messages, stats_messages, t, ui_language)
from ..records import Records
from ..text import normalize_text
from ..types import Answer
from .keyboards import EXAMPLE, ButtonData, answer_keyboard, examples_keyboard, parse_button
from .ratelimit import UserRateLimit, Verdict
from .request import call_unparsed

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
T = TypeVar("T")

PUBLIC_COMMANDS = ("start", "help", "sources", "ask")
ADMIN_COMMANDS = ("stats", "reload")
MORE_RESULTS = 4  # hits 2..5
TYPING_EVERY = 4.5  # seconds; Telegram shows "typing" for about 5
# seconds an answer may take before "typing" is shown: most take a few tens of milliseconds, and a
# chat action for them cost a request (a fifth of the bot's HTTP work) that nobody would have seen
TYPING_AFTER = 0.4
NO_PREVIEW = {"is_disabled": True}  # LinkPreviewOptions, as JSON
GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)


class AnswerEngine(Protocol):
    """What the bot needs of bot.engine.Engine (tests pass a small fake)."""

    # .passages (with .chunk) and .documents, as knowledge_summary reads them; .lookup(chunk_id),
    # .section(passage) and .cited(passage) for the buttons (bot.index.LoadedIndex)
    index: Any

    def ask(self, question: str) -> Answer: ...  # the question as sent; Answer.read_as is it made clean

    def reload(self) -> BuildReport: ...


@dataclass(frozen=True)
class Target:
    """Where a reply goes."""

    chat_id: int
    chat_type: str
    thread_id: int | None = None
    reply_to: int | None = None

    @classmethod
    def of(cls, message: MaybeInaccessibleMessage, quote: bool | None = None) -> "Target":
        """Replies to ``message``'s chat (and topic); quoting it in groups unless told otherwise."""
        quote = in_group(message.chat.type) if quote is None else quote
        thread = message.message_thread_id if isinstance(message, Message) and message.is_topic_message else None
        return cls(message.chat.id, message.chat.type, thread, message.message_id if quote else None)


@dataclass(frozen=True)
class Reply:
    answer: Answer
    messages: list[str]


def in_group(chat_type: str) -> bool:
    return chat_type in GROUPS


async def in_daemon_thread(fn: Callable[[], T]) -> T:
    """Run fn in a daemon thread (a shutdown does not wait for it) and await its result."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():  # the awaiting task was cancelled
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def run() -> None:
        try:
            result, ok = fn(), True
        except BaseException as exc:  # handed to the awaiting task
            result, ok = exc, False
        with suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, ok, result)

    threading.Thread(target=run, name="reload", daemon=True).start()
    return await future


class SmartCityBot:
    """The handlers and the state they share: the engine, the records, the rate limit, the workers."""

    def __init__(self, settings: Any, engine: AnswerEngine, records: Records, workers: int = 2):
        self.engine = engine
        self.records = records
        self.admins = frozenset(settings.admin_user_ids)
        self.max_waiting = int(settings.max_waiting_questions)
        self._waiting = 0  # questions admitted and not yet answered (event-loop state: no lock needed)
        self._turned_away = 0  # questions told to wait since the last one admitted
        self.limiter = UserRateLimit(settings.rate_limit_per_minute)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="engine")
        self._reloading = asyncio.Lock()
        self._background: set[asyncio.Task[Any]] = set()

    # -- wiring --------------------------------------------------------------------------------------
    def register(self, app: Application) -> None:
        new = filters.UpdateType.MESSAGE  # edited messages and channel posts are ignored
        commands = {"start": self.cmd_start, "help": self.cmd_help, "sources": self.cmd_sources,
                    "ask": self.cmd_ask, "stats": self.cmd_stats, "reload": self.cmd_reload}
        for name, callback in commands.items():
            app.add_handler(CommandHandler(name, callback, filters=new))
        app.add_handler(MessageHandler(new & filters.COMMAND, self.on_unknown_command))
        app.add_handler(MessageHandler(new & filters.TEXT, self.on_text))
        app.add_handler(MessageHandler(new & ~filters.StatusUpdate.ALL, self.on_other))
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_error_handler(self.on_error)

    async def set_commands(self, bot: Bot) -> None:
        """The command menu: Thai by default, English for English clients, admin commands for admins."""
        def menu(lang: str, names: Sequence[str]) -> list[BotCommand]:
            return [BotCommand(name, t(lang, f"cmd_{name}")) for name in names]

        calls = [({"language_code": None}, menu("th", PUBLIC_COMMANDS)),
                 ({"language_code": "en"}, menu("en", PUBLIC_COMMANDS))]
        calls += [({"scope": BotCommandScopeChat(admin)}, menu("th", PUBLIC_COMMANDS + ADMIN_COMMANDS))
                  for admin in sorted(self.admins)]
        for where, commands in calls:
            try:
                await bot.set_my_commands(commands, **where)
            except TelegramError as exc:  # e.g. an admin who never opened a chat with the bot
                log.warning("setMyCommands %s failed: %s", where, exc)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def cancel_background(self) -> None:
        """Stop waiting for long jobs (a reload) so that a shutdown is quick."""
        for task in self._background:
            task.cancel()

    # -- sending ---------------------------------------------------------------------------------------
    async def send(self, bot: Bot, target: Target, messages: Sequence[str], markup: Any = None) -> None:
        """HTML messages in order; the keyboard goes under the last, the first replies to ``target``.

        Sent as sendMessage calls with the same retries and errors as ``bot.send_message``, but the
        message Telegram returns is not parsed into PTB objects (bot.tg.request.call_unparsed): it
        is never read."""
        for i, text in enumerate(messages):
            params: dict[str, Any] = {"chat_id": target.chat_id, "text": text, "parse_mode": ParseMode.HTML.value,
                                      "link_preview_options": NO_PREVIEW, "message_thread_id": target.thread_id}
            if target.reply_to and i == 0:
                params["reply_parameters"] = {"message_id": target.reply_to, "allow_sending_without_reply": True}
            if markup is not None and i == len(messages) - 1:
                params["reply_markup"] = markup.to_dict()
            await call_unparsed(bot, "sendMessage", params)

    async def reply(self, update: Update, context: Context, messages: Sequence[str], markup: Any = None) -> None:
        await self.send(context.bot, Target.of(update.effective_message), messages, markup)

    @asynccontextmanager
    async def typing(self, bot: Bot, target: Target) -> AsyncIterator[None]:
        """Show "typing…" in the chat while the body runs, once it has taken TYPING_AFTER seconds.

        Most answers take a few tens of milliseconds: for them this is one timer, set and cancelled,
        and no task (a task and its time-outs per answer were a measurable part of the bot's CPU)."""
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        started: list[asyncio.Task[None]] = []

        async def keep_typing() -> None:
            while not done.is_set():
                try:
                    await bot.send_chat_action(target.chat_id, ChatAction.TYPING, message_thread_id=target.thread_id)
                except TelegramError as exc:
                    log.debug("sendChatAction failed: %s", exc)
                    return
                with suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(done.wait(), TYPING_EVERY)

        timer = loop.call_later(TYPING_AFTER, lambda: started.append(loop.create_task(keep_typing())))
        try:
            yield
        finally:
            timer.cancel()
            done.set()
            if started:
                with suppress(asyncio.TimeoutError):  # let a chat action in flight land before the answer
                    await asyncio.wait_for(started[0], 1.0)

    # -- helpers -------------------------------------------------------------------------------------
    def is_admin(self, user: User | None) -> bool:
        return user is not None and user.id in self.admins

    def documents(self) -> list[dict[str, str]]:
        return knowledge_summary(self.engine.index)

    @staticmethod
    def language(update: Update, question: str = "") -> str:
        user = update.effective_user
        return ui_language(user.language_code if user else None, question)

    @staticmethod
    def mention(bot: Bot) -> re.Pattern[str]:
        return re.compile(rf"(?<![\w@])@{re.escape(bot.username)}(?![A-Za-z0-9_])", re.IGNORECASE)

    def addressed(self, message: Message, bot: Bot) -> bool:
        """In a private chat always; in a group when the bot is mentioned or replied to."""
        if not in_group(message.chat.type):
            return True
        replied = message.reply_to_message
        if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
            return True
        return bool(self.mention(bot).search(message.text or message.caption or ""))

    # -- questions -------------------------------------------------------------------------------------
    def compose(self, question: str, lang: str) -> Reply:
        """Ask the engine and render the reply (runs in a worker thread: both are CPU work)."""
        answer = self.engine.ask(question)
        if answer.answered and answer.hits:
            messages = [answer_message(answer, lang)]
        elif answer.reason == "not_found":
            titles = [d["title"] for d in self.documents()]
            messages = not_found_messages(question, titles, lang, notice_text(answer, lang))
        else:
            messages = [reply_message(answer, lang)]
        return Reply(answer, messages)

    def compose_and_record(self, question: str, lang: str, user_id: int, chat_type: str,
                           started: float) -> tuple[Reply, int | None]:
        """``compose``, then the question recorded, in the same worker thread (a second hop through
        a thread for the record cost the event loop as much again); returns the reply and its
        answer id, None when it could not be recorded."""
        reply = self.compose(question, lang)
        a = reply.answer
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            answer_id: int | None = self.records.add_question(
                user_id, chat_type, a.read_as or normalize_text(question), a.answered, a.reason,
                a.hits[0].chunk.doc_id if a.hits else None, latency_ms, [h.chunk.chunk_id for h in a.hits])
        except Exception:  # the record is bookkeeping: its failure must not cost the user the answer
            log.exception("the question could not be recorded; answered without buttons")
            answer_id = None
        return reply, answer_id

    async def answer(self, context: Context, question: str, target: Target, user: User | None) -> None:
        """Answer a question: rate limit, typing, the engine off the event loop, record, reply."""
        # the question goes as sent: the engine reads it through bot.text.normalize_text (lone
        # surrogates, controls…), and what is recorded is what it read (Answer.read_as)
        user_id = user.id if user else target.chat_id  # a message sent on behalf of a chat has no user
        lang = ui_language(user.language_code if user else None, question)
        verdict = self.limiter.check(user_id)
        if verdict is not Verdict.ALLOW:
            if verdict is Verdict.NOTIFY:
                await self.send(context.bot, target, [t(lang, "rate_limited", n=self.limiter.per_window)])
            return
        if self._waiting >= self.max_waiting:
            if not self._turned_away:  # one line for a flood, not one a question
                log.warning("%d questions waiting: the next ones are told to ask again later", self._waiting)
            self._turned_away += 1
            await self.send(context.bot, target, [t(lang, "busy")])
            return
        if self._turned_away:
            log.warning("%d questions were told to ask again later", self._turned_away)
            self._turned_away = 0
        started = time.perf_counter()
        self._waiting += 1
        try:
            async with self.typing(context.bot, target):
                reply, answer_id = await asyncio.get_running_loop().run_in_executor(
                    self.pool, self.compose_and_record, question, lang, user_id, target.chat_type, started)
        finally:
            self._waiting -= 1
        a = reply.answer
        markup = (answer_keyboard(answer_id, lang, more=len(a.hits) > 1)
                  if a.answered and a.hits and answer_id is not None else None)
        await self.send(context.bot, target, reply.messages, markup)

    async def ask_text(self, update: Update, context: Context, text: str) -> None:
        """Answer ``text`` (the bot's @mention removed) as a question from the update's message."""
        message = update.message
        question = self.mention(context.bot).sub(" ", text).strip()
        await self.answer(context, question, Target.of(message), message.from_user)

    async def on_text(self, update: Update, context: Context) -> None:
        if self.addressed(update.message, context.bot):
            await self.ask_text(update, context, update.message.text)

    async def cmd_ask(self, update: Update, context: Context) -> None:
        """/ask <question>: the way to ask in a group without a mention or a reply."""
        parts = update.message.text.split(maxsplit=1)
        if len(parts) < 2 or not parts[1].strip():
            await self.reply(update, context, [t(self.language(update), "ask_usage")])
            return
        await self.ask_text(update, context, parts[1])

    # -- commands --------------------------------------------------------------------------------------
    async def cmd_start(self, update: Update, context: Context) -> None:
        lang = self.language(update)
        await self.reply(update, context, [t(lang, "greeting", n=len(self.documents()))], examples_keyboard(lang))

    async def cmd_help(self, update: Update, context: Context) -> None:
        lang = self.language(update)
        days = self.records.retention_days
        privacy = t(lang, "privacy", days=days) if days > 0 else t(lang, "privacy_unlimited")
        await self.reply(update, context, [t(lang, "help", username=context.bot.username) + "\n\n" + privacy])

    async def cmd_sources(self, update: Update, context: Context) -> None:
        await self.reply(update, context, sources_messages(self.documents(), self.language(update)))

    async def on_unknown_command(self, update: Update, context: Context) -> None:
        """Private chats hear that the command is unknown; groups hear nothing."""
        if not in_group(update.effective_chat.type):
            await self.reply(update, context, [t(self.language(update), "unknown_command")])

    async def on_other(self, update: Update, context: Context) -> None:
        """Stickers, photos, voice, files, locations…: ask for a text question."""
        if self.addressed(update.message, context.bot):
            await self.reply(update, context, [t(self.language(update), "non_text")])

    # -- admin -----------------------------------------------------------------------------------------
    async def cmd_stats(self, update: Update, context: Context) -> None:
        if not self.is_admin(update.effective_user):
            await self.on_unknown_command(update, context)
            return
        stats = await asyncio.to_thread(self.records.stats)
        await self.reply(update, context, stats_messages(stats, self.language(update)))

    async def cmd_reload(self, update: Update, context: Context) -> None:
        if not self.is_admin(update.effective_user):
            await self.on_unknown_command(update, context)
            return
        lang = self.language(update)
        if self._reloading.locked():
            await self.reply(update, context, [t(lang, "reload_busy")])
            return
        task = asyncio.current_task()
        async with self._reloading:
            await self.reply(update, context, [t(lang, "reload_start")])
            self._background.add(task)
            try:
                report = await in_daemon_thread(self.engine.reload)
            except asyncio.CancelledError:  # shutting down: the thread is abandoned
                log.warning("reload abandoned at shutdown")
                return
            except Exception as exc:
                log.exception("reload failed")
                await self.reply(update, context, [t(lang, "reload_failed", error=type(exc).__name__)])
                return
            finally:
                self._background.discard(task)
        log.info("reloaded: %s", report.summary())
        problems = (t(lang, "reload_problems", skipped=len(report.problems), removed=len(report.removed))
                    if report.problems or report.removed else "")
        await self.reply(update, context, [t(lang, "reload_done", documents=report.documents, chunks=report.chunks,
                                             embedded=report.embedded, reused=report.reused,
                                             seconds=f"{report.seconds:.1f}", problems=problems)])

    # -- buttons ---------------------------------------------------------------------------------------
    async def on_button(self, update: Update, context: Context) -> None:
        """Every callback query is answered (so the button stops spinning), whatever happens after."""
        query = update.callback_query
        answered = False

        async def ack(text: str | None = None) -> None:
            nonlocal answered
            answered = True
            await query.answer(text)

        try:
            button = parse_button(query.data)
            if button is None or query.message is None:  # not ours, or on a message too old to reach
                await ack()
            elif button.action == EXAMPLE:
                await ack()
                await self.answer(context, button.example, Target.of(query.message), query.from_user)
            elif button.action in ("up", "down"):
                ok = await asyncio.to_thread(self.records.add_feedback, button.number, query.from_user.id,
                                             1 if button.action == "up" else -1)
                await ack(t(ui_language(query.from_user.language_code), "thanks" if ok else "expired"))
            else:
                messages = await self.button_messages(button, query.from_user.language_code)
                await ack()
                await self.send(context.bot, Target.of(query.message, quote=True), messages)
        finally:
            if not answered:
                with suppress(TelegramError):
                    await query.answer()

    async def button_messages(self, button: ButtonData, language_code: str | None) -> list[str]:
        """More results or the full section of a recorded answer."""
        record = await asyncio.to_thread(self.records.question, button.number)
        lang = ui_language(language_code, record.text if record else "")
        index = self.engine.index  # one index for the whole reply, even if a /reload swaps it meanwhile
        hits = record.hits if record else ()
        # a large index reads passages from disk: off the event loop
        found = await asyncio.to_thread(lambda: [index.lookup(c) for c in hits])
        if not found or found[0] is None:
            return [t(lang, "expired")]
        if button.action == "more":
            more = [p for p in found[1:] if p is not None][:MORE_RESULTS]
            return more_results_messages([p.chunk for p in more], lang, [index.cited(p) for p in more])
        passages = await asyncio.to_thread(index.section, found[0])
        cited = list(dict.fromkeys(c for p in passages for c in index.cited(p)))
        return section_messages([p.chunk for p in passages], lang, cited)

    # -- errors ----------------------------------------------------------------------------------------
    async def on_error(self, update: object, context: Context) -> None:
        """Log the failure with its traceback and tell the user, briefly, that it failed."""
        if not isinstance(update, Update):
            log.warning("error outside an update: %s: %s", type(context.error).__name__, context.error)
            return
        if isinstance(context.error, NetworkError):
            # the reply may have reached the user (a time-out or a connection dropped after sending),
            # or Telegram stayed unreachable through every retry: an apology would be a second
            # message, or fail the same way
            log.warning("update %s: the reply may not have been delivered: %s", update.update_id, context.error)
            return
        log.error("update %s failed", update.update_id, exc_info=context.error)
        message = update.effective_message
        if update.effective_chat is None or message is None:
            return
        if update.callback_query is None and (update.message is None or not self.addressed(message, context.bot)):
            return
        try:
            await self.send(context.bot, Target.of(message), [t(self.language(update), "error")])
        except TelegramError as exc:
            log.warning("could not send the apology: %s", exc)
