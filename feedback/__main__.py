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

from sqlalchemy import select

from .db import make_engine, resolve_url, session_factory
from .models import STATES, TASKS, Label, Sample
from .store import FeedbackError, conflicts, export_folder, export_lmdb, set_state, stats


def main(argv=None) -> int:
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
    args = p.parse_args(argv)

    engine = make_engine(args.db)
    Session = session_factory(engine)
    try:
        if args.cmd == "stats":
            with Session.begin() as s:
                st = stats(s)
            print(f"database: {resolve_url(args.db)}")
            if not st:
                print("no submissions yet")
            for task, d in st.items():
                print(f"{task:7} samples {d.get('samples', 0):6d}  submissions {d.get('submissions', 0):6d}  "
                      + "  ".join(f"{k} {d[k]}" for k in STATES) + f"  conflicts {d['conflicts']}")
        elif args.cmd == "list":
            with Session.begin() as s:
                q = select(Label, Sample.task).join(Sample).order_by(Label.id).limit(args.limit)
                if args.task:
                    q = q.where(Sample.task == args.task)
                if args.state:
                    q = q.where(Label.state == args.state)
                bad = set(conflicts(s))
                for label, task in s.execute(q):
                    flag = "  CONFLICT" if label.sample_id in bad else ""
                    print(f"{label.id:6d} {task:7} sample {label.sample_id:6d} x{label.count:<3d} {label.state:9} {label.text!r}{flag}")
        elif args.cmd == "review":
            state = {"accept": "accepted", "reject": "rejected", "pending": "pending"}[args.action]
            with Session.begin() as s:
                ids = list(args.ids)
                if args.all_pending:
                    bad = set(conflicts(s, args.task))
                    q = select(Label.id, Label.sample_id).join(Sample).where(Label.state == "pending", Label.count > 0)
                    if args.task:
                        q = q.where(Sample.task == args.task)
                    skipped = 0
                    for lid, sid in s.execute(q):
                        if sid in bad:
                            skipped += 1
                        else:
                            ids.append(lid)
                    if skipped:
                        print(f"left {skipped} conflicting labels for review by id (python -m feedback list)")
                for lid in ids:
                    set_state(s, lid, state)
            print(f"{len(ids)} labels set to {state}")
        elif args.cmd == "export":
            with Session.begin() as s:
                n = (export_lmdb if args.lmdb else export_folder)(s, args.task, args.out, tuple(args.state))
            print(f"exported {n} {args.task} samples to {args.out}")
    except (FeedbackError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
