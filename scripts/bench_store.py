#!/usr/bin/env python3
"""A real index folder of N passages, served the way the bot serves it (issue 11).

    .venv/bin/python scripts/bench_store.py --passages N [--dir DIR] [--keep] [--cold] [--json]

``bench_scale.py`` measures the Retriever on a corpus it makes on demand; this script measures what
the bot would hold and do with an index folder of that size. Two child processes, one after the
other, so that the second one's memory is the serving process's alone:

1. **build** writes the corpus of ``bench_scale.py`` (same seed, same distractors, same vectors) as
   an index folder: the passage store (``bot/passages.py``), the passage, heading and sentence-window
   vectors, then ``IndexStore.finish``, the build's own last step (FAISS, glossary, the candidate
   path's indexes, manifest). Nothing is embedded: passage vectors are bench_scale's; a heading
   vector is its passage's vector, and a sentence window's is its passage's vector plus Gaussian
   noise (``--noise`` times the embeddings' spread), normalized. So the windows' and headings'
   signals cost what they cost in a real index, but carry little of their own: the quality figures
   of the candidate path are bench_scale's. Every 50 passages form a document, with no title or
   section (the indexed text is the passage's text, as in bench_scale).
2. **serve** loads the folder with ``IndexStore.load`` (every file's checksum checked, as at every
   start; ``knowledge=False``: there is no knowledge folder to compare), then searches XQuAD-th's
   questions with the engine's weights (``Retriever.search``, as bench_scale; question vectors from
   its cache) and answers the first ``--asks`` of them through ``Engine.ask`` (the whole path: the
   question's encoding, rewriting, search, the passages read from disk, the answer's sentences).

``--json`` prints one line: ``{"passages", "build_s", "p50_ms", "p95_ms", "rss_mb", "recall@1", ...}``
with ``rss_mb`` the serving process's peak (VmHWM), ``rss_anon_mb`` and ``rss_file_mb`` its resident
memory at the end split into its own and mapped file pages (libraries, the model), ``load_s`` (the
checksums of every file included, as at every start), ``warm_s`` (then waiting for the index's
background read of the files questions read, ``LoadedIndex.warming``; ``--cold``: not waited for), ``ask_p50_ms`` / ``ask_p95_ms``, ``store_s``
(writing the passage store and the vectors), ``build_rss_mb`` and ``disk_mb``. The folder is
removed afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402

from bot.config import Settings  # noqa: E402

DOC_PASSAGES = 50


def _status(key: str) -> float:
    status = Path("/proc/self/status").read_text()
    m = re.search(rf"{key}:\s+(\d+)\s+kB", status)
    return int(m.group(1)) / 1024 if m else 0.0


def _settings(folder: Path) -> Settings:
    return Settings(index_dir=str(folder / "index"), knowledge_dir=str(folder / "knowledge"))


def build(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    from bench_scale import make_corpus
    from bot.embedder import make_embedder
    from bot.index import IndexStore
    from bot.passages import Passage, StoreWriter
    from bot.types import Chunk, Source

    folder = Path(args.dir)
    settings = _settings(folder)
    embedder = make_embedder(settings)
    corpus, vectors, _ = make_corpus(args.passages, args.seed, args.noise, embedder, settings)
    dim = vectors.shape[1]
    del embedder
    work = folder / ".index.new"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t0 = time.perf_counter()
    np.save(work / "embeddings.npy", vectors)
    np.save(work / "headings.npy", vectors)
    rng = np.random.default_rng(args.seed + 2)
    spread = vectors.std(axis=0)
    spans: list[list[tuple[int, int]]] = []
    windows = 0
    for i in range(corpus.size):  # sentence spans first: the windows' file is written at its size
        parts = [corpus.text(i)] if i < len(corpus.real_texts) else [corpus.sents[s] for s in corpus.sentence_ids(i)]
        out, pos = [], 0
        for part in parts:
            out.append((pos, pos + len(part)))
            pos += len(part) + 1
        spans.append(out)
        windows += len(out)
    units = np.lib.format.open_memmap(work / "units.npy", mode="w+", dtype=np.float32, shape=(windows, dim))
    docs: dict[str, int] = {}
    row, start, prev = 0, 0, ""
    with StoreWriter(work) as store:
        for i in tqdm(range(corpus.size), desc="passages", unit="passage", disable=args.json):
            text = corpus.text(i)
            doc = f"synthetic/{i // DOC_PASSAGES:06d}.md"
            start = 0 if doc != prev else start
            prev = doc
            k = docs[doc] = docs.get(doc, -1) + 1
            chunk = Chunk(f"{doc}#{k}", doc, text, "", start, start + len(text), Source(doc, ""))
            start += len(text) + 1
            store.add(Passage(chunk, corpus.tokens(i), spans[i]))
            n = len(spans[i])
            noisy = vectors[i] + args.noise * rng.standard_normal((n, dim)).astype(np.float32) * spread
            units[row:row + n] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
            row += n
    units.flush()
    del units, spans
    store_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    documents = {d: {"sha256": "", "title": "", "chunks": k + 1} for d, k in docs.items()}
    IndexStore(settings).finish(work, vectors, dim, documents, {"skipped": {}, "problems": [],
                                "synthetic": {"seed": args.seed, "noise": args.noise}}, progress=not args.json)
    build_s = time.perf_counter() - t0
    disk = sum(f.stat().st_size for f in (folder / "index").rglob("*") if f.is_file()) / 2**20
    return {"passages": corpus.size, "build_s": round(build_s, 1), "store_s": round(store_s, 1),
            "disk_mb": round(disk), "build_rss_mb": round(_status("VmHWM"))}


def serve(args: argparse.Namespace) -> dict:
    from bench_scale import XQUAD, query_vectors, xquad_answers
    from bot.embedder import make_embedder
    from bot.engine import Engine
    from bot.evaluation import load_squad, squash
    from bot.index import IndexStore
    from bot.retrieval import Query
    from bot.text import normalize_text, words

    folder = Path(args.dir)
    settings = _settings(folder)
    t0 = time.perf_counter()
    embedder = make_embedder(settings)
    model_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    index = IndexStore(settings).load(embedder.dimension, knowledge=False)
    load_s = time.perf_counter() - t0
    rss_loaded = _status("VmRSS")
    t0 = time.perf_counter()
    if index.warming is not None and not args.cold:  # the files questions read, in the page cache
        index.warming.join()
    warm_s = time.perf_counter() - t0
    xq = load_squad([XQUAD])
    questions = [normalize_text(q) for q in xq.questions]
    qvecs = query_vectors(embedder, questions)
    answers = xquad_answers(XQUAD)
    if args.questions:
        questions, qvecs = questions[:args.questions], qvecs[:args.questions]
    weights = settings.weights()
    times, hits, held = [], 0, 0
    for q, v, g, ans in zip(questions, qvecs, xq.gold, answers):
        query = Query.of(v, words(q), q)
        t = time.perf_counter()
        top = index.retriever.search(query, 10, weights)
        times.append((time.perf_counter() - t) * 1000)
        hits += bool(top) and top[0].index == g
        first = squash(index.passages.text(top[0].index)) if top else ""
        held += any(a and a in first for a in ans)
    times.sort()
    engine = Engine(settings, embedder, index)
    asks = []
    for q in xq.questions[:args.asks]:
        t = time.perf_counter()
        engine.ask(q)
        asks.append((time.perf_counter() - t) * 1000)
    asks.sort()

    def p95(xs: list[float]) -> float:
        return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))] if xs else 0.0

    return {"passages": len(index.passages), "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(p95(times), 2), "rss_mb": round(_status("VmHWM")),
            "recall@1": round(hits / len(times), 4), "answer@1": round(held / len(times), 4),
            "questions": len(times), "load_s": round(load_s, 1), "warm_s": round(warm_s, 1), "model_s": round(model_s, 1),
            "rss_loaded_mb": round(rss_loaded), "rss_anon_mb": round(_status("RssAnon")),
            "rss_file_mb": round(_status("RssFile")), "ask_p50_ms": round(statistics.median(asks), 1) if asks else 0.0,
            "ask_p95_ms": round(p95(asks), 1), "asks": len(asks), "mode": index.retriever.mode,
            "lazy": index.passages.lazy}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passages", type=int, default=0)
    ap.add_argument("--dir", default="", help="where the index folder goes (default: a new one under .cache)")
    ap.add_argument("--keep", action="store_true", help="keep the folder (serve it again with --step serve)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--noise", type=float, default=0.5)
    ap.add_argument("--questions", type=int, default=0, help="search only the first N questions (0: all)")
    ap.add_argument("--asks", type=int, default=300, help="questions answered through Engine.ask")
    ap.add_argument("--step", choices=["all", "build", "serve"], default="all")
    ap.add_argument("--cold", action="store_true",
                    help="search at once, without waiting for the index's files to be read into the page cache")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    if args.step == "build":
        print(json.dumps(build(args)))
        return 0
    if args.step == "serve":
        print(json.dumps(serve(args)))
        return 0
    if not args.passages:
        ap.error("--passages N is needed")
    from bench_scale import report
    folder = Path(args.dir or ROOT / ".cache" / "bench_store" / f"n{args.passages}")
    out: dict = {}
    try:
        for step in ("build", "serve"):
            cmd = [sys.executable, __file__, "--step", step, "--dir", str(folder), "--passages", str(args.passages),
                   "--seed", str(args.seed), "--noise", str(args.noise), "--questions", str(args.questions),
                   "--asks", str(args.asks)] + (["--json"] if args.json else [])
            done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            out.update(result if step == "serve" else {k: v for k, v in result.items() if k != "passages"})
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    keys = ["passages", "build_s", "p50_ms", "p95_ms", "rss_mb", "recall@1"]
    report({**{k: out[k] for k in keys if k in out}, **{k: v for k, v in out.items() if k not in keys}}, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
