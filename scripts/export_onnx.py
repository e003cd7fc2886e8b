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

    python scripts/export_onnx.py data/models/words.safetensors --int8 REAL_CROPS

--int8 writes the recognizer's int8 encoder instead (".int8.onnx", `ocr.onnx_export.quantize_graph`), for CPUs with
VNNI, where `load_recognizer(precision="auto")` reads with it. Its activation ranges come from --calibration real
crops of a labelled folder (labels.tsv) or .tsv file, drawn with --seed; keep them apart from the images you will
measure on. Printed: how many readings of --check other crops of it (greedy, no word prior) equal the float
encoder's, and the encoder's time per image on one thread both ways.
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
    p.add_argument("--int8", metavar="CROPS", type=Path,
                   help="write the int8 encoder (.int8.onnx), calibrated on these labelled real crops "
                        "(a folder with labels.tsv, or a .tsv file)")
    p.add_argument("--calibration", type=int, default=1000, help="--int8: crops that set the ranges (default 1000)")
    p.add_argument("--check", type=int, default=500,
                   help="--int8: other crops read both ways to count equal readings (default 500; 0: none)")
    p.add_argument("--seed", type=int, default=0, help="--int8: which crops (default 0)")
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


def export_int8(path: Path, crops: Path, n_cal: int, n_check: int, seed: int) -> int:
    """Write and check the int8 encoder of one recognizer checkpoint (see --int8)."""
    import time

    import numpy as np
    import torch

    from ocr.checkpoint import CheckpointError, load_arrays
    from ocr.hardware import cpu_has_vnni
    from ocr.onnx_export import crop_files, int8_from_crops, prepared
    from ocr.onnx_reader import INT8, EncoderSession, OnnxReader, graph_path
    from ocr.recognizer import TextRecognizer, load_recognizer

    if not (crops / "labels.tsv" if crops.is_dir() else crops).is_file():
        print(f"error: no labelled crops at {crops} (a folder with labels.tsv, or a .tsv file)", file=sys.stderr)
        return 1
    torch.set_num_threads(1)
    out = graph_path(path, INT8)
    tmp = out.with_name(out.name + ".new")
    try:
        int8_from_crops(path, crops, n_cal, seed, out=tmp)
        fp32 = load_recognizer(path, precision="fp32", backend="torch", lm_weight=0)
    except (CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        tmp.unlink(missing_ok=True)
        return 1
    cfg, _, arrays = load_arrays(path)
    int8 = TextRecognizer(None, fp32.meta, reader=OnnxReader(cfg, arrays, EncoderSession(tmp), threads=1),
                          precision=INT8)
    same, n, times = 0, 0, {"float": [], "int8": []}
    for _, x in prepared(fp32, crop_files(crops, seed)[n_cal:n_cal + n_check], "checking"):
        readings = []
        for name, rec in (("float", fp32), ("int8", int8)):
            start = time.perf_counter()
            rec.reader.encode(x)
            times[name].append(time.perf_counter() - start)
            readings.append(rec.read_prepared(x)[0].text)
        same, n = same + (readings[0] == readings[1]), n + 1
    tmp.replace(out)
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB")
    if n:
        ms = {k: 1000 * float(np.median(v)) for k, v in times.items()}
        print(f"  {same} of {n} readings of other crops equal the float encoder's ({same / n:.1%}); encoder "
              f"{ms['float']:.2f} -> {ms['int8']:.2f} ms an image on this CPU "
              f"({'with' if cpu_has_vnni() else 'WITHOUT'} VNNI)")
    return 0


def main() -> int:
    args = build_parser().parse_args()
    if args.int8:
        status = 0
        for path in args.checkpoints:
            status |= export_int8(path, args.int8, args.calibration, args.check, args.seed)
        return status
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
