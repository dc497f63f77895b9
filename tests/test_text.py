import pytest

from bot.text import (asked_about, char_grams, content_words, english_to_thai_terms, has_words, language,
                      normalize_text, sentences, words, year_variants)


def test_thai_digits_become_arabic():
    assert normalize_text("ปี ๒๕๖๔ มี ๕๔ ข้อเสนอ") == "ปี 2564 มี 54 ข้อเสนอ"


def test_zero_width_and_control_characters_are_removed():
    assert normalize_text("เมือง\u200bอัจฉริยะ\x07\ufeff") == "เมืองอัจฉริยะ"


def test_duplicate_thai_marks_and_leading_vowel_are_fixed():
    # a doubled sara e typed as two characters, and a doubled tone mark
    assert normalize_text("เเปลก") == "แปลก"
    assert normalize_text("ก่่า") == "ก่า"


def test_spaces_collapse_and_blank_lines_are_bounded():
    assert normalize_text("  ก   ข \r\n\r\n\r\n\r\nค  ") == "ก ข\n\nค"


def test_normalization_is_idempotent():
    text = "  ตราสัญลักษณ์ ๑๕ เมือง\u200b\n\n\n\nSmart City  "
    once = normalize_text(text)
    assert normalize_text(once) == once


def test_words_drop_punctuation_and_lowercase():
    assert words("Smart City คืออะไร?") == ["smart", "city", "คือ", "อะไร"]


def test_content_words_drop_question_words():
    cw = content_words("เขตส่งเสริมเมืองอัจฉริยะมีกี่เมือง อะไรบ้าง")
    assert "กี่" not in cw and "อะไร" not in cw and "บ้าง" not in cw
    assert "ส่งเสริม" in cw


def test_sentences_concatenate_back_to_the_text():
    text = "คณะรัฐมนตรีรับทราบรายงาน โดยการขับเคลื่อนมีความก้าวหน้า สรุปได้ดังนี้ ภูเก็ตเป็นเมืองอัจฉริยะ"
    parts = sentences(text)
    assert len(parts) >= 2
    assert "".join(parts) == text


def test_language_guess():
    assert language("What is a smart city?") == "en"
    assert language("smart city คืออะไร") == "th"
    assert language("😀") == "th"
    # Thai digits are not Thai words: the same language as once they are read as Arabic ones
    assert language("What is the budget for ๒๕๖๖?") == language("What is the budget for 2566?") == "en"
    assert language("งบปี ๒๕๖๖") == "th" and language("๒๕๖๖") == "th"


def test_has_words():
    assert not has_words("😀🎉 !!")
    assert has_words("ก")
    assert has_words("42")


def test_years_map_between_eras():
    assert year_variants("plan 2023-2027") == {"2023": "2566", "2027": "2570"}
    assert year_variants("ปี 2564") == {"2564": "2021"}


def test_english_glossary_translates_domain_phrases_only():
    terms, rest = english_to_thai_terms("How do I renew my driving licence?")
    assert terms == ["ต่ออายุ"]
    assert "driving" in rest and "licence" in rest
    terms, _ = english_to_thai_terms("Which smart city promotion zones were approved?")
    assert any("เขตส่งเสริม" in t for t in terms)


def test_english_words_of_questions_find_the_documents_thai():
    terms, rest = english_to_thai_terms("How many projects did the working group approve at its first meeting?")
    assert {"โครงการ", "คณะทำงาน", "ประชุม", "แรก ที่ 1", "เห็นชอบ อนุมัติ"} <= set(terms)  # plural too
    assert "projects" not in rest and "working" not in rest
    terms, rest = english_to_thai_terms("Which six areas were added?")
    assert {"6", "พื้นที่", "เพิ่ม"} <= set(terms)
    assert english_to_thai_terms("What is the news?")[1].split() == ["what", "is", "the", "news"]  # "new" + s: no


def test_char_grams_ignore_spaces():
    assert char_grams("ab c", 2) == ["ab", "bc"]
    assert char_grams("", 3) == []


def test_sentences_do_not_end_at_thai_abbreviations_or_inside_parentheses():
    text = ("แนวทางบูรณาการมี 3 เป้าหมาย (ที่มา: ข่าวมติ ครม. 3 พ.ค. 2565) ซึ่งคณะกรรมการเห็นชอบแล้ว "
            "ต่อมาดีป้าเสนอแผนงานใหม่ให้ที่ประชุมพิจารณาในปีถัดไป")
    parts = sentences(text)
    assert "".join(parts) == text
    assert not any(p.rstrip().endswith(("ครม.", "พ.ค.")) for p in parts)
    assert all(p.count("(") == p.count(")") for p in parts)


def test_a_list_marker_stays_with_its_item():
    assert sentences("1. พัฒนาระบบนิเวศและสร้างความตระหนักเรื่องการพัฒนาเมืองอัจฉริยะ") == [
        "1. พัฒนาระบบนิเวศและสร้างความตระหนักเรื่องการพัฒนาเมืองอัจฉริยะ"]


@pytest.mark.parametrize("question,asked", [
    ("ผู้อำนวยการใหญ่ได้เงินเดือนเดือนละเท่าไหร่", "เงินเดือน"),
    ("กรรมการได้รับเบี้ยประชุมครั้งละเท่าใด", "เบี้ยประชุม"),
    ("ประเสริฐแต่งงานหรือยัง มีลูกกี่คน", "ลูก"),
])
def test_the_words_just_before_a_question_word_are_what_it_asks_about(question, asked):
    assert any(asked in w for w in asked_about(words(question)))


def test_a_question_without_a_thai_question_word_asks_about_nothing():
    assert asked_about(words("ขอเบอร์โทรดีป้าหน่อยครับ")) == []
    assert asked_about(words("What is the salary of the depa president?")) == []
    # stop words and numbers before the question word are skipped, two words at most are taken
    assert asked_about(["โครงการ", "รุ่น", "2", "มี", "กี่", "คน"]) == ["รุ่น", "โครงการ"]
