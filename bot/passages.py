"""The passages of an index, kept on disk and read as questions need them.

``chunks.jsonl`` holds one passage a line (chunk, word tokens, sentence spans, citations), as
before. Beside it the build writes:

- ``texts.bin``: each passage's indexed text (heading line and text), UTF-8, one after another;
- ``grams.bin``: the same texts as the character n-grams read them (``bot.scale.gram_text``: white
  space removed, lower-cased, one 16-bit unit a character): the candidate path reads its
  candidates' from here, with no decoding, lower-casing or splitting on each question;
- ``passages.npz``: per passage, where its line and its texts start in those files, its
  document, its section, where it starts in its document, its chunk number, its sentence windows
  and its heading line (numbers, no strings);
- ``passages.json``: the names those numbers stand for (documents, sections, heading lines).

A small index (up to ``eager`` passages) is read whole when it opens, as Python objects, as it
always was. A large one keeps only the arrays in memory: a passage is read from ``chunks.jsonl``
(``os.pread``: through the page cache, not the process's own memory) when a question needs it and
kept in a bounded cache. At a million passages the arrays take about 65 MB (measured), where the passages as
Python objects would take about 2.7 GB (measured: 2.7 KiB a passage, text included).
"""

from __future__ import annotations

import json
import os
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

from .scale import gram_text
from .types import Chunk, Source

CHUNKS = "chunks.jsonl"
TEXTS = "texts.bin"
GRAMS = "grams.bin"
META = "passages.npz"
NAMES = "passages.json"
STORE_FILES = (CHUNKS, TEXTS, GRAMS, META, NAMES)
CACHE_SIZE = 8192  # passages a large store keeps decoded (a question reads a few dozen)


@dataclass(frozen=True)
class Passage:
    """A chunk as stored: with its BM25 tokens and its sentence spans (relative to the text)."""

    chunk: Chunk
    tokens: list[str]
    sentences: list[tuple[int, int]]
    # inline citations "(ที่มา: …)" in the text: (start, end, indexes of the document's sources)
    citations: list[tuple[int, int, list[int]]] = field(default_factory=list)


def indexed_text(chunk: Chunk) -> str:
    """The text a passage is embedded and indexed as: its heading line, then its text."""
    header = chunk.header()
    return f"{header}\n{chunk.text}" if header else chunk.text


def windows(p: Passage) -> int:
    """How many sentence windows (small retrieval units) a passage has."""
    return len(p.sentences) or 1


def chunk_number(chunk_id: str) -> int:
    try:
        return int(chunk_id.rsplit("#", 1)[1])
    except (IndexError, ValueError):
        return 0


def to_json(p: Passage) -> dict[str, Any]:
    c = p.chunk
    return {"chunk_id": c.chunk_id, "doc_id": c.doc_id, "text": c.text, "section": c.section,
            "start": c.start, "end": c.end, "source": asdict(c.source), "tokens": p.tokens,
            "sentences": p.sentences, "citations": p.citations, "marks": c.marks, "after": c.after}


def from_json(d: dict[str, Any], shared: Callable[[list[str]], list[str]] = list) -> Passage:
    """A passage from its line of chunks.jsonl (``shared``: how its tokens are kept)."""
    chunk = Chunk(d["chunk_id"], d["doc_id"], d["text"], d["section"], d["start"], d["end"],
                  Source(**d["source"]), tuple((a, b, k, h) for a, b, k, h in d.get("marks", [])),
                  d.get("after", ""))
    return Passage(chunk, shared(d["tokens"]), [tuple(s) for s in d["sentences"]],
                   [(a, b, list(ix)) for a, b, ix in d.get("citations", [])])


class StoreWriter:
    """Writes the store's files one passage at a time (a large corpus is never held whole)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._chunks = (self.folder / CHUNKS).open("wb")
        self._texts = (self.folder / TEXTS).open("wb")
        self._grams = (self.folder / GRAMS).open("wb")
        self._line, self._text, self._gram = array("q", [0]), array("q", [0]), array("q", [0])
        self._doc, self._section, self._header = array("i"), array("i"), array("i")
        self._num, self._windows, self._start = array("i"), array("i"), array("q")
        self._docs: dict[str, int] = {}
        self._sections: dict[tuple[int, str], int] = {}
        self._headers: dict[str, int] = {}

    def add(self, p: Passage) -> None:
        c = p.chunk
        line = (json.dumps(to_json(p), ensure_ascii=False) + "\n").encode("utf-8")
        indexed = indexed_text(c)
        text = indexed.encode("utf-8")
        grams = gram_text(indexed).astype(np.uint16)
        self._chunks.write(line)
        self._texts.write(text)
        self._grams.write(grams.tobytes())
        self._line.append(self._line[-1] + len(line))
        self._text.append(self._text[-1] + len(text))
        self._gram.append(self._gram[-1] + len(grams))
        doc = self._docs.setdefault(c.doc_id, len(self._docs))
        self._doc.append(doc)
        self._section.append(self._sections.setdefault((doc, c.section), len(self._sections)))
        self._header.append(self._headers.setdefault(c.header(), len(self._headers)))
        self._num.append(chunk_number(c.chunk_id))
        self._windows.append(windows(p))
        self._start.append(c.start)

    def close(self) -> None:
        self._chunks.close()
        self._texts.close()
        self._grams.close()
        arrays = {"line": self._line, "text": self._text, "gram": self._gram, "doc": self._doc, "section": self._section,
                  "header": self._header, "num": self._num, "windows": self._windows, "start": self._start}
        with (self.folder / META).open("wb") as f:
            np.savez(f, **{k: np.frombuffer(v, dtype=v.typecode) for k, v in arrays.items()})
        names = {"docs": list(self._docs), "sections": [[d, s] for d, s in self._sections],
                 "headers": list(self._headers)}
        (self.folder / NAMES).write_text(json.dumps(names, ensure_ascii=False), encoding="utf-8")

    def __enter__(self) -> "StoreWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PassageStore(Sequence[Passage]):
    """The passages of an index folder: a sequence (row i is the i-th passage), with lookups by
    chunk id, document, section and the next chunk of a section that read no passage text."""

    def __init__(self, folder: Path, eager: int, shared: Callable[[list[str]], list[str]] = list):
        folder = Path(folder)
        with np.load(folder / META) as meta:
            self._line = meta["line"].astype(np.int64)
            self._text = meta["text"].astype(np.int64)
            self._gram = meta["gram"].astype(np.int64)
            self.doc = meta["doc"].astype(np.int32)
            self.section = meta["section"].astype(np.int32)
            self.header = meta["header"].astype(np.int32)
            self.num = meta["num"].astype(np.int32)
            self.windows = meta["windows"].astype(np.int32)
            start = meta["start"].astype(np.int64)
        names = json.loads((folder / NAMES).read_text(encoding="utf-8"))
        self.docs: list[str] = list(names["docs"])
        self.headers: list[str] = list(names["headers"])
        self.section_names: list[str] = [s for _, s in names["sections"]]
        n = len(self.doc)
        sizes = {len(a) for a in (self.section, self.header, self.num, self.windows, start)}
        if sizes != {n} or {len(self._line), len(self._text), len(self._gram)} != {n + 1}:
            raise ValueError(f"{META}'s arrays do not agree on the number of passages")
        if n and (self.doc.max() >= len(self.docs) or self.section.max() >= len(self.section_names)
                  or self.header.max() >= len(self.headers)):
            raise ValueError(f"{META} names more documents, sections or headings than {NAMES}")
        for name, offsets, unit in ((CHUNKS, self._line, 1), (TEXTS, self._text, 1), (GRAMS, self._gram, 2)):
            if os.path.getsize(folder / name) != offsets[-1] * unit:
                raise ValueError(f"{name} is not as long as {META} says")
        self._doc_index = {d: i for i, d in enumerate(self.docs)}
        # rows by (document, chunk number), for finding a chunk by its id with a binary search
        self._keys = (self.doc.astype(np.int64) << 32) | self.num.astype(np.int64)
        self._by_key = np.argsort(self._keys, kind="stable")
        self._keys = self._keys[self._by_key]
        # the next chunk of each one's section, in the document's order (-1 at a section's end)
        order = np.lexsort((start, self.section))
        self._next = np.full(n, -1, dtype=np.int64)
        same = self.section[order[1:]] == self.section[order[:-1]]
        self._next[order[:-1][same]] = order[1:][same]
        self._shared = shared
        self._files = [(folder / CHUNKS).open("rb"), (folder / TEXTS).open("rb"), (folder / GRAMS).open("rb")]
        self._lock = threading.Lock()
        self._cache: OrderedDict[int, Passage] = OrderedDict()
        self._all: list[Passage] | None = None
        self.lazy = n > eager
        if not self.lazy:  # small: read whole, once, as it always was
            self._files[0].seek(0)
            self._all = [from_json(json.loads(line), shared) for line in self._files[0] if line.strip()]
            if len(self._all) != n:
                raise ValueError(f"{CHUNKS} holds {len(self._all)} passages, {META} {n}")

    def close(self) -> None:
        for f in self._files:
            f.close()

    def __del__(self) -> None:
        if hasattr(self, "_files"):
            self.close()

    def __len__(self) -> int:
        return len(self.doc)

    @overload
    def __getitem__(self, i: int) -> Passage: ...

    @overload
    def __getitem__(self, i: slice) -> list[Passage]: ...

    def __getitem__(self, i: int | slice) -> Passage | list[Passage]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"passage {i} of {len(self)}")
        if self._all is not None:
            return self._all[i]
        with self._lock:
            p = self._cache.get(i)
            if p is not None:
                self._cache.move_to_end(i)
                return p
        p = from_json(json.loads(self._read(0, self._line, i)), self._shared)
        with self._lock:
            self._cache[i] = p
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return p

    def __iter__(self) -> Iterator[Passage]:
        if self._all is not None:
            return iter(self._all)
        return (self[i] for i in range(len(self)))

    def _read(self, which: int, offsets: np.ndarray, i: int, unit: int = 1) -> bytes:
        a, b = int(offsets[i]) * unit, int(offsets[i + 1]) * unit
        data = os.pread(self._files[which].fileno(), b - a, a)
        if len(data) != b - a:
            raise OSError(f"{STORE_FILES[which]} ended early at passage {i}")
        return data

    def codes(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The passages' texts as the character n-grams read them, concatenated, and each one's
        length: what ``bot.scale.texts_codes`` makes of their texts, read instead of computed."""
        lens = (self._gram[rows + 1] - self._gram[rows]).astype(np.int64)
        data = b"".join(self._read(2, self._gram, int(i), 2) for i in rows)
        return np.frombuffer(data, dtype=np.uint16).astype(np.uint64), lens

    def text(self, i: int) -> str:
        """The passage's indexed text (heading line and text), without reading the passage."""
        i = int(i)
        if not 0 <= i < len(self):
            raise IndexError(f"passage {i} of {len(self)}")
        if self._all is not None:
            return indexed_text(self._all[i].chunk)
        return self._read(1, self._text, i).decode("utf-8")

    @property
    def texts(self) -> Sequence[str]:
        return _Column(self, self.text)

    @property
    def tokens(self) -> Sequence[list[str]]:
        return _Column(self, lambda i: self[i].tokens)

    def doc_ids(self) -> list[str]:
        """Every passage's document (one shared string a document)."""
        return [self.docs[d] for d in self.doc]

    def row(self, chunk_id: str) -> int | None:
        """The row of a chunk by its id ("doc#n"), or None if the index has no such chunk."""
        doc = self._doc_index.get(chunk_id.rsplit("#", 1)[0])
        if doc is None:
            return None
        key = (doc << 32) | chunk_number(chunk_id)
        lo, hi = np.searchsorted(self._keys, key, side="left"), np.searchsorted(self._keys, key, side="right")
        for r in self._by_key[lo:hi]:
            if self[int(r)].chunk.chunk_id == chunk_id:
                return int(r)
        return None

    def next_row(self, i: int) -> int | None:
        """The next chunk of passage i's section (by where it starts), or None at the section's end."""
        j = int(self._next[i])
        return None if j < 0 else j

    def section_rows(self, i: int) -> list[int]:
        """The rows of passage i's section (same document and section), in index order."""
        return [int(r) for r in np.flatnonzero(self.section == self.section[i])]


class RowFile:
    """The rows of a 2-D .npy file, read from the file as they are asked for (``os.pread``, through
    the page cache): ``f[i]``, ``f[a:b]`` and ``f[rows]`` give arrays as indexing the loaded array
    would. A large index's sentence windows are read this way, a question's candidates at a time
    (their int8 copy, 2.4 GB at a million passages; an index built before the copies: the float32
    windows and headings, 9.7 and 1.5 GB).
    (Mapped instead, the kernel maps whole cached blocks around every row touched: a 4,096-passage
    sample made the process 3.3 GB larger.)"""

    def __init__(self, path: Path):
        self._file = Path(path).open("rb")
        version = np.lib.format.read_magic(self._file)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(self._file)
        if fortran or len(shape) != 2:
            raise ValueError(f"{Path(path).name} is not a 2-D array in C order")
        self.shape: tuple[int, int] = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        self._offset = self._file.tell()
        self._row = self.shape[1] * self.dtype.itemsize
        if os.fstat(self._file.fileno()).st_size != self._offset + self.shape[0] * self._row:
            raise ValueError(f"{Path(path).name} is not as long as its header says")

    def __len__(self) -> int:
        return self.shape[0]

    def close(self) -> None:
        f = getattr(self, "_file", None)
        if f is not None:
            f.close()

    def __del__(self) -> None:
        self.close()

    def _run(self, a: int, b: int) -> np.ndarray:
        out = np.empty((b - a, self.shape[1]), dtype=self.dtype)
        if b > a:
            self._into(memoryview(out.reshape(-1).view(np.uint8)), a, b)
        return out

    def _into(self, buffer: memoryview, a: int, b: int) -> None:
        """Rows a..b-1 read straight into ``buffer`` (no intermediate bytes)."""
        if os.preadv(self._file.fileno(), [buffer], self._offset + a * self._row) != (b - a) * self._row:
            raise OSError("a vectors file ended early")

    def __getitem__(self, key: Any) -> np.ndarray:
        n = self.shape[0]
        if isinstance(key, (int, np.integer)):
            i = int(key) + (n if key < 0 else 0)
            if not 0 <= i < n:
                raise IndexError(f"row {key} of {n}")
            return self._run(i, i + 1)[0]
        if isinstance(key, slice):
            a, b, step = key.indices(n)
            if step != 1:
                raise ValueError("rows are read in runs: no step")
            return self._run(a, max(a, b))
        rows = np.asarray(key, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            raise IndexError(f"rows outside 0..{n - 1}")
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        if not len(rows):
            return out
        # consecutive rows are read together (a passage's sentence windows: one read)
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        view, size = memoryview(out.reshape(-1).view(np.uint8)), self._row
        starts = np.concatenate([[0], breaks]).tolist()
        for a, b in zip(starts, [*breaks.tolist(), len(rows)]):
            self._into(view[a * size:b * size], int(rows[a]), int(rows[a]) + b - a)
        return out


class Quantized:
    """An int8 copy of float32 rows, given back as float32: row i is ``codes[i] * scales[i]``.
    ``codes`` is a ``RowFile`` or an array; the scales (one float a row) are kept in memory.
    The candidate path reads a large index's sentence windows this way from their file (2.4 GB at
    a million passages instead of 9.7, so that what questions read can stay in the page cache),
    and its headings from memory (384 MB instead of 1.5 GB read a row at a time)."""

    def __init__(self, codes: RowFile | np.ndarray, scales: np.ndarray):
        if len(codes) != len(scales) or len(codes.shape) != 2:
            raise ValueError("an int8 copy and its scales do not match")
        self._codes, self._scales = codes, np.asarray(scales, dtype=np.float32)
        self.shape: tuple[int, int] = (int(codes.shape[0]), int(codes.shape[1]))
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        rows = np.asarray(self._codes[key], dtype=np.float32)
        scale = self._scales[key]
        return rows * (scale[:, None] if rows.ndim == 2 else scale)


def quantize_file(source: Path, codes: Path, scales: Path, block: int = 65_536,
                  progress: bool = False) -> None:
    """Write an int8 copy of a 2-D float32 .npy (``codes``) and each row's scale (``scales``):
    a row is divided by its largest magnitude over 127 and rounded, so its largest value is ±127.
    Read and written a block of rows at a time (the source is not mapped into memory)."""
    from tqdm import tqdm

    src = RowFile(source)
    try:
        n, dim = src.shape
        header = np.lib.format.open_memmap(codes, mode="w+", dtype=np.int8, shape=(n, dim))
        del header  # the file now has its header and its size; filled below
        out = RowFile(codes)
        offset = out._offset
        out.close()
        factors = np.empty(n, dtype=np.float32)
        with Path(codes).open("r+b") as f:
            for a in tqdm(range(0, n, block), desc=f"int8 {Path(source).stem}", unit="block",
                          disable=not progress or n <= block):
                rows = src[a:a + block]
                big = np.abs(rows).max(axis=1) / 127.0
                big[big == 0] = 1.0
                q = np.clip(np.rint(rows / big[:, None]), -127, 127).astype(np.int8)
                if os.pwrite(f.fileno(), q.tobytes(), offset + a * dim) != q.nbytes:
                    raise OSError(f"{Path(codes).name}: a short write (is the disk full?)")
                factors[a:a + len(rows)] = big
    finally:
        src.close()
    np.save(scales, factors)


def warm(paths: Sequence[Path], block: int = 1 << 22) -> threading.Thread:
    """Read these files through once, in a background thread, so that they are in the page cache:
    every question reads a few rows of them, and cold each read waits on the disk. (Asking with
    ``posix_fadvise(WILLNEED)`` returned at once here and left them cold.) The reads go into one
    small buffer: the pages are the kernel's cache, not the process's memory."""

    def run() -> None:
        buffer = bytearray(block)
        for path in paths:
            try:
                with Path(path).open("rb", buffering=0) as f:
                    while f.readinto(buffer):
                        pass
            except OSError:
                pass  # only a warm-up: a file that can't be read fails where it is used

    thread = threading.Thread(target=run, name="index-warm", daemon=True)
    thread.start()
    return thread


class _Column(Sequence[Any]):
    """One field of every passage, read on demand (what the candidate path indexes by row)."""

    def __init__(self, store: PassageStore, get: Callable[[int], Any]):
        self._store, self._get = store, get

    def __len__(self) -> int:
        return len(self._store)

    def __iter__(self) -> Iterator[Any]:
        return (self._get(i) for i in range(len(self)))

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._get(j) for j in range(*i.indices(len(self)))]
        return self._get(int(i))
