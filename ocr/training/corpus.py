"""Pre-rendered synthetic corpora: the engine's samples written once to LMDB shards, so that
training spends both cores on the network instead of on rendering.

Layout of a corpus folder:

    OUT/corpus.json      what it is: task, engine, seed, shard size, image size, font count
                         (and the count and rate of added fonts, when there are any)
    OUT/shard-00000/     an LMDB (`ocr.training.datasets.lmdb_io` layout) of samples [0, shard_size)
    OUT/shard-00001/     samples [shard_size, 2 * shard_size), ...

Sample i of a corpus is `engine(seed)[i]` stored as the PNG of `network_image` (32x128 grey for
words, 64x64 RGB for digits), so `preprocess` gives exactly the tensor the live engine would.
A corpus is re-created from its seed at any time and is never committed. Writing is resumable:
a shard is written to `shard-XXXXX.part` and renamed when complete, and a new call with the
same settings renders only the shards that are missing. Several processes render; the parent
only writes.
"""
from __future__ import annotations

import io
import json
import multiprocessing
import shutil
from pathlib import Path

from torch.utils.data import ConcatDataset
from tqdm import tqdm

from ..config import ModelConfig, preset
from .datasets.labels import FilterReport
from ..preprocess import network_image

CHUNK = 250  # samples a worker renders per task
_SYNTH = None  # the engine of a worker process


def make_engine(task: str, seed: int, engine: str, fonts: tuple[str, ...] | None = None,
                added_fonts: tuple[str, ...] = (), added_rate: float = 0.4):
    """The synthetic dataset of a task: WordSynth (words) or DigitSynth (digits); added fonts
    (trusted text fonts drawn for `added_rate` of the words, see `ocr.synth.FontPicker`) are for words."""
    from ..synth import DigitSynth, WordSynth

    cfg = preset(task)
    if task == "words":
        return WordSynth(cfg.charset, fonts=fonts, seed=seed, max_len=cfg.max_len, engine=engine,
                         added_fonts=added_fonts, added_rate=added_rate)
    if added_fonts:
        raise ValueError("added fonts are for the words engine only")
    return DigitSynth(fonts=fonts, seed=seed, max_len=cfg.max_len)


def corpus_config(task: str, img_w: int | None = None) -> ModelConfig:
    """The task's preset, with another input width for words when asked (e.g. 192 for `ocr.training.widen.reshape_input`)."""
    import dataclasses

    cfg = preset(task)
    if img_w and img_w != cfg.img_w:
        if cfg.resize_h:
            raise ValueError("another input width is for words models only")
        cfg = dataclasses.replace(cfg, img_w=int(img_w)).validate()
    return cfg


def _init_worker(task, seed, engine, fonts, added_fonts, added_rate, img_w=None):
    global _SYNTH
    _SYNTH = (make_engine(task, seed, engine, fonts, added_fonts, added_rate), corpus_config(task, img_w))


def _render(span: tuple[int, int]) -> list[tuple[bytes, str]]:
    synth, cfg = _SYNTH
    out = []
    for i in range(*span):
        img, text = synth[i]
        buf = io.BytesIO()
        network_image(img, cfg).save(buf, "PNG", compress_level=1)
        out.append((buf.getvalue(), text))
    return out


def _describe(task: str, seed: int, engine: str, shard_size: int, fonts, added_fonts=(), added_rate=0.4,
              img_w: int | None = None) -> dict:
    cfg = corpus_config(task, img_w)
    size = (cfg.resize_w, cfg.resize_h) if cfg.resize_h else (cfg.img_w, cfg.img_h)
    desc = {"task": task, "engine": engine, "seed": seed, "shard_size": shard_size,
            "image_size": list(size), "channels": cfg.channels, "fonts": len(fonts)}
    if added_fonts:  # only then, so that corpora made before the option still resume
        desc.update(added_fonts=len(added_fonts), added_rate=added_rate)
    return desc


def shard_dir(out: Path, k: int) -> Path:
    return out / f"shard-{k:05d}"


def prerender(task: str, out: str | Path, images: int, seed: int = 0, engine: str = "v6",
              shard_size: int = 50_000, workers: int = 1, fonts: tuple[str, ...] | None = None,
              added_fonts: tuple[str, ...] = (), added_rate: float = 0.4, progress: bool = True,
              img_w: int | None = None) -> dict:
    """Render samples [0, images) of the task's engine into OUT (see module doc); resumable.

    Returns {"shards": complete shards, "rendered": samples rendered by this call}.
    Raises ValueError if OUT holds a corpus made with other settings.
    """
    import lmdb

    from ..synth.fonts import find_fonts

    out = Path(out)
    if fonts is None:
        import string
        fonts = find_fonts(required=string.digits if task == "digits" else string.ascii_letters + string.digits)
    desc = _describe(task, seed, engine, shard_size, fonts, added_fonts, added_rate, img_w)
    meta_path = out / "corpus.json"
    if meta_path.is_file():
        old = json.loads(meta_path.read_text())
        if any(old.get(k) != desc.get(k) for k in set(desc) | set(old)):
            raise ValueError(f"{out} holds a corpus made with other settings: {old} (asked for {desc})")
    out.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(desc, indent=1))
    n_shards = -(-images // shard_size)
    todo = [k for k in range(n_shards) if not shard_dir(out, k).is_dir()]
    spans = [(s, min(s + CHUNK, (k + 1) * shard_size)) for k in todo
             for s in range(k * shard_size, (k + 1) * shard_size, CHUNK)]
    rendered = 0
    bar = tqdm(total=len(todo) * shard_size, desc=f"rendering {out.name}", unit="img", disable=not progress,
               dynamic_ncols=True)
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers, _init_worker, (task, seed, engine, fonts, added_fonts, added_rate, img_w)) as pool:
        results = pool.imap(_render, spans)
        for k in todo:
            part = out / f"shard-{k:05d}.part"
            shutil.rmtree(part, ignore_errors=True)
            env = lmdb.open(str(part), map_size=1 << 36)
            idx = 0
            while idx < shard_size:
                chunk = next(results)
                with env.begin(write=True) as txn:
                    for data, text in chunk:
                        idx += 1
                        txn.put(b"image-%09d" % idx, data)
                        txn.put(b"label-%09d" % idx, text.encode("utf-8"))
                bar.update(len(chunk))
            with env.begin(write=True) as txn:
                txn.put(b"num-samples", str(idx).encode())
            env.close()
            part.rename(shard_dir(out, k))
            rendered += idx
    bar.close()
    done = sum(1 for k in range(n_shards) if shard_dir(out, k).is_dir())
    return {"shards": done, "rendered": rendered}


def corpus_dataset(path: str | Path, cfg: ModelConfig | None = None):
    """The complete shards of a corpus folder as one (PNG bytes, label) dataset, in index order."""
    from .datasets.lmdb_io import LmdbDataset

    path = Path(path)
    meta_path = path / "corpus.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"no corpus at {path} (expected corpus.json; make one with scripts/prerender.py)")
    shards = sorted(p for p in path.glob("shard-[0-9][0-9][0-9][0-9][0-9]") if p.is_dir())
    if not shards:
        raise ValueError(f"{path} has no complete shard yet")
    meta = json.loads(meta_path.read_text())
    if cfg is not None:
        want = [cfg.resize_w, cfg.resize_h] if cfg.resize_h else [cfg.img_w, cfg.img_h]
        if meta.get("image_size") and list(meta["image_size"]) != want:
            raise ValueError(f"{path} holds {meta['image_size'][0]}x{meta['image_size'][1]} images; this model reads "
                             f"{want[0]}x{want[1]} (render a corpus for it: scripts/prerender.py --img-w)")
    parts = [LmdbDataset(p, cfg=cfg) for p in shards]
    ds = ConcatDataset(parts)
    ds.name = f"corpus:{path}"
    ds.meta = meta
    ds.synthetic = True  # the trainer adds no augmentation for real photos to it
    ds.report = FilterReport()
    for p in parts:
        ds.report.add(p.report)
    return ds
