"""The candidate path of retrieval for large corpora (issue 11): each signal proposes candidates,
and the fusion scores only their union.

- **Dense**: a FAISS IVF index with 8-bit scalar-quantized vectors (``IVF{nlist},SQ8``, inner
  product) proposes ``dense_k`` passages (``nprobe`` lists searched); their cosines are then taken
  exactly from the float32 embeddings.
- **Words**: BM25 over PyThaiNLP words in a compressed-column impact index (one column a word, its
  passages in order with their BM25 weight, the formula and parameters bm25s uses). Candidates come
  from an impact-capped copy: a word keeps only its ``impact_cap`` highest-weighted passages, so a
  word found in most passages (a particle, "ของ") costs at most that many additions. The candidates'
  scores are then taken exactly from the full columns.
- **Character 3- and 4-grams**: no postings. Only each n-gram's document frequency is kept (sorted
  64-bit keys: four 16-bit code units packed, so exact, no hashing collisions for Thai), with each
  passage's n-gram count; a candidate's BM25 is computed from its text when it is scored. Memory
  grows with the number of distinct n-grams, not with the corpus' length. These fields score
  candidates, they don't propose them.
- **z-scores**: the exact path z-normalizes each signal over every passage. Here the dense
  signal's mean and standard deviation over all passages are exact (q·μ and √(qᵀΣq), from the
  embeddings' mean and covariance); each lexical signal's are estimated on a fixed random sample of
  ``sample`` passages, scored exactly. A candidate's fused score is then the same weighted sum of
  z-scores as the exact path's, with the statistics estimated.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import faiss
import numpy as np
from tqdm import tqdm


@dataclass(frozen=True)
class ScaleParams:
    dense_k: int = 200  # passages proposed by the IVF index
    words_k: int = 200  # passages proposed by BM25 over words
    nlist: int = 0  # IVF lists; 0: a power of two near 2·√N
    nprobe: int = 32
    train: int = 48  # training vectors per IVF list (at most N)
    impact_cap: int = 4096  # postings a word keeps for proposing candidates
    sample: int = 4096  # passages the lexical z-score statistics are estimated on
    batch: int = 20_000  # passages per build batch
    seed: int = 0

    def lists(self, n: int) -> int:
        if self.nlist:
            return self.nlist
        return int(max(1, min(n // 39, 2 ** round(math.log2(max(1.0, 2 * math.sqrt(n)))))))

    def as_dict(self, n: int | None = None) -> dict:
        d = asdict(self)
        if n is not None:
            d["nlist"] = self.lists(n)
        return d


def _idf(df: np.ndarray, n: int) -> np.ndarray:
    """bm25s's default ("lucene") idf."""
    df = np.asarray(df, dtype=np.float64)
    return np.log(1 + (n - df + 0.5) / (df + 0.5))


def _tfc(tf: np.ndarray, dl: np.ndarray, avgdl: float, k1: float, b: float) -> np.ndarray:
    """bm25s's default term-frequency part (Robertson's)."""
    return tf / (k1 * ((1 - b) + b * dl / avgdl) + tf)


def _ranges(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated positions of [starts[i], ends[i]) and, for each, which range i it is from."""
    lengths = np.maximum(ends - starts, 0)
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    which = np.repeat(np.arange(len(starts)), lengths)
    offsets = np.cumsum(lengths) - lengths
    pos = np.arange(total, dtype=np.int64) - offsets[which] + starts[which]
    return pos, which


class DenseIndex:
    """IVF-SQ8 proposals, exact cosines, exact z-score statistics."""

    def __init__(self, embeddings: np.ndarray, params: ScaleParams, progress: bool = False):
        n, d = embeddings.shape
        self.embeddings = embeddings
        nlist = params.lists(n)
        rng = np.random.default_rng(params.seed)
        train = embeddings[np.sort(rng.choice(n, min(n, params.train * nlist), replace=False))]
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFScalarQuantizer(quantizer, d, nlist, faiss.ScalarQuantizer.QT_8bit,
                                              faiss.METRIC_INNER_PRODUCT)
        index.train(np.ascontiguousarray(train))
        del train
        mean = np.zeros(d, dtype=np.float64)
        second = np.zeros((d, d), dtype=np.float64)
        for a in tqdm(range(0, n, params.batch), desc="dense index", unit="batch", disable=not progress):
            block = embeddings[a:a + params.batch]
            index.add(block)
            mean += block.sum(axis=0, dtype=np.float64)
            b64 = block.astype(np.float64)
            second += b64.T @ b64
        index.nprobe = params.nprobe
        self.index = quantizer, index  # the quantizer must live as long as the index
        self.mean = mean / n
        self.cov = second / n - np.outer(self.mean, self.mean)

    def save(self, folder: Path) -> None:
        faiss.write_index(self.index[1], str(folder / "dense.faiss"))
        np.savez(folder / "dense_stats.npz", mean=self.mean, cov=self.cov)

    @classmethod
    def load(cls, folder: Path, embeddings: np.ndarray, params: ScaleParams) -> "DenseIndex":
        """A saved index (``save``) over these embeddings."""
        index = faiss.read_index(str(folder / "dense.faiss"))  # owns its quantizer once read
        if index.ntotal != len(embeddings) or index.d != embeddings.shape[1]:
            raise ValueError(f"dense.faiss holds {index.ntotal} vectors of {index.d}, not {embeddings.shape}")
        index.nprobe = params.nprobe
        self = cls.__new__(cls)
        self.embeddings, self.index = embeddings, (None, index)
        with np.load(folder / "dense_stats.npz") as stats:
            self.mean, self.cov = stats["mean"], stats["cov"]
        return self

    def propose(self, vector: np.ndarray, k: int) -> np.ndarray:
        _, idx = self.index[1].search(np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32), k)
        return idx[0][idx[0] >= 0]

    def nbytes(self) -> int:
        ivf = self.index[1]
        return int(ivf.ntotal * (ivf.code_size + 8) + ivf.nlist * ivf.d * 4 + self.cov.nbytes)

    def stats(self, vector: np.ndarray) -> tuple[float, float]:
        v = vector.astype(np.float64)
        return float(v @ self.mean), math.sqrt(max(0.0, float(v @ self.cov @ v)))


class WordsIndex:
    """BM25 over word tokens: full impact columns (exact scores of given passages) and capped
    columns (proposals)."""

    def __init__(self, tokens: Sequence[list[str]], k1: float, b: float, params: ScaleParams,
                 progress: bool = False):
        n = len(tokens)
        vocab: dict[str, int] = {}
        docs, terms, tfs = [], [], []
        dl = np.zeros(n, dtype=np.int32)
        for a in tqdm(range(0, n, params.batch), desc="words index", unit="batch", disable=not progress):
            b_ = min(n, a + params.batch)
            ids: list[int] = []
            lens = np.zeros(b_ - a, dtype=np.int64)
            for j in range(a, b_):
                toks = tokens[j] or [""]  # as bm25s indexes an empty passage
                ids += [vocab.setdefault(w, len(vocab)) for w in toks]
                lens[j - a] = len(toks)
            dl[a:b_] = lens
            owner = np.repeat(np.arange(a, b_, dtype=np.int64), lens)
            pairs, counts = np.unique(owner << 32 | np.asarray(ids, dtype=np.int64), return_counts=True)
            docs.append((pairs >> 32).astype(np.int32))
            terms.append((pairs & 0xFFFFFFFF).astype(np.int32))
            tfs.append(counts.astype(np.float32))
        doc = np.concatenate(docs)
        del docs
        term = np.concatenate(terms)
        del terms
        tf = np.concatenate(tfs)
        del tfs
        self.vocab = vocab
        self.size = n
        self.df = np.bincount(term, minlength=len(vocab)).astype(np.int64)
        self.avgdl = float(dl.mean()) if n else 1.0
        self.dl = dl
        self.k1, self.b = k1, b
        idf = _idf(self.df, n).astype(np.float32)
        weight = (idf[term] * _tfc(tf, dl[doc].astype(np.float32), np.float32(self.avgdl),
                                   np.float32(k1), np.float32(b))).astype(np.float32)
        del tf
        order = np.argsort(term, kind="stable")  # passages stay in order within a word
        del term
        self.indices = doc[order]
        del doc
        self.data = weight[order]
        del weight, order
        self.indptr = np.concatenate([[0], np.cumsum(self.df)])
        # the capped copy: a word's impact_cap highest-weighted passages
        keep = np.ones(len(self.indices), dtype=bool)
        for t in np.flatnonzero(self.df > params.impact_cap):
            a, b_ = self.indptr[t], self.indptr[t + 1]
            low = np.argpartition(self.data[a:b_], -params.impact_cap)[:-params.impact_cap]
            keep[a + low] = False
        self.cap_indices = self.indices[keep]
        self.cap_data = self.data[keep]
        self.cap_indptr = np.concatenate([[0], np.cumsum(np.minimum(self.df, params.impact_cap))])
        del keep

    ARRAYS = ("indices", "data", "indptr", "cap_indices", "cap_data", "cap_indptr", "df", "dl")

    def save(self, folder: Path) -> None:
        np.savez(folder / "words.npz", **{a: getattr(self, a) for a in self.ARRAYS},
                 scalars=np.array([self.size, self.avgdl, self.k1, self.b], dtype=np.float64))
        vocab = sorted(self.vocab, key=self.vocab.__getitem__)
        (folder / "words_vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, size: int) -> "WordsIndex":
        """A saved index (``save``) of ``size`` passages."""
        self = cls.__new__(cls)
        with np.load(folder / "words.npz") as f:
            for a in cls.ARRAYS:
                setattr(self, a, f[a])
            n, self.avgdl, self.k1, self.b = f["scalars"].tolist()
        vocab = json.loads((folder / "words_vocab.json").read_text(encoding="utf-8"))
        self.size, self.vocab = int(n), {w: i for i, w in enumerate(vocab)}
        if self.size != size or len(self.dl) != size or len(self.df) != len(vocab) \
                or len(self.indptr) != len(vocab) + 1 or self.indptr[-1] != len(self.indices):
            raise ValueError("words.npz does not fit the passages or its vocabulary")
        return self

    def ids(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The query's words known to the index, each once, with how often the query has it."""
        known = [self.vocab[w] for w in words if w in self.vocab]
        if not known:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        ids, mult = np.unique(np.asarray(known, dtype=np.int64), return_counts=True)
        return ids, mult.astype(np.float64)

    def propose(self, words: list[str], k: int) -> np.ndarray:
        ids, mult = self.ids(words)
        if not len(ids):
            return np.zeros(0, dtype=np.int64)
        pos, which = _ranges(self.cap_indptr[ids], self.cap_indptr[ids + 1])
        docs = self.cap_indices[pos]
        found, inverse = np.unique(docs, return_inverse=True)
        score = np.bincount(inverse, weights=self.cap_data[pos] * mult[which], minlength=len(found))
        if len(found) > k:
            found = found[np.argpartition(-score, k)[:k]]
        return found.astype(np.int64)

    def score(self, words: list[str], rows: np.ndarray) -> np.ndarray:
        """Exact BM25 of the given passages (``rows`` sorted)."""
        out = np.zeros(len(rows), dtype=np.float64)
        ids, mult = self.ids(words)
        for t, m in zip(ids, mult):
            a, b_ = self.indptr[t], self.indptr[t + 1]
            column = self.indices[a:b_]
            pos = np.searchsorted(column, rows)
            pos[pos >= len(column)] = 0
            hit = column[pos] == rows
            out[hit] += m * self.data[a + pos[hit]]
        return out

    def sample(self, rows: np.ndarray) -> "WordsSample":
        return WordsSample(self, rows)

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.indices, self.data, self.indptr, self.cap_indices, self.cap_data,
                                      self.cap_indptr, self.df, self.dl))

    def document_frequencies(self) -> dict[str, int]:
        df = self.df.tolist()
        return {w: df[i] for w, i in self.vocab.items() if w}


class WordsSample:
    """The impact columns restricted to a fixed sample of passages (for the z-score statistics)."""

    def __init__(self, index: WordsIndex, rows: np.ndarray):
        self.index, self.rows = index, rows
        where = np.full(index.size, -1, dtype=np.int32)
        where[rows] = np.arange(len(rows), dtype=np.int32)
        pos = where[index.indices]
        keep = pos >= 0
        del where
        self.indices = pos[keep]
        self.data = index.data[keep]
        self.indptr = np.concatenate([[0], np.cumsum(keep)])[index.indptr]

    def scores(self, words: list[str]) -> np.ndarray:
        ids, mult = self.index.ids(words)
        if not len(ids):
            return np.zeros(len(self.rows))
        pos, which = _ranges(self.indptr[ids], self.indptr[ids + 1])
        return np.bincount(self.indices[pos], weights=self.data[pos] * mult[which], minlength=len(self.rows))


def gram_text(text: str) -> np.ndarray:
    """The code units char_grams reads: white space removed, lower-cased; one 16-bit unit a character
    (characters past U+FFFF, emoji, share the unit 0xFFFF)."""
    t = "".join(text.lower().split())
    codes = np.frombuffer(t.encode("utf-32-le"), dtype=np.uint32)
    return np.minimum(codes, 0xFFFF).astype(np.uint64)


def gram_keys(codes: np.ndarray, n: int) -> np.ndarray:
    """One 64-bit key an n-gram (n ≤ 4), as ``bot.text.char_grams`` cuts them: a text no longer
    than n is one gram (a shorter one packs fewer units, so it can't equal a full gram: code 0 is
    never in normalized text)."""
    m = len(codes)
    if m <= n:
        if not m:
            return np.zeros(0, dtype=np.uint64)
        key = np.uint64(0)
        for c in codes:
            key = (key << np.uint64(16)) | c
        return np.array([key], dtype=np.uint64)
    keys = codes[:m - n + 1].copy()
    for j in range(1, n):
        keys = (keys << np.uint64(16)) | codes[j:m - n + 1 + j]
    return keys


def gram_keys_of(texts: list[str], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n-gram keys of several texts at once, and the text (0..len-1) of each."""
    codes = [gram_text(t) for t in texts]
    lens = np.array([len(c) for c in codes], dtype=np.int64)
    if not len(codes) or not lens.sum():
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    allc = np.concatenate(codes)
    ends = np.cumsum(lens)
    owner = np.repeat(np.arange(len(codes)), lens)
    m = len(allc)
    if m < n:
        keys, kowner = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    else:
        keys = allc[:m - n + 1].copy()
        for j in range(1, n):
            keys = (keys << np.uint64(16)) | allc[j:m - n + 1 + j]
        kowner = owner[:m - n + 1]
        inside = np.arange(m - n + 1) + n <= ends[kowner]
        keys, kowner = keys[inside], kowner[inside]
    short = np.flatnonzero((lens > 0) & (lens < n))  # texts shorter than n: one gram each
    if len(short):
        keys = np.concatenate([keys] + [gram_keys(codes[i], n) for i in short])
        kowner = np.concatenate([kowner, short])
    return keys, kowner


def texts_codes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``gram_text`` of several texts in one pass: their code units concatenated, and each one's
    length (joined with NUL, which normalized text never holds; else text by text)."""
    big = "\x00".join(texts)
    if big.count("\x00") != max(0, len(texts) - 1):
        codes = [gram_text(t) for t in texts]
        lens = np.array([len(c) for c in codes], dtype=np.int64)
        return (np.concatenate(codes) if codes else np.zeros(0, np.uint64)), lens
    codes = gram_text(big)
    cuts = np.flatnonzero(codes == 0)
    bounds = np.concatenate([[-1], cuts, [len(codes)]])
    lens = np.diff(bounds) - 1
    return np.delete(codes, cuts), lens


def concat_gram_keys(codes: np.ndarray, lens: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The n-gram keys of texts given as concatenated code units and lengths, and each key's text."""
    m = len(codes)
    ends = np.cumsum(lens)
    if m >= n:
        owner = np.repeat(np.arange(len(lens)), lens)[:m - n + 1]
        keys = codes[:m - n + 1].copy()
        for j in range(1, n):
            keys = (keys << np.uint64(16)) | codes[j:m - n + 1 + j]
        inside = np.arange(m - n + 1) + n <= ends[owner]
        keys, owner = keys[inside], owner[inside]
    else:
        keys, owner = np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    short = np.flatnonzero((lens > 0) & (lens < n))  # texts shorter than n: one gram each
    if len(short):
        keys = np.concatenate([keys] + [gram_keys(codes[ends[i] - lens[i]:ends[i]], n) for i in short])
        owner = np.concatenate([owner, short])
    return keys, owner


_MULT = np.uint64(0x9E3779B97F4A7C15)


def find(qkeys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which ``keys`` are among the sorted ``qkeys``, and where: a small open table indexed by a
    multiplicative hash (a few vector operations), or binary search when the query's keys collide."""
    for bits in (12, 14, 16):
        slot = (qkeys * _MULT) >> np.uint64(64 - bits)
        if len(np.unique(slot)) == len(qkeys):
            table = np.full(1 << bits, -1, dtype=np.int64)
            table[slot.astype(np.int64)] = np.arange(len(qkeys))
            pos = table[((keys * _MULT) >> np.uint64(64 - bits)).astype(np.int64)]
            hit = pos >= 0
            hit[hit] = qkeys[pos[hit]] == keys[hit]
            return hit, pos
    pos = np.searchsorted(qkeys, keys)
    pos[pos >= len(qkeys)] = 0
    return qkeys[pos] == keys, pos


class GramField:
    """BM25 over character n-grams without postings: the n-grams' document frequencies and each
    passage's n-gram count; passages are scored from their text."""

    def __init__(self, n: int, k1: float, b: float, size: int):
        self.n, self.k1, self.b, self.size = n, k1, b, size
        self.keys = np.zeros(0, dtype=np.uint64)
        self.df = np.zeros(0, dtype=np.int64)
        self.dl = np.zeros(size, dtype=np.int32)
        self.avgdl = 1.0
        self._pending: list[np.ndarray] = []
        self._pending_len = 0

    def add(self, i: int, keys: np.ndarray) -> None:
        self.dl[i] = len(keys) or 1  # bm25s indexes an empty passage as one empty token
        if len(keys):
            self._pending.append(np.unique(keys))
            self._pending_len += len(self._pending[-1])
            if self._pending_len > 8_000_000:
                self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        batch = np.concatenate(self._pending)
        self._pending, self._pending_len = [], 0
        keys, inverse = np.unique(np.concatenate([self.keys, batch]), return_inverse=True)
        counts = np.concatenate([self.df, np.ones(len(batch), dtype=np.int64)])
        self.df = np.bincount(inverse.ravel(), weights=counts, minlength=len(keys)).astype(np.int64)
        self.keys = keys

    def nbytes(self) -> int:
        return self.keys.nbytes + self.df.nbytes + self.dl.nbytes

    def save(self, path: Path) -> None:
        np.savez(path, keys=self.keys, df=self.df, dl=self.dl,
                 scalars=np.array([self.n, self.k1, self.b, self.size, self.avgdl], dtype=np.float64))

    @classmethod
    def load(cls, path: Path, size: int) -> "GramField":
        """A saved field (``save``, after ``finish``) of ``size`` passages."""
        with np.load(path) as f:
            n, k1, b, saved_size, avgdl = f["scalars"].tolist()
            self = cls(int(n), k1, b, int(saved_size))
            self.keys, self.df, self.dl, self.avgdl = f["keys"], f["df"], f["dl"], avgdl
        if self.size != size or len(self.dl) != size or len(self.keys) != len(self.df) \
                or (len(self.keys) > 1 and not bool(np.all(self.keys[1:] > self.keys[:-1]))):
            raise ValueError(f"{Path(path).name} does not fit the passages")
        return self

    def finish(self) -> None:
        self._merge()
        self.avgdl = float(self.dl.mean()) if self.size else 1.0

    def query(self, text: str, n_terms: Callable[[str, int], list[str]] | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The query's known n-grams (sorted, once each), their idf and how often the query has them."""
        keys = gram_keys(gram_text(text), self.n)
        if not len(keys):
            return keys, np.zeros(0), np.zeros(0)
        keys, mult = np.unique(keys, return_counts=True)
        pos = np.searchsorted(self.keys, keys)
        pos[pos >= len(self.keys)] = 0
        known = self.keys[pos] == keys if len(self.keys) else np.zeros(len(keys), dtype=bool)
        idf = _idf(self.df[pos[known]], self.size)
        return keys[known], idf, mult[known].astype(np.float64)

    def score(self, q: tuple[np.ndarray, np.ndarray, np.ndarray], rows: np.ndarray,
              keys: np.ndarray, owner: np.ndarray) -> np.ndarray:
        """BM25 of the passages ``rows`` whose n-gram keys are ``keys`` (``owner``: the position in
        rows of each key)."""
        qkeys, idf, mult = q
        out = np.zeros(len(rows), dtype=np.float64)
        if not len(qkeys) or not len(keys):
            return out
        hit, pos = find(qkeys, keys)
        tf = np.bincount(owner[hit] * len(qkeys) + pos[hit], minlength=len(rows) * len(qkeys))
        tf = tf.reshape(len(rows), len(qkeys)).astype(np.float64)
        part = _tfc(tf, self.dl[rows].astype(np.float64)[:, None], self.avgdl, self.k1, self.b)
        return part @ (idf * mult)


class GramSample:
    """The n-gram keys of a fixed sample of passages, sorted by key: a query's n-grams are found in
    it by binary search (for the z-score statistics)."""

    def __init__(self, field: GramField, rows: np.ndarray, keys: np.ndarray, owner: np.ndarray):
        self.field, self.rows = field, rows
        # each distinct (key, passage) pair once, sorted by key then passage, with its count (a
        # lexsort: np.unique over rows took 2.3 s of 2.6 for 4,096 passages)
        order = np.lexsort((owner, keys))
        keys, owner = keys[order], np.asarray(owner, dtype=np.int64)[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = (keys[1:] != keys[:-1]) | (owner[1:] != owner[:-1])
        starts = np.flatnonzero(first)
        self.keys = np.ascontiguousarray(keys[starts])
        self.owner = owner[starts]
        self.tf = np.diff(np.append(starts, len(keys))).astype(np.float64)
        self.dl = field.dl[rows].astype(np.float64)

    def nbytes(self) -> int:
        return self.keys.nbytes + self.owner.nbytes + self.tf.nbytes + self.dl.nbytes

    def scores(self, q: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        qkeys, idf, mult = q
        if not len(qkeys):
            return np.zeros(len(self.rows))
        pos, which = _ranges(np.searchsorted(self.keys, qkeys, "left"), np.searchsorted(self.keys, qkeys, "right"))
        owner = self.owner[pos]
        w = idf[which] * mult[which] * _tfc(self.tf[pos], self.dl[owner], self.field.avgdl, self.field.k1,
                                            self.field.b)
        return np.bincount(owner, weights=w, minlength=len(self.rows))
