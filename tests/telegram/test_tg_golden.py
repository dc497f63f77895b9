"""Golden renderings: a Markdown document, as the knowledge folder holds it, to the Telegram HTML a
person sees (parsed once at index time with markdown-it-py, rendered by bot.formatting)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tg_harness import parse_html

from bot.chunking import ChunkParams, chunk_document
from bot.documents import inline_markup, load_document
from bot.formatting import answer_message, render_bold, section_messages
from bot.types import Answer, Hit

DOC = """---
title: เอกสารทดสอบ
url: https://example.org/doc
---
# เอกสารทดสอบ

## จำนวนเมือง

| วันที่ | จำนวนสะสม | หมายเหตุ |
| --- | --- | --- |
| 27 ส.ค. 2568 | 37 เมือง ใน 16 จังหวัด | - |
| 9 ธ.ค. 2567 | **30** เมือง | รวม 6 พื้นที่ & <ใหม่> |

## สิทธิประโยชน์

สิทธิที่ได้รับมีดังนี้
- ใบประกาศนียบัตรจาก *depa*
  - ย่อย: ใช้ **ตราสัญลักษณ์** ได้
- ยื่นขอ `BOI` ตาม[ประกาศของบีโอไอ](https://www.boi.go.th/ประกาศ?a=1&b=2)
"""


@pytest.fixture
def chunks(tmp_path: Path):
    path = tmp_path / "k" / "test.md"
    path.parent.mkdir()
    path.write_text(DOC, encoding="utf-8")
    doc = load_document(path, path.parent)
    return {c.section: c for c in chunk_document(doc, ChunkParams())}


def test_a_thai_table_is_one_readable_line_a_row(chunks):
    c = chunks["จำนวนเมือง"]
    assert c.text == ("วันที่: 27 ส.ค. 2568 · จำนวนสะสม: 37 เมือง ใน 16 จังหวัด\n"
                      "วันที่: 9 ธ.ค. 2567 · จำนวนสะสม: 30 เมือง · หมายเหตุ: รวม 6 พื้นที่ & <ใหม่>")
    assert render_bold(c.text, (), marks=c.marks) == (
        "วันที่: 27 ส.ค. 2568 · จำนวนสะสม: 37 เมือง ใน 16 จังหวัด\n"
        "วันที่: 9 ธ.ค. 2567 · จำนวนสะสม: <b>30</b> เมือง · หมายเหตุ: รวม 6 พื้นที่ &amp; &lt;ใหม่&gt;")


def test_nested_lists_links_with_thai_text_and_inline_markup(chunks):
    c = chunks["สิทธิประโยชน์"]
    html = render_bold(c.text, (), marks=c.marks)
    assert html == (
        "สิทธิที่ได้รับมีดังนี้\n"
        "• ใบประกาศนียบัตรจาก <i>depa</i>\n"
        "◦ ย่อย: ใช้ <b>ตราสัญลักษณ์</b> ได้\n"
        "• ยื่นขอ <code>BOI</code> ตาม"
        '<a href="https://www.boi.go.th/%E0%B8%9B%E0%B8%A3%E0%B8%B0%E0%B8%81%E0%B8%B2%E0%B8%A8?a=1&amp;b=2">'
        "ประกาศของบีโอไอ</a>")
    assert parse_html(html).count("ประกาศของบีโอไอ") == 1


def test_the_answer_and_the_full_section_keep_the_markup_and_no_markdown(chunks):
    c = chunks["สิทธิประโยชน์"]
    a = c.text.index("ยื่นขอ")
    answer = Answer("ยื่นอะไร", True, c.text[a:], (Hit(c, 1.0, 0.9, 1.0),), highlights=((a, len(c.text)),))
    html = answer_message(answer, "th")
    assert html.startswith("<b>ยื่นขอ BOI ตามประกาศของบีโอไอ</b>")  # the answer first, plain bold
    assert '<a href="https://www.boi.go.th/' in html and "<code>BOI</code>" in html  # the quote keeps them
    (section,) = section_messages([c], "th")
    for msg in (html, section):
        plain = parse_html(msg)
        assert "**" not in plain and "](" not in plain and "`" not in plain and "\n- " not in plain


def test_markup_that_overlaps_the_answer_nests_properly():
    text, marks = inline_markup("ก่อน **ตัวหนา [ลิงก์](https://x.org) `โค้ด`** หลัง")
    assert text == "ก่อน ตัวหนา ลิงก์ โค้ด หลัง"
    html = render_bold(text, [(0, text.index("ลิงก์") + 2)], marks=marks)
    parse_html(html)  # balanced, only Telegram's tags
    assert "<code>" not in html  # Telegram lets no bold hold code: it shows as bold text
    # each tag opened once and closed in order: the link holds the bold, not the other way round
    assert html == '<b>ก่อน ตัวหนา </b><a href="https://x.org"><b>ลิงก์</b></a><b> โค้ด</b> หลัง'
    _, marks2 = inline_markup("**a** [b **c** d](https://y.org) e")
    assert render_bold("a b c d e", [], marks=marks2) == '<b>a</b> <a href="https://y.org">b <b>c</b> d</a> e'


@pytest.mark.parametrize("line", ["javascript:alert(1)", "[ลิงก์](javascript:alert(1))", "[x](/relative)"])
def test_only_web_links_become_links(line):
    text, marks = inline_markup(line)
    assert "<a " not in render_bold(text, (), marks=marks)


def test_the_terminal_shows_bullets_and_each_links_address(chunks):
    from bot.formatting import plain_text

    c = chunks["สิทธิประโยชน์"]
    assert plain_text(c.text, c.marks).split("\n")[1:] == [
        "• ใบประกาศนียบัตรจาก depa", "◦ ย่อย: ใช้ ตราสัญลักษณ์ ได้",
        "• ยื่นขอ BOI ตามประกาศของบีโอไอ (https://www.boi.go.th/%E0%B8%9B%E0%B8%A3%E0%B8%B0%E0%B8%81%E0%B8%B2%E0%B8%A8?a=1&b=2)"]


def test_entities_bring_back_no_invisible_characters():
    assert inline_markup("ก&#8203;ข&nbsp;ค **ง** &amp; จ") == ("กข ค ง & จ", [(5, 6, "b", "")])


def test_a_citation_that_resolves_to_nothing_leaves_the_documents_link(tmp_path: Path):
    """Through indexing: the inline citation names a source the front matter doesn't list, so the
    answer links the document itself and no made-up source."""
    from tests.conftest import FakeEmbedder

    from bot.config import Settings
    from bot.engine import Engine

    knowledge = tmp_path / "knowledge"  # its own folder: never the project's knowledge/
    knowledge.mkdir()
    settings = Settings(_env_file=None, knowledge_dir=knowledge, index_dir=tmp_path / "index",
                        cache_dir=tmp_path / "cache", embedding_model="fake-hash",
                        database_path=tmp_path / "bot.sqlite3", answer_threshold=0.0)
    (knowledge / "cite.md").write_text(
        "---\ntitle: เอกสารอ้างอิง\nurl: https://example.org/cite\nsources:\n"
        "  - title: ข่าวจริง\n    publisher: มติชน\n    url: https://www.matichon.co.th/real\n    date: 2025-08-27\n---\n"
        "# เอกสารอ้างอิง\n\n## ตัวเลขแปลก\n\nหอดูดาวเมืองอัจฉริยะมีกล้องโทรทรรศน์ 12 ตัว (ที่มา: สำนักข่าวที่ไม่มีในรายการ, 2568)\n",
        encoding="utf-8")
    engine = Engine.load(settings, embedder=FakeEmbedder())
    answer = engine.ask("หอดูดาวเมืองอัจฉริยะมีกล้องโทรทรรศน์กี่ตัว")
    assert answer.answered and answer.hits[0].chunk.doc_id == "cite.md" and answer.citations == ()
    html = answer_message(answer, "th")
    assert '<a href="https://example.org/cite">' in html and "matichon" not in html
    assert "(ที่มา:" not in html[:html.index("</b>")]  # the lead carries no raw citation
    parse_html(html)
