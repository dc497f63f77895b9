"""Latency and memory of the Telegram bot, end to end, through the test harness.

Starts the real `smartcity-bot run` against the stand-in Bot API server
(tests/telegram/tg_harness.py), sends N Thai questions one at a time (each from its own user, so
the per-user rate limit is not what is measured) and measures, on the server side, from the
moment getUpdates hands an update to the bot to the moment the bot's sendMessage for it arrives.
Prints p50/p95 and the bot process's resident memory (VmRSS) after the questions.

With --concurrency C, C users ask at once, each sending its next question when its answer came
(a closed loop): answers a second, p50/p95, and the bot process's CPU time per answer against the
engine's own (the same questions asked in the same order in this process on one thread, just
before and just after the run, as a mean like the bot's figure; the ratio is what the bot adds:
Telegram parsing, rendering, records, HTTP, the "please wait" notices, and the engine run on two
threads at once). The engine is also measured alone on as many threads as the bot's workers
(``engine_cpu_ms_on_workers``): on this project's two-core machine a question costs 10-17% more
CPU when two are answered at once, and the ratio to that figure is what the bot adds beyond it.
With --burst N, N questions arrive at once: how long until every one had its reply, and how many
were told to wait.

    .venv/bin/python scripts/bench_bot.py            # 200 questions
    .venv/bin/python scripts/bench_bot.py --json     # one JSON line
    .venv/bin/python scripts/bench_bot.py --concurrency 50 -n 1000
    .venv/bin/python scripts/bench_bot.py --burst 500
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "telegram"))

from tg_harness import BotProcess, FakeTelegram, Updates, read_questions  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.formatting import TEXTS  # noqa: E402

QUESTION_FILES = [ROOT.parent / "shared" / "eval" / "domain-dev.jsonl", *sorted((ROOT / "eval").rglob("*.jsonl"))]
FIRST_USER = 1_000_000
WAIT_WHEN_TOLD = 3.0  # seconds a user told to wait waits before the next question (--concurrency)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def thai_questions(n: int) -> list[str]:
    found = [q for q in read_questions(p for p in QUESTION_FILES if p.exists()) if any("\u0e00" <= c <= "\u0e7f" for c in q)]
    if not found:
        raise SystemExit("no Thai questions found in " + ", ".join(map(str, QUESTION_FILES)))
    return list(itertools.islice(itertools.cycle(found), n))


@contextmanager
def bot_on_stand_in(env: dict[str, str] | None = None):
    """The real bot process polling a stand-in Bot API, in a folder of its own; both stopped after."""
    server = FakeTelegram().start()
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        bot = BotProcess(server, Path(tmp), env)
        try:
            yield server, bot, Path(tmp)
        finally:
            bot.kill()
            server.stop()


def run(n: int, timeout: float) -> dict[str, float | int]:
    questions = thai_questions(n)
    updates = Updates()
    with bot_on_stand_in() as (server, bot, folder):
        started = time.monotonic()
        bot.start()
        startup = time.monotonic() - started
        latencies = []
        for i, question in enumerate(questions):
            user = FIRST_USER + i
            update_id = server.push(updates.text(user, question))
            reply = server.wait_sent(user, 1, timeout=timeout)[0]
            latencies.append((reply.at - server.delivered[update_id]) * 1000)
        rss, peak = bot.rss_mb(), bot.rss_mb(peak=True)
        code, stop_seconds = bot.terminate()
        with sqlite3.connect(folder / "data" / "bot.sqlite3") as db:  # as the bot recorded them
            inside = [ms for (ms,) in db.execute("SELECT latency_ms FROM questions")]
            answered = db.execute("SELECT COALESCE(SUM(answered), 0) FROM questions").fetchone()[0]
    return {"questions": n, "distinct_questions": len(set(questions)), "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1), "max_ms": round(max(latencies), 1),
            "mean_ms": round(statistics.fmean(latencies), 1),
            "engine_p50_ms": round(percentile(inside, 50), 1), "engine_p95_ms": round(percentile(inside, 95), 1),
            "answered": answered, "rss_mb": round(rss, 1), "peak_rss_mb": round(peak, 1), "startup_s": round(startup, 1),
            "stop_s": round(stop_seconds, 2), "exit_code": code}


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time of a process so far (/proc/pid/stat), or of one of its threads."""
    stat = Path(f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat")
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class EngineCost:
    """The engine's own CPU time per question, in this process on one thread, with the bot's
    settings: the run's questions asked in the run's order (so that the engine's caches, e.g. of
    segmented texts, are as warm as the bot's), as a mean like the bot's figure. Measured just
    before and just after the bot's run: this shared machine's speed drifts by a fifth from one
    minute to the next."""

    def __init__(self, questions: list[str]):
        self.engine = Engine.load(Settings())
        self.questions = questions
        for q in questions[:5]:  # warm-up
            self.engine.ask(q)

    def measure(self) -> tuple[float, float]:
        """(mean, median) milliseconds of CPU per question over the run's questions."""
        costs = []
        for q in self.questions:
            before = time.process_time()
            self.engine.ask(q)
            costs.append((time.process_time() - before) * 1000)
        return statistics.fmean(costs), statistics.median(costs)

    def measure_parallel(self, threads: int) -> float:
        """Mean milliseconds of CPU per question with the questions shared among ``threads``
        threads asking at once, as the bot's engine workers do (on two cores each question costs
        more than on one thread alone: the two slow each other down)."""
        def ask(share: list[str]) -> None:
            for q in share:
                self.engine.ask(q)

        workers = [threading.Thread(target=ask, args=(self.questions[i::threads],)) for i in range(threads)]
        before = time.process_time()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        return (time.process_time() - before) * 1000 / len(self.questions)


def run_concurrent(n: int, users: int, timeout: float, burst: bool) -> dict[str, float | int | None]:
    questions = thai_questions(n)
    updates = Updates()
    engine = EngineCost(questions)
    workers = Settings().engine_workers
    engine_before, parallel_before = engine.measure(), engine.measure_parallel(workers)
    # the bot runs in a folder of its own (no .env there): told the same number of workers
    with bot_on_stand_in({"ENGINE_WORKERS": str(workers)}) as (server, bot, _):
        bot.start()
        for i in range(min(20, n)):  # warm-up, not measured
            server.push(updates.text(FIRST_USER - 1 - i, questions[i]))
            server.wait_sent(FIRST_USER - 1 - i, 1, timeout=timeout)
        latencies: list[float] = []  # of the questions answered (not told to wait)
        waited: list[float] = []
        lock = threading.Lock()
        busy = {TEXTS["th"]["busy"], TEXTS["en"]["busy"]}

        last_reply = [0.0]  # when the last reply arrived (a user told to wait then sleeps: not the bot's time)

        def note(reply, update_id: int) -> None:
            ms = (reply.at - server.delivered[update_id]) * 1000
            with lock:
                (waited if reply.params.get("text") in busy else latencies).append(ms)
                last_reply[0] = max(last_reply[0], reply.at)
        # the process, and its main thread (the event loop: Telegram, HTTP; the engine and the
        # records run in worker threads)
        cpu_before, loop_before, started = cpu_seconds(bot.pid), cpu_seconds(bot.pid, bot.pid), time.monotonic()
        if burst:
            ids = [(FIRST_USER + i, server.push(updates.text(FIRST_USER + i, q))) for i, q in enumerate(questions)]
            for user, update_id in ids:
                note(server.wait_sent(user, 1, timeout=timeout)[0], update_id)
        else:
            counter = itertools.count()

            def user_loop() -> None:
                while (i := next(counter)) < n:
                    user = FIRST_USER + i
                    update_id = server.push(updates.text(user, questions[i]))
                    reply = server.wait_sent(user, 1, timeout=timeout)[0]
                    note(reply, update_id)
                    if reply.params.get("text") in busy:
                        time.sleep(WAIT_WHEN_TOLD)  # as asked: waits a moment before asking again

            threads = [threading.Thread(target=user_loop) for _ in range(users)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        cpu = cpu_seconds(bot.pid) - cpu_before
        loop_cpu = cpu_seconds(bot.pid, bot.pid) - loop_before
        # up to the last reply: a user whose last question was answered "please wait" sleeps 3 s
        # before finding there is nothing left to ask, which is no work of the bot's
        elapsed = max(last_reply[0], started + 1e-9) - started
        rss = bot.rss_mb()
    engine_after, parallel_after = engine.measure(), engine.measure_parallel(workers)
    engine_ms = (engine_before[0] + engine_after[0]) / 2
    parallel_ms = (parallel_before + parallel_after) / 2
    answered = len(latencies)
    return {"questions": n, "concurrency": n if burst else users, "burst": burst,
            "seconds": round(elapsed, 2), "answers_per_s": round(answered / elapsed, 1),
            "replies_per_s": round(n / elapsed, 1),
            "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
            "p95_ms": round(percentile(latencies, 95), 1) if latencies else None,
            "max_ms": round(max(latencies), 1) if latencies else None,
            "told_to_wait": len(waited), "told_to_wait_p95_ms": round(percentile(waited, 95), 1) if waited else None,
            "bot_cpu_ms_per_answer": round(cpu * 1000 / max(answered, 1), 1),
            "event_loop_cpu_ms_per_answer": round(loop_cpu * 1000 / max(answered, 1), 1),
            "engine_cpu_ms_per_question": round(engine_ms, 1),
            "engine_cpu_ms_before_after": [round(engine_before[0], 1), round(engine_after[0], 1)],
            "engine_cpu_ms_median": round((engine_before[1] + engine_after[1]) / 2, 1),
            "cpu_ratio": round(cpu * 1000 / max(answered, 1) / engine_ms, 2), "rss_mb": round(rss, 1),
            # the engine alone on as many threads as the bot's workers: the ratio to it is what the
            # bot adds beyond running the engine on both cores
            "engine_workers": workers, "engine_cpu_ms_on_workers": round(parallel_ms, 1),
            "cpu_ratio_to_engine_on_workers": round(cpu * 1000 / max(answered, 1) / parallel_ms, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--questions", type=int, default=200, help="how many questions (default 200)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one reply")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    parser.add_argument("--concurrency", type=int, default=0, help="users asking at once (closed loop)")
    parser.add_argument("--burst", type=int, default=0, help="this many questions arriving at once")
    args = parser.parse_args()
    if args.concurrency or args.burst:
        result = run_concurrent(args.burst or args.questions, args.concurrency, args.timeout, bool(args.burst))
        print(json.dumps(result) if args.json else "\n".join(f"{k:>28}: {v}" for k, v in result.items()))
        return 0
    result = run(args.questions, args.timeout)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['questions']} questions ({result['distinct_questions']} distinct), one at a time")
        print(f"update in -> sendMessage out: p50 {result['p50_ms']} ms, p95 {result['p95_ms']} ms, "
              f"max {result['max_ms']} ms")
        print(f"of which engine + formatting (as recorded): p50 {result['engine_p50_ms']} ms, "
              f"p95 {result['engine_p95_ms']} ms; answered {result['answered']}/{result['questions']}")
        print(f"bot RSS after: {result['rss_mb']} MB   start-up {result['startup_s']} s   "
              f"SIGTERM -> exit {result['exit_code']} in {result['stop_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
