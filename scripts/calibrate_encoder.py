#!/usr/bin/env python3
"""Measure the activation ranges the int8 query encoder is smoothed with (bot/data/encoder_calibration.npz).

Dynamic int8 quantization gives every matrix product's input one scale for all of its values, so a
few input channels with large values (the input of each feed-forward block's second layer above
all) leave little precision for the rest. SmoothQuant (Xiao et al., 2023) moves part of that range
into the weights: input channel j is divided by s_j and the weights' row j multiplied by it, with
s_j = max|x_j|^alpha / max|w_j|^(1 - alpha). This script measures max|x_j| for every linear layer
of the encoder, running the full-precision model over questions that are neither dev questions nor
benchmark test questions: by default the questions of iapp-wiki-qa's validation split (the split
the fusion weights were tuned on). No answer or label is used, only the questions' text.

The result is committed with the project, so the export at set-up (``bot.onnx_encoder``) needs
neither this data nor the network. Run it again only when the model changes.

    .venv/bin/python scripts/calibrate_encoder.py [--questions FILE.json] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.onnx_encoder import CALIBRATION_FILE, QUERY_PREFIX  # noqa: E402


def squad_questions(path: Path) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return [qa["question"] for article in data["data"] for para in article["paragraphs"] for qa in para["qas"]]


def activation_maxima(model_dir: Path, texts: list[str], batch: int = 16) -> dict[str, np.ndarray]:
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    layers = {name: m for name, m in model.named_modules()
              if isinstance(m, torch.nn.Linear) and name.startswith("encoder.")}
    maxima = {name: torch.zeros(m.in_features) for name, m in layers.items()}
    real = torch.ones(0, dtype=torch.bool)  # the batch's real tokens (padding left out)

    def hook(name):
        def record(_module, inputs, _output):
            x = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1])[real]
            maxima[name] = torch.maximum(maxima[name], x.amax(0))
        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in layers.items()]
    try:
        with torch.no_grad():
            for i in range(0, len(texts), batch):
                enc = tokenizer([QUERY_PREFIX + t for t in texts[i:i + batch]], padding=True,
                                truncation=True, max_length=512, return_tensors="pt")
                real = enc["attention_mask"].reshape(-1).bool()
                model(**enc)
    finally:
        for h in handles:
            h.remove()
    return {name: v.numpy().astype(np.float32) for name, v in maxima.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--questions", type=Path,
                    default=ROOT.parent / "shared" / "data" / "iapp-wiki-qa" / "iapp-valid.squad.json")
    ap.add_argument("--out", type=Path, default=ROOT / "bot" / "data" / CALIBRATION_FILE)
    args = ap.parse_args()
    from bot.embedder import ensure_default_model

    texts = squad_questions(args.questions)
    maxima = activation_maxima(ensure_default_model(Settings()), texts)
    np.savez_compressed(args.out, **maxima)
    print(f"{args.out}: {len(maxima)} layers from {len(texts)} questions of {args.questions.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
