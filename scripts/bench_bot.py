"""Latency and memory of the Telegram bot, end to end, through the test harness.

Starts the real `smartcity-bot run` against the stand-in Bot API server
(tests/telegram/tg_harness.py), sends N Thai questions one at a time (each from its own user, so
the per-user rate limit is not what is measured) and measures, on the server side, from the
moment getUpdates hands an update to the bot to the moment the bot's sendMessage for it arrives.
Prints p50/p95 and the bot process's resident memory (VmRSS) after the questions.

    .venv/bin/python scripts/bench_bot.py            # 200 questions
    .venv/bin/python scripts/bench_bot.py --json     # one JSON line
"""

from __future__ import annotations

import argparse
import itertools
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "telegram"))

from tg_harness import BotProcess, FakeTelegram, Updates, read_questions  # noqa: E402

QUESTION_FILES = [ROOT.parent / "shared" / "eval" / "domain-dev.jsonl", *sorted((ROOT / "eval").rglob("*.jsonl"))]
FIRST_USER = 1_000_000


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


def run(n: int, timeout: float) -> dict[str, float | int]:
    questions = thai_questions(n)
    server = FakeTelegram().start()
    updates = Updates()
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp:
        bot = BotProcess(server, Path(tmp))
        try:
            started = time.monotonic()
            bot.start()
            startup = time.monotonic() - started
            latencies = []
            for i, question in enumerate(questions):
                user = FIRST_USER + i
                update_id = server.push(updates.text(user, question))
                reply = server.wait_sent(user, 1, timeout=timeout)[0]
                latencies.append((reply.at - server.delivered[update_id]) * 1000)
            rss = bot.rss_mb()
            code, stop_seconds = bot.terminate()
            with sqlite3.connect(Path(tmp) / "data" / "bot.sqlite3") as db:  # as the bot recorded them
                inside = [ms for (ms,) in db.execute("SELECT latency_ms FROM questions")]
                answered = db.execute("SELECT COALESCE(SUM(answered), 0) FROM questions").fetchone()[0]
        finally:
            bot.kill()
            server.stop()
    return {"questions": n, "distinct_questions": len(set(questions)), "p50_ms": round(percentile(latencies, 50), 1),
            "p95_ms": round(percentile(latencies, 95), 1), "max_ms": round(max(latencies), 1),
            "mean_ms": round(statistics.fmean(latencies), 1),
            "engine_p50_ms": round(percentile(inside, 50), 1), "engine_p95_ms": round(percentile(inside, 95), 1),
            "answered": answered, "rss_mb": round(rss, 1), "startup_s": round(startup, 1),
            "stop_s": round(stop_seconds, 2), "exit_code": code}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--questions", type=int, default=200, help="how many questions (default 200)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one reply")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args()
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
