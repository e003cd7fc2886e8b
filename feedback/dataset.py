"""The store as a training dataset: `feedback[:DB]` in a --data / --mix spec."""
from __future__ import annotations

from ocr.config import ModelConfig
from ocr.data import LabelledList, normalize_label

from .db import make_engine, session_factory
from .store import labelled_samples


def feedback_dataset(db: str | None, cfg: ModelConfig, states=("accepted",), exclude_ids: set | None = None) -> LabelledList:
    """(PNG bytes, text) of the task's labels in the given review states (label rule applied)."""
    engine = make_engine(db)
    with session_factory(engine).begin() as s:
        rows = labelled_samples(s, cfg.name, states)
    engine.dispose()
    rows = [r for r in rows if not exclude_ids or r[0] not in exclude_ids]
    ds = LabelledList([(png, text) for _, png, text in rows], cfg, name=f"feedback:{db or 'default'}")
    kept = {lid for lid, _, text in rows if normalize_label(text, cfg.charset, cfg.max_len) is not None}
    ds.label_ids = sorted(kept)  # which corrections this dataset holds (for checkpoint lineage)
    return ds
