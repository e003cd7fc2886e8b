"""The moderators' tab (Gradio): the review queue and the models (training, versions, roll back).

Nothing but a password box until the operator's password is given; every action checks the tab's unlocked
state on the server. The logic is in webapp.review (queue, bulk) and webapp.loop (jobs, versions); this
module only lays it out.

Keys on the queue (outside a text box): a accept, r reject, e edit and accept, n next.
"""
from __future__ import annotations

import io

import gradio as gr
import pandas as pd
from PIL import Image, ImageDraw

from feedback import FeedbackError
from ocr.config import TASKS

from .loop import VERSION_COLUMNS, Loop, number, whole_number
from .review import COLUMNS, Review

KEYS_JS = """() => {
  if (window.__reviewKeys) return; window.__reviewKeys = true;
  const ids = {a: 'review_accept', r: 'review_reject', e: 'review_edit', n: 'review_next'};
  document.addEventListener('keydown', (ev) => {
    const t = ev.target; const tag = (t && t.tagName || '').toLowerCase();
    if (tag === 'input' || tag === 'textarea' || (t && t.isContentEditable) || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const id = ids[ev.key.toLowerCase()]; if (!id) return;
    const b = document.getElementById(id); if (!b || b.offsetParent === null) return;
    ev.preventDefault(); b.click();
  });
}"""
DIFF_COLOURS = {"changed": "#ffd666", "removed": "#ff7875"}
NOTHING = "The queue is empty: nothing to review here."
LOCKED = "Locked: give the review password (an unlocked page locks itself after 15 minutes without use)."


QUEUE_SHOWN = 50  # labels the queue shows at once


def _png(data: bytes | None, box=None) -> Image.Image | None:
    if not data:
        return None
    img = Image.open(io.BytesIO(data))
    if box:
        img = img.convert("RGB")
        ImageDraw.Draw(img).rectangle(list(box), outline=(255, 0, 0), width=max(2, round(max(img.size) / 250)))
    return img


def _readable(img: Image.Image | None, height: int = 120, max_width: int = 900) -> Image.Image | None:
    """A small crop enlarged for the moderator's eyes (the page shows images at most at their own size)."""
    if img is None or img.height >= height:
        return img
    scale = min(height / img.height, max_width / max(img.width, 1))
    return img if scale <= 1 else img.resize((round(img.width * scale), round(img.height * scale)), Image.BICUBIC)


def _bars(rows, x: str, y: str) -> pd.DataFrame:
    return pd.DataFrame(rows or [], columns=[x, y]).astype({x: str, y: int})


def build_review_tab(review: Review, loop: Loop | None = None) -> None:
    def guarded(fn, n_out: int):
        """Run fn only with a valid unlock token; FeedbackError -> its message; the first output is the message."""
        def run(token, *args):
            if not review.valid(token):
                return (LOCKED,) + tuple(gr.skip() for _ in range(n_out - 1))
            try:
                return fn(*args)
            except FeedbackError as e:
                return (f"Not done: {e}.",) + tuple(gr.skip() for _ in range(n_out - 1))
        return run

    def unlock(attempt, request: gr.Request):
        token, msg = review.login(attempt, getattr(getattr(request, "client", None), "host", None))
        if token:
            return token, gr.Column(visible=True), msg, gr.Textbox(value=""), gr.Timer(active=loop is not None)
        return "", gr.Column(visible=False), msg, gr.Textbox(value=""), gr.Timer(active=False)

    # ------------------------------------------------------------------ queue
    def show(task, state, pick: int | None = None, msg: str | None = None):
        rows = review.queue(None if task == "all" else task, None if state == "all" else state, QUEUE_SHOWN)
        summary = review.summary()
        counts = "  ·  ".join(f"{t}: " + ", ".join(f"{k} {v}" for k, v in d.items()) for t, d in summary["stats"].items())
        ids = [r["id"] for r in rows]
        chosen = next((r for r in rows if r["id"] == pick), rows[0] if rows else None)
        gallery = [(_png(r["png"]), f"#{r['id']}: {r['prediction']} -> {r['text']}") for r in rows]
        shown = (f"The first {len(rows)} labels of the queue (the next ones follow as these are reviewed)"
                 if len(rows) >= QUEUE_SHOWN else f"{len(rows)} labels in the queue")
        head = msg or f"{shown} (conflicts first, then the least sure readings). {counts or 'The store is empty.'}"
        return (head, review.table(rows), gallery, ids) + selected(chosen) + (
            _bars(summary["per_day"], "day", "submissions"), _bars(summary["per_task"], "task", "submissions"),
            _bars([(repr(c)[1:-1], n) for c, n in summary["chars"]], "character", "corrections"))

    def selected(r: dict | None):
        if r is None:
            return None, None, gr.Image(value=None, visible=False), NOTHING, [], ""
        other = ", ".join(f"{t!r} x{n}" for t, n in r.get("rivals", [])) or "none"
        conf = "" if r.get("confidence") is None else f" (confidence {r['confidence']:.2f})"
        info = (f"**Label #{r['id']}** ({r['task']}, {r['state']}{', conflict' if r['conflict'] else ''}): the model read "
                f"`{r['prediction']}`{conf}; submitted `{r['text']}` x{r['count']}; other texts for this image: {other}.")
        photo = _png(r.get("photo_png"), r.get("box"))
        return (r["id"], _readable(_png(r["png"])), gr.Image(value=photo, visible=photo is not None), info,
                review.difference(r["prediction"], r["text"]), r["text"])

    def select_row(token, ids, task, state, evt: gr.SelectData):
        if not review.valid(token):
            return (LOCKED,) + tuple(gr.skip() for _ in range(len(outs) - 1))
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        if not isinstance(row, int) or not 0 <= row < len(ids or []):
            return show(task, state)
        return show(task, state, pick=ids[row], msg=f"Label #{ids[row]} selected.")

    def act(action, label_id, task, state):
        if label_id is None:
            raise FeedbackError("select a label in the table first")
        msg = review.act([int(label_id)], action)
        return show(task, state, msg=f"#{label_id}: {msg}. Next in the queue:")

    def edit(label_id, text, task, state):
        if label_id is None:
            raise FeedbackError("select a label in the table first")
        return show(task, state, msg=review.edit(int(label_id), text) + ". Next in the queue:")

    def skip(label_id, ids, task, state):
        ids = ids or []
        nxt = ids[(ids.index(label_id) + 1) % len(ids)] if label_id in ids else None
        return show(task, state, pick=nxt)

    def bulk_preview(task, others, conf):
        n, msg = review.bulk(None if task == "all" else task, *_bulk_settings(others, conf))
        return msg, gr.Button(value=f"Accept these {n}", interactive=n > 0)

    def bulk_apply(task, state, others, conf):
        _, msg = review.bulk(None if task == "all" else task, *_bulk_settings(others, conf), apply=True)
        return show(task, state, msg=msg) + (gr.Button(value="Accept them", interactive=False),)

    with gr.Tab("Review"):
        ok = gr.Textbox(visible=False, elem_id="review_token")  # the unlock token: sent in request bodies, not URLs
        ids_state, sel = gr.State([]), gr.State(None)
        with gr.Row():
            pw = gr.Textbox(type="password", label="Review password", elem_id="review_pw", scale=3)
            unlock_btn = gr.Button("Unlock", elem_id="review_unlock", scale=1)
        review_msg = gr.Textbox(label="Review messages", interactive=False, elem_id="review_msg")
        with gr.Column(visible=False) as panel:
            with gr.Tabs():
                with gr.Tab("Queue"):
                    with gr.Row():
                        task_f = gr.Dropdown(["all", *TASKS], value="all", label="Task", elem_id="review_task")
                        state_f = gr.Dropdown(["pending", "accepted", "rejected", "all"], value="pending", label="State",
                                              elem_id="review_state")
                        refresh = gr.Button("Refresh", elem_id="review_show")
                    with gr.Row(equal_height=False):
                        with gr.Column(scale=2):
                            sel_img = gr.Image(label="Image", interactive=False, height=160, elem_id="review_image")
                            sel_photo = gr.Image(label="Its photo (the region boxed)", interactive=False, height=220,
                                                 visible=False, elem_id="review_photo")
                        with gr.Column(scale=3):
                            sel_info = gr.Markdown(NOTHING, elem_id="review_info")
                            diff = gr.HighlightedText(label="Submitted text against the model's reading",
                                                      color_map=DIFF_COLOURS, show_legend=True, elem_id="review_diff")
                            new_text = gr.Textbox(label="Text to accept (edit it, then 'Edit and accept')",
                                                  elem_id="review_text")
                            with gr.Row():
                                accept = gr.Button("Accept (a)", variant="primary", elem_id="review_accept")
                                reject = gr.Button("Reject (r)", variant="stop", elem_id="review_reject")
                                edit_btn = gr.Button("Edit and accept (e)", elem_id="review_edit")
                                next_btn = gr.Button("Next (n)", elem_id="review_next")
                    table = gr.Dataframe(headers=COLUMNS, interactive=False, elem_id="review_table", wrap=True,
                                         label="Queue (click a row to review it)")
                    gallery = gr.Gallery(label="Images in the queue", columns=8, height=200, object_fit="contain",
                                         elem_id="review_gallery")
                    with gr.Row():
                        others = gr.Number(1, precision=0, minimum=1, label="Accept in bulk: same text from at least "
                                           "this many other submissions", elem_id="bulk_others")
                        conf = gr.Slider(0.5, 1.0, value=0.9, step=0.01, label="... or a confirmation of the model's "
                                         "reading at this confidence", elem_id="bulk_conf")
                        preview = gr.Button("How many?", elem_id="bulk_preview")
                        apply = gr.Button("Accept them", interactive=False, elem_id="bulk_apply")
                    with gr.Row():
                        per_day = gr.BarPlot(x="day", y="submissions", label="Submissions per day", height=200,
                                             y_lim=[0, None], elem_id="plot_day")
                        per_task = gr.BarPlot(x="task", y="submissions", label="Submissions per task", height=200,
                                              y_lim=[0, None], elem_id="plot_task")
                        chars = gr.BarPlot(x="character", y="corrections", label="Characters most often corrected",
                                           height=200, y_lim=[0, None], sort="-y", elem_id="plot_chars")
                if loop is not None:
                    models_tab = build_models_tab(loop, guarded)
        timer = models_tab["timer"] if loop is not None else gr.Timer(2.0, active=False)

        outs = [review_msg, table, gallery, ids_state, sel, sel_img, sel_photo, sel_info, diff, new_text,
                per_day, per_task, chars]
        n = len(outs)
        # outside the queue: a guess never holds a place a reader needs (and is refused at once when over the limit)
        unlocked = unlock_btn.click(unlock, pw, [ok, panel, review_msg, pw, timer], api_visibility="private",
                                    queue=False)
        submitted = pw.submit(unlock, pw, [ok, panel, review_msg, pw, timer], api_visibility="private", queue=False)
        def after_unlock(token, *args):
            """The queue right after a login; after a refused one nothing (the refusal's message stays shown)."""
            if not review.valid(token):
                return tuple(gr.skip() for _ in range(n))
            return guarded(show, n)(token, *args)

        for ev in (unlocked, submitted):  # the queue opens at once; the keys work from then on
            ev.then(after_unlock, [ok, task_f, state_f], outs, api_visibility="private").then(None, js=KEYS_JS)
        for trigger in (refresh.click, task_f.change, state_f.change):
            trigger(guarded(show, n), [ok, task_f, state_f], outs, api_visibility="private")
        table.select(select_row, [ok, ids_state, task_f, state_f], outs, api_visibility="private",
                     show_progress="hidden")
        accept.click(guarded(lambda i, t, s: act("accept", i, t, s), n), [ok, sel, task_f, state_f], outs,
                     api_visibility="private")
        reject.click(guarded(lambda i, t, s: act("reject", i, t, s), n), [ok, sel, task_f, state_f], outs,
                     api_visibility="private")
        edit_btn.click(guarded(edit, n), [ok, sel, new_text, task_f, state_f], outs, api_visibility="private")
        next_btn.click(guarded(skip, n), [ok, sel, ids_state, task_f, state_f], outs, api_visibility="private")
        preview.click(guarded(bulk_preview, 2), [ok, task_f, others, conf], [review_msg, apply], api_visibility="private")
        apply.click(guarded(bulk_apply, n + 1), [ok, task_f, state_f, others, conf], outs + [apply],
                    api_visibility="private")
        if loop is not None:
            models_tab["wire"](ok)


def build_models_tab(loop: Loop, guarded) -> dict:
    """The Models sub-tab: start / cancel a training job and follow it, the versions, roll back, the trigger."""

    def view(msg: str | None = None):
        st = loop.status()
        current = "\n".join(f"- **{t}** reads with {loop.current_line(t)}" for t in TASKS)
        new = ", ".join(f"{t}: {loop.new_accepted(t)}" for t in TASKS)
        bar = (f"<progress value='{st.progress:.3f}' max='1' style='width:100%'></progress>"
               f"<div>{round(100 * st.progress)} %</div>")
        return (msg or st.line, current + f"\n\nAccepted since the last job: {new}.", bar, st.line, st.log,
                loop.versions_table(), gr.Button(interactive=st.active))

    def start(task, steps, minutes):
        return view(loop.start(task, steps, minutes))

    def cancel():
        return view(loop.cancel())

    def roll(task, vid):
        return view(loop.rollback(task, vid))

    def save_auto(after, hours):
        a = whole_number(after, "the number of new corrections", minimum=0)
        h = number(hours, "the hours between automatic jobs", 0, 24 * 365)
        loop.settings.auto_after, loop.settings.auto_hours = a, h
        return view("Automatic training " + (f"on: at least {a} newly accepted corrections, at most one job every "
                                             f"{h:g} h." if a else "off."))

    def tick():
        started = loop.maybe_auto()
        return view(started)

    with gr.Tab("Models"):
        models_msg = gr.Markdown(elem_id="models_msg")
        current = gr.Markdown(elem_id="models_current")
        with gr.Row():
            task = gr.Dropdown(list(TASKS), value="words", label="Task", elem_id="train_task")
            steps = gr.Number(loop.settings.steps, precision=0, minimum=1, label="Training steps", elem_id="train_steps")
            minutes = gr.Number(loop.settings.minutes, minimum=1, label="Time limit (minutes)", elem_id="train_minutes")
            start_btn = gr.Button("Train a new model", variant="primary", elem_id="train_start")
            cancel_btn = gr.Button("Cancel the job", variant="stop", interactive=False, elem_id="train_cancel")
        bar = gr.HTML(elem_id="train_progress")
        status = gr.Textbox(label="Job", interactive=False, elem_id="train_status")
        log = gr.Textbox(label="Job log (last lines)", lines=6, max_lines=12, interactive=False, elem_id="train_log")
        versions = gr.Dataframe(headers=VERSION_COLUMNS, interactive=False, wrap=True, elem_id="versions_table",
                                label="Model versions (newest first)")
        with gr.Row():
            roll_id = gr.Number(None, precision=0, label="Version to read with", elem_id="rollback_id")
            roll_btn = gr.Button("Read with this version (roll back)", elem_id="rollback_btn")
        with gr.Row():
            auto_after = gr.Number(loop.settings.auto_after, precision=0, minimum=0, label="Train automatically after "
                                   "this many newly accepted corrections (0: never)", elem_id="auto_after")
            auto_hours = gr.Number(loop.settings.auto_hours, minimum=0, label="... at most once in this many hours",
                                   elem_id="auto_hours")
            auto_btn = gr.Button("Save", elem_id="auto_save")
        timer = gr.Timer(2.0, active=False)
    outs = [models_msg, current, bar, status, log, versions, cancel_btn]
    n = len(outs)

    def wire(ok):
        timer.tick(guarded(tick, n), [ok], outs, api_visibility="private", show_progress="hidden")
        start_btn.click(guarded(start, n), [ok, task, steps, minutes], outs, api_visibility="private")
        cancel_btn.click(guarded(cancel, n), [ok], outs, api_visibility="private")
        roll_btn.click(guarded(roll, n), [ok, task, roll_id], outs, api_visibility="private")
        auto_btn.click(guarded(save_auto, n), [ok, auto_after, auto_hours], outs, api_visibility="private")

    return {"timer": timer, "wire": wire}


def _bulk_settings(others, conf) -> tuple[int, float]:
    return whole_number(others, "the number of other submissions"), number(conf, "the confidence", 0, 1)
