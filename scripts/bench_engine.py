#!/usr/bin/env python3
"""Speed and memory of the answer engine on this machine, as medians (the machine is shared: compare
figures measured in the same run, and ratios, rather than absolute times).

- start-up: fresh processes, interpreter start to an engine ready to answer (imports, model, index
  check and load, warm-up), ``--runs`` times;
- first answer: a fresh ``smartcity-bot ask --json QUESTION`` from process start to its answer, and
  its peak memory (``--runs`` times);
- per question through ``ask --json``: one ``smartcity-bot ask --json`` process reading the dev
  questions from its stdin one at a time (``--rounds`` passes: at least 600 questions), the time from
  writing a question to reading its answer line; and that process's peak memory at the end;
- per question in-process (``Engine.ask``), as before;
- the bot: peak memory after ``--bot-questions`` questions through the real bot process polling a
  stand-in Bot API (``scripts/bench_bot.py``); ``--no-bot`` skips it;
- indexing: ``smartcity-bot index --force`` of the knowledge folder into a temporary index folder
  (``--index-runs``, default 1; 0 skips it).

    .venv/bin/python scripts/bench_engine.py [--runs 5] [--rounds 2] [--index-runs 1] [--no-bot] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "telegram"))

from tg_harness import memory_mb  # noqa: E402

TARGET_STARTUP_S = 10.0
TARGET_QUESTION_MS = 30.0
# issue 10's targets
TARGET_ASK_QUESTION_MS = 8.0
TARGET_FIRST_ANSWER_S = 4.0
TARGET_RSS_MB = 450.0
CLI = str(Path(sys.executable).with_name("smartcity-bot"))
CHILD = """
import time, json
t0 = time.perf_counter()
from bot.config import Settings
from bot.engine import Engine
t1 = time.perf_counter()
Engine.load(Settings())
t2 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "load": t2 - t1}))
"""


class AskProcess:
    """`smartcity-bot ask --json` reading questions from its stdin; its errors go to a file that is
    shown if it fails, and a question not answered within ``timeout`` seconds stops the benchmark."""

    def __init__(self, timeout: float = 120.0):
        self.errors = tempfile.TemporaryFile("w+")
        self.timeout = timeout
        self.proc = subprocess.Popen([CLI, "ask", "--json"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errors, text=True, cwd=ROOT)

    def ask(self, question: str) -> dict:
        watchdog = threading.Timer(self.timeout, self.proc.kill)
        watchdog.start()
        try:
            self.proc.stdin.write(question.replace("\n", " ") + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except BrokenPipeError:
            line = ""
        finally:
            watchdog.cancel()
        if not line:
            self.errors.seek(0)
            raise SystemExit(f"`ask --json` stopped answering:\n{self.errors.read()[-2000:]}")
        return json.loads(line)

    def peak_mb(self) -> float:
        return memory_mb(self.proc.pid, peak=True)

    def close(self) -> None:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.errors.close()


def first_answer(question: str) -> tuple[float, float]:
    """A fresh `ask --json`: seconds from start to its answer, and its peak memory (MB)."""
    t0 = time.perf_counter()
    proc = AskProcess()
    try:
        proc.ask(question)
        return time.perf_counter() - t0, proc.peak_mb()
    finally:
        proc.close()


def through_ask(qs: list[str]) -> tuple[list[float], float]:
    """One `ask --json` process, questions one at a time: each one's milliseconds, and the peak MB."""
    proc = AskProcess()
    times = []
    try:
        for q in qs:
            t0 = time.perf_counter()
            proc.ask(q)
            times.append((time.perf_counter() - t0) * 1000)
        return times, proc.peak_mb()
    finally:
        proc.close()


def index_seconds() -> float:
    with tempfile.TemporaryDirectory(prefix="bench-index-") as tmp:
        env = {**os.environ, "INDEX_DIR": tmp}
        t0 = time.perf_counter()
        subprocess.run([CLI, "index", "--force", "--quiet"], cwd=ROOT, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - t0


def questions() -> list[str]:
    files = [ROOT.parent / "shared" / "eval" / "domain-dev.jsonl", ROOT / "eval" / "kb-dev.jsonl",
             ROOT.parent / "shared" / "eval" / "users-dev.jsonl"]
    out = []
    for f in files:
        if f.exists():
            out += [json.loads(line)["question"] for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out or ["ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็นกี่ประเภท"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="fresh processes for start-up and first answer")
    ap.add_argument("--rounds", type=int, default=2, help="passes over the dev questions")
    ap.add_argument("--index-runs", type=int, default=1, help="full index builds (0: none)")
    ap.add_argument("--bot-questions", type=int, default=200)
    ap.add_argument("--no-bot", action="store_true", help="skip the bot's memory")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from bot.config import Settings
    from bot.engine import Engine

    settings = Settings()
    Engine.load(settings)  # make sure model and index exist before timing start-up
    starts, firsts = [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=ROOT, check=True)
        wall = time.perf_counter() - t0
        starts.append({"wall": wall, **json.loads(res.stdout.strip().splitlines()[-1])})
        firsts.append(first_answer("ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็นกี่ประเภท"))

    qs = questions()
    ask_ms, ask_peak = through_ask(qs * max(1, args.rounds, -(-600 // len(qs))))

    engine = Engine.load(settings)
    times = []
    for _ in range(args.rounds):
        for q in qs:
            t0 = time.perf_counter()
            engine.ask(q)
            times.append((time.perf_counter() - t0) * 1000)
    med_start = statistics.median(s["wall"] for s in starts)
    med_q = statistics.median(times)
    med_first = statistics.median(f[0] for f in firsts)
    med_ask = statistics.median(ask_ms)
    result = {
        "startup_s_median": round(med_start, 2),
        "startup_load_s_median": round(statistics.median(s["load"] for s in starts), 2),
        "startup_runs": args.runs,
        "question_ms_median": round(med_q, 1),
        "question_ms_p95": round(sorted(times)[int(0.95 * (len(times) - 1))], 1),
        "questions_timed": len(times),
        "startup_ratio_to_target": round(med_start / TARGET_STARTUP_S, 2),
        "question_ratio_to_target": round(med_q / TARGET_QUESTION_MS, 2),
        "query_encoder": settings.query_encoder,
        "ask_question_ms_median": round(med_ask, 2),
        "ask_question_ms_p95": round(sorted(ask_ms)[int(0.95 * (len(ask_ms) - 1))], 2),
        "ask_questions_timed": len(ask_ms),
        "ask_question_ratio_to_target": round(med_ask / TARGET_ASK_QUESTION_MS, 2),
        "ask_peak_rss_mb": round(ask_peak, 1),
        "first_answer_s_median": round(med_first, 2),
        "first_answer_ratio_to_target": round(med_first / TARGET_FIRST_ANSWER_S, 2),
        "first_answer_peak_rss_mb_median": round(statistics.median(f[1] for f in firsts), 1),
    }
    if args.index_runs:
        idx = [index_seconds() for _ in range(args.index_runs)]
        result.update({"index_s_median": round(statistics.median(idx), 1), "index_runs": len(idx)})
    if not args.no_bot:
        from bench_bot import run as bot_run

        bot = bot_run(args.bot_questions, 120.0)
        result.update({"bot_questions": bot["questions"], "bot_rss_mb": bot["rss_mb"],
                       "bot_peak_rss_mb": bot["peak_rss_mb"], "bot_p50_ms": bot["p50_ms"]})
    peaks = [result["ask_peak_rss_mb"]] + ([result["bot_peak_rss_mb"]] if "bot_peak_rss_mb" in result else [])
    result["peak_rss_ratio_to_target"] = round(max(peaks) / TARGET_RSS_MB, 2)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"start-up (fresh process to ready): median {result['startup_s_median']} s over {args.runs} runs "
          f"(model+index load {result['startup_load_s_median']} s); target {TARGET_STARTUP_S} s, "
          f"ratio {result['startup_ratio_to_target']}")
    print(f"first answer of a fresh `ask`: median {med_first:.2f} s, peak "
          f"{result['first_answer_peak_rss_mb_median']} MB; target {TARGET_FIRST_ANSWER_S} s, "
          f"ratio {result['first_answer_ratio_to_target']}")
    print(f"per question through `ask --json` ({settings.query_encoder} encoder): median {med_ask:.2f} ms, "
          f"p95 {result['ask_question_ms_p95']} ms over {len(ask_ms)} questions, peak {ask_peak:.0f} MB; "
          f"target {TARGET_ASK_QUESTION_MS} ms, ratio {result['ask_question_ratio_to_target']}")
    print(f"per question in-process: median {result['question_ms_median']} ms, p95 {result['question_ms_p95']} ms "
          f"over {len(times)} questions; target {TARGET_QUESTION_MS} ms, ratio {result['question_ratio_to_target']}")
    if "index_s_median" in result:
        print(f"indexing the knowledge folder from scratch: median {result['index_s_median']} s")
    if "bot_peak_rss_mb" in result:
        print(f"bot after {result['bot_questions']} questions: {result['bot_rss_mb']} MB, peak "
              f"{result['bot_peak_rss_mb']} MB (target {TARGET_RSS_MB} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
