"""Answer or decline: one calibrated decision over the retrieval signals.

An answer is a claim that the first passage answers the question. The evidence for and against it
(how close the question and the passage are, how much of the question the passage and the whole
corpus contain, the rarest word the passage lacks, whether the documents have the words the
question asks about, the lead over the second passage) is combined by a logistic regression fitted
with cross-validation on the dev questions by ``scripts/calibrate.py``, which writes
``data/decision.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

DECISION_FILE = Path(__file__).parent / "data" / "decision.json"

# the order of the model's inputs; decision.json names them, so a change shows at load
FEATURES = ("dense", "unit_dense", "heading_dense", "coverage", "chars_coverage", "corpus_coverage",
            "unknown_share", "missing_idf", "gap", "fused", "english", "anchor_missing", "asked_unknown")


@dataclass(frozen=True)
class Evidence:
    """What the engine measured about the best passage, before deciding."""

    dense: float  # cosine of question and passage
    unit_dense: float  # cosine of question and the passage's best sentence window
    heading_dense: float  # cosine of question and the passage's heading line
    coverage: float  # IDF-weighted share of the question's content words found in the passage
    chars_coverage: float  # share of the content words' character 3-grams found in the passage
    corpus_coverage: float  # the same share over the whole corpus: low = the documents never say it
    unknown_share: float  # share of the content words that no document contains
    missing_idf: float  # IDF of the rarest corpus word of the question the passage lacks, over the maximum
    gap: float  # fused score of the first passage minus the second's
    fused: float  # fused score of the first passage
    english: float  # 1 for an English question
    # 1 when the question names a year or a province that none of the best passages names
    anchor_missing: float = 0.0
    # IDF-weighted share of the words the question asks about (just before its question word:
    # "เงินเดือน" in "เงินเดือนเท่าไหร่") that no document contains: the documents don't say it
    asked_unknown: float = 0.0

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, f) for f in FEATURES], dtype=np.float64)


@dataclass(frozen=True)
class Decision:
    """A fitted logistic regression over standardized evidence, and the probability to answer at."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float
    threshold: float

    def confidence(self, evidence: Evidence) -> float:
        z = float(((evidence.vector() - self.mean) / self.scale) @ self.coef + self.intercept)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def answers(self, evidence: Evidence) -> bool:
        return self.confidence(evidence) >= self.threshold

    def with_threshold(self, threshold: float) -> "Decision":
        return Decision(self.mean, self.scale, self.coef, self.intercept, threshold)

    def to_json(self) -> dict:
        return {"features": list(FEATURES), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept, "threshold": self.threshold}

    @classmethod
    def from_json(cls, data: dict) -> "Decision":
        if list(data.get("features", [])) != list(FEATURES):
            raise ValueError(f"{DECISION_FILE.name} was fitted on other features: run scripts/calibrate.py")
        return cls(np.asarray(data["mean"], dtype=np.float64), np.asarray(data["scale"], dtype=np.float64),
                   np.asarray(data["coef"], dtype=np.float64), float(data["intercept"]), float(data["threshold"]))


@lru_cache(maxsize=1)
def fitted_decision() -> Decision:
    return Decision.from_json(json.loads(DECISION_FILE.read_text(encoding="utf-8")))
