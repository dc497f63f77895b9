"""The index folder: manifest, passages, embeddings, FAISS and BM25, built incrementally.

``index/manifest.json`` records the format version, the model and its dimension, the chunking
parameters, each document's content hash and the hash of every file in the folder. Loading checks
all of it; a mismatch or a damaged file means the index is rebuilt, never served as it is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import bm25s
import faiss
import numpy as np
from tqdm import tqdm

from .anchors import provinces_in
from .chunking import ChunkParams, chunk_document
from .config import Settings
from .documents import Problem, file_digest, knowledge_files, load_documents
from .embedder import Embedder, prepare
from .citations import CitedSource, find as find_citations, resolve as resolve_citation, sources_of, supporting
from .query import mine_glossary
from .retrieval import CANDIDATES_DIR, CANDIDATES_PARAMS, FIELDS, Retriever, Units
from .scale import ScaleParams
from .text import char_grams, sentences, words
from .types import Chunk, Document, Source

log = logging.getLogger(__name__)

FORMAT_VERSION = 8  # 8: the mined glossary without dated notes and words before a term
TEXT_VERSION = 4  # bump when normalization, tokenization or sentence splitting changes
VECTOR_FILES = ("chunks.jsonl", "embeddings.npy", "headings.npy", "units.npy")
FILES = (*VECTOR_FILES, "faiss.index", "glossary.json")


class IndexError_(Exception):
    """The index cannot be used as it is (missing, stale or damaged); the message says why."""


@dataclass
class BuildReport:
    documents: int = 0
    chunks: int = 0
    embedded: int = 0
    reused: int = 0
    removed: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    rebuilt: bool = True

    def summary(self) -> str:
        parts = [f"{self.documents} documents", f"{self.chunks} chunks",
                 f"{self.embedded} embedded", f"{self.reused} reused"]
        if self.removed:
            parts.append(f"{len(self.removed)} removed")
        if self.problems:
            parts.append(f"{len(self.problems)} skipped")
        return ", ".join(parts) + f", {self.seconds:.1f} s"


@dataclass(frozen=True)
class Vectors:
    """One passage's embeddings: the passage, its heading line, and each of its sentence windows."""

    passage: np.ndarray
    heading: np.ndarray
    units: np.ndarray


def unit_texts(p: "Passage") -> list[str]:
    """Small retrieval units of a passage: each sentence with the one after it (a sentence window)."""
    text, spans = p.chunk.text, p.sentences or [(0, len(p.chunk.text))]
    return [text[spans[j][0]:spans[min(j + 1, len(spans) - 1)][1]] for j in range(len(spans))]


def _split_vectors(passages: list["Passage"], embeddings: np.ndarray, headings: np.ndarray,
                   units: np.ndarray) -> list[Vectors]:
    counts = [len(p.sentences) or 1 for p in passages]
    if len(embeddings) != len(passages) or len(headings) != len(passages) or len(units) != sum(counts):
        raise ValueError("vectors do not match the passages")
    out, row = [], 0
    for i, k in enumerate(counts):
        out.append(Vectors(embeddings[i], headings[i], units[row:row + k]))
        row += k
    return out


@dataclass(frozen=True)
class Passage:
    """A chunk as stored: with its BM25 tokens and its sentence spans (relative to the text)."""

    chunk: Chunk
    tokens: list[str]
    sentences: list[tuple[int, int]]
    # inline citations "(ที่มา: …)" in the text: (start, end, indexes of the document's sources)
    citations: list[tuple[int, int, list[int]]] = field(default_factory=list)


@dataclass
class LoadedIndex:
    passages: list[Passage]
    retriever: Retriever
    manifest: dict[str, Any]
    glossary: dict[str, list[str]] = field(default_factory=dict)  # English term -> Thai terms (mined)
    # per passage, worked out the first time a question needs it and kept
    _sentence_words: dict[str, list[frozenset[str]]] = field(default_factory=dict, repr=False)
    _sentence_grams: dict[str, list[frozenset[str]]] = field(default_factory=dict, repr=False)
    _grams: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _provinces: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _joined: dict[str, "Passage | None"] = field(default_factory=dict, repr=False)
    _next: dict[str, "Passage"] = field(default_factory=dict, repr=False)  # the next chunk of each one's section

    @property
    def documents(self) -> dict[str, dict[str, Any]]:
        return self.manifest.get("documents", {})

    def sentence_words(self, p: Passage) -> list[frozenset[str]]:
        """The words of each of the passage's sentences (``p.sentences``, or the whole text)."""
        key = p.chunk.chunk_id
        if key not in self._sentence_words:
            spans = p.sentences or [(0, len(p.chunk.text))]
            self._sentence_words[key] = [frozenset(words(p.chunk.text[a:b])) for a, b in spans]
        return self._sentence_words[key]

    def sentence_grams(self, p: Passage) -> list[frozenset[str]]:
        """The character 3-grams of each of the passage's sentences (computed once a passage)."""
        key = p.chunk.chunk_id
        if key not in self._sentence_grams:
            spans = p.sentences or [(0, len(p.chunk.text))]
            self._sentence_grams[key] = [frozenset(char_grams(p.chunk.text[a:b], 3)) for a, b in spans]
        return self._sentence_grams[key]

    def cited(self, p: Passage, spans: list[tuple[int, int]] | None = None) -> tuple[CitedSource, ...]:
        """The sources the passage's inline citations name (all of them, or those supporting ``spans``)."""
        known = self.documents.get(p.chunk.doc_id, {}).get("sources", [])
        chosen = p.citations if spans is None else [
            p.citations[k] for k in supporting([(a, b) for a, b, _ in p.citations], spans, p.chunk.text)]
        out: list[CitedSource] = []
        for _, _, found in chosen:
            for i in found:
                if i < len(known) and CitedSource(**known[i]) not in out:
                    out.append(CitedSource(**known[i]))
        return tuple(out)

    def provinces(self, p: Passage) -> frozenset[str]:
        """The provinces the passage names (heading line included), by their Thai names."""
        key = p.chunk.chunk_id
        if key not in self._provinces:
            self._provinces[key] = provinces_in(indexed_text(p.chunk))
        return self._provinces[key]

    def continued(self, p: Passage) -> Passage | None:
        """The passage joined with the next chunk of the same section (the sentences they share
        once), for an answer whose list runs on past the passage's end; None at a section's end.
        Joined passages are kept: the same answer costs the join once."""
        key = p.chunk.chunk_id
        if key in self._joined:
            return self._joined[key]
        if not self._next:
            by_section: dict[tuple[str, str], list[Passage]] = {}
            for q in self.passages:
                by_section.setdefault((q.chunk.doc_id, q.chunk.section), []).append(q)
            for group in by_section.values():
                group.sort(key=lambda q: q.chunk.start)
                self._next.update((a.chunk.chunk_id, b) for a, b in zip(group, group[1:]))
        nxt = self._next.get(key.rsplit("+", 1)[-1])  # a joined passage goes on after its last chunk
        if nxt is None:
            self._joined[key] = None
            return None
        c, n = p.chunk, nxt.chunk
        cut = min(max(0, c.end - n.start), len(n.text))  # what the two chunks share, in n's text
        sep = "" if cut else c.after
        shift = len(c.text) + len(sep) - cut
        text = c.text + sep + n.text[cut:]
        marks = c.marks + tuple((max(a, cut) + shift, b + shift, k, h) for a, b, k, h in n.marks if b > cut)
        joined = Chunk(f"{key}+{n.chunk_id}", c.doc_id, text, c.section, c.start, n.end, c.source, marks, n.after)
        out = Passage(joined, p.tokens, p.sentences + [(a + shift, b + shift) for a, b in nxt.sentences if a >= cut],
                      p.citations + [(a + shift, b + shift, ix) for a, b, ix in nxt.citations if a >= cut])
        self._joined[key] = out
        return out

    def char_grams(self, p: Passage) -> frozenset[str]:
        """The character 3-grams of the passage as indexed (heading line included)."""
        key = p.chunk.chunk_id
        if key not in self._grams:
            self._grams[key] = frozenset(char_grams(indexed_text(p.chunk), 3))
        return self._grams[key]


def _sha(path: Path) -> str:
    with path.open("rb") as f:  # streamed: a large index's files are not read into memory whole
        return hashlib.file_digest(f, "sha256").hexdigest()


def indexed_text(chunk: Chunk) -> str:
    header = chunk.header()
    return f"{header}\n{chunk.text}" if header else chunk.text


def _sentence_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in text.split("\n"):
        off = 0
        for s in sentences(line):
            core = s.strip()
            if core:
                a = pos + off + (len(s) - len(s.lstrip()))
                spans.append((a, a + len(core)))
            off += len(s)
        pos += len(line) + 1
    return spans


def _citations(text: str, sources: list[CitedSource]) -> list[tuple[int, int, list[int]]]:
    """The inline citations of a passage, each with the sources it resolves to (a source named
    ambiguously resolves to all of its candidates; one that resolves to nothing, to none)."""
    out = []
    for c in find_citations(text):
        found: list[int] = []
        for item in c.items:
            found += [i for i in resolve_citation(item, sources) if i not in found]
        out.append((c.start, c.end, found))
    return out


def shared_words(tokens: list[str]) -> list[str]:
    """The tokens, each word one shared string object (interned): a passage's token list then holds
    references to strings held once for the whole corpus, not its own copy of every word. Read from
    chunks.jsonl, the knowledge folder's passages took 13.4 KiB each without this and 2.7 KiB with
    it, text included (143 tokens a passage): at a million passages, 2.7 GB instead of 13 GB."""
    return [sys.intern(t) for t in tokens]


def _passage_to_json(p: Passage) -> dict[str, Any]:
    c = p.chunk
    return {"chunk_id": c.chunk_id, "doc_id": c.doc_id, "text": c.text, "section": c.section,
            "start": c.start, "end": c.end, "source": asdict(c.source), "tokens": p.tokens,
            "sentences": p.sentences, "citations": p.citations, "marks": c.marks, "after": c.after}


def _passage_from_json(d: dict[str, Any]) -> Passage:
    chunk = Chunk(d["chunk_id"], d["doc_id"], d["text"], d["section"], d["start"], d["end"],
                  Source(**d["source"]), tuple((a, b, k, h) for a, b, k, h in d.get("marks", [])),
                  d.get("after", ""))
    return Passage(chunk, shared_words(d["tokens"]), [tuple(s) for s in d["sentences"]],
                   [(a, b, list(ix)) for a, b, ix in d.get("citations", [])])


class IndexStore:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.dir = Path(settings.index_dir)
        self.params = ChunkParams(settings.chunk_max_tokens, settings.chunk_overlap)

    # -- what the settings expect ------------------------------------------------------------
    def expected(self, dimension: int | None = None) -> dict[str, Any]:
        exp = {"format_version": FORMAT_VERSION, "text_version": TEXT_VERSION,
               "model": self.settings.embedding_model, "chunking": self.params.as_dict()}
        if dimension is not None:
            exp["dimension"] = dimension
        return exp

    def read_manifest(self) -> dict[str, Any] | None:
        path = self.dir / "manifest.json"
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def check(self, dimension: int | None = None) -> str:
        """'' when the index matches the settings and the knowledge folder, else the reason it doesn't."""
        manifest = self.read_manifest()
        if manifest is None:
            return "no index yet" if not (self.dir / "manifest.json").exists() else "manifest.json is damaged"
        for key, want in self.expected(dimension).items():
            if manifest.get(key) != want:
                return f"{key} changed: index has {manifest.get(key)!r}, settings want {want!r}"
        try:
            files = knowledge_files(Path(self.settings.knowledge_dir))
        except Exception as exc:
            return str(exc)
        root = Path(self.settings.knowledge_dir)
        current = {p.relative_to(root).as_posix(): file_digest(p) for p in files}
        indexed = {k: v["sha256"] for k, v in manifest.get("documents", {}).items()}
        indexed.update({k: v for k, v in manifest.get("skipped", {}).items()})
        if current != indexed:
            changed = sorted(set(current.items()) ^ set(indexed.items()))
            return f"knowledge changed: {', '.join(sorted({k for k, _ in changed}))}"
        recorded = manifest.get("files", {})
        if not isinstance(recorded, dict) or not set(FILES) <= set(recorded):
            return "the manifest does not record every index file"
        for name, digest in recorded.items():  # every file of the index: the BM25 folders' too
            path = self.dir / name
            if not path.is_file():
                return f"{name} is missing"
            if _sha(path) != digest:
                return f"{name} is damaged (checksum differs)"
        return ""

    # -- loading ----------------------------------------------------------------------------
    def prior(self, passages: list[Passage], manifest: dict[str, Any]) -> np.ndarray:
        """A fused-score bonus for passages of official documents (front matter ``authority: official``)."""
        docs = manifest.get("documents", {})
        official = {d for d, info in docs.items() if info.get("authority") == "official"}
        return np.array([self.settings.official_bonus if p.chunk.doc_id in official else 0.0 for p in passages])

    def load(self, dimension: int | None = None) -> LoadedIndex:
        reason = self.check(dimension)
        if reason:
            raise IndexError_(reason)
        manifest = self.read_manifest() or {}
        try:
            with (self.dir / "chunks.jsonl").open(encoding="utf-8") as f:
                passages = [_passage_from_json(json.loads(line)) for line in f if line.strip()]
            embeddings = np.load(self.dir / "embeddings.npy")
            index = faiss.read_index(str(self.dir / "faiss.index"))
            glossary = json.loads((self.dir / "glossary.json").read_text(encoding="utf-8"))
            if not isinstance(glossary, dict):
                raise ValueError("glossary.json is not an object")
            limit = self.settings.exact_search_limit
            if passages:
                big = len(passages) > limit  # the candidate path builds its own indexes from the texts
                bm25 = None if big else {f.name: bm25s.BM25.load(str(self.dir / f"bm25_{f.name}")) for f in FIELDS}
                vectors = _split_vectors(passages, embeddings, np.load(self.dir / "headings.npy"),
                                         np.load(self.dir / "units.npy"))
                units = Units.of([v.units for v in vectors], np.stack([v.heading for v in vectors]),
                                 [words(p.chunk.header()) for p in passages])
                # the candidate path's indexes as the build saved them; an index built on the exact
                # path and served past a lowered limit has none: they are built in memory
                saved = self.dir / CANDIDATES_DIR
                recorded = f"{CANDIDATES_DIR}/{CANDIDATES_PARAMS}" in manifest.get("files", {})
                retriever = Retriever(embeddings, [p.tokens for p in passages],
                                      [indexed_text(p.chunk) for p in passages] if big else None, bm25,
                                      None if big else index, prior=self.prior(passages, manifest),
                                      units=units, exact_limit=limit, saved=saved if big and recorded else None)
            else:
                retriever = Retriever(embeddings, [], [], faiss_index=index)
        except Exception as exc:
            raise IndexError_(f"index files are damaged: {type(exc).__name__}: {exc}") from exc
        return LoadedIndex(passages, retriever, manifest, glossary)

    # -- building ---------------------------------------------------------------------------
    def _previous(self, dimension: int) -> tuple[dict[str, Any], dict[str, list[Passage]], dict[str, list[Vectors]]]:
        """Reusable passages and their vectors from the current index, by document (empty if incompatible)."""
        manifest = self.read_manifest()
        if not manifest or any(manifest.get(k) != v for k, v in self.expected(dimension).items()):
            return {}, {}, {}
        try:
            for name in VECTOR_FILES:
                if _sha(self.dir / name) != manifest.get("files", {}).get(name):
                    return {}, {}, {}
            with (self.dir / "chunks.jsonl").open(encoding="utf-8") as f:
                passages = [_passage_from_json(json.loads(line)) for line in f if line.strip()]
            vectors = _split_vectors(passages, np.load(self.dir / "embeddings.npy"),
                                     np.load(self.dir / "headings.npy"), np.load(self.dir / "units.npy"))
        except Exception:
            return {}, {}, {}
        by_doc: dict[str, list[Passage]] = {}
        vecs: dict[str, list[Vectors]] = {}
        for p, v in zip(passages, vectors):
            by_doc.setdefault(p.chunk.doc_id, []).append(p)
            vecs.setdefault(p.chunk.doc_id, []).append(v)
        return manifest.get("documents", {}), by_doc, vecs

    def build(self, embedder: Embedder, progress: bool = True, force: bool = False) -> BuildReport:
        t0 = time.perf_counter()
        report = BuildReport()
        docs, report.problems = load_documents(Path(self.settings.knowledge_dir))
        old_docs, old_passages, old_vecs = ({}, {}, {}) if force else self._previous(embedder.dimension)
        passages: list[Passage] = []
        vectors: list[Vectors] = []
        todo: list[Passage] = []
        # cutting and segmenting the documents is the long part before embedding: its own bar
        for doc in tqdm(docs, desc="documents", unit="doc", disable=not progress or len(docs) < 2):
            prev = old_docs.get(doc.doc_id)
            if prev and prev.get("sha256") == doc.sha256 and doc.doc_id in old_passages:
                passages += old_passages[doc.doc_id]
                vectors += old_vecs[doc.doc_id]
                report.reused += len(old_passages[doc.doc_id])
                continue
            if not todo:  # the first document to embed
                prepare(embedder)
            chunks = chunk_document(doc, self.params)
            sources = sources_of(doc.meta)
            todo += [Passage(c, shared_words(words(indexed_text(c))), _sentence_spans(c.text), _citations(c.text, sources))
                     for c in chunks]
        # each new passage: the passage itself, its heading line, and its sentence windows
        texts = [indexed_text(p.chunk) for p in todo]
        heads = [p.chunk.header() or p.chunk.doc_id for p in todo]
        units = [u for p in todo for u in unit_texts(p)]
        fresh = self._embed(embedder, texts + heads + units, progress)
        n, row = len(todo), 2 * len(todo)
        for i, p in enumerate(todo):
            k = len(unit_texts(p))
            passages.append(p)
            vectors.append(Vectors(fresh[i], fresh[n + i], fresh[row:row + k]))
            row += k
        report.embedded = len(texts)
        # gone from the folder (a file that is there but unreadable is reported as a problem instead)
        report.removed = sorted(set(old_docs) - {d.doc_id for d in docs} - {p.path for p in report.problems})
        # keep passages in document order, vectors aligned
        order = sorted(range(len(passages)), key=lambda i: (passages[i].chunk.doc_id, _num(passages[i].chunk.chunk_id)))
        passages = [passages[i] for i in order]
        vectors = [vectors[i] for i in order]
        self._write(docs, report.problems, passages, vectors, embedder, progress)
        report.documents, report.chunks = len(docs), len(passages)
        report.seconds = time.perf_counter() - t0
        return report

    @staticmethod
    def _embed(embedder: Embedder, texts: list[str], progress: bool) -> np.ndarray:
        """Embedded in batches of similar length, longest first (a batch is as long as its longest
        text: passages, headings and sentence windows mixed made most of each batch padding)."""
        out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batch = 32
        bar = tqdm(total=len(texts), desc="embedding", unit="text", disable=not progress)
        for i in range(0, len(texts), batch):
            rows = order[i:i + batch]
            out[rows] = embedder.passages([texts[j] for j in rows])
            bar.update(len(rows))
        bar.close()
        return out

    def _write(self, docs: list[Document], problems: list[Problem], passages: list[Passage],
               vectors: list[Vectors], embedder: Embedder, progress: bool = False) -> None:
        work = self.dir.with_name(f".{self.dir.name}.new")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        dim = embedder.dimension
        embeddings = np.stack([v.passage for v in vectors]) if vectors else np.zeros((0, dim), np.float32)
        np.save(work / "headings.npy", np.stack([v.heading for v in vectors]) if vectors else np.zeros((0, dim), np.float32))
        np.save(work / "units.npy", np.concatenate([v.units for v in vectors]) if vectors else np.zeros((0, dim), np.float32))
        with (work / "chunks.jsonl").open("w", encoding="utf-8") as f:
            for p in passages:
                f.write(json.dumps(_passage_to_json(p), ensure_ascii=False) + "\n")
        np.save(work / "embeddings.npy", embeddings)
        index = faiss.IndexFlatIP(embedder.dimension)
        if len(embeddings):
            index.add(np.ascontiguousarray(embeddings))
        faiss.write_index(index, str(work / "faiss.index"))
        glossary = mine_glossary(indexed_text(p.chunk) for p in passages)
        (work / "glossary.json").write_text(json.dumps(glossary, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        if passages:
            texts = [indexed_text(p.chunk) for p in passages]
            # the files of the exact path, or past the limit the candidate path's indexes (loaded,
            # not built again, at every start); the exact path's n-gram postings (11 GB at 100,000
            # passages) are never built there
            exact = len(passages) <= self.settings.exact_search_limit
            Retriever(embeddings, [p.tokens for p in passages], texts, faiss_index=index if exact else None,
                      mode="exact" if exact else "candidates", exact_limit=self.settings.exact_search_limit,
                      progress=progress and not exact).save_lexical(work)
        counts: dict[str, int] = {}
        for p in passages:
            counts[p.chunk.doc_id] = counts.get(p.chunk.doc_id, 0) + 1
        root = Path(self.settings.knowledge_dir)
        skipped = {}
        for prob in problems:
            path = root / prob.path
            if path.exists():
                skipped[prob.path] = file_digest(path)
        manifest = {
            **self.expected(embedder.dimension),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "documents": {d.doc_id: {"sha256": d.sha256, "title": d.title, "chunks": counts.get(d.doc_id, 0),
                                     "issuer": d.source.issuer, "date": d.source.date, "url": d.source.url,
                                     "as_of": d.source.as_of,
                                     "authority": str(d.meta.get("authority", "")).strip().lower(),
                                     "caveat": str(d.meta.get("caveat") or "").strip(),
                                     "sources": [src.as_dict() for src in sources_of(d.meta)]}
                          for d in docs},
            "retrieval": retrieval_params(self.settings.exact_search_limit, len(passages)),
            "skipped": skipped,
            "problems": [str(p) for p in problems],
            "files": {f.relative_to(work).as_posix(): _sha(f) for f in sorted(work.rglob("*"))
                      if f.is_file() and f.name != "manifest.json"},
        }
        (work / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        old = self.dir.with_name(f".{self.dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if self.dir.exists():
            self.dir.rename(old)
        work.rename(self.dir)
        shutil.rmtree(old, ignore_errors=True)


def retrieval_params(exact_limit: int, passages: int) -> dict[str, Any]:
    """How an index of this many passages is searched: the exact path up to ``exact_limit``, else
    the candidate path with its parameters (bot/scale.py)."""
    if passages <= exact_limit:
        return {"mode": "exact", "exact_limit": exact_limit}
    return {"mode": "candidates", "exact_limit": exact_limit, **ScaleParams().as_dict(passages)}


def _num(chunk_id: str) -> int:
    try:
        return int(chunk_id.rsplit("#", 1)[1])
    except (IndexError, ValueError):
        return 0
