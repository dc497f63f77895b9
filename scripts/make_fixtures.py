#!/usr/bin/env python3
"""Writes the small PDF, DOCX and HTML files the ingestion tests read (tests/fixtures/ingest/).

They are committed; run this again only to change them. The PDF needs a Thai TrueType font
(Debian: fonts-tlwg-garuda-ttf); the font's glyphs are embedded in the PDF, so reading it does not.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ingest"
FONT = Path("/usr/share/fonts/truetype/tlwg/Garuda.ttf")

TITLE = "ประกาศรับสมัครเมืองอัจฉริยะ (เอกสารทดสอบ)"
PARAS = [
    "สำนักงานส่งเสริมเศรษฐกิจดิจิทัลเปิดรับข้อเสนอเมืองอัจฉริยะรอบทดสอบ",
    "ผู้ยื่นข้อเสนอต้องส่งแผนพัฒนาเมืองภายในวันที่ 30 กันยายน 2567",
    "ข้อเสนอที่ผ่านการประเมินจะได้รับตราสัญลักษณ์เมืองอัจฉริยะ",
]


def pdf() -> None:
    from fpdf import FPDF

    doc = FPDF()
    doc.set_title(TITLE)
    doc.set_author("ทีมทดสอบ")
    doc.add_page()
    doc.add_font("Garuda", "", str(FONT))
    doc.set_font("Garuda", size=14)
    for line in [TITLE, *PARAS]:
        doc.multi_cell(0, 10, line)
        doc.ln(2)
    doc.output(str(OUT / "announcement.pdf"))
    (OUT / "announcement.pdf.meta.yaml").write_text(
        "issuer: สำนักงานส่งเสริมเศรษฐกิจดิจิทัล (ทดสอบ)\ndate: \"2024-08-01\"\n"
        "url: https://example.org/announcement.pdf\n", encoding="utf-8")


def docx() -> None:
    import docx as python_docx

    d = python_docx.Document()
    d.core_properties.title = "คู่มือเขตส่งเสริม (เอกสารทดสอบ)"
    d.core_properties.author = "ทีมทดสอบ"
    d.core_properties.created = datetime(2024, 5, 1)
    d.add_heading("คู่มือเขตส่งเสริม", level=0)
    d.add_heading("คุณสมบัติผู้สมัคร", level=1)
    d.add_paragraph("องค์กรปกครองส่วนท้องถิ่นและเอกชนยื่นข้อเสนอเขตส่งเสริมเมืองอัจฉริยะได้")
    d.add_heading("สิทธิประโยชน์", level=1)
    d.add_paragraph("ผู้ลงทุนในเขตส่งเสริมขอรับการยกเว้นภาษีเงินได้นิติบุคคลจากบีโอไอได้")
    table = d.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "ประเภท", "จำนวน"
    table.cell(1, 0).text, table.cell(1, 1).text = "เมืองใหม่ทันสมัย", "4 เมือง"
    d.save(str(OUT / "guide.docx"))


def html() -> None:
    (OUT / "news.html").write_text("""<!doctype html>
<html lang="th"><head><meta charset="utf-8"><title>ข่าวงานสัปดาห์เมืองอัจฉริยะ (เอกสารทดสอบ)</title>
<meta name="author" content="ทีมทดสอบ"></head>
<body>
<nav><a href="/">หน้าแรก</a> | <a href="/ads">โฆษณา</a> | สมัครสมาชิก</nav>
<div class="banner">BANNER 720x100 ซื้อเลยวันนี้</div>
<article>
<h1>งานสัปดาห์เมืองอัจฉริยะจัดแบบออนไลน์</h1>
<p>งาน Thailand Smart City Week จัดขึ้นในรูปแบบออนไลน์ตลอดเจ็ดวัน มีการสัมมนาและการแข่งขันแฮกกาธอน</p>
<p>ผู้จัดงานรายงานว่ามีผู้ร่วมชมงานมากกว่าสามแสนคน &amp; มีการจับคู่ธุรกิจหลายร้อยคู่</p>
</article>
<footer>Copyright 2024 เว็บข่าวตัวอย่าง สงวนลิขสิทธิ์ | ติดต่อโฆษณา</footer>
</body></html>
""", encoding="utf-8")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for make in (pdf, docx, html):
        make()
    print("\n".join(sorted(p.name for p in OUT.iterdir())), file=sys.stderr)
