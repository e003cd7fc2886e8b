#!/usr/bin/env python
"""Export checkpoints' networks to ONNX, for reading without PyTorch.

    python scripts/export_onnx.py data/models/words.safetensors data/models/digits.safetensors \\
        data/models/numbers.safetensors

Each file gets its .onnx beside it (same name): a recognizer's encoder (`Recognizer.encode`: images -> features,
attention keys) or the number finder's network. The reading-only install (requirements-read.txt, no torch) reads
with these and the checkpoints' own decoder weights (`ocr.onnx_reader`); a graph records the digest of the
weights it was made from, and a reader refuses one that does not match, so export again after changing a
checkpoint. The export is checked: the ONNX graph's outputs must equal PyTorch's on random inputs to --tolerance
(relative), else nothing is written (exit 1).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", type=Path, nargs="+", help="recognizer or number-finder checkpoints (.safetensors)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest relative difference from PyTorch's outputs accepted (default 1e-4)")
    return p


def check(path: Path, graph: bytes, tolerance: float) -> float:
    """The largest relative difference between the graph's outputs and PyTorch's, on 4 random inputs."""
    import numpy as np
    import torch
    from safetensors import safe_open

    from ocr.checkpoint import FORMAT, load_checkpoint
    from ocr.finder import load_finder
    from ocr.onnx_reader import EncoderSession

    with safe_open(str(path), framework="np") as f:
        recognizer = (f.metadata() or {}).get("format") == FORMAT
    if recognizer:
        model, _ = load_checkpoint(path)
        shape, run = (4, model.cfg.channels, model.cfg.img_h, model.cfg.img_w), model.encode
    else:
        model, _ = load_finder(path)
        shape, run = (4, 3, 128, 128), lambda x: (model(x),)
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    with torch.no_grad():
        want = [t.numpy() for t in run(torch.from_numpy(x))]
    got = EncoderSession(graph).run({"images": x}, 1)
    return max(float(np.abs(g - w).max() / max(1e-6, np.abs(w).max())) for g, w in zip(got, want))


def main() -> int:
    args = build_parser().parse_args()
    from ocr.checkpoint import CheckpointError
    from ocr.onnx_export import write_graph
    from ocr.onnx_reader import graph_path

    status = 0
    for path in args.checkpoints:
        out = graph_path(path)
        tmp = out.with_name(out.name + ".new")
        try:
            write_graph(path, tmp)
            diff = check(path, tmp.read_bytes(), args.tolerance)
        except CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            tmp.unlink(missing_ok=True)
            status = 1
            continue
        if diff > args.tolerance:
            print(f"error: {out}: the graph's outputs differ from PyTorch's by {diff:.2e} (relative) > "
                  f"{args.tolerance:g}; not written", file=sys.stderr)
            tmp.unlink()
            status = 1
            continue
        tmp.replace(out)
        print(f"{out}: {out.stat().st_size / 1e6:.1f} MB, outputs within {diff:.1e} of PyTorch's")
    return status


if __name__ == "__main__":
    sys.exit(main())
