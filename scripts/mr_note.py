#!/usr/bin/env python3
"""Post a plan (Markdown) as a comment on the merge request of this GitLab CI job.

Usage: mr_note.py PLAN.md   (in a merge-request pipeline; needs PMOPS_MR_NOTE_TOKEN, a project
access token with the api scope, and GitLab's CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID)
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path

LIMIT = 1_000_000  # GitLab's note size limit is a million characters


def request(body: str, env: dict) -> urllib.request.Request:
    missing = [k for k in ("PMOPS_MR_NOTE_TOKEN", "CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID")
               if not env.get(k)]
    if missing:
        raise SystemExit(f"mr_note: {', '.join(missing)} not set (run it in a merge-request pipeline)")
    if len(body) > LIMIT:
        body = body[: LIMIT - 200] + "\n\n… (cut; the whole plan is in the job's artifacts)\n"
    url = f"{env['CI_API_V4_URL']}/projects/{env['CI_PROJECT_ID']}/merge_requests/{env['CI_MERGE_REQUEST_IID']}/notes"
    return urllib.request.Request(url, data=json.dumps({"body": body}).encode(), method="POST",
                                  headers={"PRIVATE-TOKEN": env["PMOPS_MR_NOTE_TOKEN"],
                                           "Content-Type": "application/json"})


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        raise SystemExit(__doc__)
    req = request(Path(argv[0]).read_text(), dict(os.environ))
    with urllib.request.urlopen(req, timeout=30) as resp:
        print(f"mr_note: posted the plan to the merge request (HTTP {resp.status})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
