"""The store as a training dataset: `feedback[:DB]` in a --data / --mix spec.

`KIND` is declared in pyproject.toml under the entry-point group `ocr.dataset_kinds`, so `ocr.training.datasets.specs`
finds it when a spec asks for `feedback` (ocr itself knows nothing of the store). It needs torch; the rest of the
package does not.
"""
from __future__ import annotations

from ocr.config import ModelConfig
from ocr.training.datasets.labels import LabelledList
from ocr.training.datasets.specs import Kind

from .db import make_engine, session_factory
from .store import labelled_samples


def feedback_dataset(db: str | None, cfg: ModelConfig, states=("accepted",)) -> LabelledList:
    """(PNG bytes, text) of the task's labels in the given review states (label rule applied).

    `ds.label_ids[i]` is the store's id of sample i (for hold-out splits and checkpoint lineage).
    """
    engine = make_engine(db)
    with session_factory(engine).begin() as s:
        rows = labelled_samples(s, cfg.name, states)
    engine.dispose()
    ds = LabelledList([], name=f"feedback:{db or 'default'}")
    ds.label_ids = []
    for lid, png, text in rows:
        label = ds.report.keep(text, cfg)
        if label is not None:
            ds.items.append((png, label))
            ds.label_ids.append(lid)
    return ds


def _build(spec, cfg, **_) -> LabelledList:
    return feedback_dataset(spec.path, cfg)


KIND = Kind(_build, path="optional")
