"""Exporting the networks that read to ONNX, for ONNX Runtime (needs torch and onnx).

    encoder_graph(model)                -> bytes: `Recognizer.encode`, images (N, C, H, W) -> feats, keys
    finder_graph(finder)                -> bytes: `NumberFinder`, images (N, 3, SIZE, SIZE) -> out (N, 5, G, G)
    write_graph(checkpoint)             -> the .onnx file beside it (`ocr.onnx_reader.graph_path`)
    quantize_graph(graph, images)       -> bytes: an encoder graph with int8 convolutions, calibrated on images
    write_int8_graph(checkpoint, images) -> the .int8.onnx file beside it (`graph_path(checkpoint, "int8")`)
    int8_from_crops(checkpoint, tsv)    -> the same, calibrated on labelled real crops (INT8_CROPS of them)

A written graph records the digest of the checkpoint's tensors, so a reader can refuse a graph made from other
weights. It keeps the checkpoint's values unfolded (BatchNorm as its own node) and stores every weight that float16
holds exactly in float16 (the shipped recognizers hold float16 weights, so the file halves), with a Cast to
float32; ONNX Runtime folds both when it loads the graph.

The int8 graph is for CPUs with VNNI (`ocr.hardware.cpu_has_vnni`): static quantization by ONNX Runtime of the
encoder with BatchNorm folded, convolution weights per output channel (s8), activations u8 with ranges from real
crops (the 99.99th percentile of each), the first convolution (on raw pixels) left in float32. The row-context LSTM
and the attention keys stay float32.
"""
from __future__ import annotations

import contextlib
import copy
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .onnx_reader import FORMAT, INT8, graph_path


class _Encode(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor):
        return self.model.encode(images)


def _export(module: nn.Module, shape: tuple[int, ...], outputs: list[str], fold: bool = True) -> bytes:
    buf = io.BytesIO()
    module = copy.deepcopy(module).float().eval()
    axes = {name: {0: "n"} for name in ["images", *outputs]}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's notes on the TorchScript path and on batch_first LSTMs
        torch.onnx.export(module, (torch.zeros(*shape),), buf, input_names=["images"], output_names=outputs,
                          dynamic_axes=axes, opset_version=17, dynamo=False,
                          do_constant_folding=fold)
    return buf.getvalue()


def encoder_graph(model, fold: bool = True) -> bytes:
    """A `Recognizer`'s encode (in eval mode, fp32) as an ONNX graph. fold=False keeps each BatchNorm as its own
    node with the checkpoint's values (ONNX Runtime folds it into the convolution when it loads the graph), so
    the weights stay exactly as stored."""
    cfg = model.cfg
    return _export(_Encode(model), (1, cfg.channels, cfg.img_h, cfg.img_w), ["feats", "keys"], fold)


def finder_graph(finder, fold: bool = True) -> bytes:
    """A `NumberFinder` as an ONNX graph (fold as for `encoder_graph`)."""
    from .numbers import SIZE
    return _export(finder, (1, 3, SIZE, SIZE), ["out"], fold)


def compact(graph: bytes, metadata: dict[str, str]) -> bytes:
    """The graph with every float32 weight that float16 holds exactly stored as float16 (and cast back to float32
    in the graph), and `metadata` added to it."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(graph)
    g = model.graph
    casts, kept = [], []
    for init in g.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32 and a.size >= 16 and np.array_equal(a.astype(np.float16).astype(np.float32), a):
            half = numpy_helper.from_array(a.astype(np.float16), init.name + "_fp16")
            kept.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT))
        else:
            kept.append(init)
    del g.initializer[:]
    g.initializer.extend(kept)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model.SerializeToString()


def write_graph(checkpoint: str | Path, out: str | Path | None = None) -> Path:
    """Export a recognizer or number-finder checkpoint's network to `out` (default: beside it, .onnx), written
    atomically. Raises CheckpointError for a file that is neither."""
    from .checkpoint import FORMAT as RECOGNIZER, CheckpointError, load_checkpoint, weights_digest
    from .finder import FORMAT as FINDER, load_finder
    from safetensors import safe_open

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise CheckpointError(f"checkpoint not found: {checkpoint}")
    try:
        with safe_open(str(checkpoint), framework="np") as f:
            header = f.metadata() or {}
    except Exception as e:  # noqa: BLE001 - safetensors' errors for a file that is not one
        raise CheckpointError(f"{checkpoint} is not a readable checkpoint ({e})") from None
    if header.get("format") == RECOGNIZER:
        model, _ = load_checkpoint(checkpoint)
        graph, digest = encoder_graph(model, fold=False), weights_digest(checkpoint)
    elif header.get("format") == FINDER:
        finder, _ = load_finder(checkpoint)
        graph, digest = finder_graph(finder, fold=False), header["sha256"]
    else:
        raise CheckpointError(f"{checkpoint} is neither a recognizer nor a number finder "
                              f"(format {header.get('format')!r})")
    if out is None:
        _drop_stale_int8(checkpoint, digest)
    out = Path(out) if out else graph_path(checkpoint)
    return _write(out, compact(graph, {"format": FORMAT, "checkpoint_sha256": digest, "source": checkpoint.name}))


def _drop_stale_int8(checkpoint: Path, digest: str) -> None:
    """Remove an int8 graph beside the checkpoint that was made from other weights (a checkpoint replaced in place,
    e.g. promoted): it would only be refused. Its calibration needs real crops: `scripts/export_onnx.py --int8`."""
    from .onnx_reader import EncoderSession

    path = graph_path(checkpoint, INT8)
    if not path.is_file():
        return
    try:
        stale = EncoderSession(path).metadata().get("checkpoint_sha256") != digest
    except Exception:  # noqa: BLE001 - an unreadable graph is as useless as a stale one
        stale = True
    if stale:
        path.unlink()
        warnings.warn(f"removed {path.name}, made from other weights than {checkpoint.name}'s (make a new one with "
                      f"scripts/export_onnx.py {checkpoint} --int8 CROPS)", stacklevel=3)


def _write(out: Path, data: bytes) -> Path:
    """data written to out atomically (a temporary file beside it, then renamed)."""
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o644)
    tmp.replace(out)
    return out


def quantize_graph(graph: bytes, images) -> bytes:
    """An fp32 encoder graph (`encoder_graph(model)`, BatchNorm folded) with its convolutions but the first in int8
    (QDQ: quantize / dequantize pairs that ONNX Runtime fuses into integer convolutions). images: an iterable of
    (1, C, H, W) float32 arrays, the recognizer's input for real crops (`TextRecognizer.prepare`); a few hundred
    set the activation ranges. Needs the onnx package."""
    import tempfile

    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.it = iter(images)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"images": np.ascontiguousarray(x, dtype=np.float32)}

    with tempfile.TemporaryDirectory() as tmp:
        src, pre, out = (os.path.join(tmp, n) for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        Path(src).write_bytes(graph)
        quant_pre_process(src, pre)
        convs = [n.name for n in onnx.load(pre).graph.node if n.op_type == "Conv"]
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")  # its advice to pre-process (done); and its calibrator prints
            quantize_static(pre, out, Batches(), quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=False,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            op_types_to_quantize=["Conv"], nodes_to_exclude=convs[:1],
                            calibrate_method=CalibrationMethod.Percentile, extra_options={"CalibPercentile": 99.99})
        return Path(out).read_bytes()


def write_int8_graph(checkpoint: str | Path, images, calibration: str = "", out: str | Path | None = None) -> Path:
    """A recognizer checkpoint's encoder in int8 (`quantize_graph`, calibrated on images) written to `out` (default:
    beside it, ".int8.onnx"), recording the checkpoint's weights digest and `calibration` (what the images were)."""
    from .checkpoint import load_checkpoint, weights_digest

    checkpoint = Path(checkpoint)
    model, _ = load_checkpoint(checkpoint)
    graph = quantize_graph(encoder_graph(model, fold=True), images)
    meta = {"format": FORMAT, "checkpoint_sha256": weights_digest(checkpoint), "source": checkpoint.name,
            "precision": INT8, "calibration": calibration}
    return _write(Path(out) if out else graph_path(checkpoint, INT8), compact(graph, meta))


INT8_CROPS = 1000   # real crops that set an int8 encoder's activation ranges


def crop_files(tsv: str | Path, seed: int = 0) -> list[Path]:
    """The image files a labels .tsv (or a folder with labels.tsv) lists, shuffled by seed."""
    import random

    from .training.datasets.labels import read_labels_tsv

    tsv = Path(tsv)
    tsv = tsv / "labels.tsv" if tsv.is_dir() else tsv
    files = [f for f, _ in read_labels_tsv(tsv)]
    random.Random(seed).shuffle(files)
    return files


def prepared(recognizer, files, desc: str = "crops"):
    """(file, recognizer.prepare(image)) for each readable image of files, with a progress bar; unreadable ones are
    skipped."""
    from PIL import Image
    from tqdm import tqdm

    for f in tqdm(files, desc=desc, unit="crop", leave=False):
        try:
            yield f, recognizer.prepare(Image.open(f))
        except (OSError, ValueError):
            continue


def int8_from_crops(checkpoint: str | Path, tsv: str | Path, count: int = INT8_CROPS, seed: int = 0,
                    out: str | Path | None = None) -> Path:
    """`write_int8_graph` calibrated on `count` crops of a labels .tsv (or folder), drawn with seed (`crop_files`).
    ValueError when it lists fewer than 50."""
    from .recognizer import load_recognizer

    files = crop_files(tsv, seed)
    if len(files) < 50:
        raise ValueError(f"{tsv} lists {len(files)} crops; calibrating an int8 encoder needs at least 50")
    rec = load_recognizer(checkpoint, precision="fp32", backend="torch", lm_weight=0)
    name = Path(tsv).name if Path(tsv).is_dir() else f"{Path(tsv).parent.name}/{Path(tsv).name}"
    return write_int8_graph(checkpoint, (x for _, x in prepared(rec, files[:count], "calibrating")), out=out,
                            calibration=f"{min(count, len(files))} crops of {name}, seed {seed}, percentile 99.99")
