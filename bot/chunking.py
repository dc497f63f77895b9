"""Cutting documents into passages: whole sentences, bounded length, never across a section."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import sentences, words
from .types import Chunk, Document

_PARA = re.compile(r"[^\n]+")


@dataclass(frozen=True)
class ChunkParams:
    max_tokens: int = 300  # newmm words in a chunk
    overlap: int = 1  # sentences repeated from the previous chunk of the same section

    def as_dict(self) -> dict[str, int]:
        return {"max_tokens": self.max_tokens, "overlap": self.overlap}


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    tokens: int


def sentence_spans(text: str, offset: int, max_tokens: int) -> list[Span]:
    """Sentence spans (absolute offsets) of one line of text.

    A single sentence longer than ``max_tokens`` words (a run-on list, a table row) is the one
    case where a cut is unavoidable: it is cut at spaces into pieces that fit.
    """
    spans, pos = [], 0
    for sent in sentences(text):
        start, end = pos, pos + len(sent)
        pos = end
        core = sent.strip()
        if not core:
            continue
        lead = len(sent) - len(sent.lstrip())
        start += lead
        end = start + len(core)
        n = len(words(core))
        if n <= max_tokens:
            spans.append(Span(offset + start, offset + end, n))
            continue
        piece_start, count = start, 0
        for m in re.finditer(r"\S+", core):
            w = len(words(m.group()))
            if count and count + w > max_tokens:
                spans.append(Span(offset + piece_start, offset + start + m.start(), count))
                piece_start, count = start + m.start(), 0
            count += w
        spans.append(Span(offset + piece_start, offset + end, count))
    return spans


def chunk_document(doc: Document, params: ChunkParams) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in doc.sections:
        # the heading line itself is not chunked: it travels in chunk.section
        body = doc.text[section.body_start:section.end]
        spans: list[Span] = []
        for m in _PARA.finditer(body):
            spans += sentence_spans(m.group(), section.body_start + m.start(), params.max_tokens)
        groups = pack(spans, params)
        for g, group in enumerate(groups):
            start, end = group[0].start, group[-1].end
            following = groups[g + 1][0].start if g + 1 < len(groups) else end
            after = doc.text[end:following] if following > end else ""
            raw = doc.text[start:end]
            first = start + len(raw) - len(raw.lstrip())  # where the stripped text begins
            text = raw.strip()
            marks = tuple((max(a, first) - first, min(b, first + len(text)) - first, kind, href)
                          for a, b, kind, href in doc.marks if a < first + len(text) and b > first)
            chunks.append(Chunk(
                chunk_id=f"{doc.doc_id}#{len(chunks)}", doc_id=doc.doc_id,
                text=text, section=section.heading,
                start=start, end=end, source=doc.source, marks=marks, after=after,
            ))
    return chunks


def pack(spans: list[Span], params: ChunkParams) -> list[list[Span]]:
    """Group consecutive sentences into chunks of at most ``max_tokens`` words."""
    groups: list[list[Span]] = []
    current: list[Span] = []
    count = 0
    for span in spans:
        if current and count + span.tokens > params.max_tokens:
            groups.append(current)
            keep = current[-params.overlap:] if params.overlap else []
            while keep and sum(s.tokens for s in keep) + span.tokens > params.max_tokens:
                keep = keep[1:]
            current, count = list(keep), sum(s.tokens for s in keep)
        current.append(span)
        count += span.tokens
    if current:
        groups.append(current)
    return groups
