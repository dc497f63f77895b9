"""The real engine on the real knowledge folder and model: the dev figures and the CLI interfaces."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.evaluation import evaluate_domain, read_jsonl

from .conftest import SHARED

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "bot.cli"]


def run_cli(*args: str, stdin: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], input=stdin, capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **(env or {})}, timeout=600)


@pytest.mark.skipif(not (SHARED / "eval" / "domain-dev.jsonl").exists(), reason="../shared is not beside the repo")
def test_shared_dev_questions_meet_the_figures(real_engine):
    figs = evaluate_domain(real_engine, read_jsonl(SHARED / "eval" / "domain-dev.jsonl")).figures()
    # top-3 is 1.0 with the full model and with the int8 query encoder on a CPU with AVX-512 VNNI; on
    # an AVX2-only CPU onnxruntime's int8 kernels round differently and d18 (an English question at
    # rank 3) drops out: 0.95, one question of 20 (parity with the full model still median 0.9992)
    assert figs["top1"] >= 0.95 and figs["top3"] >= 0.95, figs
    # correct 0.80 since the decision is also fitted on eval/users-extra.jsonl (threshold 0.70)
    assert figs["correct"] >= 0.75 and figs["wrong"] <= 0.03 and figs["rejected_out"] == 1.0, figs


def test_our_knowledge_base_questions(real_engine):
    figs = evaluate_domain(real_engine, read_jsonl(ROOT / "eval" / "kb-dev.jsonl")).figures()
    assert figs["questions_in"] >= 30
    # with 124 questions top-1 was 0.927 (VNNI) or 0.919 (AVX2-only: one question less), as above;
    # with 128, measured on AVX2: 0.930, correct 0.906, wrong 0.051 (7 of 138: an English question
    # the English words now bring to confidence 0.610, the threshold 0.61)
    assert figs["top1"] >= 0.91 and figs["top3"] >= 0.96, figs
    # the decision fitted with eval/users-extra.jsonl too (threshold 0.70): correct 0.867, wrong 0.029
    assert figs["correct"] >= 0.85 and figs["wrong"] <= 0.037 and figs["rejected_out"] >= 0.9, figs
    # the bold lead itself says it (0.78 before its kind and window; 0.864 of 110 correct answers with
    # 124 questions, 0.853 of 116 with 128)
    assert figs["lead_holds_answer"] >= 0.84, figs


@pytest.mark.skipif(not (SHARED / "eval" / "users-dev.jsonl").exists(), reason="../shared is not beside the repo")
def test_questions_in_users_voices(real_engine):
    """Written independently of the documents: the figures measured when the decision was fitted
    (README), as a floor against regressions. With the fast query encoder the ranking is the full
    model's (top-1, top-3 and every style the same); refitted on its evidence, the decision answers
    a little more (threshold 0.64 -> 0.61: correct 0.717 -> 0.742, wrong 0.106 -> 0.119). With what the
    question asks about as a feature (8 December 2569), fitted as scripts/calibrate.py writes it:
    threshold 0.47, correct 0.817, wrong 0.119, out-of-scope declined 0.825. Fitted with the 140
    questions of eval/users-extra.jsonl too, on which that decision answered 22% of all questions
    wrongly (threshold 0.70, a variant's own words no longer missing): correct 0.683, wrong 0.056,
    declined 0.925."""
    res = evaluate_domain(real_engine, read_jsonl(SHARED / "eval" / "users-dev.jsonl"))
    figs = res.figures()
    # 0.833 / 0.942 / 0.683 / 0.925 / 0.056 measured; the floors leave one question for the CPU's int8
    assert figs["top1"] >= 0.825 and figs["top3"] >= 0.93, figs
    assert figs["correct"] >= 0.65 and figs["rejected_out"] >= 0.9 and figs["wrong"] <= 0.07, figs
    assert figs["lead_holds_answer"] >= 0.80, figs  # 0.71 before
    styles = figs["top1_by_style"]
    assert styles["short-year"] >= 0.95 and styles["typo"] >= 0.95 and styles["english"] >= 0.73, styles  # 0.80


def test_more_questions_in_users_voices(real_engine):
    """eval/users-extra.jsonl: 140 questions in users' voices written without seeing the other sets
    (see the README); measured top-1 0.79, top-3 0.94, correct 0.59, wrong 0.071, declined 0.85."""
    figs = evaluate_domain(real_engine, read_jsonl(ROOT / "eval" / "users-extra.jsonl")).figures()
    assert figs["questions_in"] == 100 and figs["questions_out"] == 40
    assert figs["top1"] >= 0.77 and figs["top3"] >= 0.93, figs
    assert figs["correct"] >= 0.56 and figs["rejected_out"] >= 0.825 and figs["wrong"] <= 0.086, figs


@pytest.mark.parametrize("question,document,section", [
    ("ปี 65 มีพื้นที่ได้ตราเมืองอัจฉริยะเพิ่มกี่พื้นที่", "certified-cities.md", "2565"),  # a short B.E. year
    ("ดีป้าย่อมาจากอะไร", "glossary.md", "depa"),  # a spoken name
    ("สมาทซิตี้เชียงใหม่ได้ตรายัง", "certified-cities.md", "เชียงใหม่"),  # a misspelt transliteration
    ("อยากให้เทศบาลได้ตราสมาร์ทซิตี้ต้องทำยังไงบ้างครับ", "certification.md", "ยื่นขอ"),  # how to apply
    ("What are the seven smart city domains?", "smart-city-basics.md", "7 ด้าน"),  # English
])
def test_questions_as_people_type_them_find_their_section(real_engine, question, document, section):
    top = real_engine.ask(question).hits[0].chunk
    assert top.doc_id == document and section in top.section, (top.doc_id, top.section)


def test_the_issues_own_example_is_answered(real_engine):
    """How an officer asks how to apply, in spoken Thai with the transliteration: answered (0.87;
    0.60, declined, while "สมาร์ท" and "ซิตี้" counted as words the passage lacked)."""
    answer = real_engine.ask("อยากให้เทศบาลได้ตราสมาร์ทซิตี้ต้องทำยังไงบ้างครับ")
    assert answer.answered and "ยื่นขอ" in answer.hits[0].chunk.section, answer.confidence


@pytest.mark.parametrize("question", ["ราคาทองวันนี้เท่าไหร่", "What is the capital of France?",
                                      "แนะนำร้านกาแฟในภูเก็ตหน่อย", "How do I renew my Thai driving licence?",
                                      "เทศบาลนครสกลนครทำแอปสมาร์ทซิตี้ชื่ออะไร",  # a city no document names
                                      "ใช้ภาษา Python เขียนแอปเมืองอัจฉริยะยังไง"])
def test_out_of_scope_questions_get_no_confident_answer(real_engine, question):
    assert not real_engine.ask(question).answered


def test_an_answer_cites_its_source_and_marks_the_sentence(real_engine):
    answer = real_engine.ask("ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็นกี่ประเภท อะไรบ้าง")
    assert answer.answered
    top = answer.hits[0].chunk
    assert top.source.title and top.source.url.startswith("http")
    assert answer.highlights and "2 ประเภท" in answer.answer


def test_ask_json_reads_stdin_and_keeps_the_order():
    questions = ["ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็นกี่ประเภท", "", "What is the capital of France?",
                 "เขตส่งเสริมเมืองอัจฉริยะ " * 600]
    res = run_cli("ask", "--json", stdin="\n".join(questions) + "\n")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["question"] for r in rows] == questions
    assert rows[0]["answered"] is True and rows[2]["answered"] is False and rows[1]["answered"] is False
    for r in (rows[0], rows[2], rows[3]):
        assert len(r["passages"]) >= 3
        assert set(r["passages"][0]) == {"text", "score", "source", "citations"}  # the keys kept, one added
        assert set(r["passages"][0]["source"]) == {"document", "title", "section", "url"}
        assert all(set(c) == {"publisher", "date", "title", "url"} for p in r["passages"] for c in p["citations"])
    assert all(isinstance(r["citations"], list) for r in rows) and rows[2]["citations"] == []
    assert "Traceback" not in res.stderr


def test_ask_json_answers_every_line_even_after_bytes_that_are_not_utf8():
    stdin = "ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็นกี่ประเภท\n".encode() + b"\xff\xfe bad \xc3\n" + \
        "เขตส่งเสริมเมืองอัจฉริยะคืออะไร\n".encode()
    res = subprocess.run([*CLI, "ask", "--json"], input=stdin, capture_output=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.decode().splitlines()]
    assert len(rows) == 3 and rows[0]["answered"] and rows[2]["answered"]
    assert rows[1]["answered"] is False and b"Traceback" not in res.stderr


def test_an_answer_cites_the_sources_of_its_sentence(real_engine):
    data = real_engine.ask("ตอนนี้มีเมืองอัจฉริยะที่ได้ตราแล้วทั้งหมดกี่เมือง").to_json()
    assert "37 เมือง" in data["answer"]
    assert {c["publisher"] for c in data["citations"]} == {"มติชน", "Nation Thailand"}
    assert all(c["url"].startswith("https://") and c["date"] for c in data["citations"])


def test_ask_prints_a_readable_answer():
    res = run_cli("ask", "นักพัฒนาเมืองรุ่นใหม่ผ่านรอบออดิชันกี่คน")
    assert res.returncode == 0, res.stderr
    assert "30 คน" in res.stdout and "ที่มา:" in res.stdout


def test_sources_lists_every_document():
    res = run_cli("sources", "--json")
    assert res.returncode == 0, res.stderr
    docs = json.loads(res.stdout)
    files = sorted(p.name for p in (ROOT / "knowledge").glob("*.md"))
    assert sorted(d["document"] for d in docs) == files
    assert all(d["title"] and d["url"] for d in docs)


@pytest.mark.skipif(not (SHARED / "data" / "xquad-th").exists(), reason="../shared is not beside the repo")
def test_eval_squad_json_on_a_slice_of_xquad(tmp_path):
    data = json.loads((SHARED / "data" / "xquad-th" / "xquad.th.json").read_text(encoding="utf-8"))
    small = tmp_path / "xquad-slice.json"
    small.write_text(json.dumps({"data": data["data"][:2]}, ensure_ascii=False), encoding="utf-8")
    res = run_cli("eval", "squad", str(small), "--json", env={"CACHE_DIR": str(tmp_path / "cache")})
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"questions", "passages", "recall@1", "recall@5", "mrr@10"} <= set(out)
    assert out["passages"] == sum(len(a["paragraphs"]) for a in data["data"][:2])
    assert out["recall@1"] >= 0.85 and out["mrr@10"] >= out["recall@1"] - 1e-9
    # the embeddings are cached: a second run embeds nothing and gives the same figures
    again = run_cli("eval", "squad", str(small), "--json", env={"CACHE_DIR": str(tmp_path / "cache")})
    assert json.loads(again.stdout.strip().splitlines()[-1])["recall@1"] == out["recall@1"]


def test_run_without_a_token_is_a_one_line_error():
    res = run_cli("run", env={"TELEGRAM_BOT_TOKEN": ""})
    assert res.returncode != 0
    assert res.stderr.strip().count("\n") == 0 and "TELEGRAM_BOT_TOKEN" in res.stderr
