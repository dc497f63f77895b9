"""The typed values passed between the engine's units."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .citations import CitedSource


@dataclass(frozen=True)
class Source:
    """Where a passage comes from, as shown to a user."""

    document: str  # path of the file inside knowledge/, e.g. "certification.md"
    title: str
    issuer: str = ""
    date: str = ""
    url: str = ""
    as_of: str = ""
    caveat: str = ""  # the document's own warning (front matter ``caveat``)


@dataclass(frozen=True)
class Section:
    heading: str
    start: int  # the heading line, or the document start for text before any heading
    end: int
    body: int = -1  # where the text after the heading line starts (-1: at start)

    @property
    def body_start(self) -> int:
        return self.start if self.body < 0 else self.body


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str
    sections: tuple[Section, ...]
    source: Source
    sha256: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    marks: tuple["Mark", ...] = ()  # inline markup in ``text``


# Inline markup kept from a document's Markdown for display: (start, end, kind, href) in the text it
# belongs to; kind is "b" (bold), "i" (italic), "code" or "a" (a link to href).
Mark = tuple[int, int, str, str]


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    text: str
    section: str
    start: int  # character span in the document's normalized text
    end: int
    source: Source
    marks: tuple[Mark, ...] = ()  # inline markup in ``text`` (bold, italic, code, links)
    after: str = ""  # the white space between this chunk and the next of its section, when they don't overlap

    def header(self) -> str:
        """The title and section line prepended when a chunk is embedded and indexed."""
        return " — ".join(p for p in (self.source.title, self.section) if p)


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # fused score, higher is better
    dense: float  # cosine similarity of question and chunk
    lexical: float  # BM25 score
    citations: tuple[CitedSource, ...] = ()  # the sources the passage's inline citations name


@dataclass(frozen=True)
class Answer:
    question: str
    answered: bool
    answer: str
    hits: tuple[Hit, ...]
    highlights: tuple[tuple[int, int], ...] = ()  # spans in hits[0].chunk.text that answer
    # ok | empty | no_words | not_found | no_index: the renderers say why there is no answer, in the
    # reader's language (bot.formatting.message_text); the engine writes no user text of its own
    reason: str = "ok"
    trimmed_to: int = 0  # a question too long was cut to this many characters (0: not cut)
    confidence: float = 0.0  # the calibrated probability behind `answered`
    evidence: Any = None  # the decision's inputs (bot.decision.Evidence), for evaluation and calibration
    citations: tuple[CitedSource, ...] = ()  # the sources of the answering sentences (their inline citations)
    # the question as the engine read it (bot.text.normalize_text; before any trimming): clean text,
    # what a channel records, where ``question`` is exactly what was asked
    read_as: str = ""

    def to_json(self, text: str | None = None) -> dict[str, Any]:
        """``text``: what the answer says, as rendered for the reader (by default its sentences)."""
        return {
            "question": self.question,
            "answered": self.answered,
            "answer": self.answer if text is None else text,
            "passages": [
                {
                    "text": h.chunk.text,
                    "score": round(float(h.score), 4),
                    "source": {
                        "document": h.chunk.source.document,
                        "title": h.chunk.source.title,
                        "section": h.chunk.section,
                        "url": h.chunk.source.url,
                    },
                    "citations": [c.as_dict() for c in h.citations],
                }
                for h in self.hits
            ],
            "citations": [c.as_dict() for c in self.citations],
        }
