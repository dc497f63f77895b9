"""The switch between the exact path and the candidate path of retrieval (issue 11)."""

import bm25s
import faiss
import numpy as np
import pytest

from bot.fusion import zscore_fusion
from bot.retrieval import EXACT_LIMIT, FIELDS, Query, Retriever, Weights, field_terms
from bot.scale import ScaleParams, gram_keys, gram_text
from bot.text import char_grams

THAI = [chr(c) for c in range(0x0E01, 0x0E2F)] + ["ั", "ิ", "ี", "ุ", "ู", "า", "เ", "แ", "โ", "่", "้"]


def corpus(n: int, seed: int = 0, dim: int = 32):
    """Random Thai-looking words (Zipf-distributed), passages of 20-60 of them, and vectors."""
    rng = np.random.default_rng(seed)
    vocab = ["".join(rng.choice(THAI, rng.integers(2, 6))) for _ in range(800)]
    p = 1.0 / np.arange(1, len(vocab) + 1)
    p /= p.sum()
    tokens = [list(rng.choice(vocab, rng.integers(20, 60), p=p)) for _ in range(n)]
    texts = [" ".join(t) for t in tokens]
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return tokens, texts, vectors, rng


def queries(tokens, vectors, rng, count: int = 40):
    out = []
    for i in rng.choice(len(tokens), count, replace=False):
        a = int(rng.integers(0, len(tokens[i]) - 6))
        words = list(tokens[i][a:a + 6])
        v = vectors[i] + 0.8 * rng.standard_normal(vectors.shape[1]).astype(np.float32) / np.sqrt(vectors.shape[1])
        out.append(Query.of(v / np.linalg.norm(v), words, " ".join(words)))
    return out


def test_small_corpora_take_the_exact_path_and_score_as_before():
    tokens, texts, vectors, rng = corpus(300)
    r = Retriever(vectors, tokens, texts)
    assert r.mode == "exact" and EXACT_LIMIT >= 2_000  # the knowledge folder, the SQuAD benchmarks
    # today's computation, written out: FAISS flat over all, bm25s per field, z-score fusion
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    models = {}
    for f in FIELDS:
        models[f.name] = bm25s.BM25(k1=f.k1, b=f.b)
        models[f.name].index([field_terms(f.name, w, t) or [""] for w, t in zip(tokens, texts)],
                             show_progress=False)
    for q in queries(tokens, vectors, rng):
        sims, idx = flat.search(q.vector.reshape(1, -1), len(texts))
        dense = np.full(len(texts), -1.0, dtype=np.float32)
        dense[idx[0]] = sims[0]
        lexical = [models[f.name].get_scores(q.terms[f.name]) for f in FIELDS]
        w = Weights()
        fused = zscore_fusion([dense, *lexical], [w.dense, w.words, w.chars3, w.chars4])
        order = np.argsort(-fused, kind="stable")[:10]
        got = r.search(q, 10, w)
        assert [s.index for s in got] == order.tolist()
        assert [s.score for s in got] == [float(fused[i]) for i in order]  # bit for bit


def test_the_switch_is_by_size():
    tokens, texts, vectors, _ = corpus(120)
    assert Retriever(vectors, tokens, texts, exact_limit=120).mode == "exact"
    r = Retriever(vectors, tokens, texts, exact_limit=119)
    assert r.mode == "candidates"
    assert r.params["exact_limit"] == 119 and r.params["nprobe"] == ScaleParams().nprobe


def test_gram_keys_are_the_char_grams():
    for text in ["นิคมอุตสาหกรรม อมตะ", "AbC dEf", "กข", "", "ปี 2566 😀 ok"]:
        for n in (3, 4):
            grams = char_grams(text, n)
            keys = gram_keys(gram_text(text), n)
            assert len(keys) == len(grams)
            assert len(set(keys.tolist())) == len(set(grams))


def test_the_candidate_path_finds_the_exact_top1():
    tokens, texts, vectors, rng = corpus(400, seed=3)
    exact = Retriever(vectors, tokens, texts, mode="exact")
    # every IVF list searched and a sample as large as the corpus: the statistics are exact, so the
    # fused scores of the candidates must be the exact path's
    params = ScaleParams(dense_k=40, words_k=40, nprobe=1_000, sample=10_000, batch=64)
    cand = Retriever(vectors, tokens, texts, mode="candidates", scale=params)
    assert cand.mode == "candidates"
    for q in queries(tokens, vectors, rng):
        want = exact.search(q, 5)
        got = cand.search(q, 5)
        assert got[0].index == want[0].index
        assert got[0].score == pytest.approx(want[0].score, rel=1e-4, abs=1e-4)
        fused, dense, words = exact.scores(q)
        rows = cand.candidates(q)
        f2, d2, w2 = cand.row_scores(q, rows)
        assert np.allclose(f2, fused[rows], atol=1e-4)
        assert np.allclose(w2, words[rows], atol=1e-4)


def test_the_candidate_path_with_estimated_statistics_mostly_agrees():
    tokens, texts, vectors, rng = corpus(1500, seed=5)
    exact = Retriever(vectors, tokens, texts, mode="exact")
    cand = Retriever(vectors, tokens, texts, mode="candidates",
                     scale=ScaleParams(dense_k=50, words_k=50, sample=300, batch=500))
    qs = queries(tokens, vectors, rng, 60)
    same = sum(exact.search(q, 1)[0].index == cand.search(q, 1)[0].index for q in qs)
    assert same >= 57
    # the rest of the interface works on the candidate path
    assert cand.idf(tokens[0][0]) > 0 and cand.token_set(0) == frozenset(tokens[0])
    assert 0 <= cand.coverage(tokens[0][:5], 0) <= 1
    both = cand.search(qs[0], 5, also=qs[1])
    assert len(both) == 5
    for method in ("dense", "bm25", "rrf", "chars3"):
        assert len(cand.search(qs[0], 3, method=method)) == 3


def test_the_limit_setting_is_the_constant_and_the_manifest_records_it(settings, fake_embedder):
    import json

    from bot.config import Settings
    from bot.index import IndexStore

    assert Settings().exact_search_limit == EXACT_LIMIT
    IndexStore(settings).build(fake_embedder, progress=False)
    manifest = json.loads((settings.index_dir / "manifest.json").read_text())
    assert manifest["retrieval"] == {"mode": "exact", "exact_limit": EXACT_LIMIT}


def test_an_index_past_the_limit_loads_onto_the_candidate_path(settings, fake_embedder):
    from bot.index import IndexStore

    IndexStore(settings).build(fake_embedder, progress=False)
    exact = IndexStore(settings).load().retriever
    small = IndexStore(settings.model_copy(update={"exact_search_limit": 1})).load()
    assert exact.mode == "exact" and small.retriever.mode == "candidates"
    assert small.retriever.size == exact.size


def test_an_index_built_past_the_limit_writes_no_exact_lexical_files_and_serves(settings, fake_embedder):
    from bot.engine import Engine
    from bot.index import IndexStore

    big = settings.model_copy(update={"exact_search_limit": 1})
    IndexStore(big).build(fake_embedder, progress=False)
    assert not list(settings.index_dir.glob("bm25_*"))  # the exact path's postings are never built
    engine = Engine.load(big, embedder=fake_embedder)
    assert engine.index.retriever.mode == "candidates" and engine.ask("ไมโครกริดที่นิคมอมตะ").hits
    # the limit raised again: the exact path's files are missing, so the index is rebuilt, not refused
    exact = Engine.load(settings, embedder=fake_embedder)
    assert exact.index.retriever.mode == "exact" and list(settings.index_dir.glob("bm25_*"))


@pytest.mark.parametrize("question", ["เขตส่งเสริม ๕๔ ข้อเสนอ มีกี่จังหวัด", "Smart City Ambassadors มีกี่คน",
                                      "What is a smart city promotion zone?", "ไมโครกริดที่นิคมอมตะ"])
def test_the_engine_answers_on_the_candidate_path(settings, fake_embedder, question):
    """Every signal, the sentence windows and headings, the English second reading: on a corpus this
    small the candidates are every passage and the sample is the corpus, so the answer is the same."""
    from bot.engine import Engine

    exact = Engine.load(settings, embedder=fake_embedder)
    cand = Engine.load(settings.model_copy(update={"exact_search_limit": 1}), embedder=fake_embedder)
    assert cand.index.retriever.mode == "candidates" and exact.index.retriever.mode == "exact"
    a, b = exact.ask(question), cand.ask(question)
    assert [h.chunk.chunk_id for h in b.hits][:1] == [h.chunk.chunk_id for h in a.hits][:1]
    assert b.answered == a.answered


def test_the_candidate_path_scores_every_heading_once_a_reading(settings, fake_embedder):
    """The heading BM25 scores every passage's heading: once for a question's candidates and the
    statistics of all three unit signals together, not once for each (at a million passages each
    pass is a million additions for a common word)."""
    from bot.engine import Engine

    cand = Engine.load(settings.model_copy(update={"exact_search_limit": 1}), embedder=fake_embedder)
    bm25 = cand.index.retriever.units.heading_bm25
    calls = []
    real = bm25.get_scores
    bm25.get_scores = lambda words: calls.append(words) or real(words)
    try:
        answer = cand.ask("ไมโครกริดที่นิคมอมตะ")  # a Thai question: one reading
    finally:
        bm25.get_scores = real
    assert answer.hits and len(calls) == 1


def test_the_candidate_path_saves_and_loads_its_indexes(tmp_path):
    """Saved once, the candidate path's indexes load instead of being built again (a million
    passages took 10-13 minutes to build), and search exactly as the built ones."""
    tokens, texts, vectors, rng = corpus(900, seed=7)
    params = ScaleParams(dense_k=50, words_k=50, sample=300, batch=400)
    built = Retriever(vectors, tokens, texts, mode="candidates", scale=params)
    built.save_lexical(tmp_path)
    loaded = Retriever(vectors, tokens, texts, mode="candidates", scale=params, saved=tmp_path / "candidates")
    for q in queries(tokens, vectors, rng):
        a, b = built.search(q, 5), loaded.search(q, 5)
        assert [s.index for s in a] == [s.index for s in b]
        assert [s.score for s in a] == pytest.approx([s.score for s in b], rel=1e-9, abs=1e-9)
    assert loaded.idf(tokens[0][0]) == built.idf(tokens[0][0])
    # other parameters or other passages: not the saved indexes, refused
    with pytest.raises(ValueError):
        Retriever(vectors, tokens, texts, mode="candidates", scale=ScaleParams(dense_k=50, words_k=50, sample=300,
                                                                               batch=400, nprobe=8),
                  saved=tmp_path / "candidates")
    with pytest.raises(ValueError):
        Retriever(vectors[:800], tokens[:800], texts[:800], mode="candidates", scale=params,
                  saved=tmp_path / "candidates")


def test_an_index_built_past_the_limit_loads_its_saved_candidate_indexes(settings, fake_embedder, monkeypatch):
    import json

    from bot import index as index_module
    from bot import scale
    from bot.engine import Engine
    from bot.index import IndexStore, heading_lines
    from bot.retrieval import heading_bm25

    big = settings.model_copy(update={"exact_search_limit": 1})
    IndexStore(big).build(fake_embedder, progress=False)
    files = json.loads((settings.index_dir / "manifest.json").read_text())["files"]
    saved = sorted(f for f in files if f.startswith("candidates/") and not f.startswith("candidates/heading/"))
    assert saved == ["candidates/chars3.npz", "candidates/chars4.npz", "candidates/dense.faiss",
                     "candidates/dense_stats.npz", "candidates/headings.q8.npy", "candidates/headings.q8scale.npy",
                     "candidates/params.json", "candidates/units.q8.npy", "candidates/units.q8scale.npy",
                     "candidates/words.npz", "candidates/words_vocab.json"]
    assert "candidates/heading/params.index.json" in files  # the headings' BM25
    built = Engine.load(big, embedder=fake_embedder)

    def no_building(*args, **kwargs):
        raise AssertionError("the candidate indexes were built again instead of loaded")

    with monkeypatch.context() as m:
        m.setattr(scale.DenseIndex, "__init__", no_building)
        m.setattr(scale.WordsIndex, "__init__", no_building)
        m.setattr(index_module, "heading_bm25", no_building)
        loaded = Engine.load(big, embedder=fake_embedder)
    # the saved headings' BM25 scores as one built from the headings at load
    fresh = heading_bm25(heading_lines(loaded.index.passages))
    for words in (["เมือง", "อัจฉริยะ"], ["ตรา"], ["ไม่มีคำนี้"]):
        assert np.array_equal(loaded.index.retriever.units.heading_bm25.get_scores(words), fresh.get_scores(words))
    for question in ("ไมโครกริดที่นิคมอมตะ", "Smart City Ambassadors มีกี่คน"):
        a, b = built.ask(question), loaded.ask(question)
        assert [h.chunk.chunk_id for h in a.hits] == [h.chunk.chunk_id for h in b.hits] and a.hits
    # a damaged saved index fails its checksum: the index is rebuilt, and serves again
    words = settings.index_dir / "candidates" / "words.npz"
    words.write_bytes(words.read_bytes()[:100])
    assert "candidates/words.npz" in IndexStore(big).check()
    again = Engine.load(big, embedder=fake_embedder)
    assert again.index.retriever.mode == "candidates" and again.ask("ไมโครกริดที่นิคมอมตะ").hits
    assert IndexStore(big).check() == ""
