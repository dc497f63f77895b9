"""Reading a question as people type it: short Buddhist-era years, colloquial and transliterated
variants, typos, and English terms, rewritten into the words the documents use.

Everything here is deterministic. The English-Thai glossary is mined from the documents at index
time (``mine_glossary``); the typo correction uses the corpus vocabulary; the variant table
(``data/th_variants.tsv``) lists the spoken and transliterated forms of the domain's terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

from .text import ENGLISH_STOPWORDS, english_terms, english_to_thai_terms, language, segment, word_spans, words

# -- short Buddhist-era years -----------------------------------------------------------------------
_MONTHS = ("ม.ค.|ก.พ.|มี.ค.|เม.ย.|พ.ค.|มิ.ย.|ก.ค.|ส.ค.|ก.ย.|ต.ค.|พ.ย.|ธ.ค.|มกราคม|กุมภาพันธ์|มีนาคม|เมษายน|"
           "พฤษภาคม|มิถุนายน|กรกฎาคม|สิงหาคม|กันยายน|ตุลาคม|พฤศจิกายน|ธันวาคม")
_MONTHS_RE = "|".join(re.escape(m) for m in _MONTHS.split("|"))
# "ปี 64", "ปี64", "ปีงบ 68", "ปีงบประมาณ 68", "พ.ศ. 67", "พศ67", "ปี 66-70", "ก.พ. 62", "ธันวาคม 64"
_SHORT_YEAR = re.compile(
    r"(?P<lead>(?:ปี(?:งบ(?:ประมาณ)?)?|พ\.?\s?ศ\.?|ปีการศึกษา|รุ่นปี|" + _MONTHS_RE + r")\s*)"
    r"(?P<a>\d{2})(?:\s*(?P<dash>[-–~]|ถึง)\s*(?P<b>\d{2}))?(?!\d|\s*[.:/]\d)")
# meeting numbers: "ครั้งที่ 1/62", "1/64" -> "1/2562"
_SESSION = re.compile(r"(?<![\d/])(?P<n>\d{1,2})\s*/\s*(?P<y>[5-7]\d)(?![\d/])")


def _be(two: str) -> str | None:
    y = int(two)
    return f"25{two}" if 40 <= y <= 99 else None


def expand_short_years(text: str) -> str:
    """Two-digit Buddhist-era years written the short way, as the full year ("ปี 64" -> "ปี 2564")."""

    def year(m: re.Match) -> str:
        a = _be(m.group("a"))
        if not a:
            return m.group()
        out = m.group("lead") + a
        if m.group("b"):
            b = _be(m.group("b"))
            out += f"-{b}" if b else m.group()[len(m.group("lead")) + 2:]
        return out

    def session(m: re.Match) -> str:
        y = _be(m.group("y"))
        return f"{m.group('n')}/{y}" if y else m.group()

    return _SESSION.sub(session, _SHORT_YEAR.sub(year, text))


# -- variants: spoken forms, transliterations, abbreviations ----------------------------------------
@lru_cache(maxsize=1)
def variant_table() -> tuple[tuple[str, str], ...]:
    """(variant, the terms the documents use), longest variant first."""
    rows = []
    path = Path(__file__).parent / "data" / "th_variants.tsv"
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and "\t" in line:
            variant, terms = line.split("\t", 1)
            rows.append((variant.strip().lower(), terms.strip()))
    return tuple(sorted(rows, key=lambda r: -len(r[0])))


def _latin_bounded(text: str, i: int, j: int) -> bool:
    """A Latin variant must stand as a word (so "de" is not found inside "depa")."""
    before = text[i - 1] if i > 0 else " "
    after = text[j] if j < len(text) else " "
    return not (before.isascii() and before.isalnum()) and not (after.isascii() and after.isalnum())


def variant_terms(text: str) -> list[str]:
    """The document terms for the spoken or transliterated variants found in the text.

    A variant counts only as whole words: a Latin one between non-letters, a Thai one starting and
    ending at word boundaries of the text's segmentation (so "อบต" is not found in "มอบตรา")."""
    return _terms_of(variant_matches(text))


def _terms_of(matches: list[tuple[int, int, str]]) -> list[str]:
    return list(dict.fromkeys(terms for _, _, terms in matches))


def variant_matches(text: str) -> list[tuple[int, int, str]]:
    """Where each variant stands in the text (start, end; as ``variant_terms`` finds them), with its
    document terms."""
    low = text.lower()
    bounds = word_bounds(low)
    found: list[tuple[int, int, str]] = []
    taken = [False] * len(low)
    for variant, terms in variant_table():
        start = 0
        while (i := low.find(variant, start)) >= 0:
            j = i + len(variant)
            start = i + 1
            whole = _latin_bounded(low, i, j) if variant.isascii() else thai_bounded(low, i, j, bounds)
            if not whole or any(taken[i:j]):
                continue
            taken[i:j] = [True] * (j - i)
            found.append((i, j, terms))
    return found


def replaced_words(text: str, matches: list[tuple[int, int, str]], added: Iterable[str]) -> frozenset[str]:
    """The question's words that stand only inside its variants ("สมาร์ท", "ซิตี้" of "สมาร์ทซิตี้"; every
    occurrence of the word is inside one), less the words of the document terms added for them."""
    if not matches or len(text.lower()) != len(text):
        return frozenset()
    inside: dict[str, bool] = {}
    for word, start, end in word_spans(text):
        covered = any(i < end and start < j for i, j, _ in matches)
        inside[word] = inside.get(word, True) and covered
    kept = {w for term in added for w in words(term)}
    return frozenset(w for w, only in inside.items() if only and w not in kept)


def letter(ch: str) -> bool:
    """A letter, Thai vowel and tone marks included (str.isalpha() says no to "้" and "ั")."""
    return ch.isalpha() or "\u0e00" <= ch <= "\u0e7f"


def thai_bounded(text: str, i: int, j: int, bounds: set[int]) -> bool:
    """text[i:j] starts and ends at word boundaries of the text's segmentation, or beside non-letters."""
    return ((i == 0 or i in bounds or not letter(text[i - 1]))
            and (j == len(text) or j in bounds or not letter(text[j])))


def word_bounds(text: str) -> set[int]:
    """Offsets where newmm words start or end."""
    out, pos = {0}, 0
    for tok in segment(text, keep_whitespace=True):
        pos += len(tok)
        out.add(pos)
    return out


# -- the English-Thai glossary mined from the documents ----------------------------------------------
_PAREN_EN = re.compile(r"(?P<th>[^\s()\"“”]*[\u0E00-\u0E7F][^\s()\"“”]*)\s*\((?P<en>[A-Za-z][^()\u0E00-\u0E7F]{1,90})\)")
_PAREN_TH = re.compile(r"(?P<en>[A-Za-z][A-Za-z0-9&.'\- ]{2,80}?)\s*\((?P<th>[^()A-Za-z]*[\u0E00-\u0E7F][^()A-Za-z]{0,80})\)")
_EN_SPLIT = re.compile(r"\s*(?:[/;:,]|\bor\b)\s*")
_OPEN_EN = re.compile(r"\((?=[A-Za-z])")  # where a _PAREN_EN match can end its Thai run
_RUN_CHAR = re.compile(r"[^\s()\"“”]")


def paren_en(text: str) -> Iterator[re.Match[str]]:
    """``_PAREN_EN.finditer(text)``, the same matches, tried only where a parenthesis opens on a
    Latin letter, from the start of the run of text before it. Searched everywhere, the pattern
    backtracks over every start of a long Thai run without spaces: 18 ms a passage of Wikipedia
    text, 5 hours for a million passages."""
    end = 0
    for paren in _OPEN_EN.finditer(text):
        i = paren.start()
        if i < end:
            continue
        while i > end and text[i - 1].isspace():
            i -= 1
        while i > end and _RUN_CHAR.match(text, i - 1):
            i -= 1
        m = _PAREN_EN.match(text, i)
        if m is not None:
            end = m.end()
            yield m


def _clean_en(term: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9&' ]+", " ", term.lower()).split())


# Words after which a Thai term starts: "...ควรสอบถามกับ|สำนักงานส่งเสริมเศรษฐกิจดิจิทัล (depa)".
_TERM_START = frozenset("ที่ ของ กับ จาก ให้ ว่า ซึ่ง คือ เป็น ใน โดย ได้แก่ เช่น หรือ ยัง ควร ตั้ง มี ได้ ไป มา "
                        "แก่ ต่อ ถึง เรียก เรียกว่า ชื่อ ด้าน ตาม สู่ จะ ก็ นี้ นั้น การที่".split())


def thai_term(run: str) -> str:
    """The term at the end of a run of Thai text with no spaces, as a parenthesis glosses it."""
    run = re.split(r"[;,:]", run)[0].strip(" .\"'“”")
    pieces = words(run)
    for i in range(len(pieces) - 1, -1, -1):
        if pieces[i] in _TERM_START:
            tail = "".join(pieces[i + 1:])
            return tail if len(tail) >= 2 else run
    return run


# a year or a month: a parenthesis holding one is a dated note, not the name of a term
_DATED = re.compile(r"(?<!\d)(?:25|20)\d\d(?!\d)|" + _MONTHS_RE)


def mine_glossary(texts: Iterable[str]) -> dict[str, list[str]]:
    """English terms the documents put beside Thai ones, "การเดินทางและขนส่งอัจฉริยะ (Smart Mobility)"
    or "City Data Platform (แพลตฟอร์มข้อมูลเมือง)", mapped to those Thai terms."""
    out: dict[str, list[str]] = {}

    def add(en: str, th: str, note_ok: bool = True) -> None:
        th = thai_term(th)
        if not th or len(th) < 2 or (not note_ok and _DATED.search(th)):
            return
        for part in _EN_SPLIT.split(en):
            key = _clean_en(part)
            if len(key) < 3 or key in ENGLISH_STOPWORDS or key.isdigit():
                continue
            terms = out.setdefault(key, [])
            if th not in terms and len(terms) < 4:
                terms.append(th)

    for text in texts:
        for m in paren_en(text):
            add(m.group("en"), m.group("th"))
        for m in _PAREN_TH.finditer(text):  # "EEC (เผยแพร่ไม่เกิน ม.ค. 2565)" is a note, not a name
            add(m.group("en"), m.group("th"), note_ok=False)
    return without_words_before(out)


def without_words_before(glossary: dict[str, list[str]],
                         also: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """The glossary without a term that ends with another term of the same English phrase (of the
    glossary, or of ``also``): that is the other term with the words before it in the sentence
    ("สอบถามรายละเอียดเพิ่มเติมได้ที่สำนักงานส่งเสริมเศรษฐกิจดิจิทัล" beside "สำนักงานส่งเสริม
    เศรษฐกิจดิจิทัล" for depa)."""
    also = also or {}
    out = {}
    for en, terms in glossary.items():
        shorter = terms + also.get(en, [])
        kept = [t for t in terms if not any(o != t and t.endswith(o) for o in shorter)]
        if kept:
            out[en] = kept
    return out


def curated_terms() -> dict[str, list[str]]:
    """The curated English-Thai glossary as English phrase -> its Thai terms (each word a term)."""
    out: dict[str, list[str]] = {}
    for en, th in english_terms():
        out.setdefault(en, []).extend(th.split())
    return out


def glossary_terms(text: str, glossary: dict[str, list[str]]) -> list[str]:
    """Thai terms for the English phrases of the text found in the mined glossary, longest first."""
    low = " " + _clean_en(text) + " "
    found: list[str] = []
    n = len(low.split())
    phrases = low.split()
    for size in range(min(6, n), 0, -1):
        for i in range(0, n - size + 1):
            key = " ".join(phrases[i:i + size])
            if key in glossary and f" {key} " in low:
                for th in glossary[key]:
                    if th not in found:
                        found.append(th)
                low = low.replace(f" {key} ", " ")
    return found


# -- typos, against the corpus vocabulary ---------------------------------------------------------
def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1:] for i in range(len(word))}


class Speller:
    """Corrects Thai words one edit away from a corpus word (SymSpell-style deletion index).

    Only a run of word pieces that is neither a corpus word nor a Thai dictionary word is corrected,
    so a real word that the documents don't contain (a place name, say) is never turned into one
    they do: that would make an out-of-scope question look answerable.
    """

    def __init__(self, vocabulary: dict[str, int], min_length: int = 4):
        self.vocab = {w: n for w, n in vocabulary.items() if len(w) >= min_length and _thai_word(w)}
        self.index: dict[str, list[str]] = {}
        for w in self.vocab:
            for d in _deletes(w) | {w}:
                self.index.setdefault(d, []).append(w)
        self.min_length = min_length

    @staticmethod
    @lru_cache(maxsize=1)
    def _dictionary() -> frozenset[str]:
        from pythainlp.corpus import thai_words

        return frozenset(thai_words())

    def known(self, word: str) -> bool:
        return word in self.vocab or word in self._dictionary()

    def suggest(self, word: str) -> str | None:
        if len(word) < self.min_length or self.known(word):
            return None
        cands: set[str] = set(self.index.get(word, ()))
        for d in _deletes(word):
            cands.update(self.index.get(d, ()))
        cands = {c for c in cands if _distance1(word, c)}
        if not cands:
            return None
        return max(sorted(cands), key=lambda c: self.vocab[c])

    def correct(self, text: str) -> str:
        """The text with misspelt words (runs of up to 4 newmm pieces) replaced."""
        if not self.vocab:
            return text
        out = []
        for chunk in re.split(r"(\s+)", text):
            if not chunk.strip() or not _thai_word(chunk):
                out.append(chunk)
                continue
            out.append(self._correct_run(chunk))
        return "".join(out)

    def _correct_run(self, run: str) -> str:
        pieces = segment(run)
        res, i = [], 0
        while i < len(pieces):
            for size in range(min(4, len(pieces) - i), 0, -1):
                cand = "".join(pieces[i:i + size])
                if size > 1 and all(self.known(p) and len(p) > 3 for p in pieces[i:i + size]):
                    continue  # real words side by side, not a broken one
                fix = self.suggest(cand)
                if fix:
                    res.append(fix)
                    i += size
                    break
            else:
                res.append(pieces[i])
                i += 1
        return "".join(res)


def _thai_word(w: str) -> bool:
    return bool(re.fullmatch(r"[\u0E00-\u0E7F]+", w))


def _distance1(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance exactly 1 (one insertion, deletion, substitution or swap)."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


# -- the whole rewrite ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Rewritten:
    text: str  # the question with its years written out and its typos corrected: what is searched
    about: str  # the question in the documents' terms: what a passage must hold to be about it
    added: tuple[str, ...]  # the document terms found for its variants or English phrases
    second: str = ""  # the question with the document terms found: a second reading to search
    # the question's own words of the variants whose document terms were added ("สมาร์ท", "ซิตี้" of
    # "สมาร์ทซิตี้"): not counted as words a passage lacks, the terms stand for them
    replaced: frozenset[str] = frozenset()


class QueryRewriter:
    """Measured on the dev questions: searching with the document terms appended instead of the
    question lowered top-1 (English 0.67 -> 0.47, mixed 0.92 -> 0.58), so they judge whether a
    passage is about the question; only an English question is searched with them too (for Thai questions a second reading with
    the variants' terms measured no better), as a second
    reading whose scores are averaged with its own."""

    def __init__(self, glossary: dict[str, list[str]] | None = None, speller: Speller | None = None):
        # a mined term that is a curated one with words before it ("ที่ประชุมคณะกรรมการเมืองอัจฉริยะ"
        # for smart city) goes; done here, so an edit of the curated list needs no new index
        self.glossary = without_words_before(glossary or {}, curated_terms())
        self.speller = speller

    def rewrite(self, q: str) -> Rewritten:
        text = expand_short_years(q)
        if self.speller is not None:
            text = self.speller.correct(text)
        matches = variant_matches(text)
        added = _terms_of(matches)
        if language(q) == "en":
            terms, rest = english_to_thai_terms(text)
            added += [t for t in terms + glossary_terms(text, self.glossary) if t not in added]
            about = " ".join(added) + " " + _untranslated(rest, self.glossary)
            return Rewritten(text, about, tuple(added), f"{text} ({' '.join(added)})" if added else "",
                             replaced_words(text, matches, added))
        about = f"{text} {' '.join(added)}" if added else text
        return Rewritten(text, about, tuple(added), replaced=replaced_words(text, matches, added))


def _untranslated(rest: str, glossary: dict[str, list[str]]) -> str:
    """The English words that neither glossary covers (a "driving licence" shows as missing)."""
    low = " " + _clean_en(rest) + " "
    for key in sorted(glossary, key=len, reverse=True):
        low = low.replace(f" {key} ", " ")
    return " ".join(low.split())
