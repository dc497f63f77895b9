"""Reading questions as people type them: short years, variants, typos, English terms."""

import numpy as np
import pytest

from bot.decision import FEATURES, Evidence, fitted_decision
from bot.query import (QueryRewriter, Speller, expand_short_years, glossary_terms, mine_glossary, thai_term,
                       variant_terms)


@pytest.mark.parametrize("question,expected", [
    ("ปี 64 มีกี่เมือง", "ปี 2564 มีกี่เมือง"),
    ("ปี64 มีกี่เมือง", "ปี2564 มีกี่เมือง"),
    ("แผนช่วง ปี 66-70", "แผนช่วง ปี 2566-2570"),
    ("ประกาศ พ.ศ. 67", "ประกาศ พ.ศ. 2567"),
    ("งบปีงบ 68 เท่าไร", "งบปีงบ 2568 เท่าไร"),
    ("ประชุมครั้งที่ 1/62 เมื่อ 7 ก.พ. 62", "ประชุมครั้งที่ 1/2562 เมื่อ 7 ก.พ. 2562"),
    ("ช่วง ธันวาคม 65", "ช่วง ธันวาคม 2565"),
])
def test_short_buddhist_years_are_written_out(question, expected):
    assert expand_short_years(question) == expected


@pytest.mark.parametrize("question", ["ปี 2564 มีกี่เมือง", "อายุ 64 ปี", "15 เมือง ใน 14 จังหวัด", "ปี 2020",
                                      "ร้อยละ 50", "ปี 12"])
def test_other_numbers_are_left_alone(question):
    assert expand_short_years(question) == question


@pytest.mark.parametrize("question,term", [
    ("สมาร์ทซิตี้คืออะไร", "เมืองอัจฉริยะ"), ("สมาทซิตี้ 7 ด้าน", "เมืองอัจฉริยะ"),
    ("ดีป้าอยู่ที่ไหน", "depa"), ("สศด. ย่อมาจาก", "depa"), ("บีโอไอให้สิทธิอะไร", "BOI"),
    ("โคราชได้ตรายัง", "นครราชสีมา"),
])
def test_spoken_and_transliterated_variants_find_the_document_terms(question, term):
    assert any(term in t for t in variant_terms(question))


def test_a_thai_variant_must_be_whole_words():
    assert not any("องค์การบริหารส่วนตำบล" in t for t in variant_terms("พิธีมอบตราสัญลักษณ์จัดวันไหน"))  # มอ|บต|รา
    assert any("องค์การบริหารส่วนตำบล" in t for t in variant_terms("อบต.เราอยู่นอกเมือง"))


def test_a_latin_variant_must_stand_as_a_word():
    assert not any("ดิจิทัลเพื่อเศรษฐกิจ" in t for t in variant_terms("depa คือใคร"))  # "de" inside "depa"
    assert any("ดิจิทัลเพื่อเศรษฐกิจ" in t for t in variant_terms("กรมอุตุอยู่ใต้กระทรวง DE ไหม"))


def test_the_glossary_is_mined_from_english_beside_thai():
    text = ("ด้านที่สองคือการเดินทางและขนส่งอัจฉริยะ (Smart Mobility) และผู้สนใจควรสอบถามกับ"
            "สำนักงานส่งเสริมเศรษฐกิจดิจิทัล (depa / Digital Economy Promotion Agency) "
            "ส่วน City Data Platform (แพลตฟอร์มข้อมูลเมือง) เก็บข้อมูล (ที่มา: ข่าว, 2565)")
    g = mine_glossary([text])
    assert g["smart mobility"] == ["การเดินทางและขนส่งอัจฉริยะ"]
    assert g["depa"] == ["สำนักงานส่งเสริมเศรษฐกิจดิจิทัล"]
    assert g["digital economy promotion agency"] == ["สำนักงานส่งเสริมเศรษฐกิจดิจิทัล"]
    assert g["city data platform"] == ["แพลตฟอร์มข้อมูลเมือง"]
    assert not any("ข่าว" in v for vs in g.values() for v in vs)  # a Thai-only parenthesis is no gloss
    assert glossary_terms("What is smart mobility?", g) == ["การเดินทางและขนส่งอัจฉริยะ"]


def test_english_beside_thai_is_found_only_where_a_parenthesis_opens_and_as_before():
    """paren_en gives the same matches as the pattern searched everywhere, on made-up mixes of the
    characters that matter (Thai runs, spaces, parentheses, quotes, Latin), and a long Thai run
    without spaces (a Wikipedia paragraph) before "(Smart Mobility)" is still glossed."""
    import random

    from bot.query import _PAREN_EN, paren_en

    rnd = random.Random(5)
    alphabet = list("กขไทยการ ()ABCab“”\"\n.,;-1")
    for _ in range(3000):
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 60)))
        want = [(m.span(), m.group("th"), m.group("en")) for m in _PAREN_EN.finditer(text)]
        assert [(m.span(), m.group("th"), m.group("en")) for m in paren_en(text)] == want, text
    run = "การพัฒนาเมือง" * 800 + "การเดินทางและขนส่งอัจฉริยะ"
    assert mine_glossary([f"{run} (Smart Mobility) และอื่น ๆ"])["smart mobility"]


def test_a_mined_term_with_words_before_it_is_dropped_for_the_term_itself():
    text = ("ผู้สนใจควรสอบถามกับสำนักงานส่งเสริมเศรษฐกิจดิจิทัล (depa) หรือสอบถามรายละเอียดเพิ่มเติมได้ที่สำนักงานส่งเสริม"
            "เศรษฐกิจดิจิทัล (depa) และดีป้า (depa) ที่ประชุมคณะกรรมการเมืองอัจฉริยะ (smart city) "
            "ส่วน EEC (เผยแพร่ไม่เกิน ม.ค. 2565) และ EEC (เขตพัฒนาพิเศษภาคตะวันออก) "
            "งาน Thailand Smart City Week 2020 (ไทยแลนด์สมาร์ทซิตี้วีค, ปี 2563)")
    g = mine_glossary([text])
    assert g["depa"] == ["สำนักงานส่งเสริมเศรษฐกิจดิจิทัล", "และดีป้า"]  # the longer run ends with the first
    assert g["eec"] == ["เขตพัฒนาพิเศษภาคตะวันออก"]  # a dated note in parentheses is no name
    assert g["thailand smart city week 2020"] == ["ไทยแลนด์สมาร์ทซิตี้วีค"]  # the name before the date stays
    assert g["smart city"] == ["ที่ประชุมคณะกรรมการเมืองอัจฉริยะ"]
    # the rewriter leaves out what ends with a curated term ("ดีป้า", "เมืองอัจฉริยะ"): read at start,
    # so an edit of data/en_th_terms.tsv needs no new index
    used = QueryRewriter(g).glossary
    assert used["depa"] == ["สำนักงานส่งเสริมเศรษฐกิจดิจิทัล"] and "smart city" not in used
    assert used["eec"] == g["eec"]


def test_a_thai_term_is_cut_after_the_last_function_word():
    assert thai_term("ผู้สนใจควรสอบถามกับสำนักงานส่งเสริมเศรษฐกิจดิจิทัล") == "สำนักงานส่งเสริมเศรษฐกิจดิจิทัล"
    assert thai_term("กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม") == "กระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม"


VOCAB = {"อัจฉริยะ": 9, "สัญลักษณ์": 5, "ส่งเสริม": 7, "หลักสูตร": 3, "เมือง": 20}


@pytest.mark.parametrize("typo,fixed", [
    ("เมืองอัจฉริยยะ", "อัจฉริยะ"), ("เมืองอัจฉะริยะ", "อัจฉริยะ"), ("ตราสัญลักษน์", "สัญลักษณ์"),
    ("เขตส่งเสิม", "ส่งเสริม"), ("หลักสูต", "หลักสูตร"),
])
def test_typos_are_corrected_against_the_corpus_vocabulary(typo, fixed):
    assert fixed in Speller(VOCAB).correct(typo)


@pytest.mark.parametrize("text", ["เทศบาลนครอุดรธานี", "ราคาทองวันนี้", "สมาร์ทโฟน"])
def test_real_words_the_corpus_lacks_are_not_corrected(text):
    assert Speller(VOCAB).correct(text) == text


def test_an_english_question_gets_a_second_reading_in_thai():
    rw = QueryRewriter({"smart mobility": ["การเดินทางและขนส่งอัจฉริยะ"]}).rewrite("What does smart mobility cover?")
    assert "การเดินทางและขนส่งอัจฉริยะ" in rw.second and "การเดินทางและขนส่งอัจฉริยะ" in rw.about
    thai = QueryRewriter({}).rewrite("สมาร์ทซิตี้ปี 64 มีกี่เมือง")
    assert thai.second == "" and "2564" in thai.text and "เมืองอัจฉริยะ" in thai.about


def test_english_words_no_glossary_covers_count_as_missing():
    rw = QueryRewriter({}).rewrite("How do I renew my driving licence?")
    assert "driving" in rw.about and "licence" in rw.about


def _evidence(**kw) -> Evidence:
    base = dict(dense=0.85, unit_dense=0.85, heading_dense=0.8, coverage=0.6, chars_coverage=0.7,
                corpus_coverage=1.0, unknown_share=0.0, missing_idf=0.5, gap=0.5,
                fused=3.0, english=0.0)
    return Evidence(**{**base, **kw})


def test_the_fitted_decision_loads_and_weighs_evidence_the_right_way():
    d = fitted_decision()
    assert len(d.coef) == len(FEATURES) and 0 < d.threshold < 1
    # a passage holding more of the question, and a bigger lead, make an answer more likely;
    # words that no document contains make it less likely
    assert d.confidence(_evidence(coverage=0.9, chars_coverage=0.9)) > d.confidence(_evidence(coverage=0.2, chars_coverage=0.3))
    assert d.confidence(_evidence(gap=1.5)) > d.confidence(_evidence(gap=0.05))
    assert d.confidence(_evidence(unknown_share=0.5)) < d.confidence(_evidence())
    assert np.isfinite(d.confidence(_evidence(fused=1e9)))
    # a year or a province the question names that none of the best passages names
    assert d.confidence(_evidence(anchor_missing=1.0)) < d.confidence(_evidence()) - 0.2
    # what the question asks about ("เงินเดือน" in "เงินเดือนเท่าไหร่") is a word no document has
    assert d.confidence(_evidence(asked_unknown=1.0)) < d.confidence(_evidence()) - 0.05


def test_a_variants_own_words_are_replaced_by_the_document_terms():
    rw = QueryRewriter({}).rewrite("อยากให้เทศบาลได้ตราสมาร์ทซิตี้ต้องทำยังไง")
    assert "เมืองอัจฉริยะ" in rw.about
    # "สมาร์ท", "ซิตี้": a passage saying "เมืองอัจฉริยะ" doesn't lack them; the question's other words stay
    assert rw.replaced == {"สมาร์ท", "ซิตี้"}
    assert QueryRewriter({}).rewrite("เทศบาลได้ตราเมืองอัจฉริยะไหม").replaced == frozenset()
    # the words as the question has them ("ครม." with its dot), and only those standing only inside a
    # variant: "ไทย" of "ไทยมูค" is still asked about in "ประเทศไทย"
    assert QueryRewriter({}).rewrite("ครม. อนุมัติอะไร").replaced == {"ครม."}
    assert "ไทย" not in QueryRewriter({}).rewrite("ไทยมูคมีที่ประเทศไทยไหม").replaced
    # nor a word another document term brings back ("boi" for "BOI บีโอไอ")
    assert "boi" not in QueryRewriter({}).rewrite("What does BOI offer smart cities?").replaced
