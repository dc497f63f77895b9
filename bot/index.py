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
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Sequence
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
from .passages import (GRAMS, STORE_FILES, Passage, PassageStore, Quantized, RowFile, StoreWriter, chunk_number,
                       from_json, indexed_text, quantize_file, warm, windows)
from .query import mine_glossary
from .retrieval import CANDIDATES_DIR, CANDIDATES_PARAMS, FIELDS, Retriever, Units, heading_bm25
from .scale import ScaleParams
from .text import char_grams, sentences, words
from .types import Chunk, Document

log = logging.getLogger(__name__)

FORMAT_VERSION = 9  # 9: the passage store's files (bot/passages.py)
TEXT_VERSION = 4  # bump when normalization, tokenization or sentence splitting changes
HEADING_BM25 = "heading"  # in candidates/: the BM25 over the passages' heading lines
# in candidates/: int8 copies of the window and heading vectors, which the candidate path reads
# (bot.passages.Quantized); the float32 files stay, for the next build to reuse
QUANTIZED = ("units", "headings")
VECTOR_FILES = ("chunks.jsonl", "embeddings.npy", "headings.npy", "units.npy")
FILES = (*VECTOR_FILES, *STORE_FILES[1:], "faiss.index", "glossary.json")


def _q8(folder: Path, name: str) -> tuple[Path, Path]:
    """Where the int8 copy of ``name``.npy and its rows' scales are (``QUANTIZED``)."""
    return folder / CANDIDATES_DIR / f"{name}.q8.npy", folder / CANDIDATES_DIR / f"{name}.q8scale.npy"


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


def unit_text(p: "Passage", j: int) -> str:
    """The passage's j-th sentence window (a small retrieval unit): its j-th sentence and the one
    after it."""
    text, spans = p.chunk.text, p.sentences or [(0, len(p.chunk.text))]
    return text[spans[j][0]:spans[min(j + 1, len(spans) - 1)][1]]


class _ToEmbed(Sequence[str]):
    """What a build embeds for its new passages, made when its batch is embedded (not held all at
    once beside the passages): each passage's indexed text, then each one's heading line, then
    every passage's sentence windows."""

    def __init__(self, todo: list["Passage"]):
        self.todo = todo
        self.first = np.cumsum([0] + [windows(p) for p in todo])  # each passage's first window
        self.n = len(todo)

    def __len__(self) -> int:
        return 2 * self.n + int(self.first[-1])

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not 0 <= i < len(self):
            raise IndexError(i)
        if i < self.n:
            return indexed_text(self.todo[i].chunk)
        if i < 2 * self.n:
            c = self.todo[i - self.n].chunk
            return c.header() or c.doc_id
        u = i - 2 * self.n
        owner = int(np.searchsorted(self.first, u, side="right")) - 1
        return unit_text(self.todo[owner], u - int(self.first[owner]))


def _split_vectors(passages: list["Passage"], embeddings: np.ndarray, headings: np.ndarray,
                   units: np.ndarray) -> list[Vectors]:
    counts = [windows(p) for p in passages]
    if len(embeddings) != len(passages) or len(headings) != len(passages) or len(units) != sum(counts):
        raise ValueError("vectors do not match the passages")
    out, row = [], 0
    for i, k in enumerate(counts):
        out.append(Vectors(embeddings[i], headings[i], units[row:row + k]))
        row += k
    return out


MEMO_LIMIT = 20_000  # passages whose worked-out details an index keeps (cleared past it)
_NONE = object()


def _memo(cache: dict[str, Any], key: str, make: Callable[[], Any]) -> Any:
    """``cache[key]``, made the first time; a cache past MEMO_LIMIT entries starts again (a large
    index's questions touch ever more passages; a small one's never reach it)."""
    value = cache.get(key, _NONE)
    if value is _NONE:
        value = make()
        if len(cache) >= MEMO_LIMIT:
            cache.clear()
        cache[key] = value
    return value


@dataclass
class LoadedIndex:
    passages: PassageStore
    retriever: Retriever
    manifest: dict[str, Any]
    glossary: dict[str, list[str]] = field(default_factory=dict)  # English term -> Thai terms (mined)
    # per passage, worked out the first time a question needs it and kept
    _sentence_words: dict[str, list[frozenset[str]]] = field(default_factory=dict, repr=False)
    _sentence_grams: dict[str, list[frozenset[str]]] = field(default_factory=dict, repr=False)
    _grams: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _provinces: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _joined: dict[str, "Passage | None"] = field(default_factory=dict, repr=False)
    # a large index's files being read into the page cache in the background (bot.passages.warm)
    warming: threading.Thread | None = field(default=None, repr=False)

    @property
    def documents(self) -> dict[str, dict[str, Any]]:
        return self.manifest.get("documents", {})

    def sentence_words(self, p: Passage) -> list[frozenset[str]]:
        """The words of each of the passage's sentences (``p.sentences``, or the whole text)."""
        spans = p.sentences or [(0, len(p.chunk.text))]
        return _memo(self._sentence_words, p.chunk.chunk_id,
                     lambda: [frozenset(words(p.chunk.text[a:b])) for a, b in spans])

    def sentence_grams(self, p: Passage) -> list[frozenset[str]]:
        """The character 3-grams of each of the passage's sentences (computed once a passage)."""
        spans = p.sentences or [(0, len(p.chunk.text))]
        return _memo(self._sentence_grams, p.chunk.chunk_id,
                     lambda: [frozenset(char_grams(p.chunk.text[a:b], 3)) for a, b in spans])

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
        return _memo(self._provinces, p.chunk.chunk_id, lambda: provinces_in(indexed_text(p.chunk)))

    def lookup(self, chunk_id: str) -> Passage | None:
        """The passage of this chunk id, or None if the index has none (e.g. since a reload)."""
        row = self.passages.row(chunk_id)
        return None if row is None else self.passages[row]

    def section(self, p: Passage) -> list[Passage]:
        """The passages of p's section (same document and section), in index order."""
        row = self.passages.row(p.chunk.chunk_id)
        return [p] if row is None else [self.passages[r] for r in self.passages.section_rows(row)]

    def continued(self, p: Passage) -> Passage | None:
        """The passage joined with the next chunk of the same section (the sentences they share
        once), for an answer whose list runs on past the passage's end; None at a section's end.
        Joined passages are kept: the same answer costs the join once."""
        return _memo(self._joined, p.chunk.chunk_id, lambda: self._join(p))

    def _join(self, p: Passage) -> Passage | None:
        key = p.chunk.chunk_id
        # a joined passage ("doc#1+doc#2") goes on after its last chunk; a document's path may hold "+"
        row = self.passages.row(f"{p.chunk.doc_id}#{key.rsplit('#', 1)[-1]}")
        nxt_row = None if row is None else self.passages.next_row(row)
        if nxt_row is None:
            return None
        nxt = self.passages[nxt_row]
        c, n = p.chunk, nxt.chunk
        cut = min(max(0, c.end - n.start), len(n.text))  # what the two chunks share, in n's text
        sep = "" if cut else c.after
        shift = len(c.text) + len(sep) - cut
        text = c.text + sep + n.text[cut:]
        marks = c.marks + tuple((max(a, cut) + shift, b + shift, k, h) for a, b, k, h in n.marks if b > cut)
        joined = Chunk(f"{key}+{n.chunk_id}", c.doc_id, text, c.section, c.start, n.end, c.source, marks, n.after)
        return Passage(joined, p.tokens, p.sentences + [(a + shift, b + shift) for a, b in nxt.sentences if a >= cut],
                       p.citations + [(a + shift, b + shift, ix) for a, b, ix in nxt.citations if a >= cut])

    def char_grams(self, p: Passage) -> frozenset[str]:
        """The character 3-grams of the passage as indexed (heading line included)."""
        return _memo(self._grams, p.chunk.chunk_id, lambda: frozenset(char_grams(indexed_text(p.chunk), 3)))


def _sha(path: Path) -> str:
    with path.open("rb") as f:  # streamed: a large index's files are not read into memory whole
        return hashlib.file_digest(f, "sha256").hexdigest()


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

    def check(self, dimension: int | None = None, knowledge: bool = True) -> str:
        """'' when the index matches the settings and the knowledge folder (``knowledge=False``: its
        own files only), else the reason it doesn't."""
        manifest = self.read_manifest()
        if manifest is None:
            return "no index yet" if not (self.dir / "manifest.json").exists() else "manifest.json is damaged"
        for key, want in self.expected(dimension).items():
            if manifest.get(key) != want:
                return f"{key} changed: index has {manifest.get(key)!r}, settings want {want!r}"
        reason = self._check_knowledge(manifest) if knowledge else ""
        if reason:
            return reason
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

    def _check_knowledge(self, manifest: dict[str, Any]) -> str:
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
        return ""

    # -- loading ----------------------------------------------------------------------------
    def prior(self, passages: PassageStore, manifest: dict[str, Any]) -> np.ndarray:
        """A fused-score bonus for passages of official documents (front matter ``authority: official``)."""
        docs = manifest.get("documents", {})
        bonus = np.array([self.settings.official_bonus if docs.get(d, {}).get("authority") == "official" else 0.0
                          for d in passages.docs] or [0.0])
        return bonus[passages.doc]

    def load(self, dimension: int | None = None, knowledge: bool = True, checked: bool = False,
             warm_up: bool = True) -> LoadedIndex:
        """The index as built (``knowledge=False``: checked against its own files only, not against
        the knowledge folder: for a benchmark's synthetic index; ``checked``: ``check`` has just
        said it is up to date, so its files are not read through again: at a million passages
        that is about 15 GB; ``warm_up``: a large index's files that questions read are read into
        the page cache in the background, for a process that will answer questions)."""
        reason = "" if checked else self.check(dimension, knowledge)
        if reason:
            raise IndexError_(reason)
        manifest = self.read_manifest() or {}
        limit = self.settings.exact_search_limit
        try:
            passages = PassageStore(self.dir, eager=limit, shared=shared_words)
            big = passages.lazy  # past the limit: the candidate path, with its own indexes
            # the passage vectors are read for every candidate of every question: kept in memory
            # (1.5 GB at a million). A large index's window and heading vectors are read from
            # their int8 copies (float32: 9.7 and 1.5 GB at a million passages)
            files = manifest.get("files", {})
            read: list[Path] = [self.dir / GRAMS]  # the files questions read a little of

            def vectors(name: str) -> np.ndarray:
                if not big:
                    return np.load(self.dir / f"{name}.npy")
                codes, scales = _q8(self.dir, name)
                if codes.relative_to(self.dir).as_posix() not in files:  # built before the int8 copies
                    read.append(self.dir / f"{name}.npy")  # (`index --force` writes them)
                    return RowFile(self.dir / f"{name}.npy")  # type: ignore[return-value]
                if name == "units":
                    read.append(codes)
                # the windows' int8 rows stay in their file (2.4 GB at a million passages), read
                # through the page cache; the headings' (384 MB) are kept in memory
                return Quantized(RowFile(codes) if name == "units" else np.load(codes),  # type: ignore[return-value]
                                 np.load(scales))

            embeddings = np.load(self.dir / "embeddings.npy")
            glossary = json.loads((self.dir / "glossary.json").read_text(encoding="utf-8"))
            if not isinstance(glossary, dict):
                raise ValueError("glossary.json is not an object")
            if len(passages):
                index = None if big else faiss.read_index(str(self.dir / "faiss.index"))
                bm25 = None if big else {f.name: bm25s.BM25.load(str(self.dir / f"bm25_{f.name}")) for f in FIELDS}
                # the candidate path's indexes as the build saved them; an index built on the exact
                # path and served past a lowered limit has none: they are built in memory
                saved = self.dir / CANDIDATES_DIR
                recorded = f"{CANDIDATES_DIR}/{CANDIDATES_PARAMS}" in manifest.get("files", {})
                headed = big and f"{CANDIDATES_DIR}/{HEADING_BM25}/params.index.json" in manifest.get("files", {})
                units = Units.of_arrays(vectors("units"), passages.windows, vectors("headings"),
                                        bm25s.BM25.load(str(saved / HEADING_BM25)) if headed
                                        else heading_lines(passages))
                retriever = Retriever(embeddings, passages.tokens if big else [p.tokens for p in passages],
                                      passages.texts if big else None, bm25, index,
                                      prior=self.prior(passages, manifest), units=units, exact_limit=limit,
                                      saved=saved if big and recorded else None,
                                      codes=passages.codes if big else None)
            else:
                retriever = Retriever(embeddings, [], [], faiss_index=faiss.read_index(str(self.dir / "faiss.index")))
        except Exception as exc:
            raise IndexError_(f"index files are damaged: {type(exc).__name__}: {exc}") from exc
        loaded = LoadedIndex(passages, retriever, manifest, glossary)
        if big and warm_up:  # what every question reads a little of: into the page cache, in the background
            loaded.warming = warm(read)
        return loaded

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
                passages = [from_json(json.loads(line), shared_words) for line in f if line.strip()]
            vectors = _split_vectors(passages, *(np.load(self.dir / f, mmap_mode="r")
                                                 for f in ("embeddings.npy", "headings.npy", "units.npy")))
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
        # each new passage: the passage itself, its heading line, and its sentence windows, embedded
        # into a file beside the index (a million passages' are about 12 GB), not into memory
        to_embed = _ToEmbed(todo)
        scratch = self.dir.with_name(f".{self.dir.name}.vectors.npy")
        scratch.parent.mkdir(parents=True, exist_ok=True)
        fresh = np.lib.format.open_memmap(scratch, mode="w+", dtype=np.float32,
                                          shape=(len(to_embed), embedder.dimension))
        try:
            self._embed(embedder, to_embed, progress, fresh)
            n, row = len(todo), 2 * len(todo)
            for i, p in enumerate(todo):
                k = windows(p)
                passages.append(p)
                vectors.append(Vectors(fresh[i], fresh[n + i], fresh[row:row + k]))
                row += k
            report.embedded = n
            # gone from the folder (a file that is there but unreadable is reported as a problem instead)
            report.removed = sorted(set(old_docs) - {d.doc_id for d in docs} - {p.path for p in report.problems})
            # keep passages in document order, vectors aligned
            order = sorted(range(len(passages)),
                           key=lambda i: (passages[i].chunk.doc_id, chunk_number(passages[i].chunk.chunk_id)))
            passages = [passages[i] for i in order]
            vectors = [vectors[i] for i in order]
            self._write(docs, report.problems, passages, vectors, embedder, progress)
        finally:
            del fresh, vectors
            scratch.unlink(missing_ok=True)
        report.documents, report.chunks = len(docs), len(passages)
        report.seconds = time.perf_counter() - t0
        return report

    @staticmethod
    def _embed(embedder: Embedder, texts: Sequence[str], progress: bool, out: np.ndarray | None = None) -> np.ndarray:
        """Embedded in batches of similar length, longest first (a batch is as long as its longest
        text: passages, headings and sentence windows mixed made most of each batch padding), into
        ``out`` when given (a file-backed array: see build)."""
        out = np.zeros((len(texts), embedder.dimension), dtype=np.float32) if out is None else out
        lengths = [len(t) for t in texts]
        order = sorted(range(len(texts)), key=lambda i: -lengths[i])
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
        # written row by row into the files (the same bytes as np.save), never stacked in memory
        _save_rows(work / "headings.npy", [v.heading[None] for v in vectors], dim)
        _save_rows(work / "units.npy", [v.units for v in vectors], dim)
        embeddings = _save_rows(work / "embeddings.npy", [v.passage[None] for v in vectors], dim)
        with StoreWriter(work) as out:
            for p in passages:
                out.add(p)
        counts: dict[str, int] = {}
        for p in passages:
            counts[p.chunk.doc_id] = counts.get(p.chunk.doc_id, 0) + 1
        root = Path(self.settings.knowledge_dir)
        skipped = {}
        for prob in problems:
            path = root / prob.path
            if path.exists():
                skipped[prob.path] = file_digest(path)
        documents = {d.doc_id: {"sha256": d.sha256, "title": d.title, "chunks": counts.get(d.doc_id, 0),
                                "issuer": d.source.issuer, "date": d.source.date, "url": d.source.url,
                                "as_of": d.source.as_of,
                                "authority": str(d.meta.get("authority", "")).strip().lower(),
                                "caveat": str(d.meta.get("caveat") or "").strip(),
                                "sources": [src.as_dict() for src in sources_of(d.meta)]}
                     for d in docs}
        self.finish(work, embeddings, dim, documents,
                    {"skipped": skipped, "problems": [str(p) for p in problems]}, progress)

    def finish(self, work: Path, embeddings: np.ndarray, dimension: int, documents: dict[str, Any],
               extra: dict[str, Any], progress: bool = False) -> None:
        """The rest of an index from its vectors and passage store in ``work``: the FAISS index,
        the mined glossary, the lexical indexes, the manifest; then ``work`` takes the index's place.
        (The build's last step; a benchmark's synthetic index is finished the same way.)"""
        store = PassageStore(work, eager=0)  # read as needed, whatever the size
        n = len(store)
        exact = n <= self.settings.exact_search_limit
        index = faiss.IndexFlatIP(dimension)
        if len(embeddings) and exact:  # past the limit the candidate path keeps its own dense index
            index.add(np.ascontiguousarray(embeddings))
        faiss.write_index(index, str(work / "faiss.index"))
        glossary = mine_glossary(store.texts)
        (work / "glossary.json").write_text(json.dumps(glossary, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        if n:
            # the files of the exact path, or past the limit the candidate path's indexes (loaded,
            # not built again, at every start); the exact path's n-gram postings (11 GB at 100,000
            # passages) are never built there
            Retriever(embeddings, store.tokens, store.texts, faiss_index=index if exact else None,
                      mode="exact" if exact else "candidates", exact_limit=self.settings.exact_search_limit,
                      progress=progress and not exact).save_lexical(work)
            if not exact:  # the headings' BM25 too: built over a million headings at every start, 20 s
                heading_bm25(heading_lines(store)).save(str(work / CANDIDATES_DIR / HEADING_BM25))
                for name in QUANTIZED:
                    quantize_file(work / f"{name}.npy", *_q8(work, name), progress=progress)
        store.close()
        manifest = {
            **self.expected(dimension),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "documents": documents,
            "retrieval": retrieval_params(self.settings.exact_search_limit, n),
            **extra,
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


def heading_lines(passages: PassageStore) -> list[list[str]]:
    """The words of each passage's heading line (each distinct line cut once; one list a line)."""
    cut = [words(h) for h in passages.headers]
    return [cut[h] for h in passages.header]


def _save_rows(path: Path, blocks: list[np.ndarray], dimension: int) -> np.ndarray:
    """The blocks of rows one after another as one .npy file (float32), returned mapped."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                    shape=(sum(len(b) for b in blocks), dimension))
    row = 0
    for b in blocks:
        out[row:row + len(b)] = b
        row += len(b)
    out.flush()
    return out


def retrieval_params(exact_limit: int, passages: int) -> dict[str, Any]:
    """How an index of this many passages is searched: the exact path up to ``exact_limit``, else
    the candidate path with its parameters (bot/scale.py)."""
    if passages <= exact_limit:
        return {"mode": "exact", "exact_limit": exact_limit}
    return {"mode": "candidates", "exact_limit": exact_limit, **ScaleParams().as_dict(passages)}

