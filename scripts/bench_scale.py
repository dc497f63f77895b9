#!/usr/bin/env python3
"""Retrieval at scale (issue 11): the XQuAD-th passages hidden among synthetic distractors.

    .venv/bin/python scripts/bench_scale.py --passages N [--mode auto|exact|candidates] [--json]

The corpus holds N passages: XQuAD-th's 240 passages (``../shared/data/xquad-th``, read with
``load_squad``) with their real e5 embeddings, and N - 240 synthetic distractors. It reports the
Retriever's index build time, p50 and p95 search latency over XQuAD-th's 1,190 questions, the
process's peak memory (VmHWM) and XQuAD-th recall@1 among the distractors. ``--json`` prints one line
``{"passages", "build_s", "p50_ms", "p95_ms", "rss_mb", "recall@1", ...}``; among the other keys,
``answer@1`` (the first passage holds one of the question's gold answers: a distractor that
copied the answer sentence counts) and ``index_mb`` (each index structure's size). On the
candidate path the built indexes are then saved to a temporary folder and loaded again, as an index
folder keeps them (``save_s``, ``load_s``, ``saved_mb``), and the questions are searched on the
loaded ones (``--no-save``: on the built ones).

How the distractors are made (seeded, ``--seed``):

- **Text.** The source pool is every passage of XQuAD-th and iapp-wiki-qa valid (2,143 passages),
  each cut into sentences with the bot's own splitter (``bot.text.sentences``, PyThaiNLP crfcut). A
  distractor takes as many sentences as a pool passage drawn at random has, in up to three runs of
  consecutive sentences from three source passages drawn at random (so it reads as a few on-topic
  stretches of Wikipedia-style Thai, like a real passage, and often shares whole sentences, even
  answer sentences, with XQuAD-th passages). Sentences are joined with a space.
- **Tokens.** Each distinct pool sentence is cut into words (``bot.text.words``) once; a distractor's
  word tokens are its sentences' tokens concatenated (a whole passage cut at once may segment a
  word differently at a sentence boundary). Its character n-grams come from its text as usual.
  Texts and tokens are built on demand from the sentence ids (lazy sequences), so the corpus is held
  as a few int32 arrays, not as N strings.
- **How hard that is.** Each pool passage is a source of about 3·N/2,143 distractors, most of
  which copy a run of its sentences, often its answer sentence: at 1,000,000 passages an XQuAD-th
  passage has ~1,400 partial copies of itself to outrank, so recall@1 falls with N on either path
  (compare paths on the same N, seed and noise), while ``answer@1`` says how often the first
  passage at least holds the answer.
- **Vectors.** A distractor's vector is the mean of its source passages' real embeddings, weighted by
  how many sentences each gave, plus Gaussian noise whose per-dimension spread is the pool
  embeddings' own (``--noise`` times it, default 0.5), normalized. So it sits among the real
  passages in e5's anisotropic space, near the passages its text came from, and competes with them
  in the dense signal.

Timed: the ``Retriever`` build from embeddings, tokens and texts (embedding and the questions'
tokenization are not: passage embeddings come from ``.cache/embeddings``, question vectors are
cached under ``.cache/bench_scale``); a search is ``Retriever.search(query, 10, weights)`` of a
ready ``Query``. The machine is shared: compare runs made close together.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "telegram"))

import numpy as np  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.evaluation import cached_passage_embeddings, load_squad, squash  # noqa: E402
from bot.retrieval import Query, Retriever  # noqa: E402
from bot.text import normalize_text, sentences, words  # noqa: E402
from tg_harness import memory_mb  # noqa: E402

XQUAD = ROOT.parent / "shared" / "data" / "xquad-th" / "xquad.th.json"
IAPP = ROOT.parent / "shared" / "data" / "iapp-wiki-qa" / "iapp-valid.squad.json"
CACHE = ROOT / ".cache" / "bench_scale"


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def sentence_pool(texts: list[str]) -> tuple[list[str], list[list[str]], list[list[int]]]:
    """Distinct sentences, their word tokens, and each pool passage's sentence ids (cached)."""
    path = CACHE / f"pool-{_key(*texts)}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    sents: list[str] = []
    where: dict[str, int] = {}
    per_passage: list[list[int]] = []
    for t in texts:
        ids = []
        for s in sentences(t):
            s = s.strip()
            if s:
                if s not in where:
                    where[s] = len(sents)
                    sents.append(s)
                ids.append(where[s])
        if not ids:  # no sentence found: the whole text is one
            where.setdefault(t, len(sents))
            if where[t] == len(sents):
                sents.append(t)
            ids.append(where[t])
        per_passage.append(ids)
    toks = [words(s) for s in sents]
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps((sents, toks, per_passage)))
    return sents, toks, per_passage


class Corpus:
    """The real passages first, then the distractors as lists of pool sentence ids (CSR arrays)."""

    def __init__(self, real_texts: list[str], real_tokens: list[list[str]], sents: list[str],
                 sent_tokens: list[list[str]], starts: np.ndarray, ids: np.ndarray):
        self.real_texts, self.real_tokens = real_texts, real_tokens
        self.sents, self.sent_tokens = sents, sent_tokens
        self.starts, self.ids = starts, ids
        self.size = len(real_texts) + len(starts) - 1

    def sentence_ids(self, i: int) -> np.ndarray:
        j = i - len(self.real_texts)
        return self.ids[self.starts[j]:self.starts[j + 1]]

    def text(self, i: int) -> str:
        if i < len(self.real_texts):
            return self.real_texts[i]
        return " ".join(self.sents[s] for s in self.sentence_ids(i))

    def tokens(self, i: int) -> list[str]:
        if i < len(self.real_tokens):
            return self.real_tokens[i]
        out: list[str] = []
        for s in self.sentence_ids(i):
            out += self.sent_tokens[s]
        return out


class Lazy(Sequence):
    def __init__(self, size: int, get):
        self.size, self.get = size, get

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.get(j) for j in range(*i.indices(self.size))]
        if i < 0:
            i += self.size
        if not 0 <= i < self.size:
            raise IndexError(i)
        return self.get(i)


def xquad_answers(path: Path) -> list[list[str]]:
    """Each question's gold answers, in load_squad's order of questions."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return [[squash(normalize_text(a["text"])) for a in qa.get("answers", [])]
            for article in data["data"] for para in article["paragraphs"] for qa in para.get("qas", [])]


def make_corpus(n: int, seed: int, noise: float, embedder, settings: Settings):
    xq = load_squad([XQUAD])
    ia = load_squad([IAPP])
    pool_texts = xq.passages + ia.passages
    sents, sent_tokens, per_passage = sentence_pool(pool_texts)
    emb = np.concatenate([cached_passage_embeddings(embedder, xq.passages, settings.cache_dir, False),
                          cached_passage_embeddings(embedder, ia.passages, settings.cache_dir, False)])
    real_tokens = [words(t) for t in xq.passages]  # as the index cuts a passage: whole
    rng = np.random.default_rng(seed)
    m = max(0, n - len(xq.passages))
    lengths = np.array([len(p) for p in per_passage])
    want = lengths[rng.integers(0, len(per_passage), m)]
    sources = rng.integers(0, len(per_passage), (m, 3))
    starts = np.zeros(m + 1, dtype=np.int64)
    ids = np.empty(int(want.sum()), dtype=np.int32)
    vectors = np.empty((len(xq.passages) + m, emb.shape[1]), dtype=np.float32)
    vectors[:len(xq.passages)] = emb[:len(xq.passages)]
    spread = emb.std(axis=0)
    row = 0
    batch = 65536
    for b0 in range(0, m, batch):
        b1 = min(m, b0 + batch)
        mix = np.zeros((b1 - b0, emb.shape[1]), dtype=np.float64)
        for d in range(b0, b1):
            k = int(want[d])
            cuts = np.sort(rng.integers(0, k + 1, 2))
            parts = (cuts[0], cuts[1] - cuts[0], k - cuts[1])
            for src, take in zip(sources[d], parts):
                if not take:
                    continue
                ps = per_passage[src]
                take = min(take, len(ps))
                a = int(rng.integers(0, len(ps) - take + 1))
                ids[row:row + take] = ps[a:a + take]
                row += take
                mix[d - b0] += take * emb[src]
            starts[d + 1] = row
        mix /= np.maximum(1, starts[b0 + 1:b1 + 1] - starts[b0:b1])[:, None]
        mix += noise * rng.standard_normal(mix.shape) * spread
        mix /= np.linalg.norm(mix, axis=1, keepdims=True)
        vectors[len(xq.passages) + b0:len(xq.passages) + b1] = mix
    corpus = Corpus(xq.passages, real_tokens, sents, sent_tokens, starts, ids[:row])
    return corpus, vectors, xq


def query_vectors(embedder, questions: list[str]) -> np.ndarray:
    path = CACHE / f"queries-{_key(embedder.name, *questions)}.npy"
    if path.exists():
        return np.load(path)
    vecs = np.concatenate([embedder.queries(questions[i:i + 64]) for i in range(0, len(questions), 64)])
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vecs)
    return vecs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passages", type=int, required=True)
    ap.add_argument("--mode", choices=["auto", "exact", "candidates"], default="auto")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--questions", type=int, default=0, help="only the first N questions (0: all)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-save", action="store_true",
                    help="search the indexes as built, without saving and loading them (candidate path)")
    args = ap.parse_args()

    from bot.embedder import make_embedder

    settings = Settings()
    embedder = make_embedder(settings)
    t0 = time.perf_counter()
    corpus, vectors, xq = make_corpus(args.passages, args.seed, args.noise, embedder, settings)
    questions = [normalize_text(q) for q in xq.questions]
    qvecs = query_vectors(embedder, questions)
    del embedder
    answers = xquad_answers(XQUAD)
    assert len(answers) == len(questions)
    gold = xq.gold
    if args.questions:
        questions, qvecs, gold, answers = (x[:args.questions] for x in (questions, qvecs, gold, answers))
    queries = [Query.of(v, words(q), q) for v, q in zip(qvecs, questions)]
    corpus_s = time.perf_counter() - t0
    texts = Lazy(corpus.size, corpus.text)
    tokens = Lazy(corpus.size, corpus.tokens)

    t0 = time.perf_counter()
    kwargs = {"progress": not args.json} if args.mode == "auto" else {"mode": args.mode, "progress": not args.json}
    retriever = Retriever(vectors, tokens, texts, **kwargs)
    build_s = time.perf_counter() - t0
    rss_built = memory_mb(os.getpid())
    loading = {}
    if getattr(retriever, "mode", "exact") == "candidates" and not args.no_save:
        # as an index folder keeps them: saved once at build, loaded at every start; the questions
        # are then searched on the loaded indexes
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
            t0 = time.perf_counter()
            retriever.save_lexical(Path(folder))
            save_s = time.perf_counter() - t0
            saved_mb = sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file()) / 2**20
            del retriever
            t0 = time.perf_counter()
            retriever = Retriever(vectors, tokens, texts, saved=Path(folder) / "candidates", **kwargs)
            loading = {"save_s": round(save_s, 1), "load_s": round(time.perf_counter() - t0, 1),
                       "saved_mb": round(saved_mb)}

    weights = settings.weights()
    times, hits, held = [], 0, 0
    for q, g, ans in zip(queries, gold, answers):
        t = time.perf_counter()
        top = retriever.search(q, 10, weights)
        times.append((time.perf_counter() - t) * 1000)
        hits += bool(top) and top[0].index == g
        first = squash(corpus.text(top[0].index)) if top else ""
        held += any(a and a in first for a in ans)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    out = {"passages": corpus.size, "build_s": round(build_s, 1), "p50_ms": round(statistics.median(times), 2),
           "p95_ms": round(p95, 2), "rss_mb": round(memory_mb(os.getpid(), peak=True)),
           "recall@1": round(hits / len(gold), 4), "answer@1": round(held / len(gold), 4), "mode": getattr(retriever, "mode", "exact"),
           "questions": len(gold), "rss_after_build_mb": round(rss_built), "corpus_s": round(corpus_s, 1),
           "params": getattr(retriever, "params", {}),
           "index_mb": {k: round(v / 2**20, 1) for k, v in retriever.index_bytes().items()}
           if hasattr(retriever, "index_bytes") else {}, **loading}
    report(out, args.json)
    return 0


def report(out: dict, as_json: bool) -> None:
    """One JSON line, or one "key: value" line a figure."""
    if as_json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:>18}: {v}")


if __name__ == "__main__":
    sys.exit(main())
