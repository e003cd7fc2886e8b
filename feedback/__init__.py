"""The corrections store: what people corrected or confirmed in the demo, for fine-tuning.

    from feedback import make_engine, session_factory, add_submission
    Session = session_factory(make_engine())          # $OCR_FEEDBACK_DB or data/feedback.sqlite
    with Session.begin() as s:
        add_submission(s, image, "words", prediction, "Hello", model_id="words", model_version="1", client_id="x")
"""
from ocr.config import TASKS
from ocr.prediction import Prediction

from .db import ENV_VAR, make_engine, resolve_url, safe_url, session_factory, upgrade_schema
from .models import STATES, Label, Photo, Sample, Submission
from .store import (FeedbackError, accept_pending, accepted_rows, add_submission, bulk_candidates, review_queue, check_label_ids, conflicts, correction_counts, edit_label,
                    export_folder, export_lmdb, labelled_samples, list_labels, pending_ids, review_in_batches,
                    review_rows, set_state, set_states, stats, undo_submission, validate_text)

__all__ = [
    "ENV_VAR", "STATES", "TASKS", "FeedbackError", "Label", "Photo", "Prediction", "Sample", "Submission", "accept_pending", "accepted_rows",
    "add_submission", "bulk_candidates", "check_label_ids", "conflicts", "correction_counts", "edit_label", "export_folder", "export_lmdb",
    "labelled_samples", "list_labels", "make_engine", "pending_ids", "resolve_url", "review_in_batches",
    "review_queue", "review_rows", "safe_url", "session_factory", "set_state", "set_states", "stats", "undo_submission",
    "upgrade_schema", "validate_text",
]
