"""Combining the scores of several retrievers over the same candidates."""

from __future__ import annotations

import numpy as np


def zscore(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 0:
        return scores
    std = scores.std()
    if std < 1e-12:
        return np.zeros_like(scores)
    return (scores - scores.mean()) / std


def zscore_fusion(score_lists: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """Weighted sum of each retriever's z-normalized scores over the same candidates."""
    if len(score_lists) != len(weights):
        raise ValueError("one weight per score list")
    total = np.zeros(len(score_lists[0]), dtype=np.float64)
    for scores, w in zip(score_lists, weights):
        total += w * zscore(scores)
    return total


def rrf_fusion(score_lists: list[np.ndarray], k: int = 60) -> np.ndarray:
    """Reciprocal-rank fusion, kept as the baseline the evaluation compares against."""
    total = np.zeros(len(score_lists[0]), dtype=np.float64)
    for scores in score_lists:
        order = np.argsort(-np.asarray(scores), kind="stable")
        ranks = np.empty(len(order), dtype=np.float64)
        ranks[order] = np.arange(1, len(order) + 1)
        total += 1.0 / (k + ranks)
    return total
