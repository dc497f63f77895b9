"""A fast query encoder (QUERY_ENCODER=onnx): the same e5 model exported to ONNX, its weights
quantized to int8, run by onnxruntime on one thread. Exported once, the first time it is chosen,
from the sentence-transformers folder; answering a question then needs neither torch nor
sentence-transformers.

Passages are still embedded by the full-precision model (``SentenceEmbedder``), loaded only when
the index has something to embed. The query vectors of both agree to a median cosine above 0.99
(tests/test_model.py), yet the int8 path ranks a little worse on the dev questions (README), so
the default stays the full model.
"""

from __future__ import annotations

import json
import logging
import shutil
import warnings
from pathlib import Path

import numpy as np

from .config import Settings

log = logging.getLogger(__name__)

ONNX_DIR = "onnx"
ONNX_FILE = "e5-int8.onnx"
ONNX_VERSION = 1  # bump when the export or the quantization changes
QUERY_PREFIX = "query: "


def onnx_path(model_dir: Path) -> Path:
    return Path(model_dir) / ONNX_DIR / ONNX_FILE


def is_exported(model_dir: Path) -> bool:
    marker = Path(model_dir) / ONNX_DIR / "build.json"
    try:
        return json.loads(marker.read_text()).get("version") == ONNX_VERSION and onnx_path(model_dir).exists()
    except (OSError, ValueError):
        return False


def export_onnx(model_dir: Path) -> Path:
    """Export the model with mean pooling and normalization to ONNX, then quantize it (once)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    model_dir = Path(model_dir)
    work = model_dir / (ONNX_DIR + ".building")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model = AutoModel.from_pretrained(str(model_dir)).eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    ids = torch.tensor([[0, 6, 1, 2]], dtype=torch.long)
    fp32 = work / "e5.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on tracing; the parity test checks the result
        torch.onnx.export(Pooled(model), (ids, torch.ones_like(ids)), str(fp32),
                          input_names=["input_ids", "attention_mask"], output_names=["embedding"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"}, "embedding": {0: "batch"}},
                          opset_version=17, dynamo=False)
    # every weight in int8, per channel: 112 MB, ~8 ms a question on one thread, median cosine 0.997 to
    # fp32; but top-1 on users-dev falls 0.792 -> 0.767 (README), hence not the default encoder
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's advice to pre-process
    try:
        quantize_dynamic(str(fp32), str(work / ONNX_FILE), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.getLogger().setLevel(quiet)
    fp32.unlink()
    (work / "build.json").write_text(json.dumps({"version": ONNX_VERSION,
                                                 "quantization": "dynamic int8, per channel"}))
    target = model_dir / ONNX_DIR
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return onnx_path(model_dir)


class OnnxQueryEncoder:
    """Query vectors from the int8 ONNX model: tokenizers + onnxruntime, one intra-op thread."""

    def __init__(self, model_dir: Path, threads: int = 1):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.tokenizer.enable_truncation(512)
        pad = self.tokenizer.token_to_id("<pad>")
        self.tokenizer.enable_padding(pad_id=1 if pad is None else pad, pad_token="<pad>")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path(model_dir)), options, providers=["CPUExecutionProvider"])
        self.dimension = int(self.session.get_outputs()[0].shape[-1] or 384)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        batch = self.tokenizer.encode_batch([QUERY_PREFIX + t for t in texts])
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        out = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return np.ascontiguousarray(out, dtype=np.float32)


class FastEmbedder:
    """Questions through the int8 ONNX model; passages through the full model, loaded on first use."""

    def __init__(self, settings: Settings):
        from .embedder import ensure_default_model

        self.settings = settings
        self.name = settings.embedding_model
        model_dir = ensure_default_model(settings)
        if not is_exported(model_dir):
            log.warning("exporting the query encoder to ONNX (once)")
            export_onnx(model_dir)
        self.encoder = OnnxQueryEncoder(model_dir)
        self.dimension = self.encoder.dimension
        self._passages = None

    def queries(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)

    def passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if self._passages is None:
            from .embedder import SentenceEmbedder

            self._passages = SentenceEmbedder(self.settings)
        return self._passages.passages(texts, progress)
