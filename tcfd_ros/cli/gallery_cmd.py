"""``tcfd-ros gallery list|export|erase``: inspect and prune the recognizer's SQLite gallery.

The gallery holds only embeddings (never imagery). A file that is not a gallery (not SQLite, empty)
is refused and left untouched (exit code 2). A damaged gallery is kept under a new name, what is
readable of it is recovered into a fresh gallery at --db, and one line on stderr says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from tcfd_ros.cli.examples import FORMATTER, examples
from tcfd_ros.errors import GalleryError
from tcfd_ros.gallery import Gallery
from tcfd_ros.wording import count


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, tz=timezone.utc).isoformat(timespec="seconds")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gallery", help="list, export or erase identities of the gallery",
                       description="Inspect the SQLite gallery the recognizer writes (embeddings only).",
                       epilog=examples("tcfd-ros gallery --db out/gallery.sqlite list",
                                       "tcfd-ros gallery --db out/gallery.sqlite export "
                                       "--out out/gallery.json",
                                       "tcfd-ros gallery --db out/gallery.sqlite erase 3 7"),
                       formatter_class=FORMATTER)
    p.add_argument("--db", type=Path, required=True, help="gallery file (the recognizer's gallery_path)")
    act = p.add_subparsers(dest="action", metavar="ACTION")
    act.required = True
    ls = act.add_parser("list", help="one line per identity", description="One line per identity.",
                        epilog=examples("tcfd-ros gallery --db out/gallery.sqlite list --json"),
                        formatter_class=FORMATTER)
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ex = act.add_parser("export", help="write identities and embeddings as JSON",
                        description="Write identities and their embeddings as one JSON document.",
                        epilog=examples("tcfd-ros gallery --db out/gallery.sqlite export --out -"),
                        formatter_class=FORMATTER)
    ex.add_argument("--out", type=Path, required=True, help="output .json file ('-' for stdout)")
    er = act.add_parser("erase", help="delete identities and their embeddings",
                        description="Delete identities and their embeddings; an id that is not in the "
                                    "gallery is an error (exit code 2) and nothing is erased.",
                        epilog=examples("tcfd-ros gallery --db out/gallery.sqlite erase 3 7",
                                        "tcfd-ros gallery --db out/gallery.sqlite erase --all"),
                        formatter_class=FORMATTER)
    who = er.add_mutually_exclusive_group(required=True)
    who.add_argument("ids", nargs="*", type=int, default=[], help="global ids to erase")
    who.add_argument("--all", action="store_true", help="erase every identity")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.db.is_file():
        raise GalleryError(f"--db {args.db}: no such gallery file")
    with Gallery(args.db, on_corrupt="recover") as g:   # a recovery is logged there, once (stderr)
        if args.action == "list":
            recs = g.list_identities()
            if args.json:
                print(json.dumps([{"identity_id": r.identity_id, "label": r.label, "enrolled": r.enrolled,
                                   "first_seen": r.first_seen, "last_seen": r.last_seen,
                                   "num_embeddings": r.num_embeddings, "sensors": list(r.sensors)}
                                  for r in recs], indent=1))
                return 0
            print(f"{'id':>6} {'label':<16} {'enrolled':<8} {'2d':>4} {'3d':>4} "
                  f"{'last seen (UTC)':<25} sensors")
            for r in recs:
                print(f"{r.identity_id:>6} {(r.label or '-'):<16} {str(r.enrolled):<8} "
                      f"{r.num_embeddings.get('2d', 0):>4} {r.num_embeddings.get('3d', 0):>4} "
                      f"{_iso(r.last_seen):<25} {','.join(r.sensors) or '-'}")
            print(f"{count(len(recs), 'identity')} in {args.db}")
            return 0
        if args.action == "export":
            text = json.dumps(g.export_dict())
            if str(args.out) == "-":
                sys.stdout.write(text + "\n")
            else:
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(text, encoding="utf-8")
                print(f"exported {count(len(g.list_identities()), 'identity')} to {args.out}")
            return 0
        if args.all:
            print(f"erased {count(g.erase_all(), 'identity')} from {args.db}")
            return 0
        known = {r.identity_id for r in g.list_identities()}
        missing = sorted({i for i in args.ids if i not in known})
        if missing:
            raise GalleryError(f"no identity {', '.join(map(str, missing))} in {args.db} (it holds "
                               f"{count(len(known), 'identity')}; `tcfd-ros gallery --db {args.db} list`); "
                               "nothing erased")
        erased = sum(bool(g.erase(i)) for i in dict.fromkeys(args.ids))
        print(f"erased {count(erased, 'identity')} from {args.db}")
        return 0
