"""Anchors: the years and provinces a question names, which the passage that answers must name too,
and the months it names, which that passage should name.

A question about "ปี 64" is not answered by a passage about 2566, and one about อุดรธานี is not
answered by a passage that never mentions it, however close the rest of the words are. Measured on
the dev questions (all three sets), moving the first of the best five passages that names the
question's anchors to the front fixed five first passages and broke none; and when none of the five
names them, answering was never right (see ``scripts/calibrate.py``: ``anchor_missing``). Among the
passages that do, one that also names the question's month ("July 2023", "7 ก.พ. 62") comes first:
three more first passages right, none broken. Among those, one naming more of the question's years
comes first too ("ปี 66-70" is answered by "2566 – 2570" before "2566"; no dev figure moved).

Provinces come from PyThaiNLP's bundled list (Thai and English names), with the spoken forms of the
variant table ("โคราช" for นครราชสีมา); a year counts in either era (2566 = 2023).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from .query import word_bounds, thai_bounded, variant_table
from .text import year_variants

# Province names that are also everyday words ("ได้เลย", "แพร่ข่าว", "ตากแดด"): a question names the
# province only when it says so ("จังหวัดเลย", "จ.แพร่").
_EVERYDAY = frozenset({"เลย", "แพร่", "ตาก"})

# Each month: its full Thai name, then forms that count only beside a number ("7 ก.พ. 62", "May 2018"),
# since "ก.พ." is also the civil service commission and "may" an English word.
_MONTHS = (("มกราคม", "ม.ค.", "january", "jan"), ("กุมภาพันธ์", "ก.พ.", "february", "feb"),
           ("มีนาคม", "มี.ค.", "march", "mar"), ("เมษายน", "เม.ย.", "april", "apr"),
           ("พฤษภาคม", "พ.ค.", "may"), ("มิถุนายน", "มิ.ย.", "june", "jun"),
           ("กรกฎาคม", "ก.ค.", "july", "jul"), ("สิงหาคม", "ส.ค.", "august", "aug"),
           ("กันยายน", "ก.ย.", "september", "sep"), ("ตุลาคม", "ต.ค.", "october", "oct"),
           ("พฤศจิกายน", "พ.ย.", "november", "nov"), ("ธันวาคม", "ธ.ค.", "december", "dec"))


def _month_pattern(form: str) -> re.Pattern:
    """A short month form beside a number: a day before it ("4 July", "7 ก.พ.") or a number after
    it ("July 2022", "ก.พ. 62"); not a year before it ("2018 may be"), nor inside a longer
    abbreviation ("ก.พ.ร.")."""
    if form.isascii():
        return re.compile(r"(?:(?<!\d)\d{1,2}\s*" + form + r"(?![a-z])|(?<![a-z])" + form + r"\.?\s*\d)")
    thai = "\u0e00-\u0e7f"
    return re.compile(r"(?:(?<!\d)\d{1,2}\s*" + re.escape(form) + r"(?![" + thai + r".])|(?<![" + thai + r".])"
                      + re.escape(form) + r"\s*\d)")


_MONTH_FORMS = tuple((m[0], tuple(_month_pattern(f) for f in m[1:]), m[1:]) for m in _MONTHS)


@lru_cache(maxsize=1)
def province_names() -> tuple[tuple[str, frozenset[str]], ...]:
    """Each province's Thai name and every name it goes by, in lower case."""
    from pythainlp.corpus import provinces

    variants = variant_table()
    out = []
    for row in provinces(details=True):
        th = row["name_th"]
        names = {th, row["name_en"].lower()}
        if th.startswith("กรุงเทพ"):
            names.add("กรุงเทพ")
        names.update(v for v, terms in variants if th in terms.split())
        out.append((th, frozenset(n for n in names if n)))
    return tuple(out)


def _names_in(text: str, name: str, province: str, bounds: Callable[[], set[int]]) -> bool:
    """The text names the province: a Thai name as whole words of its segmentation (so "ตราด" is
    not found in "ได้ตราด้าน", nor "น่าน" in "น่านน้ำ"), a Latin one between non-letters, and a name
    that is also an everyday word only after "จังหวัด" or "จ." (not "แพร่" in "เผยแพร่")."""
    if name not in text:
        return False
    if province in _EVERYDAY and name == province:
        return re.search(r"(?:จังหวัด|จ\.)\s*" + re.escape(name), text) is not None
    if name.isascii():
        return _plain_in(text, name)
    start = 0
    while (i := text.find(name, start)) >= 0:
        start = i + 1
        if thai_bounded(text, i, i + len(name), bounds()):
            return True
    return False


def provinces_in(text: str) -> frozenset[str]:
    """The provinces a text names, by their Thai names (questions and passages alike)."""
    low = text.lower()
    bounds = lru_cache(maxsize=1)(lambda: word_bounds(low))  # segmented only when a name is found
    return frozenset(th for th, names in province_names() if any(_names_in(low, n, th, bounds) for n in names))


@dataclass(frozen=True)
class Anchors:
    years: tuple[tuple[str, str], ...] = ()  # each year the question names, with the same year in the other era
    provinces: tuple[str, ...] = ()  # each province it names (Thai name)
    months: tuple[int, ...] = ()  # each month it names (0 = January)

    def __bool__(self) -> bool:
        return bool(self.years or self.provinces or self.months)

    def rank(self, text: str, provinces: frozenset[str] | None = None) -> int:
        """0 when the text misses the question's province or all of its years; else 1, plus one for
        each further year of the question it names (both ends of "ปี 66-70"), plus one when it names
        the question's month (or the question names none): a single year and month named is 2.
        ``provinces``: the provinces the text names, when already known (``provinces_in``)."""
        if not self.named_in(text, provinces):
            return 0
        low = text.lower()
        further = max(sum(1 for a, b in self.years if a in low or b in low) - 1, 0)
        return 1 + further + int(not self.months or any(_month_in(low, m) for m in self.months))

    def named_in(self, text: str, provinces: frozenset[str] | None = None) -> bool:
        """The text names one of the question's years (if it names any) and one of its provinces
        (if it names any); months are not required (``rank`` prefers them)."""
        low = text.lower()
        if self.years and not any(a in low or b in low for a, b in self.years):
            return False
        if self.provinces:
            named = provinces_in(text) if provinces is None else provinces
            if not named.intersection(self.provinces):
                return False
        return True


def _month_in(text: str, month: int) -> bool:
    full, forms, words = _MONTH_FORMS[month]
    return full in text or any(w in text and f.search(text) for f, w in zip(forms, words))


def _plain_in(text: str, name: str) -> bool:
    if name not in text:
        return False
    if name.isascii():
        return re.search(r"(?<![a-z0-9])" + re.escape(name) + r"(?![a-z0-9])", text) is not None
    return name in text


# a number followed by what it counts is a count, not a year ("2000 คน", "2,500 บาท"), unless a year
# word comes before it ("ปี 2566 เมือง…", "In 2023 cities…")
_COUNTED = re.compile(r"\s*(?:คน|ราย|บาท|ล้าน|พัน|หมื่น|แสน|ชั่วโมง|นาที|%|"
                      r"people|persons|participants|baht|hours|minutes)(?![a-z])", re.I)
_YEAR_WORD = re.compile(r"(?:ปี|พ\.?\s?ศ\.?|ค\.?\s?ศ\.?|in|year|since|by|until)\s*$", re.I)


def _a_year(text: str, year: str) -> bool:
    """Some occurrence of the four digits reads as a year, not as a count of something."""
    for m in re.finditer(r"(?<![\d,])" + year + r"(?!\d|[,.]\d)", text):
        if _YEAR_WORD.search(text, 0, m.start()) or not _COUNTED.match(text, m.end()):
            return True
    return False


def anchors_of(*texts: str) -> Anchors:
    """The years, provinces and months the texts (a question and its readings) name."""
    years: dict[str, str] = {}
    found: set[str] = set()
    months: list[int] = []
    for text in texts:
        years.update((y, other) for y, other in year_variants(text).items() if _a_year(text, y))
        found |= provinces_in(text)
        low = text.lower()
        months += [m for m in range(12) if m not in months and _month_in(low, m)]
    return Anchors(tuple(sorted(years.items())), tuple(sorted(found)), tuple(sorted(months)))
