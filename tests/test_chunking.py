from pathlib import Path

from bot.chunking import ChunkParams, chunk_document
from bot.documents import load_document
from bot.text import words

SEED = Path(__file__).resolve().parents[1] / "knowledge" / "cabinet-2022-05-03-smart-city-results-2564.md"


def _doc(tmp_path: Path, body: str):
    path = tmp_path / "doc.md"
    path.write_text("---\ntitle: ทดสอบ\n---\n" + body, encoding="utf-8")
    return load_document(path, tmp_path)


def test_chunk_text_is_the_span_of_the_document(tmp_path):
    doc = load_document(SEED, SEED.parent)
    chunks = chunk_document(doc, ChunkParams(60, 0))
    assert len(chunks) > 5
    for c in chunks:
        assert doc.text[c.start:c.end].strip() == c.text
        assert c.source.title == doc.title


def test_chunks_are_bounded_and_never_cross_a_section(tmp_path):
    doc = load_document(SEED, SEED.parent)
    params = ChunkParams(60, 1)
    for c in chunk_document(doc, params):
        assert len(words(c.text)) <= params.max_tokens
        section = next(s for s in doc.sections if s.heading == c.section)
        assert section.start <= c.start and c.end <= section.end


def test_chunks_never_cut_a_sentence(tmp_path):
    sentence = "เมืองอัจฉริยะคือเมืองที่ใช้เทคโนโลยีดิจิทัลพัฒนาคุณภาพชีวิตของประชาชน"
    doc = _doc(tmp_path, "# ทดสอบ\n\n## ส่วนหนึ่ง\n\n" + " ".join([sentence] * 12) + "\n")
    chunks = chunk_document(doc, ChunkParams(25, 0))
    assert len(chunks) > 1
    for c in chunks:
        # every chunk is made of whole copies of the sentence
        assert c.text.replace(sentence, "").strip() == ""


def test_sections_and_headings_travel_with_chunks(tmp_path):
    doc = _doc(tmp_path, "# หัวเรื่อง\n\n## ก\n\nข้อความแรก\n\n## ข\n\n### ค\n\nข้อความที่สอง\n")
    chunks = chunk_document(doc, ChunkParams())
    assert [c.section for c in chunks] == ["ก", "ข › ค"]
    assert chunks[1].text == "ข้อความที่สอง"
    assert chunks[1].header() == "ทดสอบ — ข › ค"


def test_overlap_repeats_the_last_sentence(tmp_path):
    doc = _doc(tmp_path, "## ก\n\n" + "\n".join(f"ข้อที่ {i} เมืองอัจฉริยะพัฒนาต่อเนื่อง" for i in range(12)) + "\n")
    chunks = chunk_document(doc, ChunkParams(15, 1))
    assert len(chunks) > 2
    for a, b in zip(chunks, chunks[1:]):
        assert a.text.split("\n")[-1] == b.text.split("\n")[0]
