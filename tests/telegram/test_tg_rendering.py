"""Every dev question's reply, as the real engine answers it, is Telegram HTML a person can read:
no Markdown syntax, only the tags Telegram allows, balanced, within 4,096 UTF-16 units."""

from __future__ import annotations

import re

import pytest
from tg_harness import parse_html

from bot.config import ROOT
from bot.evaluation import read_jsonl
from bot.formatting import LIMIT, answer_message, more_results_messages, not_found_messages, notice_text, section_messages, tg_len

pytestmark = pytest.mark.slow
FILES = [ROOT / "eval" / "kb-dev.jsonl", ROOT.parent / "shared" / "eval" / "users-dev.jsonl"]
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$", re.M)
HEADING = re.compile(r"^\s*#{1,6}\s", re.M)


def replies(engine, question: str) -> list[str]:
    answer = engine.ask(question)
    if not answer.answered:
        return not_found_messages(question, [], "th", notice_text(answer, "th"))
    top = answer.hits[0].chunk
    same = [p.chunk for p in engine.passages if (p.chunk.doc_id, p.chunk.section) == (top.doc_id, top.section)]
    return [answer_message(answer, "th"), *more_results_messages([h.chunk for h in answer.hits[1:]], "th"),
            *section_messages(same, "th")]


def test_no_markdown_reaches_a_person_and_every_message_is_valid(real_engine):
    checked, asked, problems = 0, 0, []
    for path in FILES:
        if not path.exists():  # ../shared is not beside a bare clone
            continue
        for item in read_jsonl(path):
            asked += 1
            for msg in replies(real_engine, item["question"]):
                checked += 1
                try:
                    plain = parse_html(msg)
                except ValueError as exc:
                    problems.append(f"{item['id']}: {exc}")
                    continue
                if tg_len(msg) > LIMIT:
                    problems.append(f"{item['id']}: {tg_len(msg)} UTF-16 units")
                for what, bad in (("**", "**" in plain), ("a table row", TABLE_ROW.search(plain)),
                                  ("a # heading", HEADING.search(plain))):
                    if bad:
                        problems.append(f"{item['id']}: {what} in {plain[:120]!r}")
    assert asked >= 90 and checked >= 2 * asked  # an answer comes with its more-results and section replies
    assert not problems, "\n".join(problems[:20])
