"""Inline citations: "(ที่มา: มติชน, 27 ส.ค. 2568; Nation Thailand, 28 ส.ค. 2568)" in a document's text,
resolved to the entries of its front matter's ``sources`` (publisher, date, title, url).

An item names a publisher (or a title, or a web site) and usually a date in the Thai style; it
resolves to the source whose publisher, title and address share the most of its words, the date
deciding between sources of the same publisher. Items joined by "และ" name several sources.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from .text import LIST_ITEM, words

CITATION = re.compile(r"\(ที่มา:\s*((?:[^()]|\([^()]*\))*)\)")
_TH_MONTHS = {"ม.ค.": 1, "ก.พ.": 2, "มี.ค.": 3, "เม.ย.": 4, "พ.ค.": 5, "มิ.ย.": 6, "ก.ค.": 7, "ส.ค.": 8,
              "ก.ย.": 9, "ต.ค.": 10, "พ.ย.": 11, "ธ.ค.": 12}
_DATE = re.compile(r"(?:(\d{1,2})\s+)?(" + "|".join(re.escape(m) for m in _TH_MONTHS) + r")?\s*((?:25|20)\d\d)")
_ISO = re.compile(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?")
_NOISE = frozenset({"ข่าว", "ผ่าน", "ใน", "the", "ของ", "บน", "เว็บไซต์"})


@dataclass(frozen=True)
class CitedSource:
    publisher: str
    date: str
    title: str
    url: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class InlineCitation:
    start: int  # the "(ที่มา: …)" span in the text
    end: int
    items: tuple[str, ...]  # "มติชน, 27 ส.ค. 2568", one per named source


def find(text: str) -> list[InlineCitation]:
    out = []
    for m in CITATION.finditer(text):
        items: list[str] = []
        for part in m.group(1).split(";"):
            names, comma, date = part.rpartition(",") if "," in part else (part, "", "")
            # "Bangkok Post และ AEC-UTCC, พ.ค. 2561": two sources of the same date
            items += [f"{n.strip()}{comma}{date}".strip() for n in re.split(r"\s+และ\s+", names) if n.strip()]
        out.append(InlineCitation(m.start(), m.end(), tuple(items)))
    return out


def sources_of(meta: dict[str, Any]) -> list[CitedSource]:
    """The front matter's ``sources`` as cited sources (entries that are not mappings are skipped)."""
    out = []
    for s in meta.get("sources") or []:
        if isinstance(s, dict):
            out.append(CitedSource(*(str(s.get(k) or "").strip() for k in ("publisher", "date", "title", "url"))))
    return out


def _thai_date(item: str) -> tuple[tuple[int, int | None, int | None] | None, int]:
    """The item's (year C.E., month, day) and where the date starts (len(item) if none)."""
    last = None
    for last in _DATE.finditer(item):
        pass
    if last is None:
        return None, len(item)
    day, month, year = last.group(1), last.group(2), int(last.group(3))
    year = year - 543 if year > 2400 else year
    return (year, _TH_MONTHS.get(month) if month else None, int(day) if day else None), last.start()


def _iso(date: str) -> tuple[int, int | None, int | None] | None:
    m = _ISO.match(date)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None, int(m.group(3)) if m.group(3) else None


def _key(text: str) -> str:
    return re.sub(r"[^\w\u0E00-\u0E7F]+", " ", text.lower()).strip()


def resolve(item: str, sources: Iterable[CitedSource]) -> list[int]:
    """The indexes of the sources the item names: one when it is clear, several when they tie,
    none when nothing matches."""
    sources = list(sources)
    date, cut = _thai_date(item)
    name = _key(item[:cut].strip(" ,"))
    name_words = set(words(name)) - _NOISE
    scored = []
    for i, s in enumerate(sources):
        hay = _key(f"{s.publisher} {s.title} {s.url}")
        share = len(name_words & set(words(hay))) / len(name_words) if name_words else 0.0
        if name and name.replace(" ", "") in hay.replace(" ", ""):
            share = max(share, 1.0)
        when = 0.0
        sd = _iso(s.date)
        if date and sd:
            if sd[0] == date[0]:
                when = 1 + (date[1] is not None and sd[1] == date[1]) + (date[2] is not None and sd[2] == date[2])
            elif abs(sd[0] - date[0]) == 1:
                when = 0.3
        scored.append((share, when, i))
    if not scored:
        return []
    best = max(scored, key=lambda x: (x[0] + 0.5 * x[1], x[0]))
    if best[0] < 0.5:  # the name is not found; a date to the day that only one source has still is
        exact = [i for share, when, i in scored if when == 3]
        return exact if len(exact) == 1 else []
    ties = [i for share, when, i in scored if (share, when) == (best[0], best[1])]
    for closer in (lambda i: _key(sources[i].publisher) == name,  # the publisher as named
                   lambda i: _key(sources[i].publisher).startswith(name)):
        narrowed = [i for i in ties if closer(i)]
        if len(narrowed) == 1:
            return narrowed
    return ties


def supporting(citations: Iterable[tuple[int, int]], spans: Iterable[tuple[int, int]], text: str) -> list[int]:
    """Which of the citations (start, end) support the spans. For each span: the citations inside
    it or right after it; else the next one later in its paragraph (line), which is where a claim
    that runs over several sentences is cited ("ก ... ข ... (ที่มา: Y)"); else the nearest one before
    it in the paragraph."""
    cits = list(citations)
    out: list[int] = []
    for a, b in sorted(spans):
        line_start = text.rfind("\n", 0, a) + 1
        line_end = text.find("\n", b)
        line_end = len(text) if line_end < 0 else line_end
        found = [k for k, (s, _) in enumerate(cits) if a <= s <= b + 2]
        if not found:
            found = [k for k, (s, _) in enumerate(cits) if b < s < line_end][:1]
        if not found:
            found = [k for k, (s, e) in enumerate(cits) if line_start <= s and e <= a][-1:]
        if not found and LIST_ITEM.match(text, line_start):
            found = _intro_citations(cits, text, line_start)
        out += [k for k in found if k not in out]
    return out



def _intro_citations(cits: list[tuple[int, int]], text: str, line_start: int) -> list[int]:
    """An uncited list item is supported by the citations of the line that introduces its list
    (the nearest line above it, in the same block, that is not an item)."""
    end = line_start - 1
    while end > 0:
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end]
        if not line.strip():
            return []  # a blank line: the list has no introduction in this passage
        if not LIST_ITEM.match(line):
            return [k for k, (s, e) in enumerate(cits) if start <= s and e <= end]
        end = start - 1
    return []
