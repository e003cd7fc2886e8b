#!/usr/bin/env python
"""Gradio demo: read text in an image, watch where the model looked, correct it.

    python app.py                      # http://127.0.0.1:7860 with the shipped models
    python app.py --host 0.0.0.0 --port 8080 --db postgresql+psycopg://user:pw@host/db
    python app.py --share              # temporary public link through Gradio's share servers

This file only builds the interface; the work is done by webapp.service.DemoService, created
in main() (importing app.py starts nothing). API endpoints for gradio_client:
/recognize (image, task) and /save_correction (image, task, corrected_text).
"""
from __future__ import annotations

import argparse
import html
import json
import logging
import os
import re
import uuid
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine

import gradio as gr  # noqa: E402
from gradio.utils import get_upload_folder, is_in_or_equal  # noqa: E402

from webapp.service import TASK_LABELS, TASKS, DemoService, Refused, UserError, confidence_spans  # noqa: E402

ROOT = Path(__file__).resolve().parent
EXAMPLES = ROOT / "data" / "examples"
MODEL_CARDS = ROOT / "data" / "models"
COLORS = {"high": "#b7eb8f", "medium": "#ffd666", "low": "#ff7875"}
NOT_AN_IMAGE = "This file cannot be read as an image."
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


def about_markdown(svc: DemoService) -> str:
    parts = ["## The models"]
    for task in TASKS:
        card = MODEL_CARDS / f"{task}.md"
        parts.append(card.read_text(encoding="utf-8") if card.is_file() else f"No model card for `{task}` yet.")
    parts.append("""## What is stored when you press a button
"Save correction" and "Prediction is right" store, in the project's database: the image as a PNG
(after EXIF rotation), its SHA-256, the task, the model and version that read it, its prediction and
confidences, the text you gave (or your confirmation), the time, and a random id of this browser tab
(no account, no IP address). Corrections are reviewed before they are used to fine-tune the model.
"Undo" takes back a submission made in this tab.

## Use it from Python
```python
from gradio_client import Client, handle_file
client = Client("http://127.0.0.1:7860/")
text, confidence, per_char = client.predict(handle_file("word.png"), "words", api_name="/recognize")
print(text, confidence, per_char)
client.predict(handle_file("word.png"), "words", "HELLO", api_name="/save_correction")
```""")
    return "\n\n".join(parts)


def build_demo(svc: DemoService) -> gr.Blocks:
    def read(image, task_label):
        """Page handler: a failure goes to the status line and clears the outputs (no error badges)."""
        try:
            r = svc.recognize(image, _task(task_label))
        except (UserError, gr.Error) as e:
            log.info("refused: %s", e)
            return (None, "", "", gr.Slider(minimum=1, maximum=2, value=1, visible=False), None, [],
                    gr.Textbox(value=""), str(e))
        p = r.prediction
        steps = len(r.frames)
        info = (f"**{plain(p.text) or '(nothing)'}** · confidence {p.confidence:.2f} · read in {r.read_ms:.0f} ms, "
                f"attention view {r.render_ms:.0f} ms · {steps} decoding steps")
        html_ = f'<img id="attn_gif" src="{r.gif_data_uri}" alt="attention at every step" style="max-width:100%">'
        return (confidence_spans(p), info, html_,
                gr.Slider(minimum=1, maximum=max(2, steps), value=1, step=1, interactive=True, visible=True),
                r.frames[0], r.frames, gr.Textbox(value=p.text), "")

    def show_step(frames, step):
        if not frames:
            return None
        return frames[max(0, min(len(frames), int(step)) - 1)]

    def submit(image, task_label, text, client, recent, confirm):
        try:
            sid, msg = svc.save(image, _task(task_label), None if confirm else text, client)
        except (UserError, gr.Error) as e:
            log.info("refused: %s", e)
            return str(e), recent or [], recent or []
        recent = [[sid, _task(task_label), msg.split(": ", 1)[1]]] + (recent or [])
        return msg, recent[:10], recent[:10]

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
        """Read an image: (image, task 'words' or 'digits') -> text, confidence, per-character confidences."""
        try:
            p = svc.recognize(image, _task(task)).prediction
        except UserError as e:
            raise refuse(str(e)) from None
        return p.text, p.confidence, json.dumps([round(c, 4) for c in p.char_confidences])

    def api_save(image, task, corrected_text):
        """Save a correction: (image, task, corrected text) -> confirmation message."""
        try:
            return svc.save(image, _task(task), corrected_text, "api")[1]
        except UserError as e:
            raise refuse(str(e)) from None

    # delete_cache: uploads older than an hour are removed every 10 minutes (the cache would grow forever)
    with gr.Blocks(title="Read text in photos", analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        # per-tab state is dropped 30 minutes after a tab goes (attention frames are kept only per tab)
        client_id = gr.State("", time_to_live=1800)
        frames = gr.State([], time_to_live=1800)
        recent = gr.State([], time_to_live=1800)
        gr.Markdown("# Read text in photos\nAn attention-based recognizer: it reads one character at a time "
                    "and shows where it looked at every step. Correct it when it is wrong.")
        with gr.Tab("Read"):
            with gr.Row():
                with gr.Column(scale=1):
                    task = gr.Radio([TASK_LABELS[t] for t in TASKS], value=TASK_LABELS["words"], label="What is in the image?",
                                    elem_id="task")
                    image = UploadedImage(type="filepath", sources=["upload", "clipboard", "webcam"],
                                          label="Cropped word or house number", elem_id="inp")
                    read_btn = gr.Button("Read", variant="primary", elem_id="read")
                    examples = sorted(str(p) for p in EXAMPLES.glob("*.png"))
                    if examples:
                        gr.Examples([[p, TASK_LABELS["digits" if Path(p).name.startswith("digits") else "words"]]
                                     for p in examples], inputs=[image, task], label="Examples")
                with gr.Column(scale=1):
                    transcript = gr.HighlightedText(label="Transcript (colour = confidence of each character)",
                                                    color_map=COLORS, show_legend=True, elem_id="transcript")
                    info = gr.Markdown(elem_id="info")
                    anim = gr.HTML(elem_id="attn_anim", label="Attention at every step")
                    step = gr.Slider(1, 2, value=1, step=1, label="Step", elem_id="step", visible=False)
                    step_img = gr.Image(label="Attention at this step", interactive=False, elem_id="step_img")
            with gr.Row():
                correction = StrictTextbox(label="Correct transcript", elem_id="correction", max_lines=1)
            with gr.Row():
                save_btn = gr.Button("Save correction", variant="primary", elem_id="save")
                right_btn = gr.Button("Prediction is right", elem_id="confirm")
                undo_btn = gr.Button("Undo last", elem_id="undo")
            status = gr.Textbox(label="Messages", interactive=False, elem_id="status", max_lines=2)
            recent_table = gr.Dataframe(headers=["#", "task", "text"], label="Your last corrections in this page",
                                        interactive=False, elem_id="recent")
        with gr.Tab("About"):
            gr.Markdown(about_markdown(svc), elem_id="about")

        demo.load(lambda: uuid.uuid4().hex, None, client_id, api_visibility="private")  # anonymous id per tab
        outs = [transcript, info, anim, step, step_img, frames, correction, status]
        read_btn.click(read, [image, task], outs, api_visibility="private")
        image.upload(read, [image, task], outs, api_visibility="private")
        step.change(show_step, [frames, step], step_img, api_visibility="private", show_progress="hidden")
        save_btn.click(lambda *a: submit(*a, confirm=False), [image, task, correction, client_id, recent],
                       [status, recent_table, recent], api_visibility="private")
        right_btn.click(lambda *a: submit(*a, confirm=True), [image, task, correction, client_id, recent],
                        [status, recent_table, recent], api_visibility="private")
        undo_btn.click(undo, [client_id, recent], [status, recent_table, recent], api_visibility="private")

        # API-only endpoints with exactly the documented positional inputs
        with gr.Row(visible=False):
            api_img = UploadedImage(type="filepath")
            api_task = StrictTextbox()
            api_text = StrictTextbox()
            out_text, out_conf, out_chars, out_msg = gr.Textbox(), gr.Number(), gr.Textbox(), gr.Textbox()
            api_btn, api_btn2 = gr.Button(), gr.Button()
        api_btn.click(api_recognize, [api_img, api_task], [out_text, out_conf, out_chars], api_name="recognize")
        api_btn2.click(api_save, [api_img, api_task, api_text], out_msg, api_name="save_correction")
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo


def make_service(db: str | None = None, words: str = "words", digits: str = "digits") -> DemoService:
    from feedback import make_engine, session_factory
    from webapp.service import Models

    from ocr.viz import _jet

    _jet()  # import matplotlib's colour maps now, not during the first visitor's request
    return DemoService(Models({"words": words, "digits": digits}), session_factory(make_engine(db)))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    in_space = bool(os.environ.get("SPACE_ID"))
    p.add_argument("--host", default="0.0.0.0" if in_space else "127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", 7860)))
    p.add_argument("--db", help="feedback store: SQLite path or SQLAlchemy URL (default $OCR_FEEDBACK_DB or data/feedback.sqlite)")
    p.add_argument("--share", action="store_true", help="create a temporary public link (needs internet)")
    p.add_argument("--words-model", default="words", help="checkpoint for words (default: shipped)")
    p.add_argument("--digits-model", default="digits", help="checkpoint for house numbers (default: shipped)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from feedback.db import resolve_url, safe_url
    log.info("corrections store: %s", safe_url(resolve_url(args.db)))
    svc = make_service(args.db, args.words_model, args.digits_model)
    svc.models.get("words")  # load the default model before the first visitor
    from webapp.hub_sync import start_hub_sync
    start_hub_sync(svc.Session)
    demo = build_demo(svc)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, show_error=False,
                max_file_size="50mb", footer_links=["api"])


if __name__ == "__main__":
    main()
