#!/usr/bin/env python
"""Measure reading whole photos (`ocr.read_photo`) on word scenes made from labelled word crops.

    python scripts/evaluate_photos.py folder:../shared/data/real/dev/iiit5k_test folder:../shared/data/real/dev/svt_test
    python scripts/evaluate_photos.py folder:CROPS --scenes 200 --seed 3 --save 5 --out photos_eval
    python scripts/evaluate_photos.py --task digits --whole ../shared/data/real/samples/svhn   # labelled whole photos

Each scene is a texture photo (the synthetic engine's, 1280x960 by default) with 1-8 of the crops pasted at random
heights (24-110 px), turns (up to 15 degrees) and places, none overlapping (`ocr.synth.scenes`); a fixed --seed makes
the same scenes every time. A pasted word counts as found when a returned box overlaps its box with IoU >= 0.5
(each returned box matches one word), and as read when it is found and its text is right (standard protocol:
lower case, 0-9 a-z). Printed: detection recall and precision, end-to-end word accuracy, the accuracy of reading
the same crops directly (same model and settings), their ratio, and the time per scene (detection's share).

--whole: the folders hold whole photos, each labelled with the one text it shows (a house number: SVHN's full
frames, uncropped); a photo counts as read when the region `read_photo` returns reads exactly its label.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from ocr.cli import add_reading_options

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("crops", nargs="+", help="labelled word folders (folder:PATH or PATH, with labels.tsv)")
    p.add_argument("--task", choices=("words", "digits"), default="words")
    p.add_argument("--model", default=None, help="checkpoint of the task (default: the shipped one)")
    p.add_argument("--whole", action="store_true", help="the folders hold labelled whole photos (see above)")
    p.add_argument("--scenes", type=int, default=100, help="number of scenes (default 100)")
    p.add_argument("--seed", type=int, default=0, help="scene seed (default 0)")
    p.add_argument("--size", default="1280x960", help="scene size WxH (default 1280x960)")
    p.add_argument("--max-words", type=int, default=8, help="at most this many words a scene (default 8)")
    add_reading_options(p)
    p.add_argument("--record", metavar="NAME", help="store the end-to-end accuracy (--whole: the share of photos read "
                                                    "exactly) under NAME in the model's figures (the demo's About)")
    p.add_argument("--margin", type=float, default=None, help="words: margin around each found word, x its height "
                                                               "(default: ocr.photo.WORD_MARGIN)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--save", type=int, default=0, metavar="N", help="draw the first N scenes with their boxes")
    p.add_argument("--out", type=Path, default=Path("photo_eval"), help="folder for --save and results.json")
    return p


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    try:
        W, H = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        p.error(f"--size must be WxH, got {args.size!r}")
    if args.scenes < 1 or not 1 <= args.max_words <= 50 or min(W, H) < 64:
        p.error("--scenes >= 1, --max-words 1-50 and a scene of at least 64 px a side, please")

    import torch
    from PIL import ImageDraw
    from tqdm import tqdm

    from ocr import photo
    from ocr.cli import reading_args, recognizer_or_exit
    from ocr.training.datasets.labels import folder_dataset
    from ocr.detect import TextBox, find_text
    from ocr.images import load_image
    from ocr.training.metrics import standard
    from ocr.synth.scenes import box_iou, make_scene

    torch.set_num_threads(args.threads)
    rec = recognizer_or_exit(args.model or args.task, lm_weight=args.lm_weight)
    if rec.cfg.name != args.task:
        p.error(f"{args.model} is a {rec.cfg.name} model, not {args.task}")
    items = []
    for spec in args.crops:
        path = spec.split(":", 1)[1] if spec.startswith("folder:") else spec
        if not (Path(path) / "labels.tsv").is_file():
            p.error(f"no labels.tsv in {path}")
        items += list(folder_dataset(path).items)
    if not items:
        p.error("no labelled crops found")
    if args.whole:
        return whole_photos(items, rec, args, photo, standard)
    rng = random.Random(args.seed)
    margin = photo.WORD_MARGIN if args.margin is None else args.margin
    found = read = truth = returned = crop_right = 0
    t_detect = t_total = 0.0
    if args.save:
        args.out.mkdir(parents=True, exist_ok=True)
    for k in tqdm(range(args.scenes), desc="scenes", dynamic_ncols=True):
        chosen = rng.sample(items, min(len(items), rng.randint(1, args.max_words)))
        crops = [(load_image(src), label) for src, label in chosen]
        scene, words = make_scene(crops, rng, (W, H))
        t0 = time.perf_counter()
        boxes = find_text(scene)
        t1 = time.perf_counter()
        regions = [TextBox(b.quad, b.score) for b in boxes]
        readings = photo.read_photo(scene, "words", rec, regions=regions, margin=margin,
                                    **reading_args(args))
        t2 = time.perf_counter()
        t_detect += t1 - t0
        t_total += t2 - t0
        returned += len(readings)
        truth += len(words)
        used = set()
        for quad, label in words:
            gt = (*quad.min(0), *quad.max(0))
            best, best_iou = None, 0.5
            for i, r in enumerate(readings):
                iou = box_iou(gt, r.box)
                if i not in used and iou >= best_iou:
                    best, best_iou = i, iou
            if best is not None:
                used.add(best)
                found += 1
                read += standard(readings[best].text) == standard(label)
        crop_preds = rec.read([c for c, _ in crops if c], **reading_args(args))
        crop_right += sum(standard(pr.text) == standard(lab) for pr, (_, lab) in zip(crop_preds, crops)
                          if any(lab == w[1] for w in words))
        if k < args.save:
            d = ImageDraw.Draw(scene)
            for r in readings:
                d.polygon([tuple(map(float, q)) for q in r.quad], outline=(255, 0, 0), width=3)
                d.text((r.box[0], max(0, r.box[1] - 12)), r.text, fill=(255, 255, 0))
            scene.save(args.out / f"scene_{k:03d}.jpg", quality=85)
    res = {"scenes": args.scenes, "words": truth, "returned": returned,
           "detection_recall": found / max(1, truth), "detection_precision": found / max(1, returned),
           "end_to_end_accuracy": read / max(1, truth), "crop_accuracy": crop_right / max(1, truth),
           "seconds_per_scene": t_total / args.scenes, "detection_share": t_detect / max(1e-9, t_total),
           "margin": margin, "reading": reading_args(args), "seed": args.seed}
    res["ratio_to_crops"] = res["end_to_end_accuracy"] / max(1e-9, res["crop_accuracy"])
    print(f"scenes {args.scenes}, words {truth}, boxes returned {returned}")
    print(f"detection recall {res['detection_recall']:.3f}, precision {res['detection_precision']:.3f}")
    print(f"end-to-end accuracy {res['end_to_end_accuracy']:.3f}; the same crops read directly "
          f"{res['crop_accuracy']:.3f}; ratio {res['ratio_to_crops']:.3f}")
    print(f"{res['seconds_per_scene']:.3f} s a scene, detection {100 * res['detection_share']:.0f} %")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(res, indent=2))
    record(args, rec, 100 * res["end_to_end_accuracy"])
    return 0


def record(args, rec, percent: float) -> None:
    if args.record:
        from ocr.checkpoint import record_figures
        from ocr.cli import reader_label
        record_figures(rec.source, {args.record: {reader_label(args): round(percent, 1)}})
        print(f"recorded in {rec.source}: {args.record}: {percent:.1f} %")


def whole_photos(items, rec, args, photo, standard) -> int:
    """Each labelled photo read whole by read_photo: right when one of its regions reads exactly the label."""
    from ocr.cli import reading_args
    right = 0
    rows = []
    for src, label in items:
        regions = photo.read_photo(src, args.task, rec, **reading_args(args))
        texts = [r.text for r in regions]
        ok = label in texts if args.task == "digits" else any(standard(t) == standard(label) for t in texts)
        right += ok
        rows.append({"image": str(src), "label": label, "read": texts, "right": ok})
        print(f"{'ok ' if ok else 'NO '} {Path(str(src)).name:24} {label:>10} -> {' '.join(texts) or '(nothing found)'}")
    print(f"{right} of {len(items)} photos read exactly")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"right": right, "photos": len(items), "rows": rows}, indent=2))
    record(args, rec, 100 * right / max(1, len(items)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
