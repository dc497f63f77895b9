"""bot.formatting: escaping, the 4,096 limit, splitting at Thai sentence boundaries, the messages."""

from __future__ import annotations


import pytest
from tg_harness import parse_html

from bot.formatting import (LIMIT, answer_message, display_date, esc, fit_passage, more_results_messages,
                            not_found_messages, pack, render_bold, section_messages, section_text,
                            sources_messages, split_plain, stats_messages, tg_len, ui_language)
from bot.records import Stats
from bot.text import sentences
from bot.types import Answer, Chunk, Hit, Source

SENTENCES = [  # bot.text.sentences splits a run of these into many sentences of under 200 characters
    "เมืองอัจฉริยะคือเมืองที่ใช้เทคโนโลยีดิจิทัล ",
    "เพื่อพัฒนาคุณภาพชีวิตของประชาชน & ลดต้นทุนการบริหาร ",
    "ตราสัญลักษณ์มีสองประเภท คือ เมืองน่าอยู่เดิม ",
    "และเมืองใหม่ทันสมัย ",
    "ผู้สมัครต้องยื่นข้อเสนอต่อสำนักงาน <depa> ",
]
MARKER = "ประโยคเป้าหมายอยู่ตรงกลางของย่อหน้านี้ "
SOURCE = Source("a.md", "ตรา <สัญลักษณ์> & เกณฑ์", "depa", "2025-08-27", "https://example.org/a?x=1&y=2")


def paragraph(repeats: int) -> str:
    half = "".join(SENTENCES * repeats)
    return half + MARKER + half


def sentence_spans(text: str) -> list[tuple[int, int]]:
    out, pos = [], 0
    for s in sentences(text):
        out.append((pos, pos + len(s)))
        pos += len(s)
    return out


def boundaries(text: str) -> set[int]:
    """Where bot.text.sentences puts sentence ends in ``text``."""
    return {0} | {b for _, b in sentence_spans(text)}


def at_boundary(text: str, end: int) -> bool:
    """``end`` is a sentence end, give or take the white space after it."""
    return any(b >= end and not text[end:b].strip() for b in boundaries(text))


def spans_of(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Where each (unescaped, stripped) piece sits in ``text``, in order."""
    out, pos = [], 0
    for piece in pieces:
        start = text.index(piece, pos)
        out.append((start, start + len(piece)))
        pos = start + len(piece)
    return out


def unescape(html_text: str) -> str:
    return parse_html(html_text)


def chunk(text: str, cid: str = "a.md#0", section: str = "ประเภท", start: int = 0) -> Chunk:
    return Chunk(cid, "a.md", text, section, start, start + len(text), SOURCE)


# -- escaping -----------------------------------------------------------------------------------------
def test_escape_makes_text_and_attributes_safe():
    assert esc('<b>a & "b"</b>') == "&lt;b&gt;a &amp; &quot;b&quot;&lt;/b&gt;"
    assert unescape(esc("<i>x</i> & y <")) == "<i>x</i> & y <"


def test_render_bold_escapes_inside_and_outside_the_bold():
    text = "ก <b> ข & ค <i> ง"
    out = render_bold(text, [(text.index("ข"), text.index(" ค"))])
    assert out == "ก &lt;b&gt; <b>ข &amp;</b> ค &lt;i&gt; ง"
    assert unescape(out) == text


# -- splitting ----------------------------------------------------------------------------------------
def test_split_plain_fits_the_limit_and_splits_between_sentences():
    text = paragraph(12)
    assert max(b - a for a, b in sentence_spans(text)) < 250  # the premise: sentences shorter than the limit
    pieces = split_plain(text, 300)
    assert len(pieces) > 5 and all(tg_len(p) <= 300 for p in pieces)
    plain = [unescape(p) for p in pieces]
    assert "".join(plain).replace(" ", "") == text.replace(" ", "")  # nothing lost, nothing added
    for a, b in spans_of(text, plain):
        assert a in boundaries(text) and at_boundary(text, b), f"split inside a sentence: {text[b - 20:b + 20]!r}"


def test_split_plain_cuts_an_overlong_sentence_at_spaces_only():
    text = " ".join(f"คำที่{i}" for i in range(400))  # one "sentence" of ~3,000 characters
    pieces = split_plain(text, 250)
    assert all(tg_len(p) <= 250 for p in pieces)
    assert " ".join(unescape(p) for p in pieces).split() == text.split()  # no word cut in two


def test_split_plain_counts_the_escaped_length():
    text = "& " * 3000  # each '&' becomes five characters
    pieces = split_plain(text, LIMIT)
    assert len(pieces) >= 4 and all(tg_len(p) <= LIMIT for p in pieces)


def test_pack_joins_fragments_within_the_limit():
    assert pack(["a", "b", "", "c"], limit=10) == ["a\n\nb\n\nc"]
    packed = pack(["x" * 6, "y" * 6, "z" * 3], limit=11)
    assert packed == ["x" * 6, "y" * 6 + "\n\n" + "z" * 3]
    with pytest.raises(ValueError):
        pack(["x" * 11], limit=10)


def test_fit_passage_trims_around_the_answer_at_sentence_boundaries():
    text = paragraph(12)
    target = next(span for span in sentence_spans(text) if MARKER in text[slice(*span)])
    out = fit_passage(text, [target], 600)
    assert tg_len(out) <= 600
    assert out.startswith("…") and out.endswith("…")
    assert f"<b>{esc(text[slice(*target)].strip())}" in out
    shown = unescape(out).strip("…")
    start = text.index(shown)
    assert start in boundaries(text) and at_boundary(text, start + len(shown))
    assert tg_len(out) > 400  # it used the room it had


def test_fit_passage_keeps_short_passages_whole():
    text = "".join(SENTENCES)
    out = fit_passage(text, [(0, len(SENTENCES[0]))], LIMIT)
    assert unescape(out) == text.strip() and out.startswith("<b>")


# -- messages -----------------------------------------------------------------------------------------
def test_answer_message_with_source_and_bold():
    text = "".join(SENTENCES)
    span = (text.index("ตราสัญลักษณ์"), text.index("และเมืองใหม่") + len("และเมืองใหม่ทันสมัย"))
    answer = Answer("q", True, text[slice(*span)], (Hit(chunk(text), 1, 0.9, 3),), highlights=(span,))
    out = answer_message(answer, "th")
    plain = unescape(out)
    assert "<b>ตราสัญลักษณ์มีสองประเภท คือ เมืองน่าอยู่เดิม และเมืองใหม่ทันสมัย</b>" in out
    assert "ผู้สมัครต้องยื่นข้อเสนอต่อสำนักงาน <depa>" in plain and "&amp; ลดต้นทุน" in out
    assert '<a href="https://example.org/a?x=1&amp;y=2">ตรา &lt;สัญลักษณ์&gt; &amp; เกณฑ์</a>' in out
    assert plain.endswith("ที่มา: ตรา <สัญลักษณ์> & เกณฑ์\nหัวข้อ: ประเภท\ndepa · 27 ส.ค. 2568")


def test_answer_message_is_never_over_the_limit():
    text = paragraph(40).replace(" ", " & ")  # ~16,000 characters, heavy on escaping
    huge = Source("z.md", "ชื่อ " * 500, "ผู้ออก " * 300, "2025-01-01", "https://example.org/" + "x" * 5000)
    span = (text.index("ประโยคเป้าหมาย"), text.index("ประโยคเป้าหมาย") + 40)
    c = Chunk("z.md#0", "z.md", text, "หัวข้อ " * 200, 0, len(text), huge)
    answer = Answer("q" * 5000, True, "", (Hit(c, 1, 0.9, 3),), highlights=(span,), trimmed_to=1000)
    out = answer_message(answer, "th")
    assert tg_len(out) <= LIMIT
    plain = unescape(out)
    assert "ประโยคเป้าหมาย" in plain and "คำถามยาวเกินไป" in plain and "<b>" in out


def test_not_found_escapes_the_question_and_lists_topics():
    out = not_found_messages("<b>ราคาทอง</b> & หุ้น", ["ตรา <A>", "เขตส่งเสริม"], "th")
    assert len(out) == 1
    assert "&lt;b&gt;ราคาทอง&lt;/b&gt; &amp; หุ้น" in out[0]
    plain = unescape(out[0])
    assert plain.startswith("ขออภัย") and "• ตรา <A>\n• เขตส่งเสริม" in plain and "/sources" in plain


def test_long_lists_are_split_into_messages_under_the_limit():
    docs = [{"title": f"เอกสาร {i} " + "ก" * 200, "issuer": "depa", "date": "2024-01-05",
             "url": f"https://example.org/{i}?a=1&b=2"} for i in range(60)]
    messages = sources_messages(docs, "th")
    assert len(messages) > 1 and all(tg_len(m) <= LIMIT for m in messages)
    assert sum(unescape(m).count("เอกสาร ") for m in messages) == 60
    titles = [d["title"] for d in docs]
    assert all(tg_len(m) <= LIMIT for m in not_found_messages("x", titles, "th"))


def test_sources_link_only_web_addresses():
    out = sources_messages([{"title": "A", "url": "javascript:alert(1)", "date": "2024-01-05"},
                            {"title": "B", "url": "https://example.org/b"}], "en")[0]
    assert "javascript" not in out and '<a href="https://example.org/b">B</a>' in out
    assert "5 Jan 2024" in unescape(out)


def test_more_results_and_section():
    first = "ส่วนแรกของหัวข้อ ประโยคที่ซ้ำกัน "
    second = "ประโยคที่ซ้ำกัน ส่วนที่สองของหัวข้อ "
    a = chunk(first, "a.md#0", start=0)
    b = chunk(second, "a.md#1", start=len("ส่วนแรกของหัวข้อ "))
    assert section_text([b, a]) == "ส่วนแรกของหัวข้อ ประโยคที่ซ้ำกัน ส่วนที่สองของหัวข้อ "
    far = chunk("ย่อหน้าถัดไป", "a.md#2", start=500)
    assert section_text([a, far]).endswith("ซ้ำกัน \nย่อหน้าถัดไป")
    (section,) = section_messages([a, b], "th")
    assert unescape(section).startswith("📖 ตรา <สัญลักษณ์> & เกณฑ์ › ประเภท\n\nส่วนแรกของหัวข้อ")
    (more,) = more_results_messages([a, b], "th")
    assert "2. ตรา <สัญลักษณ์> & เกณฑ์ › ประเภท" in unescape(more)
    assert more_results_messages([], "en") == ["There are no other results for this question."]


def test_long_sections_are_split():
    text = paragraph(40)
    messages = section_messages([chunk(text)], "th")
    assert len(messages) >= 3 and all(tg_len(m) <= LIMIT for m in messages)
    assert "ที่มา:" in unescape(messages[-1])


def test_stats_message():
    stats = Stats(today=3, today_answered=2, total=10, answered=7, thumbs_up=4, thumbs_down=1,
                  top_unanswered=(("<script>", 3), ("ราคาทอง", 1)))
    (out,) = stats_messages(stats, "th")
    plain = unescape(out)
    assert "วันนี้: 3 คำถาม (ตอบได้ 2)" in plain and "ทั้งหมด: 10 คำถาม (ตอบได้ 70%)" in plain
    assert "1. <script> (3 ครั้ง)\n2. ราคาทอง (1 ครั้ง)" in plain


# -- small helpers ------------------------------------------------------------------------------------
@pytest.mark.parametrize("iso,lang,shown", [("2025-08-27", "th", "27 ส.ค. 2568"), ("2025-08-27", "en", "27 Aug 2025"),
                                            ("2022-01-05", "th", "5 ม.ค. 2565"), ("ไม่ระบุ", "th", "ไม่ระบุ")])
def test_display_date(iso, lang, shown):
    assert display_date(iso, lang) == shown


@pytest.mark.parametrize("code,question,lang", [("en-US", "ตราสัญลักษณ์", "en"), (None, "What is a smart city?", "en"),
                                                ("th", "ตราสัญลักษณ์", "th"), (None, "", "th"),
                                                ("ru", "ตรา smart city", "th"), ("EN", "", "en")])
def test_ui_language(code, question, lang):
    assert ui_language(code, question) == lang


def test_more_results_skip_fragment_openings():
    text = "ค. ตราสัญลักษณ์เมืองอัจฉริยะประเทศไทยมอบให้พื้นที่ที่ผ่านเกณฑ์การประเมินแล้ว และมีอายุสามปี " * 3
    (more,) = more_results_messages([chunk(text)], "th")
    line = unescape(more).splitlines()[-2]  # the opening sentence, above the result's source line
    assert line.startswith("ค. ตราสัญลักษณ์เมืองอัจฉริยะประเทศไทยมอบให้พื้นที่") and len(line) <= 220


def test_more_results_link_each_result_to_its_sources():
    from bot.citations import CitedSource

    cited = [CitedSource("มติชน", "2025-08-27", "t", "https://www.matichon.co.th/n")]
    (more,) = more_results_messages([chunk("ก ข ค"), chunk("ง จ ฉ")], "th", [cited, []])
    assert '<a href="https://www.matichon.co.th/n">มติชน, 27 ส.ค. 2568</a>' in more  # the fact's source
    assert more.count('<a href="https://example.org/a?x=1&amp;y=2">') == 1  # no citation: the document
    parse_html(more)


# -- the answer's layout and the source of each fact (golden) --------------------------------------
CITED = Source("cities.md", "เมืองที่ได้ตรา <สรุป>", "ทีมพัฒนาบอท", "2026-05-26", "https://example.org/doc",
               as_of="2026-11-24", caveat="ข้อมูลอาจเปลี่ยน & ควรตรวจสอบกับ depa")
FACT = "มีเมืองอัจฉริยะรวม 37 เมือง ใน 16 จังหวัด (ที่มา: มติชน, 27 ส.ค. 2568; Nation Thailand, 28 ส.ค. 2568)"
PASSAGE = "ตัวเลขล่าสุดมีดังนี้\n" + FACT + "\nส่วนปี 2566 รายงาน 36 พื้นที่ <ประมาณ> & ไม่เป็นทางการ"


def cited_answer(citations: tuple) -> Answer:
    chunk = Chunk("cities.md#0", "cities.md", PASSAGE, "สรุปสั้น › จำนวนเมือง", 0, len(PASSAGE), CITED)
    a = PASSAGE.index(FACT)
    return Answer("กี่เมือง", True, FACT, (Hit(chunk, 3.0, 0.9, 5.0, citations),), highlights=((a, a + len(FACT)),),
                  citations=citations)


def test_an_answer_puts_its_sentence_first_then_the_context_then_each_source_linked():
    from bot.citations import CitedSource

    two = (CitedSource("มติชน", "2025-08-27", "ประเสริฐ เร่ง <เมือง>", "https://www.matichon.co.th/n?a=1&b=2"),
           CitedSource("Nation Thailand", "2025-08-28", "37 cities", "https://www.nationthailand.com/t"))
    html = answer_message(cited_answer(two), "th")
    assert html == (
        "<b>มีเมืองอัจฉริยะรวม 37 เมือง ใน 16 จังหวัด</b>\n\n"
        "<blockquote expandable>ตัวเลขล่าสุดมีดังนี้\n" + esc(FACT) + "\n"
        "ส่วนปี 2566 รายงาน 36 พื้นที่ &lt;ประมาณ&gt; &amp; ไม่เป็นทางการ</blockquote>\n\n"
        "📎 <b>ที่มา:</b>\n"
        '• <a href="https://www.matichon.co.th/n?a=1&amp;b=2">มติชน, 27 ส.ค. 2568</a> — ประเสริฐ เร่ง &lt;เมือง&gt;\n'
        '• <a href="https://www.nationthailand.com/t">Nation Thailand, 28 ส.ค. 2568</a> — 37 cities\n'
        "เรียบเรียงใน: เมืองที่ได้ตรา &lt;สรุป&gt; › สรุปสั้น › จำนวนเมือง (ข้อมูล ณ 24 พ.ย. 2569)\n"
        "<i>⚠️ ข้อมูลอาจเปลี่ยน &amp; ควรตรวจสอบกับ depa</i>")
    parse_html(html)  # only Telegram's tags, balanced, escaped


def test_with_no_citation_the_document_link_stands_in():
    html = answer_message(cited_answer(()), "th")
    assert '<a href="https://example.org/doc">' in html and "เรียบเรียงใน" not in html
    assert html.startswith("<b>มีเมือง") and "📄 <b>ที่มา:</b>" in html
    parse_html(html)


def test_a_list_answer_keeps_its_items_on_their_own_lines():
    text = "สิทธิประโยชน์มีดังนี้\n- ยกเว้นภาษี 8 ปี (ที่มา: BOI, 2561)\n- นำเข้าเครื่องจักร & <อุปกรณ์>\n  ย่อยของข้อสอง\nย่อหน้าถัดไป"
    chunk = Chunk("z.md#0", "z.md", text, "สิทธิ", 0, len(text), SOURCE)
    lines = text.split("\n")
    spans, pos = [], 0
    for line in lines[:4]:
        spans.append((pos + len(line) - len(line.lstrip()), pos + len(line)))
        pos += len(line) + 1
    answer = Answer("ได้อะไร", True, "", (Hit(chunk, 1.0, 0.9, 1.0),), highlights=tuple(spans))
    html = answer_message(answer, "th")
    assert html.startswith("<b>สิทธิประโยชน์มีดังนี้\n• ยกเว้นภาษี 8 ปี\n• นำเข้าเครื่องจักร &amp; &lt;อุปกรณ์&gt;\n"
                           "ย่อยของข้อสอง</b>")
    parse_html(html)


def test_the_full_section_lists_the_sources_it_cites():
    from bot.citations import CitedSource

    chunk = Chunk("a.md#0", "a.md", PASSAGE, "จำนวนเมือง", 0, len(PASSAGE), SOURCE)
    cited = [CitedSource("มติชน", "2025-08-27", "ข่าว <เมือง>", "https://www.matichon.co.th/n")]
    (msg,) = section_messages([chunk], "th", cited)
    assert '• <a href="https://www.matichon.co.th/n">มติชน, 27 ส.ค. 2568</a> — ข่าว &lt;เมือง&gt;' in msg
    assert 'เรียบเรียงใน: <a href="https://example.org/a?x=1&amp;y=2">' in msg
    parse_html(msg)


def test_control_characters_of_a_question_are_not_echoed():
    (msg,) = not_found_messages("ราคา\x00ทอง\x07วันนี้\u200b\ud800", [], "th")
    plain = parse_html(msg)
    assert "ราคาทองวันนี้" in plain and not any(ch in plain for ch in "\x00\x07\u200b\ud800")


def test_the_catalog_has_every_text_in_both_languages_with_the_same_placeholders():
    from string import Formatter

    from bot.formatting import TEXTS

    assert set(TEXTS["th"]) == set(TEXTS["en"])
    for key in TEXTS["th"]:
        fields = [{f for _, f, _, _ in Formatter().parse(TEXTS[lang][key]) if f} for lang in ("th", "en")]
        assert fields[0] == fields[1], key
