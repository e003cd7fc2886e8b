"""Where the project keeps its files. Each is a setting (an environment variable, read when used)
whose default is the repository's layout, so a checkout works as it is.

    OCR_DATA_DIR     shipped models, example images, the lexicon, colour clusters   default: <repo>/data
    OCR_MODELS_DIR   the shipped models (`load_recognizer("words")`)               default: $OCR_DATA_DIR/models
    OCR_CACHE        font legibility checks, MJSynth indexes                        default: $XDG_CACHE_HOME/ocr
                                                                                    or ~/.cache/ocr
    OCR_FEEDBACK_DB  the corrections store (see feedback.db)                        default: $OCR_DATA_DIR/feedback.sqlite
    OCR_VERSIONS_DIR model versions made by the loop (see feedback.registry)       default: $OCR_DATA_DIR/versions
    OCR_PRECISION    the demo's serving encoder: auto (int8 on CPUs with VNNI for   default: auto
                     a model shipped with an int8 graph, else bf16 on AMX /
                     AVX512-BF16 CPUs, else fp32), fp32 or bf16 (ocr.recognizer)
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_DATA = Path(__file__).resolve().parent.parent / "data"


def data_dir() -> Path:
    return Path(os.environ.get("OCR_DATA_DIR") or REPO_DATA)


def models_dir() -> Path:
    return Path(os.environ.get("OCR_MODELS_DIR") or data_dir() / "models")


def shipped_model(task: str) -> Path:
    """The default checkpoint of a task: models_dir()/<task>.safetensors."""
    return models_dir() / f"{task}.safetensors"


def cache_dir() -> Path:
    if os.environ.get("OCR_CACHE"):
        return Path(os.environ["OCR_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ocr"


def default_feedback_db() -> Path:
    return data_dir() / "feedback.sqlite"


def serving_precision() -> str:
    """OCR_PRECISION, checked: "auto", "fp32" or "bf16"."""
    value = os.environ.get("OCR_PRECISION", "auto").strip().lower() or "auto"
    if value not in ("auto", "fp32", "bf16"):
        raise ValueError(f"OCR_PRECISION must be auto, fp32 or bf16, got {value!r}")
    return value


def installed_package_dir(name: str) -> Path | None:
    """The folder of an installed package, found without importing it (for data files it ships), or None."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])
