#!/usr/bin/env python3
"""Speed of the answer engine on this machine: start-up and time per question, as medians.

Start-up is measured in fresh processes (interpreter start to an engine ready to answer: imports,
model load, index load and check, warm-up), `--runs` times. Question latency is measured in one
process after start-up, over the dev questions repeated `--rounds` times, one question at a time.

    .venv/bin/python scripts/bench_engine.py [--runs 5] [--rounds 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_STARTUP_S = 10.0
TARGET_QUESTION_MS = 30.0
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


def questions() -> list[str]:
    files = [ROOT.parent / "shared" / "eval" / "domain-dev.jsonl", ROOT / "eval" / "kb-dev.jsonl"]
    out = []
    for f in files:
        if f.exists():
            out += [json.loads(line)["question"] for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out or ["ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็นกี่ประเภท"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="fresh processes for start-up")
    ap.add_argument("--rounds", type=int, default=5, help="passes over the questions")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from bot.config import Settings
    from bot.engine import Engine

    Engine.load(Settings())  # make sure model and index exist before timing start-up
    starts = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=ROOT, check=True)
        wall = time.perf_counter() - t0
        starts.append({"wall": wall, **json.loads(res.stdout.strip().splitlines()[-1])})

    engine = Engine.load(Settings())
    qs = questions()
    times = []
    for _ in range(args.rounds):
        for q in qs:
            t0 = time.perf_counter()
            engine.ask(q)
            times.append((time.perf_counter() - t0) * 1000)
    med_start = statistics.median(s["wall"] for s in starts)
    med_q = statistics.median(times)
    result = {
        "startup_s_median": round(med_start, 2),
        "startup_load_s_median": round(statistics.median(s["load"] for s in starts), 2),
        "startup_runs": args.runs,
        "question_ms_median": round(med_q, 1),
        "question_ms_p95": round(sorted(times)[int(0.95 * (len(times) - 1))], 1),
        "questions_timed": len(times),
        "startup_ratio_to_target": round(med_start / TARGET_STARTUP_S, 2),
        "question_ratio_to_target": round(med_q / TARGET_QUESTION_MS, 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"start-up (fresh process to ready): median {result['startup_s_median']} s over {args.runs} runs "
              f"(model+index load {result['startup_load_s_median']} s); target {TARGET_STARTUP_S} s, "
              f"ratio {result['startup_ratio_to_target']}")
        print(f"per question: median {result['question_ms_median']} ms, p95 {result['question_ms_p95']} ms over "
              f"{len(times)} questions; target {TARGET_QUESTION_MS} ms, ratio {result['question_ratio_to_target']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
