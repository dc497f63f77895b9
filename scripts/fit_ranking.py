"""How the weights of the small retrieval units were chosen, reproducibly.

    .venv/bin/python scripts/fit_ranking.py [--l2 0.001]

For each in-scope dev question (the dev sets of scripts/calibrate.py) it z-scores, over all
passages, the base fusion (the four SQuAD-tuned weights of the settings, fixed), the best sentence
window's cosine, the heading's cosine and the heading's BM25, plus the official-document prior. Weights maximizing the
likelihood of the passages that hold an answer under a softmax over all passages (listwise,
non-negative, lightly L2-regularized) are fitted; top-1 under repeated 5-fold cross-validation is
printed beside the settings' current weights, with the fitted weights relative to the base fusion,
which are what UNITS_WEIGHT, HEADING_DENSE_WEIGHT and HEADING_WORDS_WEIGHT hold (rounded).
An English question's two readings are averaged, as the engine does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import minimize
from sklearn.model_selection import RepeatedKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.evaluation import read_jsonl, squash  # noqa: E402
from bot.fusion import zscore  # noqa: E402
from bot.retrieval import FIELDS, Query  # noqa: E402
from bot.text import normalize_text, words, year_variants  # noqa: E402
from calibrate import DEV_SETS  # noqa: E402  (the same dev sets as the decision)

COLUMNS = ("base", "units", "heading_dense", "heading_words", "prior")


def question_matrix(engine: Engine, question: str) -> np.ndarray:
    index, w = engine.index, engine.weights
    r = index.retriever
    rw = engine.rewriter.rewrite(normalize_text(question))
    years = list(year_variants(rw.text).values())
    texts = [rw.text] + ([rw.second] if rw.second else [])
    rows = []
    for text, vec in zip(texts, engine.embedder.queries(texts)):
        q = Query.of(vec, words(text) + years, text)
        base = w.dense * zscore(r.dense_scores(vec)) + sum(
            w.of(f.name) * zscore(r.lexical_scores(f.name, q.terms[f.name])) for f in FIELDS)
        units = r.units.scores(vec, q.terms["words"], r.size)
        rows.append([base, zscore(units["units"]), zscore(units["heading_dense"]), zscore(units["heading_words"])])
    return np.vstack([np.mean(rows, axis=0), r.prior])


def data(engine: Engine) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for name, path in DEV_SETS.items():
        if not path.exists():
            print(f"skipped {path} (not found)", file=sys.stderr)
            continue
        for item in read_jsonl(path):
            if item.get("kind") != "in":
                continue
            golds = [squash(normalize_text(a)) for a in item.get("answers", [])]
            gold = np.array([any(g and g in squash(normalize_text(p.chunk.text)) for g in golds)
                             for p in engine.index.passages], dtype=float)
            if gold.any():
                out.append((name, question_matrix(engine, item["question"]), gold))
    return out


def fit(rows: list[tuple[str, np.ndarray, np.ndarray]], l2: float) -> np.ndarray:
    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for _, X, y in rows:
            s = w @ X
            p = np.exp(s - s.max())
            p /= p.sum()
            pg = float(p @ y) + 1e-12
            total -= np.log(pg)
            grad -= X @ (p * y / pg - p)
        return total / len(rows) + l2 * w @ w, grad / len(rows) + 2 * l2 * w

    w0 = np.array([1.0] + [0.0] * (len(COLUMNS) - 1))
    return minimize(loss, w0, jac=True, method="L-BFGS-B", bounds=[(0, None)] * len(w0)).x


def top1(w: np.ndarray, rows: list[tuple[str, np.ndarray, np.ndarray]]) -> dict[str, float]:
    hits: dict[str, list[float]] = {}
    for name, X, y in rows:
        hits.setdefault(name, []).append(float(y[int(np.argmax(w @ X))]))
    return {n: round(float(np.mean(v)), 4) for n, v in hits.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--l2", type=float, default=1e-3)
    args = ap.parse_args()
    settings = Settings()
    engine = Engine.load(settings)
    rows = data(engine)
    w = engine.weights
    current = np.array([1.0, w.units, w.heading_dense, w.heading_words, 1.0])
    print("top-1, the settings' weights:", top1(current, rows))
    hits: dict[str, list[float]] = {}
    for train, test in RepeatedKFold(n_splits=5, n_repeats=3, random_state=0).split(rows):
        fitted = fit([rows[i] for i in train], args.l2)
        for i in test:
            name, X, y = rows[i]
            hits.setdefault(name, []).append(float(y[int(np.argmax(fitted @ X))]))
    print("top-1, fitted, out-of-fold:", {n: round(float(np.mean(v)), 4) for n, v in hits.items()})
    fitted = fit(rows, args.l2)
    rel = fitted / fitted[0]
    print("fitted, relative to the base fusion: " + ", ".join(f"{c} {v:.3f}" for c, v in zip(COLUMNS, rel)))
    print(f"  (prior: official bonus {settings.official_bonus} x {rel[-1]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
