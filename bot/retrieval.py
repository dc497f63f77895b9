"""Hybrid retrieval over passages held in memory, fused by z-score.

Signals: FAISS inner product of normalized embeddings (dense) and BM25 (bm25s) over three lexical
fields: PyThaiNLP newmm words, character 3-grams and character 4-grams. The n-grams match Thai
compounds that word segmentation splits differently in a question and in a passage. Each signal's
scores are z-normalized over all passages and summed with weights tuned on iapp-wiki-qa valid
(see README: plain reciprocal-rank fusion lost to BM25 alone there).

Up to ``EXACT_LIMIT`` passages every signal scores every passage (the exact path). Past it, the
candidate path (``bot/scale.py``): the dense and word signals each propose candidates and only
their union is scored, with each signal's z-score statistics estimated over the whole corpus.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import logging

import bm25s
import faiss
import numpy as np
from tqdm import tqdm

from .fusion import rrf_fusion, zscore_fusion
from .scale import DenseIndex, GramField, GramSample, ScaleParams, WordsIndex, concat_gram_keys, gram_keys, gram_keys_of, \
    gram_text, texts_codes
from .text import char_grams

logging.getLogger("bm25s").setLevel(logging.WARNING)  # bm25s sets DEBUG on import

CANDIDATES_DIR = "candidates"  # the candidate path's saved indexes, in the index folder
CANDIDATES_PARAMS = "params.json"  # what they were built with: a mismatch means building them again


@dataclass(frozen=True)
class Field:
    name: str
    k1: float
    b: float


FIELDS = (Field("words", 1.2, 0.75), Field("chars3", 0.7, 0.5), Field("chars4", 0.7, 0.5))

# Passages up to which every signal scores every passage (the exact path); past it, the candidate
# path. Measured with scripts/bench_scale.py (medians of runs): at 20,000 passages the exact path
# searches in p50 12 ms / p95 16 ms with a 2.6 GB peak, the candidate path in 27 / 36 ms with
# 0.9 GB; at 100,000 the exact path takes 59-72 / 67-117 ms and 11.1 GB, the candidate path
# 23 / 33 ms and 1.2 GB. The exact path is faster up to a few tens of thousands of passages, but its
# memory grows ~110 MB per thousand; the limit keeps it under ~2.6 GB. The knowledge folder (~140
# passages) and the SQuAD benchmarks (up to 1,903) stay far below it.
EXACT_LIMIT = 20_000


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
    def of_arrays(cls, vectors: np.ndarray, counts: np.ndarray, headings: np.ndarray,
                  heading_words: list[list[str]] | bm25s.BM25) -> "Units":
        """The same from all the windows' vectors at once (``counts``: how many each passage has),
        used as given (rows read from disk stay so); ``heading_words``, or the heading BM25 built
        from them (``heading_bm25``) and saved with the index."""
        ready = isinstance(heading_words, bm25s.BM25)
        headed = len(counts) if ready else len(heading_words)
        if len(vectors) != int(np.sum(counts)) or len(headings) != len(counts) or headed != len(counts):
            raise ValueError("the units' vectors do not match the passages")
        owner = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        return cls(vectors, owner, headings, heading_words if ready else heading_bm25(heading_words))

    def of_passage(self, vector: np.ndarray, i: int) -> tuple[float, float]:
        """The best sentence window's cosine and the heading's cosine for passage i."""
        a, b = np.searchsorted(self.owner, [i, i + 1])
        best = float((self.vectors[a:b] @ vector).max()) if b > a else -1.0
        return best, float(self.headings[i] @ vector)

    def gather(self, rows: np.ndarray, names: frozenset[str] = frozenset({"units", "heading_dense"})) -> "Gathered":
        """The windows' and headings' vectors of the passages ``rows``, copied together."""
        from .scale import _ranges

        a, b = np.searchsorted(self.owner, rows), np.searchsorted(self.owner, rows + 1)
        lengths = np.maximum(b - a, 0)
        has = lengths > 0
        vectors = np.asarray(self.vectors[_ranges(a, b)[0]]) if "units" in names else None
        headings = np.asarray(self.headings[rows]) if "heading_dense" in names else None
        return Gathered(vectors, (np.cumsum(lengths) - lengths)[has], has, headings)

    def of_rows(self, vector: np.ndarray, words: list[str], rows: np.ndarray,
                heading: np.ndarray | None = None,
                names: frozenset[str] = frozenset({"units", "heading_dense", "heading_words"}),
                gathered: "Gathered | None" = None) -> dict[str, np.ndarray]:
        """The same signals as ``scores`` (those in ``names``) for the passages ``rows`` only
        (``heading``: the heading BM25 of every passage, when already computed; ``gathered``:
        ``gather(rows)``, when kept, as for the fixed sample the statistics are estimated on)."""
        out: dict[str, np.ndarray] = {}
        g = gathered if gathered is not None else self.gather(rows, names)
        if "units" in names:
            best = np.full(len(rows), -1.0, dtype=np.float32)
            if len(g.starts):  # the best window of each passage: one reduction over its windows
                best[g.has] = np.maximum(best[g.has], np.maximum.reduceat(g.vectors @ vector, g.starts))
            out["units"] = best
        if "heading_dense" in names:
            out["heading_dense"] = g.headings @ vector
        if "heading_words" in names:
            if heading is None:
                heading = self.heading_bm25.get_scores(words) if words else None
            out["heading_words"] = heading[rows] if heading is not None else np.zeros(len(rows), np.float32)
        return out

    def scores(self, vector: np.ndarray, words: list[str], size: int) -> dict[str, np.ndarray]:
        best = np.full(size, -1.0, dtype=np.float32)
        np.maximum.at(best, self.owner, self.vectors @ vector)
        heading = self.heading_bm25.get_scores(words) if words else np.zeros(size, dtype=np.float32)
        return {"units": best, "heading_dense": self.headings @ vector, "heading_words": heading}


@dataclass(frozen=True)
class Gathered:
    """Some passages' window and heading vectors, copied out of the arrays (or files) that hold them."""

    vectors: np.ndarray | None  # their windows, passage after passage
    starts: np.ndarray  # where each passage that has windows starts in ``vectors``
    has: np.ndarray  # which of the passages have windows
    headings: np.ndarray | None


@dataclass(frozen=True)
class Query:
    vector: np.ndarray
    terms: dict[str, list[str]]

    @classmethod
    def of(cls, vector: np.ndarray, words: list[str], text: str) -> "Query":
        return cls(vector, {f.name: field_terms(f.name, words, text) for f in FIELDS})


def heading_bm25(heading_words: Sequence[list[str]]) -> bm25s.BM25:
    """BM25 over each passage's heading line (its words)."""
    return build_bm25(Field("heading", 1.2, 0.75), list(heading_words))


def build_bm25(field: Field, docs: list[list[str]]) -> bm25s.BM25:
    model = bm25s.BM25(k1=field.k1, b=field.b)
    model.index([d or [""] for d in docs], show_progress=False)
    return model


class Retriever:
    """Search over n passages given their embeddings, word tokens and lexical indexes."""

    def __init__(self, embeddings: np.ndarray, tokens: list[list[str]], texts: list[str] | None = None,
                 bm25: dict[str, bm25s.BM25] | None = None, faiss_index: faiss.Index | None = None,
                 prior: np.ndarray | None = None, units: Units | None = None, mode: str = "auto",
                 exact_limit: int = EXACT_LIMIT, scale: ScaleParams = ScaleParams(), progress: bool = False,
                 saved: Path | None = None,
                 codes: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None):
        """Lexical indexes are built from ``texts`` unless ready ones (loaded from disk) are given:
        ``bm25`` on the exact path, ``saved`` (the folder ``save_lexical`` wrote) on the candidate path.

        ``prior`` is added to each passage's fused score (e.g. a bonus for official documents).
        ``mode``: "exact", "candidates", or "auto": exact up to ``exact_limit`` passages. The
        candidate path needs ``texts`` (any sequence: it reads the candidates' texts when it scores
        them) and builds its own indexes (``scale``); ``tokens`` may be any sequence too. ``codes``:
        the candidates' texts as the n-grams read them (``texts_codes`` of their texts), kept ready
        (``bot.passages.PassageStore.codes``).
        """
        if len(embeddings) != len(tokens) or (texts is not None and len(texts) != len(tokens)):
            raise ValueError(f"{len(embeddings)} embeddings for {len(tokens)} passages")
        if mode == "auto":
            mode = "exact" if len(tokens) <= exact_limit else "candidates"
        if mode not in ("exact", "candidates"):
            raise ValueError(f"unknown retrieval mode {mode!r}")
        self.mode = mode
        self.params = {"mode": mode, "exact_limit": exact_limit}
        self._codes = codes or (lambda rows: texts_codes([self.texts[int(i)] for i in rows]))
        if mode == "candidates":
            self._init_candidates(embeddings, tokens, texts, prior, units, scale, progress, saved)
            return
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

    def _init_candidates(self, embeddings, tokens, texts, prior, units, scale: ScaleParams, progress,
                         saved: Path | None) -> None:
        if texts is None:
            raise ValueError("the candidate path needs the passages' texts")
        # rows read from disk as needed (bot.passages.RowFile) stay so; arrays are used as they are
        self.embeddings = embeddings if not isinstance(embeddings, np.ndarray) else np.ascontiguousarray(
            embeddings, dtype=np.float32)
        self.tokens, self.texts, self.size, self.units, self.scale = tokens, texts, len(tokens), units, scale
        self.params.update(scale.as_dict(self.size))
        self.prior = np.zeros(self.size) if prior is None else np.asarray(prior, dtype=np.float64)
        if saved is not None:
            self._load_candidates(Path(saved))
        else:
            self._build_candidates(tokens, texts, scale, progress)
        self.faiss = self.dense.index[1]
        self.bm25 = {}
        rng = np.random.default_rng(scale.seed + 1)
        self._sample = np.sort(rng.choice(self.size, min(self.size, scale.sample), replace=False))
        sample_texts = [texts[i] for i in self._sample]
        self._gram_sample = {name: GramSample(g, self._sample, *gram_keys_of(sample_texts, g.n))
                             for name, g in self.grams.items()}
        del sample_texts
        self._words_sample = self.words.sample(self._sample)
        # the sample's windows and headings, copied once (at a million passages, about 37 MB for
        # 4,096 passages of six windows): not gathered again for every question's statistics
        self._sample_units = self.units.gather(self._sample) if self.units is not None else None
        self.df = self.words.document_frequencies()
        self._idf = {}
        self._sets = {}

    def _build_candidates(self, tokens, texts, scale: ScaleParams, progress) -> None:
        self.dense = DenseIndex(self.embeddings, scale, progress)
        words_field = FIELDS[0]
        self.words = WordsIndex(tokens, words_field.k1, words_field.b, scale, progress)
        self.grams = {f.name: GramField(int(f.name[-1]), f.k1, f.b, self.size) for f in FIELDS[1:]}
        step = scale.batch
        for a in tqdm(range(0, self.size, step), desc="n-gram fields", unit="batch", disable=not progress):
            for i in range(a, min(self.size, a + step)):
                codes = gram_text(texts[i])
                for g in self.grams.values():
                    g.add(i, gram_keys(codes, g.n))
        for g in self.grams.values():
            g.finish()

    def _load_candidates(self, folder: Path) -> None:
        """The indexes ``save_lexical`` wrote, for the same passages and parameters (else ValueError)."""
        recorded = json.loads((folder / CANDIDATES_PARAMS).read_text(encoding="utf-8"))
        if recorded != self._built_with():
            raise ValueError(f"the saved candidate indexes were built with {recorded}, not {self._built_with()}")
        self.dense = DenseIndex.load(folder, self.embeddings, self.scale)
        self.words = WordsIndex.load(folder, self.size)
        self.grams = {f.name: GramField.load(folder / f"{f.name}.npz", self.size) for f in FIELDS[1:]}
        for f in FIELDS[1:]:
            g = self.grams[f.name]
            if (g.n, g.k1, g.b) != (int(f.name[-1]), f.k1, f.b):
                raise ValueError(f"{f.name}.npz was built with other BM25 parameters")
        words_field = FIELDS[0]
        if (self.words.k1, self.words.b) != (words_field.k1, words_field.b):
            raise ValueError("words.npz was built with other BM25 parameters")

    def _built_with(self) -> dict:
        return {"passages": self.size, **self.scale.as_dict(self.size)}

    def save_lexical(self, folder, name: Callable[[str], str] = lambda n: f"bm25_{n}") -> None:
        """The lexical indexes, for loading instead of building: the exact path's bm25s models, or
        the candidate path's indexes in ``folder/candidates`` (``saved=`` that folder to load them)."""
        if self.mode != "exact":
            out = Path(folder) / CANDIDATES_DIR
            out.mkdir(parents=True, exist_ok=True)
            self.dense.save(out)
            self.words.save(out)
            for field, g in self.grams.items():
                g.save(out / f"{field}.npz")
            (out / CANDIDATES_PARAMS).write_text(json.dumps(self._built_with(), sort_keys=True), encoding="utf-8")
            return
        for field, model in self.bm25.items():
            model.save(str(folder / name(field)))

    def idf(self, word: str) -> float:
        if self.mode != "exact":
            n = self.df.get(word, 0)
            return math.log(1 + (self.size - n + 0.5) / (n + 0.5))
        return self._idf.get(word, math.log(1 + (self.size + 0.5) / 0.5))

    def token_set(self, i: int) -> frozenset[str]:
        if self.mode != "exact" and i not in self._sets:
            if len(self._sets) > 10_000:
                self._sets.clear()
            self._sets[i] = frozenset(self.tokens[i])
        return self._sets[i]

    def coverage(self, query_words: list[str], i: int) -> float:
        """Share of the question's (IDF-weighted) content words found in passage i."""
        words = set(query_words)
        total = sum(self.idf(w) for w in words)
        if total <= 0:
            return 0.0
        return sum(self.idf(w) for w in words if w in self.token_set(i)) / total

    def dense_scores(self, vector: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        sims, idx = self.faiss.search(q, self.size)
        out = np.full(self.size, -1.0, dtype=np.float32)
        keep = idx[0] >= 0
        out[idx[0][keep]] = sims[0][keep]
        return out

    def lexical_scores(self, field: str, terms: list[str]) -> np.ndarray:
        if self.mode != "exact":
            raise NotImplementedError("the candidate path scores candidates only (search)")
        if not terms or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        return self.bm25[field].get_scores(terms)

    def search(self, query: Query, k: int, weights: Weights = Weights(), method: str = "zscore",
               also: Query | None = None) -> list[Scored]:
        """The k best passages. ``also``: a second reading of the same question (e.g. an English
        question with the documents' Thai terms added), whose fused scores are averaged in."""
        if not self.size:
            return []
        if self.mode != "exact":
            return self._search_candidates(query, k, weights, method, also)
        fused, dense, words = self.scores(query, weights, method)
        if also is not None:
            fused = (fused + self.scores(also, weights, method)[0]) / 2
        order = np.argsort(-fused, kind="stable")[:k]
        return [Scored(int(i), float(fused[i]), float(dense[i]), float(words[i])) for i in order]

    def scores(self, query: Query, weights: Weights = Weights(),
               method: str = "zscore") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every passage's fused score, cosine and BM25 over words (the candidate path: the
        candidates' fused scores, -inf elsewhere; cosines exact; BM25 0 outside the candidates)."""
        if self.mode != "exact":
            rows = self.candidates(query)
            fused_c, dense_c, words_c = self.row_scores(query, rows, weights, method)
            fused = np.full(self.size, -np.inf)
            fused[rows] = fused_c
            words = np.zeros(self.size, dtype=np.float32)
            words[rows] = words_c
            return fused, self.dense_scores(query.vector), words
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

    # -- the candidate path ---------------------------------------------------------------------
    def index_bytes(self) -> dict[str, int]:
        """Memory of each index structure (the embeddings, tokens and texts are the caller's)."""
        if self.mode == "exact":
            out = {"dense": self.faiss.ntotal * self.faiss.d * 4}
            for name, m in self.bm25.items():
                sc = getattr(m, "scores", {}) or {}
                out[name] = sum(sc[k].nbytes for k in ("data", "indices", "indptr") if k in sc)
            return out
        return {"dense": self.dense.nbytes(), "words": self.words.nbytes(),
                **{name: g.nbytes() for name, g in self.grams.items()},
                "samples": self._words_sample.indices.nbytes * 2 + sum(s.nbytes() for s in self._gram_sample.values())}

    def candidates(self, query: Query) -> np.ndarray:
        """The union (sorted) of what the dense and word signals propose."""
        dense = self.dense.propose(np.asarray(query.vector, dtype=np.float32), self.scale.dense_k)
        words = self.words.propose(query.terms["words"], self.scale.words_k)
        return np.union1d(dense, words).astype(np.int64)

    def _signals(self, query: Query, rows: np.ndarray, names: set[str],
                 heading: np.ndarray | None = None, gathered: Gathered | None = None) -> dict[str, np.ndarray]:
        """Each named signal's scores for the passages ``rows`` (``heading``: the heading BM25 of
        every passage for this query, when already computed)."""
        vector = np.asarray(query.vector, dtype=np.float32)
        out: dict[str, np.ndarray] = {}
        if "dense" in names:
            out["dense"] = self.embeddings[rows] @ vector
        if "words" in names:
            out["words"] = self.words.score(query.terms["words"], rows)
        grams = [n for n in self.grams if n in names]
        if grams:
            codes, lens = self._codes(rows)
            for name in grams:
                g = self.grams[name]
                q = g.query(query_text(query, name))
                keys, owner = concat_gram_keys(codes, lens, g.n)
                out[name] = g.score(q, rows, keys, owner)
        unit_names = frozenset(names & {"units", "heading_dense", "heading_words"})
        if unit_names and self.units is not None:
            out.update(self.units.of_rows(vector, query.terms["words"], rows, heading, unit_names, gathered))
        return out

    def _stats(self, query: Query, name: str, heading: np.ndarray | None = None) -> tuple[float, float]:
        """A signal's mean and standard deviation over all passages: exact for the dense signal,
        estimated on the fixed sample for the others."""
        if name == "dense":
            return self.dense.stats(np.asarray(query.vector, dtype=np.float64))
        if name in self._gram_sample:
            g = self.grams[name]
            s = self._gram_sample[name].scores(g.query(query_text(query, name)))
        elif name == "words":
            s = self._words_sample.scores(query.terms["words"])
        else:
            s = self._signals(query, self._sample, {name}, heading, self._sample_units)[name]
        return float(np.mean(s)), float(np.std(s))

    def row_scores(self, query: Query, rows: np.ndarray, weights: Weights = Weights(),
                   method: str = "zscore") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The fused score, cosine and BM25 over words of the passages ``rows``."""
        lexical = {f.name for f in FIELDS}
        if method in ("dense", "bm25", "rrf") or method in lexical:
            want = {"dense", "words"} | ({method} if method in lexical else set())
            sig = self._signals(query, rows, want)
            dense, words = sig["dense"], sig["words"]
            if method == "dense":
                fused = dense.astype(np.float64)
            elif method == "rrf":
                fused = rrf_fusion([dense, words])
            else:
                fused = sig["words" if method == "bm25" else method].astype(np.float64) + 1e-6 * dense
            return fused, dense, words
        names = ["dense", *lexical]
        if self.units is not None and (weights.units or weights.heading_dense or weights.heading_words):
            names += ["units", "heading_dense", "heading_words"]
        used = {n for n in names if weights.of(n)} | {"dense", "words"}
        # the heading BM25 scores every heading: once a question, for its rows and its statistics
        heading = None
        if "heading_words" in used and self.units is not None and query.terms["words"]:
            heading = self.units.heading_bm25.get_scores(query.terms["words"])
        sig = self._signals(query, rows, used, heading)
        fused = np.zeros(len(rows), dtype=np.float64)
        for name in names:
            w = weights.of(name)
            if not w:
                continue
            mean, std = self._stats(query, name, heading)
            if std >= 1e-12:
                fused += w * (np.asarray(sig[name], dtype=np.float64) - mean) / std
        return fused + self.prior[rows], sig["dense"], sig["words"]

    def _search_candidates(self, query: Query, k: int, weights: Weights, method: str,
                           also: Query | None) -> list[Scored]:
        rows = self.candidates(query)
        if also is not None:
            rows = np.union1d(rows, self.candidates(also)).astype(np.int64)
        fused, dense, words = self.row_scores(query, rows, weights, method)
        if also is not None:
            fused = (fused + self.row_scores(also, rows, weights, method)[0]) / 2
        order = np.argsort(-fused, kind="stable")[:k]
        return [Scored(int(rows[i]), float(fused[i]), float(dense[i]), float(words[i])) for i in order]


def query_text(query: Query, field: str) -> str:
    """The text a query's n-gram field was cut from, given back from its grams (overlapping by
    n - 1 characters)."""
    grams = query.terms[field]
    if not grams:
        return ""
    return grams[0] + "".join(g[-1] for g in grams[1:])

