"""Years, provinces and months a question names, and the passages that name them too."""

import pytest

from bot.anchors import anchors_of
from bot.engine import Engine
from bot.query import expand_short_years


@pytest.mark.parametrize("question,years,province,months", [
    ("ปี 2564 มีกี่เมือง", {"2564", "2021"}, None, ()),
    ("Which six areas were added in July 2023?", {"2023", "2566"}, None, (6,)),
    ("ขอนแก่นได้ตราหรือยัง", set(), "ขอนแก่น", ()),
    ("Is Phuket a smart city?", set(), "ภูเก็ต", ()),
    ("โคราชได้ตราแล้วยัง", set(), "นครราชสีมา", ()),  # the spoken name, from the variant table
    ("จังหวัดเลยได้ตราไหม", set(), "เลย", ()),
    ("ประชุมเมื่อ 7 ก.พ. 2562", {"2562", "2019"}, None, (1,)),
    ("ปี 2566 เมืองอัจฉริยะมีกี่แห่ง", {"2566", "2023"}, None, ()),  # a year word before it: a year
    ("In 2023, how many cities were certified?", {"2023", "2566"}, None, ()),
    ("พ.ศ.2566 มีกี่เมือง", {"2566", "2023"}, None, ()),
    ("2018 may be the year", {"2018", "2561"}, None, ()),  # "may" beside a year is not May
    ("ปี 2566 ก.พ.ร. ประเมินอะไร", {"2566", "2023"}, None, ()),  # nor "ก.พ." inside "ก.พ.ร."
])
def test_what_a_question_names(question, years, province, months):
    a = anchors_of(question)
    assert {y for pair in a.years for y in pair} == years
    assert a.provinces == ((province,) if province else ())
    assert a.months == months


@pytest.mark.parametrize("question", [
    "ส่งข้อเสนอได้เลยไหม",  # "เลย" the word, not the province
    "ข่าวแพร่ออกไปเมื่อไร",
    "ก.พ. คือหน่วยงานอะไร",  # the civil service commission, not February
    "may I apply twice?",
    "ได้ตราด้านสิ่งแวดล้อมกี่เมือง",  # "ตรา|ด้าน", not the province ตราด
    "ข้อมูลน่านน้ำไทย",  # "น่านน้ำ" (waters), not the province น่าน
    "มีกี่ด้าน",
    "งานนี้มีผู้เข้าร่วม 2000 คนจริงไหม",  # a count, not the year 2000
    "Were all 2020 participants online?",
])
def test_everyday_words_are_not_anchors(question):
    assert not anchors_of(question)


def test_a_passage_names_a_province_as_a_question_does():
    a = anchors_of("จังหวัดแพร่ได้ตราหรือยัง")
    assert not a.named_in("depa เผยแพร่รายชื่อเมืองที่ได้ตรา")  # "แพร่" inside "เผยแพร่"
    assert a.named_in("เทศบาลเมืองแพร่ จังหวัดแพร่ ได้ตรา")


def test_a_passage_ranks_by_what_it_names():
    a = anchors_of("Which areas were added in July 2023 in Chiang Mai?")
    assert a.rank("ณ เดือนกรกฎาคม 2566 เชียงใหม่ได้รับตรา") == 2
    assert a.rank("ปี 2566 เชียงใหม่ได้รับตรา") == 1  # no month
    assert a.rank("กรกฎาคม 2565 เชียงใหม่") == 0  # another year
    assert a.rank("กรกฎาคม 2566 ภูเก็ต") == 0  # another province
    assert anchors_of("7 ก.พ. 2562").rank("วันที่ 7 ก.พ. 2562") == 2


def test_a_passage_naming_the_whole_range_of_years_ranks_above_one_naming_an_end():
    a = anchors_of(expand_short_years("แผนปี 66-70 มีอะไรบ้าง"))
    assert {y for pair in a.years for y in pair} == {"2566", "2023", "2570", "2027"}
    both, one = a.rank("แผนการบูรณาการ พ.ศ. 2566 – 2570"), a.rank("งานปี 2566 จัดที่กรุงเทพฯ")
    assert both > one > 0 == a.rank("แผนปี 2565")
    assert anchors_of("the 2023-2027 plan").rank("แผน พ.ศ. 2566-2570") == both  # either era


@pytest.fixture
def dated(settings, fake_embedder):
    """Two passages that differ only in their year and province, the later year first on words."""
    (settings.knowledge_dir / "rounds.md").write_text(
        "---\ntitle: รอบการมอบตรา\n---\n# รอบการมอบตรา\n\n"
        "## รอบแรก\n\nการมอบตราสัญลักษณ์เมืองอัจฉริยะรอบแรก ปี 2563 มอบให้เมืองขอนแก่น รวม 3 เมือง "
        "การมอบตราสัญลักษณ์เมืองอัจฉริยะ การมอบตราสัญลักษณ์เมืองอัจฉริยะ\n\n"
        "## รอบต่อมา\n\nการมอบตราสัญลักษณ์เมืองอัจฉริยะรอบต่อมา ปี 2565 มอบให้เมืองภูเก็ต รวม 9 เมือง\n",
        encoding="utf-8")
    return Engine.load(settings, embedder=fake_embedder)


@pytest.mark.parametrize("question,holds", [
    ("การมอบตราสัญลักษณ์เมืองอัจฉริยะ ปี 65 มีกี่เมือง", "9 เมือง"),
    ("การมอบตราสัญลักษณ์เมืองอัจฉริยะ ปี 63 มีกี่เมือง", "3 เมือง"),
    ("การมอบตราสัญลักษณ์เมืองอัจฉริยะที่ภูเก็ตมีกี่เมือง", "9 เมือง"),
])
def test_the_passage_naming_the_questions_year_or_province_comes_first(dated, question, holds):
    assert holds in dated.ask(question).hits[0].chunk.text


def test_a_year_no_passage_names_counts_against_answering(dated):
    named = dated.ask("การมอบตราสัญลักษณ์เมืองอัจฉริยะ ปี 2565 มีกี่เมือง")
    unnamed = dated.ask("การมอบตราสัญลักษณ์เมืองอัจฉริยะ ปี 2570 มีกี่เมือง")
    assert named.evidence.anchor_missing == 0.0 and unnamed.evidence.anchor_missing == 1.0
    assert unnamed.confidence < named.confidence
    assert expand_short_years("ปี 70") == "ปี 2570"


def test_asking_about_what_no_document_has_counts_against_answering(dated):
    """The same question asking for the number of cities (the documents have it) and for a
    salary (no document has the word)."""
    known = dated.ask("การมอบตราสัญลักษณ์เมืองอัจฉริยะ ปี 2565 มีกี่เมือง")
    unknown = dated.ask("การมอบตราสัญลักษณ์เมืองอัจฉริยะ ปี 2565 ได้เงินเดือนเท่าไหร่")
    # the words before "เท่าไหร่" are "เงินเดือน" (no document has it) and "ปี" (every one has it)
    assert known.evidence.asked_unknown == 0.0 and unknown.evidence.asked_unknown > 0.5
    assert unknown.confidence < known.confidence


def test_a_transliteration_counts_as_the_document_term_it_stands_for(dated):
    """"สมาร์ทซิตี้" is "เมืองอัจฉริยะ" in the documents: the passage holds the question as fully
    either way (before, the transliteration's own words counted as missing from it)."""
    thai = dated.ask("การมอบตราสัญลักษณ์เมืองอัจฉริยะ ปี 2565 มีกี่เมือง")
    spoken = dated.ask("การมอบตราสัญลักษณ์สมาร์ทซิตี้ ปี 2565 มีกี่เมือง")
    assert spoken.hits[0].chunk.chunk_id == thai.hits[0].chunk.chunk_id
    assert spoken.evidence.coverage == pytest.approx(thai.evidence.coverage)
