"""Reading without PyTorch: a checkpoint's encoder as an ONNX graph, run by ONNX Runtime, and its decoder in NumPy.

    reader = load_onnx_reader("data/models/words.safetensors")   # needs data/models/words.onnx beside it
    reader.greedy(images (N, C, H, W) float32)   # the interface of `ocr.decoding.Reader`

The graph is written by `scripts/export_onnx.py` (`ocr.onnx_export`) from the checkpoint: `Recognizer.encode`
(convolutions, row context, attention keys), images (N, C, H, W) -> feats (N, L, D), keys (N, L, A). It records
the digest of the checkpoint's tensors (the checkpoint's own "sha256"), and a graph made from other weights is
refused. The decoder's weights are read from the checkpoint itself (`ocr.checkpoint.load_arrays`), so the pair is
one model. `ocr.recognizer.load_recognizer` reads through this when torch is not installed (or with
backend="onnx"); with torch installed the serving model exports the same graph in memory instead
(`ocr.serving.OnnxEncoder`), so a checkpoint without its .onnx file still reads there.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .checkpoint import CheckpointError, load_arrays
from .config import ModelConfig
from .decoding import NumpyDecoder, Reader
from .tokenizer import Tokenizer

FORMAT = "ocr-onnx/1"   # the graph's metadata: "format", "checkpoint_sha256" (the weights it was made from),
INT8 = "int8"           # and "precision": absent for float graphs, INT8 for an int8 encoder (`ocr.onnx_export`)


def graph_path(checkpoint: str | Path, precision: str = "fp32") -> Path:
    """Where a checkpoint's ONNX graph lives: beside it, same name, ".onnx" (".int8.onnx" for its int8 encoder)."""
    path = Path(checkpoint)
    return path.with_suffix(".int8.onnx" if precision == INT8 else ".onnx")


class EncoderSession:
    """An ONNX graph run by ONNX Runtime on the CPU, one session per thread count (made when first asked for).

    graph: the model's bytes or a path. threads=None lets ONNX Runtime choose (one thread per physical core).
    """

    def __init__(self, graph: bytes | str | Path):
        import onnxruntime  # noqa: F401 - fail here, not at the first reading, when it is missing

        self.graph = graph if isinstance(graph, bytes) else str(graph)
        self._sessions: dict[int | None, object] = {}

    def session(self, threads: int | None = None):
        if threads not in self._sessions:
            import onnxruntime as ort

            so = ort.SessionOptions()
            if threads:
                so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            so.log_severity_level = 3
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no busy wait beside a training job
            self._sessions[threads] = ort.InferenceSession(self.graph, so, providers=["CPUExecutionProvider"])
        return self._sessions[threads]

    def metadata(self) -> dict[str, str]:
        return dict(self.session(None).get_modelmeta().custom_metadata_map)

    def run(self, inputs: dict[str, np.ndarray], threads: int | None = None) -> list[np.ndarray]:
        return self.session(threads).run(None, inputs)


class OnnxReader(Reader):
    """A checkpoint read without PyTorch: the encoder by ONNX Runtime, the decoder in NumPy."""

    engine = "onnxruntime"

    def __init__(self, cfg: ModelConfig, arrays: dict[str, np.ndarray], graph: EncoderSession | bytes | str | Path,
                 threads: int | None = None):
        """cfg, arrays: the checkpoint's config and weights (`load_arrays`); graph: its encoder (`open_graph`, or
        the graph itself); threads: ONNX Runtime's intra-op threads (None: its default)."""
        self.cfg = cfg
        self.tokenizer = Tokenizer(cfg.charset)
        self.decoder = NumpyDecoder(arrays, cfg)
        self.encoder = graph if isinstance(graph, EncoderSession) else EncoderSession(graph)
        self.threads = threads

    def encode(self, images) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(np.asarray(images, dtype=np.float32))
        feats, keys = self.encoder.run({"images": x}, self.threads)
        return feats, keys


def open_graph(checkpoint: str | Path, digest: str | None, precision: str = "fp32") -> EncoderSession:
    """The ONNX graph beside a checkpoint (`graph_path`; precision "int8": its int8 encoder), checked to be made
    from weights of this digest (the checkpoint's "sha256"). CheckpointError when it is missing, unreadable or made
    from other weights."""
    path = Path(checkpoint)
    onnx_file = graph_path(path, precision)
    int8 = precision == INT8
    again = (f"python scripts/export_onnx.py {path} --int8 CROPS" if int8 else f"python scripts/export_onnx.py {path}")
    if not onnx_file.is_file():
        need = "reading in int8 needs" if int8 else "reading without PyTorch needs"
        raise CheckpointError(f"{onnx_file} not found: {need} {path.name}'s network as ONNX (make it with: {again})")
    try:
        session = EncoderSession(onnx_file)
        info = session.metadata()
    except ImportError as e:
        raise CheckpointError(f"reading from ONNX needs ONNX Runtime: pip install onnxruntime ({e})") from None
    except Exception as e:  # noqa: BLE001 - ONNX Runtime raises its own exception types for a bad file
        raise CheckpointError(f"{onnx_file} is not a readable ONNX graph: {str(e).splitlines()[0][:200]}") from None
    if info.get("format") != FORMAT or info.get("checkpoint_sha256") != digest:
        raise CheckpointError(f"{onnx_file} was not made from {path.name}'s weights: export it again ({again})")
    if (info.get("precision") == INT8) != int8:
        raise CheckpointError(f"{onnx_file} is not {'an int8' if int8 else 'a float'} graph: export it again ({again})")
    return session


def load_onnx_reader(checkpoint: str | Path, threads: int | None = None, precision: str = "fp32"
                     ) -> tuple[OnnxReader, dict]:
    """A checkpoint and its ONNX graph (`open_graph`; precision "fp32" or "int8") -> (OnnxReader, the checkpoint's
    meta). CheckpointError when either is missing or broken, or the graph was made from other weights."""
    from .checkpoint import weights_digest

    path = Path(checkpoint)
    cfg, meta, arrays = load_arrays(path)
    session = open_graph(path, weights_digest(path), precision)
    return OnnxReader(cfg, arrays, session, threads), meta
