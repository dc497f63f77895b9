"""Inline citations "(ที่มา: …)" resolved to the front matter's sources, and shown with their links."""

from pathlib import Path

import pytest

from bot.citations import CitedSource, find, resolve, sources_of, supporting
from bot.documents import knowledge_files, split_front_matter

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    CitedSource("มติชน", "2025-08-27", "ประเสริฐ เร่งขับเคลื่อนเมืองอัจฉริยะ", "https://www.matichon.co.th/x"),
    CitedSource("Nation Thailand", "2025-08-28", "DE ministry certifies 37 cities", "https://www.nationthailand.com/y"),
    CitedSource("Postup News", "2019-03", "depa ปลดล็อค เปิดเกณฑ์", "https://th.postupnews.com/a"),
    CitedSource("Postup News (ข่าวประชาสัมพันธ์ depa)", "2019-03-11", "Takeoff", "https://en.postupnews.com/b"),
    CitedSource("Bangkok Post", "2018-05", "BoI backs raft of incentives", "https://www.bangkokpost.com/c"),
    CitedSource("AEC / มหาวิทยาลัยหอการค้าไทย", "2018-05", "Smart city incentives", "https://aec.utcc.ac.th/d"),
]


def test_citations_are_found_with_one_item_per_source():
    text = "มี 37 เมือง (ที่มา: มติชน, 27 ส.ค. 2568; Nation Thailand, 28 ส.ค. 2568) และมาตรการ (ที่มา: Bangkok Post และ AEC-UTCC, พ.ค. 2561)"
    cits = find(text)
    assert [c.items for c in cits] == [("มติชน, 27 ส.ค. 2568", "Nation Thailand, 28 ส.ค. 2568"),
                                       ("Bangkok Post, พ.ค. 2561", "AEC-UTCC, พ.ค. 2561")]
    assert text[cits[0].start:cits[0].end].startswith("(ที่มา:") and text[cits[0].end - 1] == ")"


@pytest.mark.parametrize("item,expected", [
    ("มติชน, 27 ส.ค. 2568", [0]), ("Nation Thailand, 28 ส.ค. 2568", [1]),
    ("Postup News, มี.ค. 2562", [2]),  # the publisher as named wins over a longer one of the same month
    ("depa ผ่าน Postup News, 11 มี.ค. 2562", [3]),  # the day decides
    ("Bangkok Post, พ.ค. 2561", [4]),
])
def test_an_item_resolves_to_its_source(item, expected):
    assert resolve(item, SOURCES) == expected


def test_an_unknown_source_resolves_to_nothing():
    assert resolve("Reuters, 1 ม.ค. 2568", SOURCES) == []
    assert resolve("มติชน, 2568", []) == []


def test_the_supporting_citation_is_inside_the_answer_or_the_nearest_before_it():
    text = "ก (ที่มา: A, 2560) ข ค\nง (ที่มา: B, 2561) จ"
    cits = [(c.start, c.end) for c in find(text)]
    a = text.index("ก")
    assert supporting(cits, [(a, text.index(")") + 1)], text) == [0]  # inside / right after
    c = text.index("ค")
    assert supporting(cits, [(c, c + 1)], text) == [0]  # nearest before, same paragraph
    e = text.index("จ")
    assert supporting(cits, [(e, e + 1)], text) == [1]


def test_each_answer_sentence_keeps_its_own_citation_later_in_its_paragraph():
    # the second sentence's claim is cited at the end of the sentence that continues it, not by
    # the first sentence's citation
    text = "ก ข (ที่มา: A, 2560) ค ง จ ฉ (ที่มา: B, 2561) ช\nซ (ที่มา: C, 2562)"
    cits = [(x.start, x.end) for x in find(text)]
    first = (text.index("ก"), text.index(")") + 1)
    second = (text.index("ค"), text.index("ง") + 1)
    assert supporting(cits, [first, second], text) == [0, 1]
    assert supporting(cits, [second], text) == [1]  # never the next paragraph's
    last = text.index("ช")
    assert supporting(cits, [(last, last + 1)], text) == [1]  # nothing after it in its line: the one before


def test_front_matter_sources_that_are_not_mappings_are_skipped():
    assert sources_of({"sources": ["just a string", {"publisher": "X", "url": "https://x"}]}) == [
        CitedSource("X", "", "", "https://x")]


def test_every_inline_citation_in_the_knowledge_base_names_exactly_one_source():
    problems = []
    for path in knowledge_files(ROOT / "knowledge"):
        if path.suffix != ".md":
            continue
        meta, body = split_front_matter(path.read_text(encoding="utf-8"))
        sources = sources_of(meta)
        for cit in find(body):
            for item in cit.items:
                found = resolve(item, sources)
                if len(found) != 1:
                    what = "no source" if not found else f"{len(found)} sources ({', '.join(sources[i].publisher for i in found)})"
                    problems.append(f"{path.name}: (ที่มา: {item}) resolves to {what}")
    assert not problems, "\n".join(problems)


def test_an_uncited_list_item_takes_the_citation_of_the_line_introducing_its_list():
    text = "ก่อนหน้า (ที่มา: A, 2560)\n\nรายชื่อ (ที่มา: B, 2561):\n1. หนึ่ง\n2. สอง (ที่มา: C, 2562)\n3. สาม"
    cits = [(x.start, x.end) for x in find(text)]
    one = text.index("หนึ่ง")
    assert supporting(cits, [(one, one + 5)], text) == [1]
    three = text.index("สาม")
    assert supporting(cits, [(three, three + 3)], text) == [1]  # not the item above's own citation
    two = text.index("สอง")
    assert supporting(cits, [(two, two + 3)], text) == [2]
    bare = "\n1. หนึ่ง\n2. สอง"  # a list with no introduction in the passage: nothing, not a guess
    assert supporting([], [(bare.index("สอง"), len(bare))], bare) == []
    after_blank = "ก (ที่มา: A, 2560)\n\n- ข"
    b = after_blank.index("ข")
    assert supporting([(x.start, x.end) for x in find(after_blank)], [(b, b + 1)], after_blank) == []
