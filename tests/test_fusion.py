import numpy as np

from bot.fusion import rrf_fusion, zscore, zscore_fusion


def test_zscore_has_zero_mean_unit_std():
    z = zscore(np.array([1.0, 2.0, 3.0, 10.0]))
    assert abs(z.mean()) < 1e-9 and abs(z.std() - 1) < 1e-9


def test_zscore_of_constant_scores_is_zero():
    assert np.all(zscore(np.array([5.0, 5.0, 5.0])) == 0)


def test_zscore_fusion_is_scale_free():
    dense = np.array([0.80, 0.82, 0.90])  # cosine: small spread
    bm25 = np.array([30.0, 1.0, 0.0])  # BM25: large spread
    fused = zscore_fusion([dense, bm25], [0.5, 0.5])
    same = zscore_fusion([dense * 100, bm25 / 10], [0.5, 0.5])
    assert np.allclose(fused, same)


def test_zscore_fusion_weights_decide():
    dense = np.array([0.9, 0.1])
    bm25 = np.array([0.0, 10.0])
    assert np.argmax(zscore_fusion([dense, bm25], [0.9, 0.1])) == 0
    assert np.argmax(zscore_fusion([dense, bm25], [0.1, 0.9])) == 1


def test_rrf_prefers_items_ranked_high_by_both():
    a = np.array([3.0, 2.0, 1.0])
    b = np.array([1.0, 3.0, 2.0])
    assert np.argmax(rrf_fusion([a, b])) == 1
