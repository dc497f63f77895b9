"""PDF, DOCX and HTML ingestion on real files (tests/fixtures/ingest, made by scripts/make_fixtures.py)."""

import shutil
from pathlib import Path

import pytest

from bot.documents import load_documents
from bot.engine import Engine
from bot.index import IndexStore

INGEST = Path(__file__).parent / "fixtures" / "ingest"


@pytest.fixture
def docs():
    loaded, problems = load_documents(INGEST)
    assert problems == []
    return {d.doc_id: d for d in loaded}


def test_pdf_text_layer_and_sidecar_metadata(docs):
    pdf = docs["announcement.pdf"]
    assert pdf.title == "ประกาศรับสมัครเมืองอัจฉริยะ (เอกสารทดสอบ)"  # from the PDF's own metadata
    assert pdf.source.issuer == "สำนักงานส่งเสริมเศรษฐกิจดิจิทัล (ทดสอบ)"  # from announcement.pdf.meta.yaml
    assert pdf.source.url == "https://example.org/announcement.pdf" and pdf.source.date == "2024-08-01"
    assert "ผู้ยื่นข้อเสนอต้องส่งแผนพัฒนาเมืองภายในวันที่ 30 กันยายน 2567" in pdf.text


def test_docx_headings_become_sections_and_tables_are_kept(docs):
    d = docs["guide.docx"]
    assert d.title == "คู่มือเขตส่งเสริม (เอกสารทดสอบ)" and d.source.issuer == "ทีมทดสอบ"
    assert d.source.date == "2024-05-01"
    assert [s.heading for s in d.sections if s.heading] == ["คุณสมบัติผู้สมัคร", "สิทธิประโยชน์"]
    assert "ยกเว้นภาษีเงินได้นิติบุคคล" in d.text
    assert "เมืองใหม่ทันสมัย | 4 เมือง" in d.text


def test_html_boilerplate_is_removed(docs):
    d = docs["news.html"]
    assert "ออนไลน์ตลอดเจ็ดวัน" in d.text and "& มีการจับคู่ธุรกิจ" in d.text
    for chrome in ("BANNER", "สมัครสมาชิก", "ติดต่อโฆษณา", "หน้าแรก"):
        assert chrome not in d.text
    assert "สัปดาห์เมืองอัจฉริยะ" in d.title


def test_index_picks_up_new_changed_and_removed_files(settings, fake_embedder, knowledge: Path):
    store = IndexStore(settings)
    store.build(fake_embedder, progress=False)
    for name in ("announcement.pdf", "announcement.pdf.meta.yaml", "guide.docx", "news.html"):
        shutil.copy(INGEST / name, knowledge / name)
    report = store.build(fake_embedder, progress=False)
    assert report.documents == 6 and report.problems == []
    assert report.reused > 0  # the three old documents were not embedded again
    engine = Engine.load(settings, embedder=fake_embedder)
    assert engine.ask("ส่งแผนพัฒนาเมืองภายในวันที่เท่าไร").hits[0].chunk.doc_id == "announcement.pdf"

    # a changed sidecar is a changed document
    (knowledge / "announcement.pdf.meta.yaml").write_text("issuer: ทีมอื่น\n", encoding="utf-8")
    assert "announcement.pdf" in store.check(64)
    (knowledge / "news.html").unlink()
    (knowledge / "guide.docx").write_bytes(b"PK\x03\x04 broken zip")
    report = store.build(fake_embedder, progress=False)
    assert report.removed == ["news.html"]
    assert [p.path for p in report.problems] == ["guide.docx"]
    assert report.documents == 4
