"""Hybrid retrieval over passages held in memory, fused by z-score.

Signals: FAISS inner product of normalized embeddings (dense) and BM25 (bm25s) over three lexical
fields: PyThaiNLP newmm words, character 3-grams and character 4-grams. The n-grams match Thai
compounds that word segmentation splits differently in a question and in a passage. Each signal's
scores are z-normalized over all passages and summed with weights tuned on iapp-wiki-qa valid
(see README: plain reciprocal-rank fusion lost to BM25 alone there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import logging

import bm25s
import faiss
import numpy as np

from .fusion import rrf_fusion, zscore_fusion
from .text import char_grams

logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import


@dataclass(frozen=True)
class Field:
    name: str
    k1: float
    b: float


FIELDS = (Field("words", 1.2, 0.75), Field("chars3", 0.7, 0.5), Field("chars4", 0.7, 0.5))


def field_terms(name: str, words: list[str], text: str) -> list[str]:
    if name == "words":
        return words
    return char_grams(text, int(name[-1]))


@dataclass(frozen=True)
class Scored:
    index: int
    score: float
    dense: float
    lexical: float  # BM25 over words


@dataclass(frozen=True)
class Weights:
    dense: float = 0.5
    words: float = 0.1
    chars3: float = 0.3
    chars4: float = 0.2
    # the signals of the small retrieval units (when the index has them): the best sentence window's
    # cosine, the heading line's cosine and the heading's BM25 over words
    units: float = 0.0
    heading_dense: float = 0.0
    heading_words: float = 0.0

    def of(self, name: str) -> float:
        return getattr(self, name)


@dataclass(frozen=True)
class Units:
    """Small retrieval units that map back to their passage: sentence windows and the heading line."""

    vectors: np.ndarray  # one row a sentence window
    owner: np.ndarray  # the passage of each window
    headings: np.ndarray  # one row a passage: its "title — section" line
    heading_bm25: bm25s.BM25

    @classmethod
    def of(cls, units: list[np.ndarray], headings: np.ndarray, heading_words: list[list[str]]) -> "Units":
        owner = np.repeat(np.arange(len(units)), [len(u) for u in units])
        vectors = np.ascontiguousarray(np.concatenate(units), dtype=np.float32)
        return cls(vectors, owner, np.ascontiguousarray(headings, dtype=np.float32),
                   build_bm25(Field("heading", 1.2, 0.75), heading_words))

    def of_passage(self, vector: np.ndarray, i: int) -> tuple[float, float]:
        """The best sentence window's cosine and the heading's cosine for passage i."""
        a, b = np.searchsorted(self.owner, [i, i + 1])
        best = float((self.vectors[a:b] @ vector).max()) if b > a else -1.0
        return best, float(self.headings[i] @ vector)

    def scores(self, vector: np.ndarray, words: list[str], size: int) -> dict[str, np.ndarray]:
        best = np.full(size, -1.0, dtype=np.float32)
        np.maximum.at(best, self.owner, self.vectors @ vector)
        heading = self.heading_bm25.get_scores(words) if words else np.zeros(size, dtype=np.float32)
        return {"units": best, "heading_dense": self.headings @ vector, "heading_words": heading}


@dataclass(frozen=True)
class Query:
    vector: np.ndarray
    terms: dict[str, list[str]]

    @classmethod
    def of(cls, vector: np.ndarray, words: list[str], text: str) -> "Query":
        return cls(vector, {f.name: field_terms(f.name, words, text) for f in FIELDS})


def build_bm25(field: Field, docs: list[list[str]]) -> bm25s.BM25:
    model = bm25s.BM25(k1=field.k1, b=field.b)
    model.index([d or [""] for d in docs], show_progress=False)
    return model


class Retriever:
    """Search over n passages given their embeddings, word tokens and lexical indexes."""

    def __init__(self, embeddings: np.ndarray, tokens: list[list[str]], texts: list[str] | None = None,
                 bm25: dict[str, bm25s.BM25] | None = None, faiss_index: faiss.Index | None = None,
                 prior: np.ndarray | None = None, units: Units | None = None):
        """Lexical indexes are built from ``texts`` unless ready ones (loaded from disk) are given.

        ``prior`` is added to each passage's fused score (e.g. a bonus for official documents).
        """
        if len(embeddings) != len(tokens) or (texts is not None and len(texts) != len(tokens)):
            raise ValueError(f"{len(embeddings)} embeddings for {len(tokens)} passages")
        self.embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        self.tokens = tokens
        self.size = len(tokens)
        if faiss_index is None:
            faiss_index = faiss.IndexFlatIP(self.embeddings.shape[1] if self.size else 1)
            if self.size:
                faiss_index.add(self.embeddings)
        if faiss_index.ntotal != self.size:
            raise ValueError(f"FAISS holds {faiss_index.ntotal} vectors for {self.size} passages")
        self.faiss = faiss_index
        if bm25 is None and not self.size:
            bm25 = {f.name: bm25s.BM25() for f in FIELDS}  # never searched: search() returns [] early
        if bm25 is None:
            if texts is None:
                raise ValueError("passage texts or ready BM25 indexes are needed")
            bm25 = {f.name: build_bm25(f, [field_terms(f.name, w, t) for w, t in zip(tokens, texts)])
                    for f in FIELDS}
        missing = {f.name for f in FIELDS} - set(bm25)
        if missing:
            raise ValueError(f"BM25 indexes missing: {sorted(missing)}")
        self.bm25 = bm25
        self.units = units
        self.prior = np.zeros(self.size) if prior is None else np.asarray(prior, dtype=np.float64)
        df: dict[str, int] = {}
        for toks in tokens:
            for w in set(toks):
                df[w] = df.get(w, 0) + 1
        self.df = df
        self._idf = {w: math.log(1 + (self.size - n + 0.5) / (n + 0.5)) for w, n in df.items()}
        self._sets = [frozenset(t) for t in tokens]

    def save_lexical(self, folder, name: Callable[[str], str] = lambda n: f"bm25_{n}") -> None:
        for field, model in self.bm25.items():
            model.save(str(folder / name(field)))

    def idf(self, word: str) -> float:
        return self._idf.get(word, math.log(1 + (self.size + 0.5) / 0.5))

    def token_set(self, i: int) -> frozenset[str]:
        return self._sets[i]

    def coverage(self, query_words: list[str], i: int) -> float:
        """Share of the question's (IDF-weighted) content words found in passage i."""
        words = set(query_words)
        total = sum(self.idf(w) for w in words)
        if total <= 0:
            return 0.0
        return sum(self.idf(w) for w in words if w in self._sets[i]) / total

    def dense_scores(self, vector: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        sims, idx = self.faiss.search(q, self.size)
        out = np.full(self.size, -1.0, dtype=np.float32)
        keep = idx[0] >= 0
        out[idx[0][keep]] = sims[0][keep]
        return out

    def lexical_scores(self, field: str, terms: list[str]) -> np.ndarray:
        if not terms or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        return self.bm25[field].get_scores(terms)

    def search(self, query: Query, k: int, weights: Weights = Weights(), method: str = "zscore",
               also: Query | None = None) -> list[Scored]:
        """The k best passages. ``also``: a second reading of the same question (e.g. an English
        question with the documents' Thai terms added), whose fused scores are averaged in."""
        if not self.size:
            return []
        fused, dense, words = self.scores(query, weights, method)
        if also is not None:
            fused = (fused + self.scores(also, weights, method)[0]) / 2
        order = np.argsort(-fused, kind="stable")[:k]
        return [Scored(int(i), float(fused[i]), float(dense[i]), float(words[i])) for i in order]

    def scores(self, query: Query, weights: Weights = Weights(),
               method: str = "zscore") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every passage's fused score, cosine and BM25 over words."""
        dense = self.dense_scores(query.vector)
        lexical = {f.name: self.lexical_scores(f.name, query.terms[f.name]) for f in FIELDS}
        if method == "dense":
            fused = dense.astype(np.float64)
        elif method in lexical:
            fused = lexical[method].astype(np.float64) + 1e-6 * dense
        elif method == "bm25":
            fused = lexical["words"].astype(np.float64) + 1e-6 * dense
        elif method == "rrf":
            fused = rrf_fusion([dense, lexical["words"]])
        else:
            signals = {"dense": dense, **lexical}
            if self.units is not None and (weights.units or weights.heading_dense or weights.heading_words):
                signals.update(self.units.scores(np.asarray(query.vector, dtype=np.float32),
                                                 query.terms["words"], self.size))
            fused = zscore_fusion(list(signals.values()), [weights.of(n) for n in signals]) + self.prior
        return fused, dense, lexical["words"]
