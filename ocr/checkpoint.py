"""The one checkpoint format: a single .safetensors file.

    tensors   the model's state_dict (fp32, or fp16/bf16 for shipping; loaded back as fp32)
    metadata  "format": "ocr-recognizer/1"
              "config": ModelConfig as JSON (includes the charset)
              "meta":   training metadata as JSON (data mix, steps, images seen, metrics, parent)
              "sha256": digest of every tensor's name, dtype, shape and bytes, checked on load

The digest is an integrity check against truncation and accidental change, not a signature:
anyone who can write the file can write a matching digest. Trust a checkpoint as you trust its
source; loading it can never run code, but a hostile one can read badly.

Loading never executes code from the file: safetensors holds only tensors and strings, and
the model is rebuilt from the config with strict key and shape checks. Optimizer state for
resuming lives next to it in `<name>.train.pt`, loaded with `torch.load(weights_only=True)`.

Reading the header (`read_header`) and the weights as NumPy arrays (`load_arrays`, what a reading-only install
without PyTorch uses) does not import torch.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from typing import TYPE_CHECKING

import numpy as np
from safetensors import SafetensorError

from .config import ModelConfig

if TYPE_CHECKING:
    import torch

    from .model import Recognizer

FORMAT = "ocr-recognizer/1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, fails its integrity check, has an invalid config or does
    not match its model."""


def tensor_digest(tensors: dict) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes (in name order): a file's integrity check.
    tensors: torch tensors or NumPy arrays (the same digest for the same values, dtypes named as torch names them)."""
    h = hashlib.sha256()
    for k in sorted(tensors):
        t = tensors[k]
        if isinstance(t, np.ndarray):
            dtype, data = f"torch.{t.dtype.name}", np.ascontiguousarray(t).tobytes()
        else:
            import torch

            t = t.contiguous()
            dtype = str(t.dtype)
            data = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        h.update(f"{k}|{dtype}|{tuple(t.shape)}|".encode())
        h.update(data)
    return h.hexdigest()


def save_checkpoint(model: Recognizer, path: str | Path, meta: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write model + config + meta. dtype=torch.float16 halves the file for shipping."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if dtype is not None:
        sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
    header = {
        "format": FORMAT,
        "config": json.dumps(model.cfg.to_dict()),
        "meta": json.dumps(meta or {}, default=str),
        "sha256": tensor_digest(sd),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(sd, str(tmp), metadata=header)
    os.chmod(tmp, 0o644)  # readable like any shipped file (the writer may create it private)
    tmp.replace(path)  # atomic: a crash never leaves a half-written checkpoint under the real name
    return path


def update_meta(path: str | Path, **entries) -> Path:
    """Set entries of a checkpoint's meta in place (e.g. its measured "figures"); the tensors are copied
    unchanged, so their digest holds. Written atomically. Raises CheckpointError as load_checkpoint does."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = Path(path)
    _, meta, _ = _read_header(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            header = dict(f.metadata())
        sd = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is truncated or corrupt ({e})") from None
    if header.get("sha256") != tensor_digest(sd):
        raise CheckpointError(f"{path} failed its integrity check (weights changed after saving)")
    header["meta"] = json.dumps(dict(meta, **entries), default=str)
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(sd, str(tmp), metadata=header)
    os.chmod(tmp, 0o644)
    tmp.replace(path)
    return path


def record_figures(path: str | Path, figures: dict[str, dict[str, float]]) -> dict:
    """Merge what was measured for a checkpoint (set name -> reader -> %, e.g. {"SVT": {"greedy": 80.8}}) into its
    meta's "figures" (the demo's About draws them) -> all its figures now."""
    merged = dict(read_header(path)[1].get("figures") or {})
    for name, values in figures.items():
        merged[name] = dict(merged.get(name) or {}, **values)
    update_meta(path, figures=merged)
    return merged


def weights_digest(path: str | Path) -> str:
    """The digest of a checkpoint's tensors as stored in it (unchanged by `update_meta`)."""
    return _read_header(path)[2] or ""


def read_header(path: str | Path) -> tuple[ModelConfig, dict]:
    """(config, meta) of a checkpoint without building the model."""
    cfg, meta, _ = _read_header(path)
    return cfg, meta


def _read_header(path: str | Path) -> tuple[ModelConfig, dict, str | None]:
    """(config, meta, stored sha256)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="np") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path} is not a readable checkpoint ({e})") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an {FORMAT} checkpoint (format={header.get('format')!r})")
    try:
        raw = json.loads(header["config"])
        if not isinstance(raw, dict):
            raise ValueError("the config is not a JSON object")
        cfg = ModelConfig.from_dict(raw)
        meta = json.loads(header.get("meta", "{}"))
        if not isinstance(meta, dict):
            raise ValueError("the meta data is not a JSON object")
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path} has a broken config: {e}") from None
    return cfg, meta, header.get("sha256")


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> tuple[Recognizer, dict]:
    """-> (model in eval mode, fp32, meta). Raises CheckpointError on any problem."""
    from safetensors.torch import load_file

    from .model import Recognizer

    path = Path(path)
    cfg, meta, expected = _read_header(path)
    try:
        sd = load_file(str(path), device=map_location)
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path} is truncated or corrupt ({e})") from None
    if expected != tensor_digest({k: v.cpu() for k, v in sd.items()}):
        raise CheckpointError(f"{path} failed its integrity check (weights changed after saving)")
    try:
        model = Recognizer(cfg)
    except (ValueError, RuntimeError, TypeError) as e:  # validate() should have caught it; never a raw error
        raise CheckpointError(f"{path}: its config cannot build a model ({e})") from None
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(sd)), sorted(set(sd) - set(own))
    if missing or unexpected:
        raise CheckpointError(f"{path} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    bad = [k for k in own if own[k].shape != sd[k].shape]
    if bad:
        raise CheckpointError(f"{path}: shape mismatch for {bad[:5]}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in sd.items()}, strict=True)
    return model.eval(), meta


def load_arrays(path: str | Path) -> tuple[ModelConfig, dict, dict[str, np.ndarray]]:
    """-> (config, meta, the state dict as float32 NumPy arrays), checked like `load_checkpoint` but without
    PyTorch (what reading with ONNX Runtime needs). Raises CheckpointError on any problem."""
    from safetensors.numpy import load_file

    path = Path(path)
    cfg, meta, expected = _read_header(path)
    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(f"{path} is truncated, corrupt or not readable without PyTorch ({e})") from None
    if expected != tensor_digest(arrays):
        raise CheckpointError(f"{path} failed its integrity check (weights changed after saving)")
    return cfg, meta, {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in arrays.items()}


def average_checkpoints(paths: list[str | Path]) -> tuple[Recognizer, dict]:
    """Uniform mean of the weights of checkpoints of one config (e.g. the kept steps of one run).

    -> (averaged model in eval mode, the first checkpoint's meta). Floating tensors (weights and
    BatchNorm running statistics) are averaged in fp32; integer buffers (BatchNorm's batch counter)
    are taken from the first. Raises CheckpointError if a file cannot be loaded, fewer than two are
    given, or their configs differ.
    """
    import torch

    if len(paths) < 2:
        raise CheckpointError(f"averaging needs at least two checkpoints, got {len(paths)}")
    loaded = [load_checkpoint(p) for p in paths]
    (first, meta), rest = loaded[0], [m for m, _ in loaded[1:]]
    for path, m in zip(paths[1:], rest):
        if m.cfg != first.cfg:
            raise CheckpointError(f"{path} has a different config from {paths[0]}: only one model's checkpoints can be averaged")
    states = [first.state_dict()] + [m.state_dict() for m in rest]
    mean = {k: torch.stack([s[k].float() for s in states]).mean(0) if v.is_floating_point() else v
            for k, v in states[0].items()}
    first.load_state_dict(mean, strict=True)
    return first.eval(), meta


def load_train_state(path: str | Path) -> dict:
    """A `.train.pt` resume state (optimizer, counters, random state), loaded with `weights_only=True` so no code in
    the file can run; CheckpointError for a file that is not one (a pickle of anything else, a truncated file)."""
    import pickle

    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} is not a usable training state (refused, nothing in it was run): "
                              f"{first[:200]}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not a training state (a {type(state).__name__}, not a dict)")
    return state
