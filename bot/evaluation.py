"""Evaluation: the domain question sets and SQuAD-style retrieval benchmarks."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from .embedder import Embedder
from .engine import Engine
from .retrieval import Query, Retriever, Weights
from .text import normalize_text, words

_WS = re.compile(r"\s+")


def squash(text: str) -> str:
    return _WS.sub("", text)


# -- domain questions -----------------------------------------------------------------------------
@dataclass
class DomainResult:
    total_in: int = 0
    total_out: int = 0
    top1: int = 0
    top3: int = 0
    answered_in: int = 0
    rejected_out: int = 0
    correct: int = 0  # in scope, answered, and the first passage holds an answer
    wrong: int = 0  # answered with a first passage that doesn't, or an out-of-scope question answered
    lead: int = 0  # correct, and the bold lead (the answering sentences) itself holds an answer
    styles: dict[str, list[int]] = field(default_factory=dict)  # style -> [top-1 hits, in-scope questions]
    misses: list[dict[str, Any]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        def rate(a: int, b: int) -> float:
            return round(a / b, 4) if b else 0.0
        figs: dict[str, Any] = {
            "questions_in": self.total_in, "questions_out": self.total_out,
            "top1": rate(self.top1, self.total_in), "top3": rate(self.top3, self.total_in),
            "answered_in": rate(self.answered_in, self.total_in),
            "rejected_out": rate(self.rejected_out, self.total_out),
            "correct": rate(self.correct, self.total_in),
            "wrong": rate(self.wrong, self.total_in + self.total_out),
            # of the correct answers, the share whose lead sentences hold the answer: what a reader sees first
            "lead_holds_answer": rate(self.lead, self.correct)}
        if self.styles:
            figs["top1_by_style"] = {s: rate(h, n) for s, (h, n) in sorted(self.styles.items())}
        return figs


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc})") from exc
    return rows


def evaluate_domain(engine: Engine, items: list[dict[str, Any]]) -> DomainResult:
    res = DomainResult()
    for item in items:
        answer = engine.ask(item["question"])
        texts = [squash(normalize_text(h.chunk.text)) for h in answer.hits]
        golds = [squash(normalize_text(a)) for a in item.get("answers", [])]
        rank = next((i + 1 for i, t in enumerate(texts) if any(g and g in t for g in golds)), None)
        conf = answer.confidence
        row = {"id": item.get("id"), "kind": item.get("kind"), "style": item.get("style"),
               "question": item["question"], "rank": rank,
               "answered": answer.answered, "confidence": round(conf, 4),
               "top": answer.hits[0].chunk.chunk_id if answer.hits else None}
        res.rows.append(row)
        if item.get("kind") == "out":
            res.total_out += 1
            if not answer.answered:
                res.rejected_out += 1
            else:
                res.wrong += 1
                res.misses.append({**row, "why": "out-of-scope question answered"})
            continue
        res.total_in += 1
        res.top1 += rank == 1
        res.top3 += rank is not None and rank <= 3
        res.answered_in += answer.answered
        res.correct += answer.answered and rank == 1
        res.lead += answer.answered and rank == 1 and any(g and g in squash(normalize_text(answer.answer))
                                                            for g in golds)
        res.wrong += answer.answered and rank != 1
        if item.get("style"):
            style = res.styles.setdefault(str(item["style"]), [0, 0])
            style[0] += rank == 1
            style[1] += 1
        if rank != 1 or not answer.answered:
            why = "not answered" if rank == 1 else f"gold passage at rank {rank}" if rank else "gold passage not in results"
            if rank != 1 and not answer.answered:
                why += ", not answered"
            res.misses.append({**row, "why": why})
    return res


# -- SQuAD retrieval benchmark -----------------------------------------------------------------------
@dataclass(frozen=True)
class SquadSet:
    passages: list[str]
    questions: list[str]
    gold: list[int]


def load_squad(paths: list[Path]) -> SquadSet:
    """Every paragraph is a passage; paragraphs identical after normalization are one passage
    (iapp-wiki-qa has a pair that differs only in invisible characters)."""
    passages: list[str] = []
    where: dict[str, int] = {}
    questions, gold = [], []
    for path in paths:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        for article in data["data"]:
            for para in article["paragraphs"]:
                ctx = normalize_text(para["context"])
                if ctx not in where:
                    where[ctx] = len(passages)
                    passages.append(ctx)
                for qa in para.get("qas", []):
                    questions.append(qa["question"])
                    gold.append(where[ctx])
    return SquadSet(passages, questions, gold)


def cached_passage_embeddings(embedder: Embedder, texts: list[str], cache_dir: Path, progress: bool) -> np.ndarray:
    key = hashlib.sha256("\0".join([embedder.name, *texts]).encode()).hexdigest()[:24]
    path = Path(cache_dir) / "embeddings" / f"{key}.npy"
    if path.exists():
        arr = np.load(path)
        if arr.shape == (len(texts), embedder.dimension):
            return arr
    out, batch = [], 32
    bar = tqdm(total=len(texts), desc="embedding passages", unit="passage", disable=not progress)
    for i in range(0, len(texts), batch):
        out.append(embedder.passages(texts[i:i + batch]))
        bar.update(len(out[-1]))
    bar.close()
    arr = np.concatenate(out) if out else np.zeros((0, embedder.dimension), np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, arr)
    return arr


def retrieval_metrics(ranked: list[list[int]], gold: list[int]) -> dict[str, float]:
    n = len(gold)
    r1 = sum(1 for r, g in zip(ranked, gold) if r[:1] == [g]) / n
    r5 = sum(1 for r, g in zip(ranked, gold) if g in r[:5]) / n
    mrr = sum(1.0 / (r[:10].index(g) + 1) for r, g in zip(ranked, gold) if g in r[:10]) / n
    return {"recall@1": round(r1, 4), "recall@5": round(r5, 4), "mrr@10": round(mrr, 4)}


def evaluate_squad(embedder: Embedder, paths: list[Path], cache_dir: Path, weights: Weights,
                   progress: bool = True,
                   methods: tuple[str, ...] = ("hybrid", "dense", "bm25", "chars3", "rrf")) -> dict[str, Any]:
    t0 = time.perf_counter()
    data = load_squad(paths)
    texts = data.passages
    tokens = [words(t) for t in tqdm(texts, desc="tokenizing", unit="passage", disable=not progress)]
    emb = cached_passage_embeddings(embedder, texts, cache_dir, progress)
    retriever = Retriever(emb, tokens, texts)
    questions = [normalize_text(q) for q in data.questions]
    qvecs = np.concatenate([embedder.queries(questions[i:i + 64]) for i in range(0, len(questions), 64)])
    qtoks = [words(q) for q in questions]
    queries = [Query.of(v, t, q) for v, t, q in zip(qvecs, qtoks, questions)]
    out: dict[str, Any] = {"questions": len(questions), "passages": len(texts)}
    for method in methods:
        name = "zscore" if method == "hybrid" else method
        ranked = [[s.index for s in retriever.search(q, 10, weights, name)] for q in queries]
        out[method] = retrieval_metrics(ranked, data.gold)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out
