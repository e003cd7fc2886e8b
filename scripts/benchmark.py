#!/usr/bin/env python
"""Speed of both presets on this machine, printed as a table.

For each model: median milliseconds to read one image (1 and 2 torch threads, fp32 and bf16
autocast), batched images/s (batch 32), and training images/s (batch 64, fp32 and bf16 +
channels_last). Uses the shipped models and synthetic images of each task, so decoding runs
for realistic text lengths.

    python scripts/benchmark.py                   # both presets
    python scripts/benchmark.py --models words --repeats 50
    python scripts/benchmark.py --models words --beam-width 1 5 --skip-train   # greedy vs beam search
    python scripts/benchmark.py --models words --baseline tesseract --views 5 \\
        --images folder:../shared/data/real/dev/iiit5k_test      # against Tesseract, with test-time views
    python scripts/benchmark.py --photos 20     # whole 1280x960 photos with 10 words: find and read them all
    python scripts/benchmark.py --while-training 20   # the page's photo reading, idle and while a training job runs
"""
from __future__ import annotations

import os

# NumPy (the serving decoder) must not add BLAS threads of its own: "1 thread" rows are one thread.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import statistics
import sys
import time
from ocr.cli import add_lm_option
from ocr.config import preset
from ocr.settings import data_dir
from ocr.views import MAX_VIEWS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=["words", "digits"], help="'words', 'digits' or checkpoint paths")
    p.add_argument("--repeats", type=int, default=30, help="single-image reads per setting (median reported)")
    p.add_argument("--skip-train", action="store_true", help="skip the training-throughput rows")
    p.add_argument("--beam-width", type=int, nargs="+", default=[1],
                   help="decoding widths timed on single images (1 = greedy, the default; e.g. 1 5)")
    p.add_argument("--baseline", choices=("tesseract",),
                   help="time single-image reading against Tesseract 5 (tesserocr), interleaved, 1 and 2 threads")
    p.add_argument("--images", default=None,
                   help="dataset spec of real word images for --baseline (default: the shipped word examples), "
                        "e.g. folder:../shared/data/real/dev/iiit5k_test")
    p.add_argument("--count", type=int, default=300, help="images for --baseline (default 300)")
    p.add_argument("--views", type=int, default=1, choices=range(1, MAX_VIEWS + 1), metavar="N",
                   help="with --baseline, also time the bf16 reader with N test-time views (ocr.views; "
                             "default 1: not)")
    add_lm_option(p)
    p.add_argument("--photos", type=int, default=0, metavar="N",
                   help="time reading N whole 1280x960 photos of 10 words each (detection and reading) instead")
    p.add_argument("--while-training", type=int, default=0, metavar="N",
                   help="time N photo readings as the page reads them, idle and while a training job runs")
    return p


if __name__ == "__main__":  # --help and bad flags answer before torch is loaded
    build_parser().parse_known_args()

import torch  # noqa: E402
from ocr import TextRecognizer, load_recognizer  # noqa: E402
from ocr.model import Recognizer  # noqa: E402
from ocr.hardware import cpu_has_bf16, cpu_has_vnni  # noqa: E402
from ocr.onnx_reader import graph_path  # noqa: E402
from ocr.synth import DigitSynth, WordSynth  # noqa: E402


def samples(rec, n):
    synth = WordSynth(rec.cfg.charset, seed=123) if rec.cfg.name != "digits" else DigitSynth(seed=123)
    return [synth[i] for i in range(n)]


def time_single(rec, images, threads, bf16, repeats, beam_width=1):
    torch.set_num_threads(threads)
    times = []
    for i in range(repeats + 3):
        x = images[i % len(images)]
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            rec.read(x, beam_width=beam_width, views=1)
        if i >= 3:
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def time_batch(rec, images, threads, bf16, batch=32, rounds=3):
    torch.set_num_threads(threads)
    xs = (images * (batch // len(images) + 1))[:batch]
    rec.read(xs, batch_size=batch, fast=True)
    t = time.perf_counter()
    for _ in range(rounds):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            rec.read(xs, batch_size=batch, fast=True)
    return batch * rounds / (time.perf_counter() - t)


def time_train(cfg, images, threads, bf16, batch=64, steps=4):
    torch.set_num_threads(threads)
    m = Recognizer(cfg).train()
    opt = torch.optim.AdamW(m.parameters(), 1e-3)
    from ocr.preprocess import preprocess
    pairs = (images * (batch // len(images) + 1))[:batch]
    x = torch.stack([preprocess(im, cfg) for im, _ in pairs])
    y = m.tokenizer.encode([t for _, t in pairs])
    if bf16:
        m = m.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    for i in range(steps + 1):
        if i == 1:
            t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = m.loss(m(x, y), y)
        opt.zero_grad(); loss.backward(); opt.step()
    return batch * steps / (time.perf_counter() - t)


def tesseract_reader():
    """Tesseract 5 (tesserocr, in-process, single-line) limited to one OpenMP thread, or SystemExit."""
    import os
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # read by libtesseract when it loads
    from ocr.training.baselines import Tesseract
    return Tesseract()


def versus_tesseract(rec, images, threads_list=(1, 2), beams=(1, 5), views=1):
    """Median ms per single image, ours (the serving path at each beam width with an fp32, an int8 (where the
    checkpoint has its int8 graph) and a bf16 encoder, with views > 1 also the bf16 one reading test-time views, the model's own reading settings as the
    demo reads, the training model greedy, and the reading-only install's path when the checkpoint has its ONNX graph)
    and Tesseract's, interleaved image by image so all see the same machine load. With views the time
    per image is uneven (only unsure readings are read again): the CPU column is a mean.
    -> rows (threads, name, median wall ms, ratio to Tesseract, mean wall ms, mean CPU ms of the process)."""
    tess = tesseract_reader()
    plain = TextRecognizer(rec.model, serving=False, lm=rec.lm)
    half = TextRecognizer(rec.model, precision="bf16", lm=rec.lm)  # the bf16 serving encoder (the demo's on AMX CPUs)
    pt = TextRecognizer(rec.model, lm=rec.lm, engine="torch")     # fp32, the encoder in PyTorch
    lite = int8 = None       # the reading-only install's path and the int8 encoder, where the checkpoint has them
    weight = rec.lm.weight if rec.lm else 0.0
    if graph_path(rec.source).is_file():
        lite = load_recognizer(rec.source, backend="onnx", lm_weight=weight)
    if graph_path(rec.source, "int8").is_file():
        int8 = load_recognizer(rec.source, backend="onnx", precision="int8", lm_weight=weight)
    readers = {}
    for b in beams:
        name = "ours greedy" if b == 1 else f"ours beam {b}"
        readers[name + f", {rec.reader.engine}"] = lambda img, b=b: rec.read(img, beam_width=b, views=1)
        if rec.reader.engine != "torch":
            readers[name + ", torch"] = lambda img, b=b: pt.read(img, beam_width=b, views=1)
        if lite is not None:
            readers[name + ", without torch"] = lambda img, b=b: lite.read(img, beam_width=b, views=1)
        if int8 is not None:
            readers[name + ", int8"] = lambda img, b=b: int8.read(img, beam_width=b, views=1)
        readers[name + ", bf16"] = lambda img, b=b: half.read(img, beam_width=b, views=1)
        if views > 1:
            readers[f"{name}, bf16, {views} views"] = lambda img, b=b: half.read(img, beam_width=b, views=views)
    readers["ours as the demo reads"] = lambda img: rec.read(img)  # the checkpoint's reading settings
    readers["training model greedy"] = lambda img: plain.read(img, fast=True)
    readers["tesseract 5"] = lambda img: tess.read(img.convert("RGB"))
    rows = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        for onnx_only in (lite, int8):
            if onnx_only is not None:
                onnx_only.reader.threads = threads
        wall = {name: [] for name in readers}
        cpu = dict.fromkeys(readers, 0.0)
        for img in images[:5]:  # warm-up
            for read in readers.values():
                read(img)
        for img in images:
            for name, read in readers.items():
                t, c = time.perf_counter(), time.process_time()
                read(img)
                wall[name].append((time.perf_counter() - t) * 1000)
                cpu[name] += (time.process_time() - c) * 1000
        t_ms = statistics.median(wall["tesseract 5"])
        for name in readers:
            ms = statistics.median(wall[name])
            rows.append((threads, name, ms, ms / t_ms, statistics.mean(wall[name]), cpu[name] / len(images)))
    return rows


def _scenes(n: int, words: int = 10, size=(1280, 960)):
    import random

    from ocr.synth.scenes import make_scene

    synth = WordSynth(preset("words").charset, seed=321)
    rng = random.Random(0)
    return [make_scene([synth[i * words + j] for j in range(words)], rng, size)[0] for i in range(n)]


def time_photos(rec, n: int, words: int = 10, size=(1280, 960), threads_list=(1, 2), beams=((1, 1), (5, 5))):
    """Median ms to read a whole photo (`ocr.read_photo`): n scenes of `words` synthetic words pasted on texture
    photos (`ocr.synth.scenes`), found by the text detector and read in one batch. -> rows (threads, decoding,
    total ms, detection ms, words found per photo)."""
    from ocr import detect, photo

    scenes = _scenes(n, words, size)
    rows = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        name = f"{detect.DEFAULT_DETECTOR}-{threads}-threads"  # the default backend on as many threads as torch
        detect.register_detector(name, lambda t=threads: detect.make_detector(threads=t))
        photo.read_photo(scenes[0], rec.cfg.name, rec, detector=name)  # loads it; warm-up
        for beam, views in beams:
            total, found, det_ms = [], [], []
            for img in scenes:
                t = time.perf_counter()
                boxes = photo.find_regions(img, rec.cfg.name, rec, detector=name)
                t1 = time.perf_counter()
                res = photo.read_photo(img, rec.cfg.name, rec, beam_width=beam, views=views, regions=boxes)
                total.append((time.perf_counter() - t) * 1000)
                det_ms.append((t1 - t) * 1000)
                found.append(len(res))
            dec = "greedy" if beam == 1 else f"beam {beam}"
            rows.append((threads, dec + (f", {views} views" if views > 1 else ""), statistics.median(total),
                         statistics.median(det_ms), statistics.mean(found)))
    return rows


def time_while_training(n: int, steps: int = 100_000) -> dict:
    """p50 / p95 ms of n sequential photo readings as the page reads them (webapp.service.DemoService.read_photo:
    detection, the model's reading settings), idle and then while a training job of the loop (feedback.jobs: its own process,
    one thread, lowest priority) trains on a scratch store."""
    import tempfile
    from pathlib import Path

    from feedback import Prediction, accept_pending, add_submission, make_engine, session_factory
    from feedback.finetune import FinetuneSettings
    from feedback.jobs import cancel_job, get_job, start_job
    from webapp.service import DemoService, Models

    tmp = Path(tempfile.mkdtemp(prefix="ocr-bench-"))
    os.environ["OCR_VERSIONS_DIR"] = str(tmp / "versions")
    db = f"sqlite:///{tmp / 'store.sqlite'}"
    Session = session_factory(make_engine(db))
    synth = WordSynth(preset("words").charset, seed=55)
    for i in range(40):
        img, text = synth[i]
        with Session.begin() as s:
            add_submission(s, img, "words", Prediction("x", 0.5, [0.5]), text, "words", "1", "bench")
    accept_pending(Session, "words")
    svc = DemoService(Models(Session=Session), Session)
    scenes = _scenes(n)
    svc.read_photo(scenes[0], "words")  # loads the models and the detector

    def run() -> list[float]:
        out = []
        for img in scenes:
            t = time.perf_counter()
            svc.read_photo(img, "words")
            out.append((time.perf_counter() - t) * 1000)
        return out

    def p95(xs):
        return sorted(xs)[max(0, round(0.95 * len(xs)) - 1)]

    idle = run()
    job = start_job(Session, db, "words", FinetuneSettings(task="words", steps=steps, max_minutes=30, reference=200))
    while get_job(Session, job).phase != "training":
        if get_job(Session, job).state not in ("queued", "running"):
            raise SystemExit(f"the training job ended early: {get_job(Session, job).message}")
        time.sleep(1)
    time.sleep(5)
    busy = run()
    cancel_job(Session, job)
    return {"idle": (statistics.median(idle), p95(idle)), "training": (statistics.median(busy), p95(busy))}


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, native bf16: "
          f"{'yes' if cpu_has_bf16() else 'no'}, VNNI (int8): {'yes' if cpu_has_vnni() else 'no'}")
    if args.while_training:
        from ocr.checkpoint import read_header
        from ocr.reading import ReadingSettings
        from ocr.settings import shipped_model
        r = time_while_training(args.while_training)
        print(f"{args.while_training} photos of 1280x960 with 10 words, read as the page reads them "
              f"({ReadingSettings.of(read_header(shipped_model('words'))[1]).describe()})")
        for k, (p50, p95) in r.items():
            print(f"{k:9} p50 {p50:8.1f} ms   p95 {p95:8.1f} ms")
        print(f"p95 while training / idle: {r['training'][1] / r['idle'][1]:.2f}")
        return 0
    if args.photos:
        rec = load_recognizer("words", lm_weight=args.lm_weight)
        print(f"{args.photos} photos of 1280x960 with 10 words each (ocr.read_photo)")
        print(f"{'threads':>7}  {'decoding':18} {'median ms':>9}  {'detection ms':>12}  {'words found':>11}")
        for threads, dec, ms, det, found in time_photos(rec, args.photos):
            print(f"{threads:7d}  {dec:18} {ms:9.1f}  {det:12.1f}  {found:11.1f}")
        return 0
    if args.baseline:
        from ocr import load_image
        from ocr.training.datasets.specs import build_dataset
        rec = load_recognizer(args.models[0], lm_weight=args.lm_weight)
        if args.images:
            ds = build_dataset(args.images, rec.cfg)
            images = [load_image(ds[i][0]) for i in range(min(args.count, len(ds)))]
        else:
            images = [load_image(p) for p in sorted((data_dir() / "examples")
                                                    .glob(f"{rec.cfg.name}_*.png"))] * 30
        lm = f"word prior {rec.lm.describe()}" if rec.lm else "no word prior"
        print(f"{args.models[0]} ({lm}; as the demo reads: {rec.reading.describe()}): {len(images)} images, each "
              f"read by ours and by Tesseract in turn")
        print(f"{'threads':>7}  {'reader':30} {'median ms':>9}  {'x Tesseract':>11}  {'mean ms':>7}  {'CPU ms':>6}")
        for threads, name, ms, ratio, mean, cpu in versus_tesseract(rec, images, beams=tuple(args.beam_width) if
                                                               args.beam_width != [1] else (1, 5), views=args.views):
            print(f"{threads:7d}  {name:30} {ms:9.2f}  {ratio:11.2f}  {mean:7.2f}  {cpu:6.2f}")
        return 0
    rows = []
    for name in args.models:
        rec = load_recognizer(name, lm_weight=args.lm_weight)
        pairs = samples(rec, 16)
        images = [im for im, _ in pairs]
        for beam in args.beam_width:
            dec = "" if beam == 1 else f", beam {beam}"
            for threads in (1, 2):
                for bf16 in (False, True):
                    prec = "bf16" if bf16 else "fp32"
                    ms = time_single(rec, images, threads, bf16, args.repeats, beam)
                    rows.append((name, f"single image, {threads} thr, {prec}{dec}", f"{ms:.1f} ms (median)"))
        for bf16 in (False, True):
            prec = "bf16" if bf16 else "fp32"
            rows.append((name, f"batch 32, 2 thr, {prec}", f"{time_batch(rec, images, 2, bf16):.0f} img/s"))
        if not args.skip_train:
            for bf16 in (False, True):
                label = "bf16+channels_last" if bf16 else "fp32"
                rows.append((name, f"training b64, 2 thr, {label}", f"{time_train(rec.cfg, pairs, 2, bf16):.0f} img/s"))
    w = max(len(r[1]) for r in rows)
    print(f"{'model':8} {'setting':{w}}  result")
    for r in rows:
        print(f"{r[0]:8} {r[1]:{w}}  {r[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
