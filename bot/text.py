"""Pure Thai text logic: normalization, word and sentence tokenization, language guess.

Everything here is deterministic and model-free; the same functions run at index time and at
question time so that both sides see the same text.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from itertools import islice
from pathlib import Path

from pythainlp.util import normalize as thai_normalize
from pythainlp.util import thai_digit_to_arabic_digit

_THAI = re.compile(r"[\u0E00-\u0E7F]")
_LATIN = re.compile(r"[A-Za-z]")
_THAI_LETTER = re.compile(r"[\u0E01-\u0E3A\u0E40-\u0E4E]")  # consonants, vowels, tone marks
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_WORD = re.compile(r"[\w\u0E00-\u0E7F]", re.UNICODE)
# a line (or a sentence starting one) that is an item of a list: "1. …", "1.2 …", "(2) …", "- …"
LIST_ITEM = re.compile(r"\s*(?:\d+(?:\.\d+)*\.?|\(\d+\)|[-•◦*+])\s")
# Characters that carry no text: zero-width and other format characters, and controls (but \n).
_INVISIBLE = {chr(c) for c in range(0x20) if chr(c) not in "\n\t"} | {"\x7f"}


def strip_invisible(text: str) -> str:
    """Control, format and invisible characters removed; every kind of space a plain space."""
    out = []
    for ch in text:
        if ch in _INVISIBLE:
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cf", "Cs") or (cat == "Cc" and ch not in "\n\t"):  # Cs: a lone UTF-16 surrogate
            continue
        if cat == "Zs" or ch == "\t":
            ch = " "
        out.append(ch)
    return "".join(out)


def normalize_text(text: str) -> str:
    """The one normalization for documents and questions.

    Unicode NFC, invisible and control characters removed (newlines kept), PyThaiNLP's Thai
    normalization (duplicate marks, vowel order), Thai digits to Arabic, runs of spaces collapsed.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = strip_invisible(text)
    text = thai_digit_to_arabic_digit(text)
    # line by line: PyThaiNLP's normalize would also merge the blank lines between paragraphs
    text = "\n".join(_SPACES.sub(" ", thai_normalize(line)).strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


# Thai words that ask for something: the words just before one name what is asked about
# ("เงินเดือน" in "ได้เงินเดือนเดือนละเท่าไหร่", "เบี้ยประชุม" in "ได้รับเบี้ยประชุมครั้งละเท่าใด").
ASKING_WORDS = frozenset("กี่ อะไร ไหน เท่าไร เท่าไหร่ เท่าใด ใคร ผู้ใด อย่างไร ยังไง ไง เมื่อไร เมื่อไหร่ เมื่อใด "
                         "ใด".split())
# Words that ask rather than tell: they say nothing about which passage answers.
QUESTION_WORDS = ASKING_WORDS | frozenset(
    "ไหม มั้ย หรือเปล่า หรือไม่ บ้าง ทำไม แบบไหน แห่ง ครับ ค่ะ คะ จ้า นะ หน่อย ป่ะ มั๊ย รึเปล่า ได้แก่ คือ "
    # spoken particles and question tags: "ยังไงอะ", "ได้ป่าวครับ", "แล้วยังคับ", "จริงเหรอ"
    "เหรอ หรอ อะ อ่ะ ป่าว ปะ ป้ะ ไหม เค้า คับ งับ รึยัง เปล่า ล่ะ งั้น ไง ยังไง เนี่ย จ๊ะ ค้าบ".split()
)
ENGLISH_STOPWORDS = frozenset(
    "a an the of to in on at for by with about from and or is are was were be been do does did what "
    "which who whom when where why how i you we they it this that these those can could should would "
    "will my your our their its there any some much many".split()
)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from pythainlp.corpus import thai_stopwords

    return frozenset(thai_stopwords()) | QUESTION_WORDS | ENGLISH_STOPWORDS


@lru_cache(maxsize=256)
def segment(text: str, keep_whitespace: bool = False) -> tuple[str, ...]:
    """PyThaiNLP newmm's segmentation. A question is segmented for its words, for the word bounds
    of its variants and provinces, and for its spelling: once (1.6 ms of a question's 15 ms went to
    segmenting the same few texts four times over)."""
    from pythainlp.tokenize import word_tokenize

    return tuple(word_tokenize(text, engine="newmm", keep_whitespace=keep_whitespace))


def words(text: str) -> list[str]:
    """Word tokens (PyThaiNLP newmm), lower-cased, without white space and punctuation."""
    return [t.lower() for t in (tok.strip() for tok in segment(text)) if t and _WORD.search(t)]


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """The words of ``words(text)`` with where each stands in the text (start, end)."""
    out, pos = [], 0
    for tok in segment(text, keep_whitespace=True):
        start, pos = pos, pos + len(tok)
        word = tok.strip().lower()
        if word and _WORD.search(word):
            out.append((word, start, pos))
    return out


def char_grams(text: str, n: int = 3) -> list[str]:
    """Overlapping character n-grams of the text without white space, lower-cased.

    They match Thai compounds that word segmentation splits differently in a question and in a
    passage (นิคมอมตะ / นิคมอุตสาหกรรมอมตะ).
    """
    t = "".join(text.lower().split())
    if len(t) <= n:
        return [t] if t else []
    return [t[i:i + n] for i in range(len(t) - n + 1)]


def content_words(text: str) -> list[str]:
    """Word tokens without Thai stop words (question words, particles)."""
    return drop_stopwords(words(text))


def drop_stopwords(tokens: list[str]) -> list[str]:
    stop = _stopwords()
    return [w for w in tokens if w not in stop]


def asked_about(tokens: list[str], width: int = 2) -> list[str]:
    """The content words (no stop words or numbers) just before each Thai question word of a
    question's word tokens, up to ``width`` of them each: what the question asks about."""
    stop = _stopwords()
    out: list[str] = []
    for i, token in enumerate(tokens):
        if token in ASKING_WORDS:
            before = (w for w in reversed(tokens[:i]) if w not in stop and not w.isdigit())
            out.extend(islice(before, width))
    return out


_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d|2[45]\d\d|26[0-4]\d)(?!\d)")


def year_variants(text: str) -> dict[str, str]:
    """Each year in the text mapped to the same year in the other era (B.E. = C.E. + 543)."""
    out = {}
    for m in _YEAR.finditer(text):
        year = int(m.group())
        out[m.group()] = str(year + 543 if year < 2200 else year - 543)
    return out


def thai_year(word: str, variants: dict[str, str]) -> str:
    """A year as Thai documents write it (B.E.); other words unchanged."""
    other = variants.get(word)
    return other if other and int(word) < 2200 else word


@lru_cache(maxsize=1)
def english_terms() -> tuple[tuple[str, str], ...]:
    """The curated English-Thai glossary (``data/en_th_terms.tsv``): (English phrase, Thai terms),
    longest phrase first."""
    rows = []
    for line in (Path(__file__).parent / "data" / "en_th_terms.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and "\t" in line:
            en, th = line.split("\t", 1)
            rows.append((en.strip().lower(), th.strip()))
    return tuple(sorted(rows, key=lambda r: -len(r[0])))  # longest phrase first


@lru_cache(maxsize=1)
def _glossary_words() -> frozenset[str]:
    return frozenset(w for en, _ in english_terms() for w in en.split())


_NUMBER_WORDS = frozenset("two three four five six seven eight nine ten second third".split())
# English words that end in "s" but are no plurals
_NOT_PLURAL = frozenset("news business status series analysis process access address campus bonus focus "
                        "always perhaps various previous plus thus yes this his its us was has is does as".split())


def singular(word: str) -> str:
    """A plural the curated glossary has only in the singular, as that singular ("projects" ->
    "project", "agencies" -> "agency", "groups" in "working groups" -> "group")."""
    known = _glossary_words()
    if word in known or len(word) < 4 or word in _NOT_PLURAL:
        return word
    for plural, one in (("ies", "y"), ("es", ""), ("s", "")):
        base = word[: -len(plural)] + one
        if word.endswith(plural) and base in known and base not in _NUMBER_WORDS:
            return base
    return word


def english_to_thai_terms(text: str) -> tuple[list[str], str]:
    """Thai terms for the domain phrases of an English question (a small curated glossary), and
    the rest of the question that the glossary did not translate.

    e5-small matches English questions to Thai passages poorly; adding the Thai terms the
    documents use is dictionary-based query translation.
    """
    low = " " + " ".join(singular(w) for w in re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split()) + " "
    found = []
    for en, th in english_terms():
        if f" {en} " in low:
            found.append(th)
            low = low.replace(f" {en} ", " ")
    return found, " ".join(low.split())


def sentences(text: str) -> list[str]:
    """Sentences of a paragraph (PyThaiNLP crfcut).

    The pieces concatenate back to the input exactly (each keeps its trailing space), so
    character offsets computed from them stay valid.
    """
    return list(_sentences(text))


@lru_cache(maxsize=4096)
def _sentences(text: str) -> tuple[str, ...]:
    """Remembered: indexing cuts each paragraph once for chunking and again, as a line of its
    chunk, for the chunk's sentence spans (crfcut was a fifth of an index build)."""
    if not text.strip():
        return ()
    from pythainlp.tokenize import sent_tokenize

    starts, pos = [0], 0
    for part in sent_tokenize(text, engine="crfcut"):
        core = part.strip()
        if not core:
            continue
        idx = text.find(core, pos)
        if idx < 0:  # crfcut altered the text: fall back to what was found so far
            break
        if idx > 0:
            starts.append(idx)
        pos = idx + len(core)
    bounds = sorted(set(starts)) + [len(text)]
    pieces = [text[a:b] for a, b in zip(bounds, bounds[1:]) if text[a:b]]
    merged: list[str] = []
    for piece in pieces:
        if merged and _unfinished(merged[-1]):
            merged[-1] += piece
        else:
            merged.append(piece)
    return tuple(merged)


# Thai does not end sentences with a period: Thai letters then "." is an abbreviation (พ.ค., ครม.).
_ABBREVIATION_END = re.compile(r"[\u0E00-\u0E7F]\.\s*$")
_MARKER_ONLY = re.compile(r"\s*(\d+(\.\d+)*\.?|\(\d+\)|[-•*])\s*")


def _unfinished(piece: str) -> bool:
    """crfcut cut inside an abbreviation or an open parenthesis, or after a bare list marker ("1.")."""
    return (bool(_ABBREVIATION_END.search(piece)) or piece.count("(") > piece.count(")")
            or bool(_MARKER_ONLY.fullmatch(piece)))


def is_thai(text: str) -> bool:
    return bool(_THAI.search(text))


def language(text: str) -> str:
    """'th' for any text with Thai letters (mixed Thai and English included), 'en' for Latin-only.
    Thai digits are not letters: "budget for ๒๕๖๖" is English, as it is once they are read as 2566."""
    if _THAI_LETTER.search(text) or not _LATIN.search(text):
        return "th"
    return "en"


def has_words(text: str) -> bool:
    """True when the text has at least one letter or digit (not only emoji or punctuation)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)
