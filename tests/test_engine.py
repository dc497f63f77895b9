import json

import pytest

from bot.engine import Engine
from bot.formatting import message_text, notice_text, plain
from bot.text import char_grams, normalize_text


@pytest.fixture
def engine(settings, fake_embedder):
    return Engine.load(settings, embedder=fake_embedder)


@pytest.mark.parametrize("question,reason", [
    ("", "empty"), ("   \n\t ", "empty"), (None, "empty"), ("😀🎉👍", "no_words"), ("?!.", "no_words"),
    ("\x00\x07\u200b", "empty"), ("\ud800\udfff", "empty"),
])
def test_bad_input_gets_a_clear_message(engine, question, reason):
    answer = engine.ask(question)
    assert not answer.answered and answer.reason == reason
    assert answer.hits == ()
    for lang in ("th", "en"):  # the renderers say why, in the reader's language
        said = message_text(answer, lang)
        assert said and said == plain(lang, {"empty": "empty_question", "no_words": "no_words"}[reason])


def test_a_huge_question_is_trimmed_not_refused(engine):
    answer = engine.ask("เขตส่งเสริมเมืองอัจฉริยะ " * 800)  # ~20,000 characters
    assert answer.trimmed_to == engine.settings.max_question_chars
    assert answer.read_as == ("เขตส่งเสริมเมืองอัจฉริยะ " * 800).strip()  # as read, before the cut
    assert str(engine.settings.max_question_chars) in notice_text(answer, "th")
    assert answer.hits


@pytest.mark.parametrize("question", [
    "เขตส่งเสริม ๕๔ ข้อเสนอ มีกี่จังหวัด", "Smart City Ambassadors มีกี่คน", "<b>ไมโครกริด</b> & ชลบุรี",
    "ไมโครกริด\x07ที่นิคมอมตะ", "What is a smart city promotion zone?", "ไมโครกริด\ud800ที่นิคมอมตะ",
    "ตราสัญลักษณ์มีก\u0e48\u0e35ประเภท", "ประกาศผลเมื่อ\u200bไหร่", "How many promotion zones in ๒๕๖๔?",
])
def test_odd_but_real_questions_are_answered_normally(engine, question):
    answer = engine.ask(question)
    assert answer.reason in {"ok", "not_found"}
    assert len(answer.hits) >= 3
    assert answer.question == question and answer.read_as == normalize_text(question)  # asked, and as read
    clean = engine.ask(normalize_text(question))  # the engine reads the question, not what it was sent as
    assert (answer.answered, answer.answer, answer.hits, answer.highlights, answer.confidence) == \
        (clean.answered, clean.answer, clean.hits, clean.highlights, clean.confidence)
    data = json.loads(json.dumps(answer.to_json(), ensure_ascii=False))
    assert set(data) == {"question", "answered", "answer", "passages", "citations"}
    assert set(data["passages"][0]) == {"text", "score", "source", "citations"}
    assert set(data["passages"][0]["source"]) == {"document", "title", "section", "url"}
    scores = [p["score"] for p in data["passages"]]
    assert scores == sorted(scores, reverse=True)


def test_thai_digits_in_a_question_match_arabic_digits_in_documents(engine):
    answer = engine.ask("ผู้ผ่านออดิชัน ๓๐ คน")
    assert answer.hits[0].chunk.doc_id == "ambassadors.txt"


def test_highlight_marks_the_answering_sentence(engine):
    engine.decision = engine.decision.with_threshold(0.0)  # the fake model's scores aren't calibrated
    answer = engine.ask("ไมโครกริดอยู่ที่นิคมอุตสาหกรรมไหน")
    assert answer.answered and answer.hits[0].chunk.doc_id == "energy.md"
    text = answer.hits[0].chunk.text
    assert all(0 <= a < b <= len(text) for a, b in answer.highlights)
    assert "อมตะ" in answer.answer


def test_an_empty_knowledge_folder_answers_politely(settings, fake_embedder, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    engine = Engine.load(settings.model_copy(update={"knowledge_dir": empty, "index_dir": tmp_path / "i2"}),
                         embedder=fake_embedder)
    answer = engine.ask("เมืองอัจฉริยะคืออะไร")
    assert not answer.answered and answer.hits == ()


def test_reload_picks_up_a_new_document(engine, knowledge):
    (knowledge / "new.md").write_text("---\ntitle: ใหม่\n---\n\n## ใหม่\n\nสนามบินอัจฉริยะเปิดใช้ระบบจดจำใบหน้า\n",
                                      encoding="utf-8")
    report = engine.reload()
    assert report.documents == 4
    assert engine.ask("สนามบินอัจฉริยะจดจำใบหน้า").hits[0].chunk.doc_id == "new.md"


def test_a_list_introduced_by_a_later_part_of_the_same_line_is_part_of_the_answer():
    """The sentence splitter may cut "… ที่ได้รับ … มีดังนี้" in two: the list still comes with it."""
    from types import SimpleNamespace

    text = ("สิทธิประโยชน์ที่เขตส่งเสริมได้รับ มีดังนี้\n1. ใบประกาศนียบัตร\n2. การบ่มเพาะ\n\nย่อหน้าอื่น")
    parts = ["สิทธิประโยชน์ที่เขตส่งเสริมได้รับ", "มีดังนี้", "1. ใบประกาศนียบัตร", "2. การบ่มเพาะ", "ย่อหน้าอื่น"]
    spans = [(text.index(p), text.index(p) + len(p)) for p in parts]
    words = [{"สิทธิประโยชน์", "เขตส่งเสริม"}, {"ดังนี้"}, {"ใบประกาศนียบัตร"}, {"บ่มเพาะ"}, {"อื่น"}]
    passage = SimpleNamespace(chunk=SimpleNamespace(text=text), sentences=spans)
    index = SimpleNamespace(sentence_words=lambda p: words, retriever=SimpleNamespace(idf=lambda w: 1.0),
                            sentence_grams=lambda p: [frozenset(char_grams(text[a:b], 3)) for a, b in spans])
    chosen = Engine.highlight(passage, ["สิทธิประโยชน์", "เขตส่งเสริม"], index)
    assert [text[a:b] for a, b in chosen] == parts[:4]


def test_an_english_question_is_searched_without_the_character_fields(engine, monkeypatch):
    """Its character n-grams can only match the Latin letters of Thai passages; the dense signal
    (cross-lingual) counts for more instead."""
    seen = []
    search = engine.index.retriever.search

    def spy(query, k, weights, **kw):
        seen.append(weights)
        return search(query, k, weights, **kw)

    monkeypatch.setattr(engine.index.retriever, "search", spy)
    engine.ask("What is a smart city promotion zone?")
    engine.ask("เขตส่งเสริมเมืองอัจฉริยะคืออะไร")
    english, thai = seen
    assert english.chars3 == english.chars4 == 0 and thai.chars3 > 0 and thai.chars4 > 0
    assert english.dense > thai.dense


def test_a_list_that_runs_into_the_next_chunk_is_answered_whole(settings, fake_embedder):
    items = [f"{n}. รายการสิทธิประโยชน์ข้อที่ {n} สำหรับเขตส่งเสริมเมืองอัจฉริยะที่ผ่านการพิจารณาแล้ว" for n in range(1, 9)]
    (settings.knowledge_dir / "list.md").write_text(
        "---\ntitle: สิทธิ\n---\n# สิทธิ\n\n## สิทธิประโยชน์ของเขตส่งเสริม\n\n"
        "สิทธิประโยชน์ของเขตส่งเสริมเมืองอัจฉริยะมีดังนี้\n" + "\n".join(items) + "\n\nย่อหน้าหลังรายการ\n",
        encoding="utf-8")
    engine = Engine.load(settings.model_copy(update={"chunk_max_tokens": 40, "chunk_overlap": 0}),
                         embedder=fake_embedder)
    chunks = [p.chunk for p in engine.passages if p.chunk.doc_id == "list.md"]
    assert len(chunks) > 1 and items[-1] not in chunks[0].text  # the list is cut by chunking ...
    answer = engine.ask("สิทธิประโยชน์ของเขตส่งเสริมเมืองอัจฉริยะมีอะไรบ้าง")
    assert answer.answered or answer.highlights
    shown = [answer.hits[0].chunk.text[a:b] for a, b in answer.highlights]
    assert shown[0].endswith("มีดังนี้") and shown[1:] == items  # ... yet answered whole
    assert "ย่อหน้าหลังรายการ" not in " ".join(shown)


def _toy(text: str, parts: list[str], words: list[set[str]]):
    from types import SimpleNamespace

    spans = [(text.index(p), text.index(p) + len(p)) for p in parts]
    passage = SimpleNamespace(chunk=SimpleNamespace(text=text), sentences=spans)
    index = SimpleNamespace(sentence_words=lambda p: words, retriever=SimpleNamespace(idf=lambda w: 1.0),
                            sentence_grams=lambda p: [frozenset(char_grams(text[a:b], 3)) for a, b in spans])
    return passage, index


def test_the_lead_prefers_the_sentence_holding_the_kind_of_answer_asked_for():
    from bot.engine import answer_kind

    parts = ["สนข. ย่อมาจาก สำนักงานนโยบายและแผนการขนส่งและจราจร", "สนข. ตั้งขึ้นในปี 2545 ตามกฎหมาย"]
    passage, index = _toy(" ".join(parts), parts, [{"สนข."}, {"สนข."}])
    text = passage.chunk.text
    when = Engine.highlight(passage, ["สนข."], index, answer_kind("สนข ตั้งขึ้นปีไหนครับ"))
    assert [text[a:b] for a, b in when] == parts[1:]
    what = Engine.highlight(passage, ["สนข."], index, answer_kind("สนข คืออะไร"))
    assert [text[a:b] for a, b in what] == parts[:1]  # no kind asked: the first of equals, as before
    assert answer_kind("Who chaired the committee?") is not None and answer_kind("อธิบายหน่อย") is None


def test_a_short_lead_sentence_is_followed_by_the_next_on_its_line():
    from types import SimpleNamespace

    text = "รัฐมนตรีคนปัจจุบันคือนายไชยชนก ชิดชอบ ตั้งแต่ 27 ก.ย. 2568\nบรรทัดใหม่\n1. ข้อหนึ่ง"
    parts = ["รัฐมนตรีคนปัจจุบันคือนายไชยชนก", "ชิดชอบ ตั้งแต่ 27 ก.ย. 2568", "บรรทัดใหม่", "1. ข้อหนึ่ง"]
    spans = [(text.index(p), text.index(p) + len(p)) for p in parts]
    passage = SimpleNamespace(chunk=SimpleNamespace(text=text), sentences=spans)
    assert Engine._with_next(passage, spans[:1]) == spans[:2]  # the name cut by the splitter comes back
    assert Engine._with_next(passage, spans[1:2]) == spans[1:2]  # not across a line
    assert Engine._with_next(passage, spans[2:3]) == spans[2:3]  # not into a list item
    assert Engine._with_next(passage, spans[:2]) == spans[:2]  # a lead of several sentences as it is
