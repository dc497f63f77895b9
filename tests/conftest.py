"""Shared fixtures: small Thai documents, settings pointing at temporary folders, a fake embedder."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from bot.config import ROOT, Settings
from bot.text import char_grams

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = ROOT.parent / "shared"


class FakeEmbedder:
    """Deterministic stand-in for the model in fast unit tests: hashed character trigrams.

    Texts that share more trigrams get closer vectors, so retrieval still behaves sensibly.
    It counts what it embeds, so tests can check that unchanged documents are not re-embedded.
    """

    name = "fake-hash"
    dimension = 64

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dimension, dtype=np.float32)
        for g in char_grams(text, 3):
            h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little")
            v[h % self.dimension] += 1.0
        n = np.linalg.norm(v)
        return v / n if n else v

    def queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vec(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.embedded += texts
        return self.queries(texts)


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    folder = tmp_path / "knowledge"
    shutil.copytree(FIXTURES / "knowledge", folder)
    return folder


@pytest.fixture
def settings(tmp_path: Path, knowledge: Path) -> Settings:
    return Settings(_env_file=None, knowledge_dir=knowledge, index_dir=tmp_path / "index",
                    cache_dir=tmp_path / "cache", embedding_model="fake-hash",
                    database_path=tmp_path / "bot.sqlite3")


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def real_settings() -> Settings:
    """The project's real knowledge and model, with the index in the repository's index/."""
    return Settings(_env_file=None)


@pytest.fixture(scope="session")
def real_engine(real_settings: Settings):
    from bot.engine import Engine

    return Engine.load(real_settings)
