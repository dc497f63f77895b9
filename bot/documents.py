"""Loading the knowledge folder: Markdown (YAML front matter), text, PDF, DOCX and HTML.

Every format ends as the same ``Document``: a title, normalized text, sections with their character
spans, and source metadata (from the file itself, or a sidecar ``NAME.EXT.meta.yaml``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import yaml

from .text import normalize_text, strip_invisible
from .types import Document, Mark, Section, Source

log = logging.getLogger(__name__)

SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".docx", ".html", ".htm")
SIDECAR = ".meta.yaml"
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# a nested list item: its indent would be lost to normalization, so it is marked as a sub-item
_NESTED = re.compile(r"^(?: {2,}|\t+)[-*+] ", re.M)
_FRONT = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)


class KnowledgeError(Exception):
    """The knowledge folder as a whole cannot be used (missing, not a folder)."""


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Raw:
    """A file's text as Markdown-ish lines, and the metadata found in it."""

    markdown: str
    meta: dict[str, Any]


def knowledge_files(folder: Path) -> list[Path]:
    if not folder.exists():
        raise KnowledgeError(f"ไม่พบโฟลเดอร์เอกสาร (knowledge folder not found): {folder}")
    if not folder.is_dir():
        raise KnowledgeError(f"ไม่ใช่โฟลเดอร์ (not a folder): {folder}")
    files = []
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.name.startswith((".", "_")) or path.name.endswith(SIDECAR):
            continue
        if path.name.lower() == "readme.md":
            continue
        if path.suffix.lower() in SUFFIXES:
            files.append(path)
    return files


def file_digest(path: Path) -> str:
    h = hashlib.sha256(path.read_bytes())
    side = path.with_name(path.name + SIDECAR)
    if side.exists():
        h.update(b"\0sidecar\0" + side.read_bytes())
    return h.hexdigest()


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    m = _FRONT.match(text)
    if not m:
        return {}, text
    meta = yaml.safe_load(m.group(1)) or {}
    if not isinstance(meta, dict):
        raise ValueError("front matter is not a YAML mapping")
    return meta, text[m.end():]


def _read_markdown(path: Path) -> Raw:
    meta, body = split_front_matter(path.read_text(encoding="utf-8"))
    return Raw(body, meta)


def _read_text(path: Path) -> Raw:
    return Raw(path.read_text(encoding="utf-8"), {})


def _read_pdf(path: Path) -> Raw:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    pages = [(page.extract_text() or "").strip() for page in reader.pages]
    info = reader.metadata or {}
    meta = {"title": str(info.get("/Title") or "").strip(), "issuer": str(info.get("/Author") or "").strip()}
    return Raw("\n\n".join(p for p in pages if p), {k: v for k, v in meta.items() if v})


def _read_docx(path: Path) -> Raw:
    import docx

    d = docx.Document(str(path))
    lines = []
    for para in d.paragraphs:
        text = para.text.strip()
        if not text:
            continue
        style = (para.style.name or "").lower() if para.style is not None else ""
        level = re.search(r"heading\s*(\d)", style)
        if style == "title":
            lines.append(f"# {text}")
        elif level:
            lines.append("#" * min(int(level.group(1)) + 1, 6) + " " + text)
        else:
            lines.append(text)
    for table in d.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                lines.append(" | ".join(dict.fromkeys(cells)))
    props = d.core_properties
    meta = {"title": (props.title or "").strip(), "issuer": (props.author or "").strip()}
    if props.created:
        meta["date"] = props.created.date().isoformat()
    return Raw("\n\n".join(lines), {k: v for k, v in meta.items() if v})


def _read_html(path: Path) -> Raw:
    import trafilatura

    html = path.read_text(encoding="utf-8", errors="replace")
    body = trafilatura.extract(html, output_format="markdown", include_tables=True,
                               include_comments=False, favor_recall=True) or ""
    info = trafilatura.extract_metadata(html)
    meta: dict[str, Any] = {}
    if info is not None:
        for key, attr in (("title", "title"), ("issuer", "sitename"), ("date", "date"), ("url", "url")):
            value = getattr(info, attr, None)
            if value:
                meta[key] = str(value)
    return Raw(body, meta)


READERS: dict[str, Callable[[Path], Raw]] = {
    ".md": _read_markdown, ".markdown": _read_markdown, ".txt": _read_text,
    ".pdf": _read_pdf, ".docx": _read_docx, ".html": _read_html, ".htm": _read_html,
}


_KINDS = {"strong": "b", "em": "i", "link": "a"}


@lru_cache(maxsize=1)
def _inline_parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark")


def inline_markup(line: str) -> tuple[str, list[Mark]]:
    """One line's inline Markdown (parsed with markdown-it-py) as plain text and the marks that keep
    its bold, italic, code and links for display: "**ตรา** [ข่าว](https://x)" ->
    ("ตรา ข่าว", [(0, 3, "b", ""), (4, 8, "a", "https://x")]). Images keep their alt text."""
    if not any(c in line for c in "*_`[\\&<"):
        return line, []
    lead = line[: len(line) - len(line.lstrip(" "))]  # parseInline would drop the indent of a sub-item
    tokens = _inline_parser().parseInline(line[len(lead):])
    out: list[str] = [lead]
    marks: list[Mark] = []
    open_: list[tuple[str, int, str]] = []  # kind, start, href of each mark still open
    pos = len(lead)
    for tok in (tokens[0].children if tokens else None) or []:
        kind = tok.type
        if kind.endswith("_open") and kind[:-5] in _KINDS:
            open_.append((_KINDS[kind[:-5]], pos, str(tok.attrGet("href") or "") if kind == "link_open" else ""))
            continue
        if kind.endswith("_close") and kind[:-6] in _KINDS:
            if open_:
                k, a, href = open_.pop()
                if pos > a:
                    marks.append((a, pos, k, href))
            continue
        # entities decode after normalization ("&#8203;", "&nbsp;"): clean what they bring back
        text = {"softbreak": " ", "hardbreak": " "}.get(kind) or (
            strip_invisible(tok.content) if kind != "code_inline" and "&" in line else tok.content)
        if kind == "code_inline" and text:
            marks.append((pos, pos + len(text), "code", ""))
        out.append(text)
        pos += len(text)
    return "".join(out), sorted(marks)


def _clean_inline(line: str) -> tuple[str, list[Mark]]:
    if line.startswith(">"):
        line = line.lstrip("> ")
    if set(line.strip()) <= set("-*_=|: ") and line.strip():
        return "", []  # rules and table separators
    return inline_markup(line)


def linearize_tables(markdown: str) -> str:
    """Markdown tables (parsed with markdown-it-py) as one readable line a row, each cell after its
    header: "วันที่: 27 ส.ค. 2568 · จำนวนสะสม: 37 เมือง ใน 16 จังหวัด". Empty and "-" cells are left out."""
    if "|" not in markdown:
        return markdown
    from markdown_it import MarkdownIt

    lines = markdown.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    tokens = MarkdownIt("commonmark").enable("table").parse("\n".join(lines))
    tables: list[tuple[int, int, list[str], list[list[str]]]] = []
    for i, tok in enumerate(tokens):
        if tok.type == "table_open" and tok.map:
            header: list[str] = []
            rows: list[list[str]] = []
            row: list[str] = []
            for t in tokens[i + 1:]:
                if t.type == "table_close":
                    break
                if t.type == "tr_open":
                    row = []
                elif t.type == "inline":
                    row.append(t.content.strip())
                elif t.type == "tr_close":
                    (rows if header else header).extend([row] if header else row)
            tables.append((tok.map[0], tok.map[1], header, rows))
    for start, end, header, rows in reversed(tables):
        out = []
        for row in rows:
            cells = [f"{h}: {c}" if h else c for h, c in zip(header + [""] * len(row), row) if c and c != "-"]
            out.append(" · ".join(cells))
        lines[start:end] = out
    return "\n".join(lines)


def structure(markdown: str) -> tuple[str, str, tuple[Section, ...], tuple[Mark, ...]]:
    """Markdown body -> (first top heading, normalized text, sections, inline marks in the text).

    Headings stay in the text as plain lines; a section runs from its heading to the next heading
    of the same or a higher level, and is named by its heading path below the document title.
    """
    text = normalize_text(linearize_tables(_NESTED.sub("◦ ", markdown)))
    out: list[str] = []
    heads: list[tuple[int, int, str, int]] = []  # (char offset, level, heading, body offset)
    pos = 0
    marks: list[Mark] = []
    for raw in text.split("\n"):
        m = _HEADING.match(raw)
        line, found = _clean_inline(m.group(2) if m else raw)
        marks += [(pos + a, pos + b, kind, href) for a, b, kind, href in found]
        if m:
            heads.append((pos, len(m.group(1)), line, pos + len(line) + 1))
        out.append(line)
        pos += len(line) + 1
    body = "\n".join(out)
    top = next((h for _, level, h, _ in heads if level == 1), "")
    sections: list[Section] = []
    path: dict[int, str] = {}
    starts = [(0, 0, "", 0)] + heads
    for i, (start, level, heading, body_start) in enumerate(starts):
        if level:
            path = {k: v for k, v in path.items() if k < level}
            path[level] = heading
        end = starts[i + 1][0] if i + 1 < len(starts) else len(body)
        name = " › ".join(v for k, v in sorted(path.items()) if k > 1)
        if body[min(body_start, end):end].strip():
            sections.append(Section(name, start, end, min(body_start, end)))
    return top, body, tuple(sections), tuple(marks)


def _string(meta: dict[str, Any], key: str) -> str:
    value = meta.get(key)
    return "" if value is None else str(value).strip()


def load_document(path: Path, root: Path) -> Document:
    """One file -> Document. Raises ValueError (with a readable reason) when it has no usable text."""
    reader = READERS[path.suffix.lower()]
    raw = reader(path)
    meta = dict(raw.meta)
    side = path.with_name(path.name + SIDECAR)
    if side.exists():
        extra = yaml.safe_load(side.read_text(encoding="utf-8")) or {}
        if not isinstance(extra, dict):
            raise ValueError(f"{side.name} is not a YAML mapping")
        meta.update(extra)
    top, body, sections, marks = structure(raw.markdown)
    if not body.strip():
        raise ValueError("ไม่มีข้อความในไฟล์ (the file has no text)")
    doc_id = path.relative_to(root).as_posix()
    title = _string(meta, "title") or top or path.stem
    source = Source(
        document=doc_id, title=title, issuer=_string(meta, "issuer"), date=_string(meta, "date"),
        url=_string(meta, "url"), as_of=_string(meta, "as_of"), caveat=_string(meta, "caveat"),
    )
    return Document(doc_id, title, body, sections, source, file_digest(path), meta, marks)


def load_documents(folder: Path) -> tuple[list[Document], list[Problem]]:
    """All readable documents of the folder, and a Problem for each file that could not be used."""
    folder = Path(folder)
    docs, problems = [], []
    for path in knowledge_files(folder):
        rel = path.relative_to(folder).as_posix()
        try:
            docs.append(load_document(path, folder))
        except UnicodeDecodeError:
            problems.append(Problem(rel, "อ่านไม่ได้: ไม่ใช่ข้อความ UTF-8 (not UTF-8 text)"))
        except yaml.YAMLError as exc:
            problems.append(Problem(rel, f"front matter ผิดรูปแบบ (bad YAML): {str(exc).splitlines()[0]}"))
        except Exception as exc:  # a broken file must never stop the others
            problems.append(Problem(rel, f"อ่านไม่ได้ (unreadable): {type(exc).__name__}: {exc}"))
    for p in problems:
        log.warning("skipped %s", p)
    return docs, problems
