"""Fit the answer-or-decline decision on the dev questions and write bot/data/decision.json.

    .venv/bin/python scripts/calibrate.py [--wrong-cost 2] [--curve] [--dry-run]

Every dev question is asked once (with the decision switched off) and the engine's evidence about
its first passage is kept; the label is whether answering would be right (an in-scope question
whose first passage holds an answer). A logistic regression on the standardized evidence is fitted
with repeated stratified 5-fold cross-validation: the out-of-fold probabilities choose the
threshold (the one with the most right answers less --wrong-cost times the wrong ones) and give
the figures printed, which are what a new question set of the same kind can expect. The final
model is then fitted on all questions. The result is deterministic for the same index and model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.decision import DECISION_FILE, FEATURES, Decision  # noqa: E402
from bot.engine import Engine  # noqa: E402
from bot.evaluation import read_jsonl, squash  # noqa: E402
from bot.text import normalize_text  # noqa: E402

DEV_SETS = {"users": ROOT.parent / "shared" / "eval" / "users-dev.jsonl",
            "extra": ROOT / "eval" / "users-extra.jsonl",
            "kb": ROOT / "eval" / "kb-dev.jsonl",
            "domain": ROOT.parent / "shared" / "eval" / "domain-dev.jsonl"}
ALWAYS = Decision(np.zeros(len(FEATURES)), np.ones(len(FEATURES)), np.zeros(len(FEATURES)), 0.0, 0.0)


def collect(engine: Engine) -> tuple[np.ndarray, np.ndarray, list[str], list[bool]]:
    X, y, names, inscope = [], [], [], []
    for name, path in DEV_SETS.items():
        if not path.exists():
            print(f"skipped {path} (not found)", file=sys.stderr)
            continue
        for item in read_jsonl(path):
            answer = engine.ask(item["question"])
            if answer.evidence is None:
                continue
            golds = [squash(normalize_text(a)) for a in item.get("answers", [])]
            first = squash(normalize_text(answer.hits[0].chunk.text))
            right = item.get("kind") == "in" and any(g and g in first for g in golds)
            X.append(answer.evidence.vector())
            y.append(int(right))
            names.append(name)
            inscope.append(item.get("kind") == "in")
    return np.array(X), np.array(y), names, inscope


def fit(X: np.ndarray, y: np.ndarray, C: float) -> Decision:
    mean, scale = X.mean(0), X.std(0)
    scale[scale < 1e-9] = 1.0
    model = LogisticRegression(C=C, max_iter=1000).fit((X - mean) / scale, y)
    return Decision(mean, scale, model.coef_[0], float(model.intercept_[0]), 0.5)


def figures(p: np.ndarray, y: np.ndarray, inscope: np.ndarray, t: float) -> dict[str, float]:
    answered = p >= t
    n_in = max(int(inscope.sum()), 1)
    return {"correct": round(float((answered & (y == 1)).sum() / n_in), 4),
            "wrong": round(float((answered & (y == 0)).sum() / len(y)), 4),
            "rejected_out": round(float((~answered & ~inscope).sum() / max(int((~inscope).sum()), 1)), 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wrong-cost", type=float, default=2.0,
                    help="how many right answers one wrong answer costs (a wrong answer with a source "
                         "attached is worse than saying the documents don't cover it)")
    ap.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the regression")
    ap.add_argument("--pooled", dest="per_set", action="store_false",
                    help="choose the threshold over all questions pooled (default: each dev set weighs the same)")
    ap.add_argument("--curve", action="store_true", help="print the figures at other thresholds")
    ap.add_argument("--dry-run", action="store_true", help="print, don't write decision.json")
    args = ap.parse_args()
    missing = [str(p) for p in DEV_SETS.values() if not p.exists()]
    if missing and not args.dry_run:  # checked before the minutes of asking every question
        print(f"{', '.join(missing)} missing: each set weighs the same, so a fit without one is another "
              "decision (--dry-run to see it anyway)", file=sys.stderr)
        return 1
    engine = Engine.load(Settings(), decision=ALWAYS)
    X, y, names, inscope = collect(engine)
    inscope = np.array(inscope)
    oof = np.zeros(len(y))
    cv = RepeatedStratifiedKFold(n_splits=5, n_repeats=10, random_state=0)
    for train, test in cv.split(X, y):
        d = fit(X[train], y[train], args.C)
        oof[test] += np.array([1 / (1 + np.exp(-(((x - d.mean) / d.scale) @ d.coef + d.intercept))) for x in X[test]])
    oof /= 10
    candidates = np.round(np.arange(0.05, 0.96, 0.01), 2)
    names_a = np.array(names)
    # each dev set counts equally, so the largest set doesn't choose the threshold alone
    weight = np.array([1.0 / (names_a == n).sum() for n in names_a]) if args.per_set else np.ones(len(y))

    def utility(t: float) -> float:  # right answers, less wrong ones at their cost
        answered = oof >= t
        return float((weight * (answered & (y == 1))).sum() - args.wrong_cost * (weight * (answered & (y == 0))).sum())

    threshold = float(max(candidates, key=lambda t: (utility(t), t)))
    print(f"{len(y)} questions; answering would be right for {int(y.sum())}")
    print(f"threshold (out-of-fold, a wrong answer costs {args.wrong_cost:g} right ones): {threshold:.2f}")
    for name in DEV_SETS:
        m = names_a == name
        if m.any():
            print(f"  {name:<7} out-of-fold: {figures(oof[m], y[m], inscope[m], threshold)}")
    if args.curve:
        for t in candidates[::5]:
            print(f"    t={t:.2f} " + " ".join(f"{n}:{figures(oof[names_a == n], y[names_a == n], inscope[names_a == n], t)}"
                                             for n in DEV_SETS if (names_a == n).any()))
    final = fit(X, y, args.C).with_threshold(threshold)
    print("coefficients: " + ", ".join(f"{f} {c:+.2f}" for f, c in zip(FEATURES, final.coef)))
    if not args.dry_run:
        DECISION_FILE.write_text(json.dumps(final.to_json(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote {DECISION_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
