#!/usr/bin/env python
"""Gradio demo: read text in an image, watch where the model looked, correct it.

    python app.py                      # http://127.0.0.1:7860 with the shipped models
    python app.py --host 0.0.0.0 --port 8080 --db postgresql+psycopg://user:pw@host/db
    python app.py --share              # temporary public link through Gradio's share servers

This file only builds the interface; the work is done by webapp.service.DemoService, created
in main() (importing app.py starts nothing). API endpoints for gradio_client:
/read_photo (image, task), /recognize (image, task) and /save_correction (image, task, corrected_text).
"""
from __future__ import annotations

import argparse
import functools
import html
import json
import logging
import math
import os
import re
import uuid
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine

import gradio as gr  # noqa: E402
from PIL import Image  # noqa: E402
from gradio.utils import get_upload_folder, is_in_or_equal  # noqa: E402

from webapp.loop import Loop, LoopSettings  # noqa: E402
from webapp.review import Review  # noqa: E402
from webapp.review_tab import build_review_tab  # noqa: E402
from ocr.config import TASKS  # noqa: E402
from ocr.settings import data_dir  # noqa: E402
from webapp.service import (TASK_LABELS, DemoService, Refused, UserError, all_text, confidence_spans,  # noqa: E402
                             draw_regions, region_at)

EXAMPLES = data_dir() / "examples"
COLORS = {"high": "#b7eb8f", "medium": "#ffd666", "low": "#ff7875"}
NOT_AN_IMAGE = "This file cannot be read as an image."
# Gradio keeps a copy of the page's settings for every tab that ran an event (~0.3 MB with this page, measured with
# tests/test_abuse.py's load): at most MAX_TABS tabs are kept, the least recently active goes first (its page then
# asks to read the photo again); each tab's own state is a few numbers per region, never an image.
MAX_TABS = 500
log = logging.getLogger("ocr.app")


def refuse(message: str) -> gr.Error:
    """A gr.Error for the person; the server console gets one line instead of a traceback."""
    log.info("refused: %s", message)
    return gr.Error(message, print_exception=False)


def stored_by_gradio(path: str) -> bool:
    """True if path is a file inside Gradio's upload/cache folder (what an upload or an example becomes).

    A client can send any path in a file value; without this check the app would read any image
    on the server. Symbolic links are resolved before the check.
    """
    try:
        real = os.path.realpath(path)
        return os.path.isfile(real) and is_in_or_equal(real, os.path.realpath(get_upload_folder()))
    except (OSError, ValueError, TypeError):
        return False


class UploadedImage(gr.Image):
    """gr.Image that hands the raw uploaded file to our loader instead of opening it itself,
    so corrupt files, decompression bombs and odd formats get our clear messages. Only files that
    Gradio itself stored for this server (uploads, examples) are accepted; anything else gets one
    generic message that says nothing about the server's files."""

    is_template = True  # use gr.Image's front end

    def preprocess(self, payload):
        if payload is None:
            return None
        path = getattr(payload, "path", None)
        if isinstance(path, str) and path and stored_by_gradio(path):
            return path
        return Refused(NOT_AN_IMAGE)  # the handler reports it (to the page's message line or the API caller)


class StrictTextbox(gr.Textbox):
    """gr.Textbox that refuses a value that is not a string (gr.Textbox would store str(value))."""

    is_template = True

    def preprocess(self, payload):
        if not isinstance(payload, str):
            return Refused("The text must be a string.")
        return payload


def plain(text: str) -> str:
    """User or model text made inert for a Markdown component: HTML escaped, Markdown marks backslashed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~>])", r"\\\1", html.escape(text, quote=True))


def _task(value: str) -> str:
    for k, label in TASK_LABELS.items():
        if value in (k, label):
            return k
    raise refuse("Unknown task: use 'words' or 'digits'.")


READERS = ("as the demo reads", "greedy", "Tesseract 5")  # the order of the About chart's bars


def measured(meta: dict) -> tuple[dict, str]:
    """(figures, whose): what was measured for a model (its checkpoint's "figures": set -> reader -> %, written by
    scripts/evaluate.py --record), else for the nearest measured model it was fine-tuned from."""
    if meta.get("figures"):
        return meta["figures"], "this model"
    inherited = (meta.get("parent_meta") or {}).get("figures")
    return (inherited, "the model it was fine-tuned from") if inherited else ({}, "")


def accuracy_chart(figures: dict) -> Image.Image | None:
    """A small bar chart of the sets measured against Tesseract (ours beside it) for the About tab; None if none."""
    import io as _io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sets = [k for k, v in figures.items() if "Tesseract 5" in v]
    readers = [r for r in READERS if any(r in figures[k] for k in sets)]
    if not sets or len(readers) < 2:
        return None
    fig, ax = plt.subplots(figsize=(4.2, 2.4))
    width = 0.8 / len(readers)
    for k, reader in enumerate(readers):
        xs = [i + width * k for i in range(len(sets))]
        bars = ax.bar(xs, [figures[s].get(reader, 0) for s in sets], width * 0.95, label=reader)
        ax.bar_label(bars, fmt="%.0f%%", fontsize=7)
    ax.set_xticks([i + width * (len(readers) - 1) / 2 for i in range(len(sets))], sets)
    ax.set_ylim(0, 112)  # room above 100 for the bars' labels
    ax.set_yticks(range(0, 101, 20))
    ax.set_ylabel("words read right (%)", fontsize=8)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(readers), frameon=False)
    fig.tight_layout()
    buf = _io.BytesIO(); fig.savefig(buf, format="png", dpi=110); plt.close(fig)
    return Image.open(buf)


def how_well(metas: dict[str, dict]) -> str:
    """About's "How well": every figure recorded for the models read with now (task -> checkpoint meta)."""
    lines = []
    for task, meta in metas.items():
        figures, whose = measured(meta)
        if not figures:
            lines.append(f"- {TASK_LABELS[task]}: nothing measured for this model yet.")
            continue
        note = "" if whose == "this model" else f" (measured for {whose})"
        for name, values in figures.items():
            shown = "; ".join(f"{v:.1f} % {r}" if r != "Tesseract 5" else f"Tesseract 5: {v:.1f} %"
                              for r, v in sorted(values.items(), key=lambda rv: READERS.index(rv[0])
                                                 if rv[0] in READERS else len(READERS)))
            lines.append(f"- {TASK_LABELS[task]}, {name}{note}: {shown}")
    return ("## How well\nWords read right (standard protocol: lower case, letters and digits), as recorded in "
            "each model's file by `scripts/evaluate.py --record`:\n" + "\n".join(lines))


ABOUT = """## What it reads
- **Words**: every word, number or code of a photo (shop signs, posters, labels): a text detector (PP-OCRv6's DB
  detector) finds them, and each is read on its own: letters, digits and punctuation, upper and lower case. A
  tight crop of one word is read whole.
- **House number**: the house number of a street photo or of a crop (a small network trained on synthetic
  street scenes points at it).

Each region is read one character at a time; click it to see where the model looked at each step (the animation).
The words model also weighs each next letter by how often English words continue that way (a letter model of
48,000 common words): it mends a blurred letter in a common word and can pull a rare name towards a common spelling.
The confidence shown is the reader's own: the model and that letter model together.

## Known limits
- Words are found on lines and cut at spaces; a word the detector misses can be added with two clicks.
  A word turned to run downwards is read; letters stacked one under another, strongly curved text, handwriting and
  non-Latin scripts are not.
- One house number a photo.
- Low confidence (yellow and red letters) means: check the reading.

## Your corrections
"Save my correction" stores the image, the model's reading and your text; "The reading is right" stores a
confirmation. Nothing else about you is kept: a random id of this browser tab, no account, no IP address.
A moderator reviews corrections before any are used, and a new model replaces this one only if it reads a
fixed set of test images at least as well.
"""


def about_links() -> str:
    """Where the code, the model cards and the licences are: links to this Space's files on a Hugging Face Space,
    else the files' places in the repository."""
    space = os.environ.get("SPACE_ID", "")
    files = [("the repository's README", "README.md"), ("words model card", "data/models/words.md"),
             ("house-number model card", "data/models/digits.md"), ("code licence (MIT)", "LICENSE"),
             ("word list licence", "data/lexicon.LICENSE"), ("example images' sources", "data/examples/SOURCE.md")]
    if re.fullmatch(r"[\w.-]+/[\w.-]+", space):
        items = [f"[{name}](https://huggingface.co/spaces/{space}/blob/main/{path})" for name, path in files]
    else:
        items = [f"{name}: `{path}`" for name, path in files]
    return ("## Code, models, licences\n" + "\n".join(f"- {i}" for i in items) +
            "\n\nThe code is MIT-licensed. **The models were trained on synthetic images and on the IIIT5K, ICDAR "
            "2003/2015 and SVT training images, whose terms allow research and non-commercial use only; the text "
            "detector is PaddlePaddle's PP-OCRv6 (Apache-2.0). Check those terms before any commercial use.**")

API_HELP = """## Use it from Python
```python
from gradio_client import Client, handle_file
client = Client("http://127.0.0.1:7860/")
regions = client.predict(handle_file("street.jpg"), "words", api_name="/read_photo")  # every word: box, text, ...
text, confidence, per_char = client.predict(handle_file("word.png"), "words", api_name="/recognize")  # one crop
client.predict(handle_file("word.png"), "words", "HELLO", api_name="/save_correction")
```"""


LEGEND = ("Letter colours: <span style='background:#b7eb8f'>&nbsp;sure&nbsp;</span> "
          "<span style='background:#ffd666'>&nbsp;unsure&nbsp;</span> <span style='background:#ff7875'>&nbsp;"
          "probably wrong&nbsp;</span>; boxes on the photo use the same colours.")
SCROLL_TO_RESULT = "() => { const e = document.getElementById('result_anchor'); if (e) e.scrollIntoView({behavior: 'smooth', block: 'start'}); }"

CSS = """
#examples img { object-fit: contain !important; }      /* whole example images, not square crops */
#examples table { table-layout: fixed; width: 100%; }  /* the examples fit a phone's width */
#examples th { white-space: normal; }
#advice p { color: #ad4e00; font-weight: 600; }
#review_gallery img { object-fit: contain !important; }
#transcript span { font-size: 2rem !important; line-height: 1.3; }        /* the reading: the largest text */
#legend p { font-size: 0.8rem; color: #666; }
"""


def about_measured(svc: DemoService) -> tuple[str, Image.Image | None]:
    """About's figures and chart, from the metadata of the models read with now (a promoted version's too)."""
    try:
        metas = {t: svc.models.get(t).meta for t in TASKS}
    except Exception:  # noqa: BLE001 - a model that cannot load: About still shows the rest
        log.warning("models unavailable for About", exc_info=True)
        return "", None
    return how_well(metas), _chart(json.dumps(measured(metas["words"])[0], sort_keys=True))


@functools.lru_cache(maxsize=4)
def _chart(figures_json: str) -> Image.Image | None:
    return accuracy_chart(json.loads(figures_json))


def versions_note(loop: "Loop") -> str:
    """About: the model version each task reads with now, and what changed with it."""
    try:
        lines = [f"- {TASK_LABELS[t]}: {loop.current_line(t)}" for t in TASKS]
    except Exception:  # noqa: BLE001 - the store may be unreachable; About still shows the rest
        log.warning("model versions unavailable for About", exc_info=True)
        return ""
    return "## Model versions read with now\n" + "\n".join(lines)


def _point(index) -> tuple[float, float] | None:
    """A click's (x, y) from Gradio's select data, or None when it is not two finite numbers."""
    try:
        x, y = (float(v) for v in index[:2])
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return (x, y) if all(math.isfinite(v) and abs(v) < 1e6 for v in (x, y)) else None


NO_DETAIL = "Click a box on the photo or a row of the list to see it read step by step and correct it."
HINT = ("Click a box (or a row of the list) to watch that reading and correct it. A word the boxes missed: click two "
        "opposite corners around it.")


def build_demo(svc: DemoService, review: "Review | None" = None, loop: "Loop | None" = None) -> gr.Blocks:
    def empty_detail(message: str = ""):
        return (None, "", "", "", gr.Slider(minimum=1, maximum=2, value=1, visible=False), None,
                gr.Textbox(value=""), "", message)

    def detail(image, task: str, regions, i: int, message: str = ""):
        """The outputs of one region's reading (DETAIL_OUTS)."""
        r = svc.detail(image, task, regions[i])
        p = r.prediction
        steps = len(r.frames)
        when = "read with the photo" if r.read_ms is None else f"read in {r.read_ms:.0f} ms"
        info = (f"confidence {p.confidence:.2f} · region {i + 1} of {len(regions)} · {when} · "
                f"{steps} decoding steps · the picture is the region as the network sees it")
        html_ = f'<img id="attn_gif" src="{r.gif_data_uri}" alt="attention at every step" style="max-width:100%">'
        return (confidence_spans(p), plain(r.advice), info, html_,
                gr.Slider(minimum=1, maximum=max(2, steps), value=1, step=1, interactive=True, visible=True),
                r.frames[0], gr.Textbox(value=p.text), p.text, message)

    def table(regions):
        return [[i + 1, r.text, round(r.confidence, 2)] for i, r in enumerate(regions)]

    def picture(image, regions, selected, corner=None):
        img = svc._image(image)
        shown = [r for r in regions if r.box != (0, 0, img.width, img.height)]  # a crop read whole: no box
        pic, k = draw_regions(img, shown, selected if shown else -1, corner)
        return pic, k

    def read(image, task_label):
        """Page handler: find and read everything; a failure goes to the message line and clears the outputs."""
        try:
            task = _task(task_label)
            res = svc.read_photo(image, task)
            regions = res.regions
            pic, k = picture(res.image, regions, 0)  # the photo as loaded once (not decoded again)
            first = detail(res.image, task, regions, 0) if regions else empty_detail(res.message)
        except (UserError, gr.Error) as e:
            log.info("refused: %s", e)
            return (gr.Image(value=None, visible=False), [], "", [], -1, [], 1.0, HINT) + empty_detail(str(e))
        hint = (f"{len(regions)} region{'s' if len(regions) != 1 else ''} found in {res.read_ms:.0f} ms. " + HINT
                if not res.whole else "Read as one crop. " + HINT)
        return (gr.Image(value=pic, visible=True), table(regions), all_text(regions), regions, 0 if regions else -1,
                [], k, hint) + first

    def select(image, task_label, regions, i, scale):
        try:
            pic, _ = picture(image, regions, i)
            return (pic, i, []) + detail(image, _task(task_label), regions, i)
        except (UserError, gr.Error, IndexError) as e:
            return (gr.skip(), gr.skip(), []) + empty_detail(str(e))

    def on_row(image, task_label, regions, scale, evt: gr.SelectData):
        try:
            i = int(evt.index[0])
        except (TypeError, ValueError, IndexError, KeyError):
            i = -1
        if not regions or not 0 <= i < len(regions):
            return (gr.skip(),) * 3 + empty_detail("Read a photo first.")
        return select(image, task_label, regions, i, scale)

    def on_photo(image, task_label, regions, corner, scale, evt: gr.SelectData):
        """A click on the photo: inside a box selects it; elsewhere the first of two corners of a new region."""
        pt = _point(evt.index)
        task = _task(task_label)
        if pt is None or not scale:
            return (gr.skip(),) * 5 + empty_detail("That click could not be read: click on the photo again.")
        x, y = pt[0] / scale, pt[1] / scale
        i = region_at(regions, x, y) if not corner else -1
        try:
            if i >= 0:
                pic, _ = picture(image, regions, i)
                return (pic, regions, i, [], gr.skip()) + detail(image, task, regions, i)
            if not corner:
                pic, _ = picture(image, regions, -1, (x, y))
                return (pic, regions, -1, [x, y], gr.skip()) + empty_detail(
                    "First corner set: now click the opposite corner of the text.")
            region = svc.add_region(image, task, (*corner, x, y))
            regions = list(regions) + [region]
            i = len(regions) - 1
            pic, _ = picture(image, regions, i)
            return (pic, regions, i, [], table(regions)) + detail(image, task, regions, i, f"Added region {i + 1}.")
        except (UserError, gr.Error) as e:
            return (gr.skip(), gr.skip(), gr.skip(), [], gr.skip()) + empty_detail(str(e))

    def show_step(image, task_label, regions, i, step):
        """One step's attention picture, drawn again from the region's reading (a tab keeps no pictures)."""
        try:
            k = int(float(step))
            frames = svc.detail(image, _task(task_label), regions[i]).frames
        except (TypeError, ValueError, OverflowError, IndexError, UserError, gr.Error):
            return None
        return frames[max(0, min(len(frames), k) - 1)]

    def submit(image, task_label, text, client, recent, reading, regions, selected, confirm):
        if not regions or not isinstance(selected, int) or not 0 <= selected < len(regions):
            return "Read an image first, then correct the reading or confirm it.", recent or [], recent or [], gr.skip()
        if confirm and isinstance(text, str) and text.strip() != reading:
            return ("You changed the text: press \"Save my correction\" to save it, or put the reading back "
                    "to confirm the model."), recent or [], recent or [], gr.skip()
        try:
            sid, msg = svc.save(image, _task(task_label), None if confirm else text, client, region=regions[selected])
        except (UserError, gr.Error) as e:
            log.info("refused: %s", e)
            return str(e), recent or [], recent or [], gr.skip()
        recent = [[sid, _task(task_label), msg.split(": ", 1)[1]]] + (recent or [])
        return msg, recent[:10], recent[:10], gr.skip()

    def undo(client, recent):
        if not recent:
            return "Nothing to undo in this page.", [], []
        try:
            msg = svc.undo(int(recent[0][0]), client)
        except UserError as e:
            return str(e), recent, recent
        recent = recent[1:]
        return msg, recent, recent

    def api_recognize(image, task):
        """Read an image as one crop: (image, task 'words' or 'digits') -> text, confidence, per-character
        confidences."""
        try:
            p = svc.recognize(image, _task(task)).prediction
        except UserError as e:
            raise refuse(str(e)) from None
        return p.text, p.confidence, json.dumps([round(c, 4) for c in p.char_confidences])

    def api_read_photo(image, task):
        """Find and read every word (or the house number) of a photo: (image, task) -> list of regions, each
        {box: [x0, y0, x1, y1], quad: [[x, y] x 4], text, confidence, char_confidences}, in reading order."""
        try:
            res = svc.read_photo(image, _task(task))
        except UserError as e:
            raise refuse(str(e)) from None
        k = res.image.info.get("original_size", res.image.size)[0] / res.image.width  # boxes in the photo's pixels
        return [{"box": [round(v * k) for v in r.box], "quad": [[round(x * k, 1), round(y * k, 1)] for x, y in r.quad],
                 "text": r.text, "confidence": round(r.confidence, 4), "char_confidences": [round(c, 4) for c in r.chars]}
                for r in res.regions]

    def api_save(image, task, corrected_text):
        """Save a correction: (image, task, corrected text) -> confirmation message."""
        try:
            return svc.save(image, _task(task), corrected_text, "api")[1]
        except UserError as e:
            raise refuse(str(e)) from None

    # delete_cache: uploads older than an hour are removed every 10 minutes (the cache would grow forever)
    with gr.Blocks(title="Read text in photos", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        # per-tab state (dropped 30 minutes after a tab goes): ids and small numbers, never images
        client_id = gr.State("", time_to_live=1800)
        recent = gr.State([], time_to_live=1800)
        reading = gr.State("", time_to_live=1800)   # the selected region's reading: "The reading is right" confirms it
        regions = gr.State([], time_to_live=1800)   # webapp.service.Region of each region, in reading order
        selected = gr.State(-1, time_to_live=1800)  # the region shown on the right
        corner = gr.State([], time_to_live=1800)    # [] or the first corner [x, y] of a region being drawn
        scale = gr.State(1.0, time_to_live=1800)    # photo pixels -> the shown picture's pixels
        gr.Markdown("# Read text in photos\nUpload a photo: every word (or the house number) is found and read, "
                    "one character at a time. Click one to watch where the model looked, and correct it when it "
                    "is wrong.")
        with gr.Tab("Read"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=1):
                    task = gr.Radio([TASK_LABELS[t] for t in TASKS], value=TASK_LABELS["words"],
                                    label="What to read", elem_id="task")
                    image = UploadedImage(type="filepath", sources=["upload", "clipboard", "webcam"],
                                          label="Photo or crop (upload, paste, webcam)", elem_id="inp", height=150)
                    read_btn = gr.Button("Read", variant="primary", elem_id="read")
                    photo = gr.Image(label="Found text (click a box, or two corners to add one)", interactive=False,
                                     elem_id="photo", height=340, visible=False, buttons=[])
                    photo_hint = gr.Markdown(HINT, elem_id="crop_info")
                    found = gr.Dataframe(headers=["#", "reading", "confidence"], label="Readings (click one)",
                                         interactive=False, elem_id="found", datatype=["number", "str", "number"],
                                         max_height=220)
                    everything = gr.Textbox(label="All text", elem_id="all_text", interactive=False, lines=2,
                                            max_lines=8, buttons=["copy"])
                with gr.Column(scale=1):
                    gr.HTML('<span id="result_anchor"></span>')
                    transcript = gr.HighlightedText(label="Reading (colour = confidence of each character)",
                                                    color_map=COLORS, show_legend=False, show_inline_category=False,
                                                    elem_id="transcript")
                    info = gr.Markdown(elem_id="info")
                    advice = gr.Markdown(elem_id="advice")
                    anim = gr.HTML(elem_id="attn_anim", label="Attention at every step")
                    correction = StrictTextbox(label="Correct reading", elem_id="correction", max_lines=1,
                                               placeholder="the text in this region, if the reading is wrong")
                    with gr.Row():
                        save_btn = gr.Button("Save my correction", variant="primary", elem_id="save", size="sm")
                        right_btn = gr.Button("The reading is right", elem_id="confirm", size="sm")
                        undo_btn = gr.Button("Undo my last", elem_id="undo", size="sm")
                    status = gr.Textbox(label="Messages", interactive=False, elem_id="status", max_lines=2)
                    gr.Markdown(LEGEND, elem_id="legend")
                    with gr.Accordion("Step by step", open=False):
                        step = gr.Slider(1, 2, value=1, step=1, label="Step", elem_id="step", visible=False)
                        step_img = gr.Image(label="Attention at this step", interactive=False, elem_id="step_img")
            detail_outs = [transcript, advice, info, anim, step, step_img, correction, reading, status]
            read_outs = [photo, found, everything, regions, selected, corner, scale, photo_hint] + detail_outs
            # whole photos first (the street scene, photo-<task>_0_..., leads), then crops
            examples = (sorted(EXAMPLES.glob("photo-*.png"), key=lambda p: p.stem.split("_")[1])
                        + sorted(EXAMPLES.glob("[dw]*_*.png")))
            if examples:
                ex = gr.Examples([[str(p), TASK_LABELS["digits" if "digits" in p.name.split("_")[0] else "words"]]
                                  for p in examples], inputs=[image, task], label="Examples (click one: it is read at once)",
                                 examples_per_page=16, elem_id="examples")
                ex.load_input_event.then(None, js=SCROLL_TO_RESULT)
            recent_table = gr.Dataframe(headers=["#", "task", "text"], label="Your last corrections in this page",
                                        interactive=False, elem_id="recent", datatype=["number", "str", "str"])
        with gr.Tab("About"):
            with gr.Row():
                gr.Markdown(ABOUT, elem_id="about")
                about_chart = gr.Image(label="Words read right: ours and Tesseract 5 (public test sets)",
                                       interactive=False, show_label=True, elem_id="about_chart")
            about_figures = gr.Markdown(elem_id="about_figures")
            about_version = gr.Markdown(elem_id="about_version")
            gr.Markdown(about_links(), elem_id="about_links")
            gr.Markdown(API_HELP)
        if review is not None and review.enabled:
            build_review_tab(review, loop)

        demo.load(lambda: uuid.uuid4().hex, None, client_id, api_visibility="private")  # anonymous id per tab
        if loop is not None:
            demo.load(lambda: versions_note(loop), None, about_version, api_visibility="private")
        demo.load(lambda: about_measured(svc), None, [about_figures, about_chart], api_visibility="private")
        # a new image or task is read at once: nothing of the last one stays on the page
        image.change(read, [image, task], read_outs, api_visibility="private", trigger_mode="always_last")
        task.change(read, [image, task], read_outs, api_visibility="private", trigger_mode="always_last")
        read_btn.click(read, [image, task], read_outs, api_visibility="private")
        photo.select(on_photo, [image, task, regions, corner, scale], [photo, regions, selected, corner, found] +
                     detail_outs, api_visibility="private", show_progress="hidden")
        found.select(on_row, [image, task, regions, scale], [photo, selected, corner] + detail_outs,
                     api_visibility="private", show_progress="hidden")
        step.change(show_step, [image, task, regions, selected, step], step_img, api_visibility="private",
                    show_progress="hidden")
        save_inputs = [image, task, correction, client_id, recent, reading, regions, selected]
        save_btn.click(lambda *a: submit(*a, confirm=False), save_inputs, [status, recent_table, recent, found],
                       api_visibility="private")
        right_btn.click(lambda *a: submit(*a, confirm=True), save_inputs, [status, recent_table, recent, found],
                        api_visibility="private")
        undo_btn.click(undo, [client_id, recent], [status, recent_table, recent], api_visibility="private")

        # API-only endpoints with exactly the documented positional inputs
        with gr.Row(visible=False):
            api_img = UploadedImage(type="filepath")
            api_task = StrictTextbox()
            api_text = StrictTextbox()
            out_text, out_conf, out_chars, out_msg = gr.Textbox(), gr.Number(), gr.Textbox(), gr.Textbox()
            out_regions = gr.JSON()
            api_btn, api_btn2, api_btn3 = gr.Button(), gr.Button(), gr.Button()
        api_btn.click(api_recognize, [api_img, api_task], [out_text, out_conf, out_chars], api_name="recognize")
        api_btn3.click(api_read_photo, [api_img, api_task], out_regions, api_name="read_photo")
        api_btn2.click(api_save, [api_img, api_task, api_text], out_msg, api_name="save_correction")
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo


def make_service(db: str | None = None, words: str = "words", digits: str = "digits") -> DemoService:
    from feedback import make_engine, session_factory
    from webapp.service import Models

    from ocr.viz import _jet

    _jet()  # import matplotlib's colour maps now, not during the first visitor's request
    Session = session_factory(make_engine(db))
    return DemoService(Models({"words": words, "digits": digits}, Session=Session), Session)


def parse_args(argv=None) -> argparse.Namespace:
    """The command line, checked (a bad value stops the app with a message before anything loads)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    in_space = bool(os.environ.get("SPACE_ID"))
    p.add_argument("--host", default="0.0.0.0" if in_space else "127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", 7860)))
    p.add_argument("--db", help="feedback store: SQLite path or SQLAlchemy URL (default $OCR_FEEDBACK_DB or data/feedback.sqlite)")
    p.add_argument("--share", action="store_true", help="create a temporary public link (needs internet)")
    p.add_argument("--words-model", default="words", help="checkpoint for words (default: shipped)")
    p.add_argument("--digits-model", default="digits", help="checkpoint for house numbers (default: shipped)")
    p.add_argument("--admin-password-file", type=Path,
                   help="file holding the review tab's password (default: $OCR_ADMIN_PASSWORD; neither: no review tab)")
    loop = p.add_argument_group("training from the review tab")
    loop.add_argument("--train-steps", type=int, default=300, help="steps of a training job (default 300)")
    loop.add_argument("--train-minutes", type=float, default=15.0, help="a training job's time limit (default 15)")
    loop.add_argument("--train-lr", type=float, default=1e-4,
                      help="a job's peak learning rate (default 1e-4: gentle, a model that already reads real crops "
                           "must not forget; a synthetic-only model adapts faster at 1e-3)")
    loop.add_argument("--train-batch-size", type=int, default=64, help="a job's batch size (default 64)")
    loop.add_argument("--train-reference", type=int, default=1000,
                      help="synthetic images in the gate's fixed reference set (default 1000; 0: the gate measures "
                           "only the --train-val sets, e.g. for a synthetic-only model that is meant to move away "
                           "from synthetic data)")
    loop.add_argument("--train-mix-words", nargs="+", default=None, metavar="SPEC",
                      help="the words job's data mix (default: synth-words:0.5@v6 feedback:0.5); add the real crops "
                           "the model was trained on if you have them, e.g. folder:/data/real_train:0.3")
    loop.add_argument("--train-mix-digits", nargs="+", default=None, metavar="SPEC",
                      help="the digits job's data mix (default: synth-digits:0.5 feedback:0.5)")
    loop.add_argument("--train-val", nargs="*", default=[], metavar="SPEC",
                      help="clean labelled sets the gate also measures (never corrections), e.g. folder:/data/val")
    loop.add_argument("--auto-train-after", type=int, default=0,
                      help="start a job by itself after this many newly accepted corrections (default 0: never)")
    loop.add_argument("--auto-train-hours", type=float, default=24.0,
                      help="at most one automatic job in this many hours (default 24)")
    args = p.parse_args(argv)
    if not 0 < args.train_lr <= 1:
        p.error(f"--train-lr must be in (0, 1], got {args.train_lr}")
    if args.train_batch_size < 1 or args.train_steps < 1:
        p.error("--train-batch-size and --train-steps must be at least 1")
    if args.train_reference < 0 or (args.train_reference == 0 and not args.train_val):
        p.error("--train-reference 0 needs at least one --train-val set: the gate must measure something")
    return args


def loop_settings(args: argparse.Namespace) -> LoopSettings:
    """The page's training jobs as the command line sets them."""
    mix = {"words": args.train_mix_words or ["synth-words:0.5@v6", "feedback:0.5"],
           "digits": args.train_mix_digits or ["synth-digits:0.5", "feedback:0.5"]}
    return LoopSettings(steps=args.train_steps, minutes=args.train_minutes, mix=mix, val=args.train_val,
                        auto_after=args.auto_train_after, auto_hours=args.auto_train_hours, lr=args.train_lr,
                        batch_size=args.train_batch_size, reference=args.train_reference)


def main(argv=None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for noisy in ("alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from feedback.db import resolve_url, safe_url
    log.info("corrections store: %s", safe_url(resolve_url(args.db)))
    svc = make_service(args.db, args.words_model, args.digits_model)
    from webapp.hub_sync import start_hub_sync, start_models_sync
    start_hub_sync(svc.Session)
    start_models_sync(svc.Session)  # before the first read: a restarted Space reads with the version it had
    svc.models.get("words")  # load the default model before the first visitor
    from webapp.review import ENV_VAR, Review
    password = (args.admin_password_file.read_text().strip() if args.admin_password_file
                else os.environ.get(ENV_VAR, ""))
    review = Review(svc.Session, password)
    log.info("review tab: %s", "on (password set)" if review.enabled else f"off (set {ENV_VAR} to turn it on)")
    loop = Loop(svc.Session, resolve_url(args.db), svc.models, loop_settings(args))
    demo = build_demo(svc, review, loop)
    from webapp.uploads import start_janitor, upload_limit
    uploads = Path(get_upload_folder())
    uploads.mkdir(parents=True, exist_ok=True)
    start_janitor(uploads)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **launch_settings(),
                app_kwargs={"middleware": [upload_limit(uploads)]})


def launch_settings() -> dict:
    """demo.launch keywords of the served demo: the limits of the security model (README) and the page's CSS."""
    from webapp.uploads import MAX_UPLOAD
    return dict(show_error=False, max_file_size=MAX_UPLOAD, footer_links=["api"], css=CSS,
                state_session_capacity=MAX_TABS)


if __name__ == "__main__":
    main()
