"""Passages embedded by the full model in a child process, so that a process serving with the fast
query encoder (the bot re-indexing on /reload) never loads torch: its memory stays ~300 MB instead of
growing to ~1.1 GB for good (torch keeps what it allocated after the model is dropped, measured).

The parent sends one JSON line a batch ({"texts": [...]}); the child answers with an 8-byte length
and the batch's vectors as ``.npy`` bytes. The child loads the model once and lives until the
parent closes its stdin (``PassageWorker.close``).

    python -m bot.passage_worker '{"embedding_model": ..., "models_dir": ..., "torch_threads": ...}'
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading

import numpy as np

from .config import Settings

FIELDS = ("embedding_model", "models_dir", "torch_threads", "passage_precision")


class PassageWorker:
    """The parent's side: ``passages(texts)`` like an embedder's, computed by the child."""

    def __init__(self, settings: Settings):
        self.errors = tempfile.TemporaryFile("w+")
        spec = json.dumps({k: str(getattr(settings, k)) for k in FIELDS})
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.passage_worker", spec], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.errors)
        self._lock = threading.Lock()

    def passages(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            try:
                self.proc.stdin.write(json.dumps({"texts": texts}, ensure_ascii=False).encode() + b"\n")
                self.proc.stdin.flush()
                head = self.proc.stdout.read(8)
                data = self.proc.stdout.read(struct.unpack("<Q", head)[0]) if len(head) == 8 else b""
            except (BrokenPipeError, struct.error):
                data = b""
            if not data:
                self.errors.seek(0)
                tail = self.errors.read()[-1500:].strip()
                raise RuntimeError(f"the passage embedder stopped (exit {self.proc.poll()}): {tail}")
            return np.load(io.BytesIO(data))

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
        self.errors.close()


def main() -> int:
    from .embedder import SentenceEmbedder

    spec = json.loads(sys.argv[1])
    settings = Settings(_env_file=None, embedding_model=spec["embedding_model"], models_dir=spec["models_dir"],
                        torch_threads=int(spec["torch_threads"]),
                        passage_precision=spec.get("passage_precision", "auto"))
    embedder = SentenceEmbedder(settings)
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        texts = json.loads(line)["texts"]
        buf = io.BytesIO()
        np.save(buf, embedder.passages(texts))
        data = buf.getvalue()
        out.write(struct.pack("<Q", len(data)) + data)
        out.flush()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stderr.flush()
    # every batch is written and flushed: skip the interpreter's teardown of torch and the model,
    # which kept the parent waiting ~1.3 s after the last batch (a build's end, a /reload)
    os._exit(code)
