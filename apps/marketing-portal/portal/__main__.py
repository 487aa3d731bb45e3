"""`python3 -m portal serve|migrate|version`."""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import db, release


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="portal", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="answer HTTP on PORTAL_LISTEN (default 0.0.0.0:8080)")
    sub.add_parser("migrate", help="apply this release's missing schema migrations")
    sub.add_parser("version", help="print this release as JSON")
    args = parser.parse_args(argv)
    rel = release()
    if args.command == "version":
        print(json.dumps(rel))
    elif args.command == "migrate":
        applied = db.migrate(int(rel["schema"]))
        print(json.dumps({"version": rel["version"], "schema": rel["schema"], "applied": applied}))
    else:
        from .web import serve

        serve(rel, os.environ.get("PORTAL_LISTEN", "0.0.0.0:8080"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
