from pathlib import Path

import pytest

from bot.documents import KnowledgeError, load_documents


def test_markdown_front_matter_and_text(knowledge):
    docs, problems = load_documents(knowledge)
    assert problems == []
    zones = next(d for d in docs if d.doc_id == "zones.md")
    assert zones.title == "เขตส่งเสริมเมืองอัจฉริยะ (เอกสารทดสอบ)"
    assert zones.source.url == "https://example.org/zones"
    assert zones.source.date == "2024-01-15" and zones.source.as_of == "2024-01-15"
    assert "2564" in zones.text and "๒" not in zones.text  # normalized: Thai digits to Arabic
    assert [s.heading for s in zones.sections if s.heading] == ["ความหมาย", "จำนวนเขต"]


def test_plain_text_takes_its_first_line_as_title(knowledge):
    docs, _ = load_documents(knowledge)
    amb = next(d for d in docs if d.doc_id == "ambassadors.txt")
    assert amb.title == "ambassadors"  # no metadata: the file name
    assert "Bootcamp" in amb.text


def test_broken_files_are_reported_by_name_and_the_rest_still_load(knowledge: Path):
    (knowledge / "bad-yaml.md").write_text("---\ntitle: [unclosed\n---\nข้อความ\n", encoding="utf-8")
    (knowledge / "latin1.txt").write_bytes("caf\xe9 \xff\xfe".encode("latin-1"))
    (knowledge / "empty.md").write_text("---\ntitle: ว่าง\n---\n\n", encoding="utf-8")
    (knowledge / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    docs, problems = load_documents(knowledge)
    assert {d.doc_id for d in docs} == {"zones.md", "ambassadors.txt", "energy.md"}
    named = {p.path: p.message for p in problems}
    assert set(named) == {"bad-yaml.md", "latin1.txt", "empty.md", "broken.pdf"}
    assert "YAML" in named["bad-yaml.md"]
    assert "UTF-8" in named["latin1.txt"]
    assert "ไม่มีข้อความ" in named["empty.md"]


def test_sidecar_metadata_overrides_the_file(knowledge: Path):
    (knowledge / "ambassadors.txt.meta.yaml").write_text(
        "title: ทูตเมืองอัจฉริยะ\nissuer: depa\nurl: https://example.org/sca\n", encoding="utf-8")
    docs, problems = load_documents(knowledge)
    assert problems == []
    amb = next(d for d in docs if d.doc_id == "ambassadors.txt")
    assert (amb.title, amb.source.issuer, amb.source.url) == ("ทูตเมืองอัจฉริยะ", "depa", "https://example.org/sca")
    assert not any(d.doc_id.endswith(".meta.yaml") for d in docs)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(KnowledgeError, match="not found"):
        load_documents(tmp_path / "nope")


def test_empty_folder_loads_nothing(tmp_path):
    (tmp_path / "k").mkdir()
    assert load_documents(tmp_path / "k") == ([], [])


def test_markdown_tables_become_one_readable_line_a_row():
    from bot.documents import linearize_tables, structure

    md = ("ก่อน\n\n| วันที่ | เหตุการณ์ | จำนวนสะสม |\n|---|---|---|\n"
          "| 27 ส.ค. 2568 | รับรอง <ใหม่> & ต่ออายุ | 37 เมือง ใน 16 จังหวัด |\n| 2564 | - | 15 |\n\nหลัง")
    assert linearize_tables(md) == (
        "ก่อน\n\nวันที่: 27 ส.ค. 2568 · เหตุการณ์: รับรอง <ใหม่> & ต่ออายุ · จำนวนสะสม: 37 เมือง ใน 16 จังหวัด\n"
        "วันที่: 2564 · จำนวนสะสม: 15\n\nหลัง")
    _, text, _, _ = structure("# เอกสาร\n\n## ตาราง\n\n" + md)
    assert "|" not in text and "จำนวนสะสม: 37 เมือง" in text
    assert linearize_tables("ไม่มีตาราง | แค่ขีด") == "ไม่มีตาราง | แค่ขีด"
