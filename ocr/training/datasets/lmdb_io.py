"""Scene-text LMDB datasets (the layout of clovaai's create_lmdb_dataset.py, read by PARSeq).

Keys: b"num-samples" -> count as ASCII; b"image-%09d" -> encoded image bytes; b"label-%09d" ->
UTF-8 label; indices count from 1.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image
from torch.utils.data import Dataset
from tqdm import tqdm

from ...config import ModelConfig
from .labels import FilterReport


_ENVS: dict = {}


class LmdbDataset(Dataset):
    """(image bytes, label) from an LMDB; the environment is opened lazily in each worker."""

    def __init__(self, path: str | Path, cfg: ModelConfig | None = None):
        self.path = str(path)
        if not Path(self.path).exists():
            raise FileNotFoundError(f"no LMDB at {self.path}")
        import lmdb
        # read the labels with an environment of its own, closed again: an environment left open here
        # would be inherited by DataLoader workers (fork), where lmdb refuses to open the path again
        cached = _ENVS.get((os.path.realpath(self.path), os.getpid()))
        env = cached or lmdb.open(self.path, readonly=True, lock=False, readahead=False, meminit=False)
        try:
            with env.begin() as txn:
                raw = txn.get(b"num-samples")
                if raw is None:
                    raise ValueError(f"{self.path} has no 'num-samples' key: not a scene-text LMDB")
                n = int(raw)
                self.report = FilterReport()
                self.keys = []
                for i in range(1, n + 1):
                    raw = txn.get(b"label-%09d" % i)
                    label = self.report.keep(None if raw is None else raw.decode("utf-8", errors="replace"), cfg)
                    if label is not None:
                        self.keys.append((i, label))
        finally:
            if cached is None:
                env.close()
        self._env = None

    def _open(self):
        """One read-only environment per path and process (lmdb refuses to open a path twice)."""
        import lmdb
        key = (os.path.realpath(self.path), os.getpid())
        if key not in _ENVS:
            _ENVS[key] = lmdb.open(self.path, readonly=True, lock=False, readahead=False, meminit=False,
                                   max_readers=64)
        return _ENVS[key]

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, i: int):
        if self._env is None:
            self._env = self._open()
        idx, label = self.keys[i]
        with self._env.begin() as txn:
            data = txn.get(b"image-%09d" % idx)
        return (bytes(data) if data is not None else b""), label

    def __getstate__(self):
        d = dict(self.__dict__)
        d["_env"] = None
        return d


def _encode(src) -> bytes:
    if isinstance(src, (bytes, bytearray)):
        return bytes(src)
    if isinstance(src, (str, Path)):
        return Path(src).read_bytes()
    if isinstance(src, Image.Image):
        buf = io.BytesIO()
        src.save(buf, "PNG")
        return buf.getvalue()
    raise TypeError(f"cannot store a {type(src).__name__}")


def write_lmdb(dataset, out: str | Path, limit: int | None = None, map_size: int = 1 << 40,
               progress: bool = True) -> dict:
    """Write (image, label) samples to a new LMDB. Unreadable sources are skipped and counted."""
    import lmdb

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    env = lmdb.open(str(out), map_size=map_size)
    written = skipped = 0
    txn = env.begin(write=True)
    for i in tqdm(range(n), desc=f"writing {out.name}", disable=not progress, unit="img"):
        src, label = dataset[i]
        try:
            data = _encode(src)
        except (OSError, TypeError):
            data = b""
        if not data or label is None:
            skipped += 1
            continue
        written += 1
        txn.put(b"image-%09d" % written, data)
        txn.put(b"label-%09d" % written, label.encode("utf-8"))
        if written % 1000 == 0:
            txn.commit()
            txn = env.begin(write=True)
    txn.put(b"num-samples", str(written).encode())
    txn.commit()
    env.close()
    return {"written": written, "skipped": skipped}
