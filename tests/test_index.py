import json
from pathlib import Path

import pytest

from bot.engine import Engine
from bot.index import IndexError_, IndexStore


def test_build_writes_a_manifest_that_matches_the_settings(settings, fake_embedder):
    report = IndexStore(settings).build(fake_embedder, progress=False)
    assert report.documents == 3 and report.chunks >= 3 and report.embedded == report.chunks
    manifest = json.loads((settings.index_dir / "manifest.json").read_text())
    assert manifest["model"] == "fake-hash" and manifest["dimension"] == 64
    assert manifest["chunking"] == {"max_tokens": settings.chunk_max_tokens, "overlap": settings.chunk_overlap}
    assert set(manifest["documents"]) == {"zones.md", "ambassadors.txt", "energy.md"}
    assert all(len(d["sha256"]) == 64 for d in manifest["documents"].values())
    assert IndexStore(settings).check(64) == ""


def test_only_changed_documents_are_embedded_again(settings, fake_embedder, knowledge: Path):
    store = IndexStore(settings)
    store.build(fake_embedder, progress=False)
    fake_embedder.embedded.clear()
    report = store.build(fake_embedder, progress=False)
    assert report.embedded == 0 and report.reused == report.chunks

    (knowledge / "energy.md").write_text((knowledge / "energy.md").read_text() + "\nเพิ่มข้อความใหม่เรื่องพลังงาน\n")
    assert "knowledge changed: energy.md" in store.check(64)
    fake_embedder.embedded.clear()
    report = store.build(fake_embedder, progress=False)
    assert report.embedded > 0
    assert all("พลังงาน" in t for t in fake_embedder.embedded)  # only energy.md's chunks

    (knowledge / "ambassadors.txt").unlink()
    report = store.build(fake_embedder, progress=False)
    assert report.removed == ["ambassadors.txt"] and report.embedded == 0
    assert "ambassadors.txt" not in json.loads((settings.index_dir / "manifest.json").read_text())["documents"]


def test_an_unreadable_file_is_skipped_and_the_others_index(settings, fake_embedder, knowledge: Path):
    (knowledge / "bad.md").write_text("---\ntitle: [oops\n---\nx\n", encoding="utf-8")
    report = IndexStore(settings).build(fake_embedder, progress=False)
    assert report.documents == 3
    assert [p.path for p in report.problems] == ["bad.md"]
    assert IndexStore(settings).check(64) == ""  # the skipped file is remembered, not "changed"


@pytest.mark.parametrize("damage", ["faiss", "chunks", "manifest", "missing"])
def test_a_damaged_index_is_detected_and_rebuilt(settings, fake_embedder, damage):
    store = IndexStore(settings)
    store.build(fake_embedder, progress=False)
    target = {"faiss": "faiss.index", "chunks": "chunks.jsonl", "manifest": "manifest.json",
              "missing": "embeddings.npy"}[damage]
    path = settings.index_dir / target
    if damage == "missing":
        path.unlink()
    else:
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2] + b"garbage")
    assert store.check(64) != ""
    with pytest.raises(IndexError_):
        store.load(64)
    engine = Engine.load(settings, embedder=fake_embedder)  # rebuilds instead of serving it
    assert store.check(64) == ""
    assert engine.ask("เขตส่งเสริมเมืองอัจฉริยะมีกี่เมือง").hits


def test_changed_settings_make_the_index_stale(settings, fake_embedder):
    IndexStore(settings).build(fake_embedder, progress=False)
    other = settings.model_copy(update={"chunk_max_tokens": 40})
    assert "chunking changed" in IndexStore(other).check(64)
    with pytest.raises(IndexError_):
        Engine.load(other, embedder=fake_embedder, build=False)  # refuses when told not to build


@pytest.mark.parametrize("damage", ["deleted", "truncated", "valid-but-wrong", "folder"])
def test_damaged_lexical_files_are_detected_and_rebuilt(settings, fake_embedder, damage):
    store = IndexStore(settings)
    store.build(fake_embedder, progress=False)
    good = Engine.load(settings, embedder=fake_embedder).ask("ไมโครกริดที่นิคมอมตะ").hits[0].chunk.chunk_id
    vocab = settings.index_dir / "bm25_words" / "vocab.index.json"
    if damage == "deleted":
        vocab.unlink()
    elif damage == "truncated":
        vocab.write_bytes(vocab.read_bytes()[:10])
    elif damage == "valid-but-wrong":  # JSON that loads, with every word pointing elsewhere
        import json

        words = json.loads(vocab.read_text(encoding="utf-8"))
        vocab.write_text(json.dumps({w: (i + 1) % len(words) for i, w in enumerate(words)}), encoding="utf-8")
    else:
        import shutil

        shutil.rmtree(settings.index_dir / "bm25_chars3")
    assert "bm25_" in store.check(64)
    engine = Engine.load(settings, embedder=fake_embedder)  # rebuilds instead of serving it
    assert store.check(64) == ""
    assert engine.ask("ไมโครกริดที่นิคมอมตะ").hits[0].chunk.chunk_id == good


def test_an_index_that_passes_its_checksums_but_does_not_load_is_rebuilt(settings, fake_embedder, monkeypatch):
    store = IndexStore(settings)
    store.build(fake_embedder, progress=False)
    calls = []
    real = IndexStore.load

    def flaky(self, dimension=None, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise IndexError_("index files are damaged: ValueError: simulated")
        return real(self, dimension, **kwargs)

    monkeypatch.setattr(IndexStore, "load", flaky)
    before = len(fake_embedder.embedded)
    engine = Engine.load(settings, embedder=fake_embedder)
    assert len(calls) == 2 and len(fake_embedder.embedded) > before  # rebuilt from scratch, then loaded
    assert engine.ask("เขตส่งเสริมเมืองอัจฉริยะมีกี่เมือง").hits


def test_a_document_path_with_a_plus_keeps_its_sections_and_list_answers(settings, fake_embedder):
    """Chunk ids are "path#n" and a joined passage's "a#1+a#2": a path holding "+" ("c++.md") still
    finds its section's chunks and the next one (both paths of the index)."""
    line = " ".join(f"ประโยคที่ {n} ของย่อหน้าเดียวกันซึ่งยาวพอสมควร" for n in range(1, 13))
    (settings.knowledge_dir / "c++.md").write_text(f"---\ntitle: บวก\n---\n# บวก\n\n## ส่วนเดียว\n\n{line}\n",
                                                   encoding="utf-8")
    small = settings.model_copy(update={"chunk_max_tokens": 30})
    IndexStore(small).build(fake_embedder, progress=False)
    for limit in (20_000, 1):
        index = IndexStore(small.model_copy(update={"exact_search_limit": limit})).load()
        chunks = [p for p in index.passages if p.chunk.doc_id == "c++.md"]
        assert len(chunks) >= 3
        assert index.section(chunks[0]) == chunks and index.lookup(chunks[1].chunk.chunk_id) == chunks[1]
        joined = index.continued(chunks[0])
        assert joined is not None and joined.chunk.chunk_id == "c++.md#0+c++.md#1"
        assert index.continued(joined).chunk.chunk_id == "c++.md#0+c++.md#1+c++.md#2"


@pytest.mark.parametrize("overlap", [0, 1, 2])
def test_chunks_joined_again_give_back_their_section(settings, fake_embedder, overlap):
    """LoadedIndex.continued (a list answer that runs past its chunk): joining a section's chunks
    one after another gives back its text exactly, with its inline marks, shared sentences once."""
    from bot.engine import Engine

    line = " ".join(f"ประโยคที่ {n} ของย่อหน้าเดียวกันซึ่งยาวพอสมควร [ลิงก์ที่ {n}](https://example.org/{n})"
                    for n in range(1, 13))
    (settings.knowledge_dir / "long.md").write_text(
        f"---\ntitle: ยาว\n---\n# ยาว\n\n## ส่วนเดียว\n\n{line}\n\n- ข้อหนึ่ง **หนา**\n- ข้อสอง\n", encoding="utf-8")
    engine = Engine.load(settings.model_copy(update={"chunk_max_tokens": 30, "chunk_overlap": overlap}),
                         embedder=fake_embedder)
    index = engine.index
    parts = sorted((p for p in index.passages if p.chunk.doc_id == "long.md"), key=lambda p: p.chunk.start)
    assert len(parts) >= 3
    joined = parts[0]
    while (more := index.continued(joined)) is not None:
        joined = more
    expected = line.replace("[", "").replace("]", "")
    for n in range(1, 13):
        expected = expected.replace(f"(https://example.org/{n})", "")
    assert joined.chunk.text == expected + "\n\n- ข้อหนึ่ง หนา\n- ข้อสอง"
    links = [(joined.chunk.text[a:b], h) for a, b, k, h in joined.chunk.marks if k == "a"]
    assert links == [(f"ลิงก์ที่ {n}", f"https://example.org/{n}") for n in range(1, 13)]
    assert [joined.chunk.text[a:b] for a, b, k, _ in joined.chunk.marks if k == "b"] == ["หนา"]
    # its sentences are the sections' sentences, each once, in order
    texts = [joined.chunk.text[a:b] for a, b in joined.sentences]
    assert texts == sorted(set(texts), key=texts.index) and texts[-1] == "- ข้อสอง"
    assert index.continued(joined) is None


def test_a_word_is_held_once_for_all_passages(settings, fake_embedder):
    """Each passage's tokens refer to one shared string a word, as loaded from the index (at a
    million passages, a copy of every word in every passage was most of the memory)."""
    store = IndexStore(settings)
    store.build(fake_embedder, progress=False)
    passages = store.load().passages
    seen: dict[str, str] = {}
    for p in passages:
        for w in p.tokens:
            assert seen.setdefault(w, w) is w
    assert len(seen) < sum(len(p.tokens) for p in passages)  # words do repeat across passages
