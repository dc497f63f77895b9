"""A fake answer engine and the ids used by the Telegram tests (shared by conftest and the tests)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

from bot.index import BuildReport
from bot.text import normalize_text
from bot.types import Answer, Chunk, Hit, Source

ADMIN = 1001
USER = 2002
GROUP = -100555

SRC_A = Source("a.md", "ตราสัญลักษณ์ <เมือง> & เกณฑ์", "สำนักงาน depa", "2025-08-27",
               "https://example.org/a?x=1&y=2")
SRC_B = Source("b.md", "เขตส่งเสริมเมืองอัจฉริยะ", "กระทรวงดิจิทัลฯ", "2024-01-05", "https://example.org/b")
TEXT_A0 = ("ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็น 2 ประเภท คือ เมืองน่าอยู่เดิม และเมืองใหม่ทันสมัย "
           "ซึ่งใช้เกณฑ์ <b>ไม่ใช่แท็ก</b> & สัญลักษณ์อื่น ผู้สมัครต้องยื่นข้อเสนอต่อ depa ")
TEXT_A1 = "ผู้สมัครต้องยื่นข้อเสนอต่อ depa การพิจารณาใช้เวลาประมาณสามเดือน และประกาศผลทางเว็บไซต์ "
CHUNKS = (
    Chunk("a.md#0", "a.md", TEXT_A0, "ประเภทตรา", 0, len(TEXT_A0), SRC_A),
    Chunk("a.md#1", "a.md", TEXT_A1, "ประเภทตรา", len(TEXT_A0) - len("ผู้สมัครต้องยื่นข้อเสนอต่อ depa "),
          len(TEXT_A0) - len("ผู้สมัครต้องยื่นข้อเสนอต่อ depa ") + len(TEXT_A1), SRC_A),
    Chunk("b.md#0", "b.md", "เขตส่งเสริมเมืองอัจฉริยะคือพื้นที่ที่ได้รับการประกาศ มีทั้งหมด 54 ข้อเสนอ ",
          "ความหมาย", 0, 70, SRC_B),
)
LONG_TEXT = "".join(f"ประโยคที่ {i} อธิบายเรื่องเมืองอัจฉริยะอย่างละเอียดเพื่อให้ข้อความยาวมาก & ครบถ้วน "
                    for i in range(200))
LONG_CHUNK = Chunk("c.md#0", "c.md", LONG_TEXT, "ยาว", 0, len(LONG_TEXT), SRC_B)


@dataclass
class FakeEngine:
    """Answers like bot.engine.Engine, from three small chunks; records what it was asked."""

    max_question_chars: int = 1000
    asked: list[str] = field(default_factory=list)  # questions as read (bot.text.normalize_text)
    received: list[str] = field(default_factory=list)  # and as handed over
    reloads: int = 0

    def __post_init__(self) -> None:
        self.index = self._index()

    @staticmethod
    def _index() -> SimpleNamespace:
        docs = {s.document: {"title": s.title, "issuer": s.issuer, "date": s.date, "url": s.url}
                for s in (SRC_A, SRC_B)}
        passages = [SimpleNamespace(chunk=c) for c in (*CHUNKS, LONG_CHUNK)]
        by_id = {p.chunk.chunk_id: p for p in passages}
        return SimpleNamespace(passages=passages, documents=docs, cited=lambda passage, spans=None: (),
                               lookup=by_id.get,
                               section=lambda top: [p for p in passages if (p.chunk.doc_id, p.chunk.section)
                                                    == (top.chunk.doc_id, top.chunk.section)])

    def ask(self, question: str) -> Answer:
        """Reads the question as the engine does (bot.text.normalize_text), and says so in read_as."""
        read = normalize_text(question)
        self.received.append(question)
        self.asked.append(read)
        return replace(self._answer(read), question=question, read_as=read)

    def _answer(self, question: str) -> Answer:
        hits = tuple(Hit(c, 1.0 - i / 10, 0.9, 3.0) for i, c in enumerate(CHUNKS))
        if "พัง" in question:
            raise RuntimeError("engine exploded")
        if "ช้า" in question:
            time.sleep(1.0)
        if not question.strip():
            return Answer(question, False, "", (), reason="empty")
        if not any(ch.isalnum() for ch in question):
            return Answer(question, False, "", (), reason="no_words")
        trimmed = self.max_question_chars if len(question) > self.max_question_chars else 0
        if "ต้มยำ" in question:
            return Answer(question, False, "", hits, reason="not_found", trimmed_to=trimmed)
        if "ยาวมาก" in question:
            start = LONG_TEXT.index("ประโยคที่ 150 ")
            span = (start, LONG_TEXT.index("ประโยคที่ 151 "))
            return Answer(question, True, LONG_TEXT[span[0]:span[1]], (Hit(LONG_CHUNK, 1.0, 0.9, 3.0),),
                          highlights=(span,), trimmed_to=trimmed)
        span = (0, TEXT_A0.index(" ซึ่ง"))
        return Answer(question, True, TEXT_A0[: span[1]], hits, highlights=(span,), trimmed_to=trimmed)

    def reload(self) -> Any:
        self.reloads += 1
        self.index = self._index()  # a new index object, as Engine.reload swaps it
        return BuildReport(documents=2, chunks=4, embedded=0, reused=4, seconds=0.1)
