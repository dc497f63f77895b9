"""The passage store (bot/passages.py): a small index read whole, a large one read as needed, the
same passages either way (issue 11)."""

from pathlib import Path

import numpy as np
import pytest

from bot import passages as store_module
from bot.index import IndexError_, IndexStore, indexed_text
from bot.passages import META, TEXTS, PassageStore, Quantized, RowFile, quantize_file
from bot.scale import texts_codes


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """The project's own knowledge cut small (sections of several chunks), indexed once with a
    hashing embedder; each test gets its own copy."""
    import shutil

    from tests.conftest import FakeEmbedder

    from bot.config import Settings

    root = tmp_path_factory.mktemp("store")
    shutil.copytree(ROOT / "knowledge", root / "knowledge")
    settings = Settings(_env_file=None, knowledge_dir=root / "knowledge", index_dir=root / "index",
                        embedding_model="fake-hash", chunk_max_tokens=80, chunk_overlap=1)
    IndexStore(settings).build(FakeEmbedder(), progress=False)
    return root


@pytest.fixture
def settings(settings, tmp_path, pristine):
    import shutil

    shutil.copytree(pristine, tmp_path / "copy")
    return settings.model_copy(update={"knowledge_dir": tmp_path / "copy" / "knowledge", "chunk_max_tokens": 80,
                                       "chunk_overlap": 1, "index_dir": tmp_path / "copy" / "index"})


@pytest.fixture
def built(settings) -> Path:
    return Path(settings.index_dir)


def old_next(passages) -> dict[str, str]:
    """The next chunk of each one's section as the index found it before the store: passages
    grouped by document and section, ordered by where they start."""
    groups: dict[tuple[str, str], list] = {}
    for p in passages:
        groups.setdefault((p.chunk.doc_id, p.chunk.section), []).append(p)
    out = {}
    for group in groups.values():
        group.sort(key=lambda p: p.chunk.start)
        out.update((a.chunk.chunk_id, b.chunk.chunk_id) for a, b in zip(group, group[1:]))
    return out


def test_a_large_store_reads_the_same_passages_as_a_small_one(built):
    whole, lazy = PassageStore(built, eager=10**9), PassageStore(built, eager=0)
    assert not whole.lazy and lazy.lazy and len(whole) == len(lazy) > 300
    assert list(lazy) == list(whole)
    assert [lazy[i] for i in range(len(lazy) - 1, -1, -1)] == list(reversed(list(whole)))
    assert lazy[-1] == whole[len(whole) - 1] and lazy[2:5] == whole[2:5]
    assert list(lazy.texts) == [indexed_text(p.chunk) for p in whole] == list(whole.texts)
    assert list(lazy.tokens) == [p.tokens for p in whole]
    assert lazy.doc_ids() == [p.chunk.doc_id for p in whole]
    rows = np.array([0, 5, 3, len(lazy) - 1, 5])
    codes, lens = lazy.codes(rows)
    want_codes, want_lens = texts_codes([whole.text(int(i)) for i in rows])
    assert np.array_equal(codes, want_codes) and np.array_equal(lens, want_lens)
    with pytest.raises(IndexError):
        lazy[len(lazy)]
    with pytest.raises(IndexError):
        lazy.text(len(lazy))


def test_rows_sections_and_next_chunks_are_found_without_reading_every_passage(built):
    whole, lazy = PassageStore(built, eager=10**9), PassageStore(built, eager=0)
    following = old_next(whole)
    assert len(following) > 100  # sections of several chunks
    for i, p in enumerate(whole):
        cid = p.chunk.chunk_id
        assert lazy.row(cid) == i
        nxt = lazy.next_row(i)
        assert (None if nxt is None else whole[nxt].chunk.chunk_id) == following.get(cid)
        assert [whole[r] for r in lazy.section_rows(i)] == [
            q for q in whole if (q.chunk.doc_id, q.chunk.section) == (p.chunk.doc_id, p.chunk.section)]
    assert lazy.row("nothing.md#0") is None and lazy.row(whole[0].chunk.doc_id + "#999") is None
    assert lazy.row("no id") is None


def test_a_large_store_keeps_a_bounded_number_of_passages(built, monkeypatch):
    monkeypatch.setattr(store_module, "CACHE_SIZE", 4)
    lazy = PassageStore(built, eager=0)
    for _ in range(2):
        for i in range(len(lazy)):
            assert lazy[i].chunk.chunk_id
    assert len(lazy._cache) <= 4


def test_a_store_whose_files_disagree_is_refused(built):
    (built / TEXTS).write_bytes((built / TEXTS).read_bytes()[:-10])
    with pytest.raises(ValueError):
        PassageStore(built, eager=0)


def test_a_store_whose_arrays_disagree_is_refused(built):
    with np.load(built / META) as meta:
        arrays = {k: meta[k] for k in meta.files}
    arrays["doc"] = arrays["doc"][:-1]
    with (built / META).open("wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ValueError):
        PassageStore(built, eager=0)


def test_a_damaged_store_means_a_rebuild_not_an_error(settings, built, fake_embedder):
    """A damaged texts.bin fails its checksum: the index is rebuilt and answers."""
    from bot.engine import Engine

    (built / TEXTS).write_bytes(b"\xff" * 10)
    assert "texts.bin is damaged" in IndexStore(settings).check()
    engine = Engine.load(settings, embedder=fake_embedder)
    assert engine.ask("ไมโครกริดที่นิคมอมตะ").hits


def test_buttons_and_list_answers_read_the_same_on_both_paths(settings, built, fake_embedder):
    """The buttons' lookups (a recorded chunk, its whole section) and a list answer's next chunk
    give the same passages when the index is read whole and when it is read as needed."""
    exact = IndexStore(settings).load()
    big = IndexStore(settings.model_copy(update={"exact_search_limit": 1})).load()
    assert not exact.passages.lazy and big.passages.lazy
    for p in exact.passages:
        cid = p.chunk.chunk_id
        assert big.lookup(cid) == p == exact.lookup(cid)
        assert big.section(p) == exact.section(p)
        assert big.continued(p) == exact.continued(p)
        assert big.cited(p) == exact.cited(p) and big.provinces(p) == exact.provinces(p)
    assert big.lookup("gone.md#3") is None
    assert np.array_equal(big.retriever.prior, exact.retriever.prior)


def test_a_large_index_reads_its_vectors_from_disk_as_needed(settings, built):
    big = IndexStore(settings.model_copy(update={"exact_search_limit": 1})).load()
    assert isinstance(big.retriever.units.vectors, RowFile) and isinstance(big.retriever.units.headings, RowFile)
    assert isinstance(big.retriever.embeddings, np.ndarray)  # read for every candidate: in memory
    exact = IndexStore(settings).load()
    assert isinstance(exact.retriever.embeddings, np.ndarray) and isinstance(exact.retriever.units.vectors, np.ndarray)


def test_rows_read_from_a_vectors_file_are_the_arrays_rows(tmp_path):
    array = np.random.default_rng(3).standard_normal((50, 7)).astype(np.float32)
    np.save(tmp_path / "v.npy", array)
    rows = RowFile(tmp_path / "v.npy")
    assert rows.shape == (50, 7) and len(rows) == 50 and rows.dtype == np.float32
    assert np.array_equal(rows[3], array[3]) and np.array_equal(rows[-1], array[-1])
    assert np.array_equal(rows[10:14], array[10:14]) and rows[5:5].shape == (0, 7)
    for pick in ([4, 5, 6, 20, 21, 2, 2, 49], [], [0], np.arange(50)):
        assert np.array_equal(rows[np.array(pick, dtype=np.int64)], array[np.array(pick, dtype=np.int64)])
    with pytest.raises(IndexError):
        rows[50]
    with pytest.raises(IndexError):
        rows[np.array([1, 50])]
    (tmp_path / "v.npy").write_bytes((tmp_path / "v.npy").read_bytes()[:-4])
    with pytest.raises(ValueError):
        RowFile(tmp_path / "v.npy")


def test_loading_without_the_knowledge_folder_checks_the_index_files_only(settings, built):
    import shutil

    shutil.rmtree(settings.knowledge_dir)
    assert IndexStore(settings).check()  # the knowledge folder is gone: not up to date
    assert IndexStore(settings).check(knowledge=False) == ""
    assert len(IndexStore(settings).load(knowledge=False).passages)
    (built / "units.npy").write_bytes(b"0")
    with pytest.raises(IndexError_):
        IndexStore(settings).load(knowledge=False)


def test_an_int8_copy_gives_back_each_row_within_half_a_step(tmp_path):
    """Each row is scaled by its own largest magnitude: every value comes back within half of that
    row's step, and a row's largest value exactly; all-zero rows stay zero."""
    rng = np.random.default_rng(5)
    array = rng.standard_normal((300, 16)).astype(np.float32) * rng.uniform(0.01, 3, (300, 1)).astype(np.float32)
    array[7] = 0.0
    np.save(tmp_path / "v.npy", array)
    quantize_file(tmp_path / "v.npy", tmp_path / "q.npy", tmp_path / "s.npy", block=64)  # blocks, one ragged
    codes, scales = np.load(tmp_path / "q.npy"), np.load(tmp_path / "s.npy")
    assert codes.dtype == np.int8 and codes.shape == array.shape and scales.shape == (300,)
    assert np.abs(codes).max(axis=1)[np.arange(300) != 7].min() == 127
    step = np.abs(array).max(axis=1) / 127
    for rows in (Quantized(codes, scales), Quantized(RowFile(tmp_path / "q.npy"), scales)):
        assert rows.shape == (300, 16) and len(rows) == 300
        whole = rows[np.arange(300)]
        assert whole.dtype == np.float32
        assert np.all(np.abs(whole - array) <= step[:, None] / 2 + 1e-6)
        assert np.array_equal(whole[7], np.zeros(16, np.float32))
        assert np.array_equal(rows[3], whole[3]) and np.array_equal(rows[10:14], whole[10:14])
        assert np.array_equal(rows[np.array([5, 5, 299, 0])], whole[[5, 5, 299, 0]])
    with pytest.raises(ValueError):
        Quantized(codes, scales[:-1])


def test_a_large_index_serves_its_windows_and_headings_from_int8_copies(settings, fake_embedder):
    """Built past the limit, the index keeps int8 copies of the window and heading vectors and
    the candidate path reads those: each window's and heading's cosine within 0.01 of the float32
    one, and the same passages first for the knowledge's own headings asked as questions."""
    big_settings = settings.model_copy(update={"exact_search_limit": 1})
    IndexStore(big_settings).build(fake_embedder, progress=False)
    big = IndexStore(big_settings).load()
    units = big.retriever.units
    assert isinstance(units.vectors, Quantized) and isinstance(units.headings, Quantized)
    big.warming.join(30)
    assert not big.warming.is_alive()
    assert IndexStore(big_settings).load(warm_up=False).warming is None  # e.g. `index` on an up-to-date index
    exact_units = np.load(Path(settings.index_dir) / "units.npy")
    exact_headings = np.load(Path(settings.index_dir) / "headings.npy")
    rows = np.arange(len(big.passages))
    question = fake_embedder.queries(["เมืองอัจฉริยะ ตราสัญลักษณ์"])[0]
    assert np.abs(units.vectors[np.arange(len(exact_units))] @ question - exact_units @ question).max() < 0.01
    assert np.abs(units.headings[rows] @ question - exact_headings @ question).max() < 0.01
    # the same index read from the float32 files: near ties aside, the same passage first
    import dataclasses

    from bot.retrieval import Query
    from bot.text import words

    full = dataclasses.replace(units, vectors=RowFile(Path(settings.index_dir) / "units.npy"),
                               headings=RowFile(Path(settings.index_dir) / "headings.npy"))
    weights = settings.weights()
    lines = sorted(set(big.passages.headers))[:40]
    assert len(lines) >= 20
    same = 0
    for line in lines:
        query = Query.of(fake_embedder.queries([line])[0], words(line), line)
        int8_top = big.retriever.search(query, 3, weights)
        big.retriever.units = full
        float_top = big.retriever.search(query, 3, weights)
        big.retriever.units = units
        same += int8_top[0].index == float_top[0].index
        assert float_top[0].index in [s.index for s in int8_top]
        assert abs(int8_top[0].score - float_top[0].score) < 0.02 * abs(float_top[0].score)
    assert same >= 0.9 * len(lines)
