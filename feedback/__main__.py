"""Command line for the corrections store.

    python -m feedback stats                         counts by task and review state
    python -m feedback list --task words --state pending [--limit 50]
    python -m feedback review accept ID [ID ...]     (or: reject, pending)
    python -m feedback review accept --all-pending --task words
    python -m feedback export --task words OUT_DIR [--lmdb] [--state accepted pending]

--db PATH_OR_URL (or $OCR_FEEDBACK_DB) chooses the database; default data/feedback.sqlite.
"""
from __future__ import annotations

import argparse
import sys

from ocr.config import TASKS

from .db import make_engine, resolve_url, safe_url, session_factory
from .models import STATES
from .store import (FeedbackError, check_label_ids, export_folder, export_lmdb, list_labels, pending_ids,
                    review_in_batches, stats)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m feedback", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", help="SQLite path or SQLAlchemy URL (default $OCR_FEEDBACK_DB or data/feedback.sqlite)")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("stats", help="counts by task and state")
    ls = sub.add_parser("list", help="list labels")
    ls.add_argument("--task", choices=TASKS)
    ls.add_argument("--state", choices=STATES)
    ls.add_argument("--limit", type=int, default=50)
    rv = sub.add_parser("review", help="set the review state of labels")
    rv.add_argument("action", choices=("accept", "reject", "pending"))
    rv.add_argument("ids", nargs="*", type=int)
    rv.add_argument("--all-pending", action="store_true", help="every pending label without a conflict")
    rv.add_argument("--task", choices=TASKS)
    ex = sub.add_parser("export", help="export labels to a folder (labels.tsv) or LMDB")
    ex.add_argument("out")
    ex.add_argument("--task", choices=TASKS, required=True)
    ex.add_argument("--state", nargs="+", choices=STATES, default=["accepted"])
    ex.add_argument("--lmdb", action="store_true")
    return p


def cmd_stats(Session, args) -> None:
    with Session.begin() as s:
        st = stats(s)
    print(f"database: {safe_url(resolve_url(args.db))}")
    if not st:
        print("no submissions yet")
    for task, d in st.items():
        print(f"{task:7} samples {d.get('samples', 0):6d}  submissions {d.get('submissions', 0):6d}  "
              + "  ".join(f"{k} {d[k]}" for k in STATES) + f"  conflicts {d['conflicts']}")


def cmd_list(Session, args) -> None:
    with Session.begin() as s:
        rows = list_labels(s, args.task, args.state, args.limit)
    for r in rows:
        flag = "  CONFLICT" if r["conflict"] else ""
        print(f"{r['id']:6d} {r['task']:7} sample {r['sample_id']:6d} x{r['count']:<3d} {r['state']:9} "
              f"{r['text']!r}{flag}")


def cmd_review(Session, args) -> None:
    state = {"accept": "accepted", "reject": "rejected", "pending": "pending"}[args.action]
    ids = list(args.ids)
    with Session.begin() as s:
        check_label_ids(s, ids)
        if args.all_pending:
            more, skipped = pending_ids(s, args.task)
            ids += more
            if skipped:
                print(f"left {skipped} conflicting labels for review by id (python -m feedback list)")
    n = review_in_batches(Session, ids, state)
    print(f"{n} labels set to {state}")


def cmd_export(Session, args) -> None:
    with Session.begin() as s:
        n = (export_lmdb if args.lmdb else export_folder)(s, args.task, args.out, tuple(args.state))
    print(f"exported {n} {args.task} samples to {args.out}")


COMMANDS = {"stats": cmd_stats, "list": cmd_list, "review": cmd_review, "export": cmd_export}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    engine = make_engine(args.db)
    try:
        COMMANDS[args.cmd](session_factory(engine), args)
    except (FeedbackError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
