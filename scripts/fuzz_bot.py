"""Thousands of generated updates against the real bot: `smartcity-bot run` with the real engine,
talking to the stand-in Bot API server (tests/telegram/tg_harness.py).

The updates come from the seeded generator in tests/telegram/fuzz_updates.py: text in Thai,
English, emoji, control characters, lone surrogates, HTML and Markdown metacharacters, huge and
empty messages, commands, media, edits, channel posts, ids at the integer limits, forged and stale
button presses, and a few malformed updates. Reports, as JSON with --json:
- tracebacks in the bot's log (must be 0), and updates whose handling failed;
- button presses answered (must be all);
- apologies sent (must be 0: every update a client can produce gets a proper reply or none);
- malformed updates skipped (one log line each).

    .venv/bin/python scripts/fuzz_bot.py [--updates 10000] [--seed 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "telegram"))
sys.path.insert(0, str(ROOT))

from fuzz_updates import UpdateFuzzer  # noqa: E402
from tg_harness import BOT_USERNAME, BotProcess, FakeTelegram  # noqa: E402

from bot.formatting import TEXTS  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quiet-seconds", type=float, default=5.0, help="idle time that ends the run")
    args = ap.parse_args()
    generated = UpdateFuzzer(args.seed, BOT_USERNAME).take(args.updates)
    server = FakeTelegram().start()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        bot = BotProcess(server, Path(tmp)).start()
        try:
            for g in generated:
                server.push(g.update)
            while not server.settled(len(generated), args.quiet_seconds) and bot.proc.poll() is None:
                time.sleep(0.5)
            alive = bot.proc.poll() is None
            log = bot.stderr()
        finally:
            bot.terminate()
            server.stop()
    pressed = {g.update["callback_query"]["id"] for g in generated if g.kind == "callback"}
    answered = {c.params.get("callback_query_id") for c in server.find("answerCallbackQuery")}
    apologies = (TEXTS["th"]["error"], TEXTS["en"]["error"])
    report = {
        "updates": len(generated), "seed": args.seed, "seconds": round(time.monotonic() - started, 1),
        "bot_alive": alive,
        "tracebacks": log.count("Traceback"),
        "failed_updates": sum(" failed" in line and "update" in line for line in log.splitlines()),
        "button_presses": len(pressed), "button_presses_unanswered": len(pressed - answered),
        "messages_sent": len(server.sent()),
        "apologies": sum(any(a in str(c.params.get("text")) for a in apologies) for c in server.find("sendMessage")),
        "malformed": sum(not g.client for g in generated),
        "malformed_skipped": log.count("cannot be parsed"),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:>28}: {v}")
    ok = (alive and not report["tracebacks"] and not report["failed_updates"] and not report["apologies"]
          and not report["button_presses_unanswered"] and report["malformed_skipped"] == report["malformed"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
