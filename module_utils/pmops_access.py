"""Pure helpers of the access modules (unit-tested without a host)."""

from __future__ import annotations

import os
import re


def key_blob(line: str) -> str | None:
    """The base64 part of an authorized_keys line (options and comment ignored), or None."""
    parts = line.strip().split()
    if not parts or parts[0].startswith("#"):
        return None
    for index, part in enumerate(parts[:-1]):
        if re.match(r"^(ssh-|ecdsa-|sk-)", part):
            return parts[index + 1]
    return None


def sweep_keys(text: str, wanted: list[str]) -> tuple[str, list[str]]:
    """authorized_keys text without the keys not in `wanted`; and the removed lines."""
    blobs = {key_blob(k) for k in wanted}
    kept, removed = [], []
    for line in text.splitlines():
        blob = key_blob(line)
        if blob is not None and blob not in blobs:
            removed.append(line.strip())
        else:
            kept.append(line)
    new = "\n".join(kept) + ("\n" if kept else "")
    return new, removed


def describe_key(line: str) -> str:
    """A short, safe description of a key line: its type, the end of its data, its comment."""
    parts = line.split()
    blob = key_blob(line) or ""
    kind = next((p for p in parts if re.match(r"^(ssh-|ecdsa-|sk-)", p)), "?")
    comment = " ".join(parts[parts.index(blob) + 1:]) if blob in parts else ""
    return f"{kind} ...{blob[-12:]} {comment}".strip()


def unmanaged_sudoers(names: list[str], keep: list[str]) -> list[str]:
    """sudoers.d entries that nobody manages: not in `keep` (sudo ignores names with . or ~)."""
    return sorted(n for n in names if n not in keep and "." not in n and not n.endswith("~"))


def mentions_user(text: str, user: str) -> bool:
    return re.search(rf"(^|[\s,!%(]){re.escape(user)}([\s,)=:]|$)", text, re.M) is not None


def processes_of(uid: int, proc: str = "/proc") -> list[int]:
    pids = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "status")) as fh:
                for line in fh:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry))
                        break
        except (OSError, ValueError, IndexError):
            continue
    return sorted(pids)
