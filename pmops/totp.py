"""Time-based one-time passwords (RFC 6238, HMAC-SHA1, 30 s steps, 6 digits), as
libpam-google-authenticator checks them: the tests log in as a person with key and code,
computing the code from the secret enrolled on the host."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time


def secret_key(text: str) -> bytes:
    """The key of a google-authenticator secret file (its first line, base32) or of a bare
    base32 string; padding and case do not matter."""
    line = text.strip().splitlines()[0].strip().replace(" ", "").upper()
    return base64.b32decode(line + "=" * (-len(line) % 8))


def code(key: bytes, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


_ASKPASS = "#!/bin/sh\n# SSH_ASKPASS: the one-time code the caller put in PMOPS_OTP_CODE.\nprintf '%s\\n' \"$PMOPS_OTP_CODE\"\n"


def askpass(directory) -> tuple[list[str], dict]:
    """ssh options and environment that answer sshd's one-time-code prompt without a terminal:
    a script (written once under directory) prints the code put in the environment by
    with_code(). The options must come before any BatchMode=yes (ssh keeps the first value)."""
    from pathlib import Path
    script = Path(directory) / "pmops-otp-askpass"
    if not script.exists():
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(_ASKPASS)
        script.chmod(0o700)
    options = ["-o", "BatchMode=no", "-o", "NumberOfPasswordPrompts=1",
               "-o", "PreferredAuthentications=publickey,keyboard-interactive"]
    return options, {"SSH_ASKPASS": str(script), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": "none"}


def with_code(env: dict, secret_text: str) -> dict:
    """env with the current code of the secret (google-authenticator's file or base32)."""
    return {**env, "PMOPS_OTP_CODE": code(secret_key(secret_text))}


def secret_shell(login: str, group: str = "pmops-2fa", directory: str = "/var/lib/pmops-otp", enrol: bool = True) -> str:
    """A root shell command printing the first line of login's secret on a host: exit 3 when
    login is not in group (no code is asked), 4 when not enrolled and enrol is False; with
    enrol, a missing secret is made first with the flags the ssh role's enrolment uses."""
    import shlex
    secret = shlex.quote(f"{directory}/{login}")
    make = (f"google-authenticator --time-based --force --no-confirm --quiet --qr-mode=NONE --allow-reuse "
            f"--no-rate-limit --emergency-codes=0 --window-size=3 --secret={secret} >/dev/null" if enrol else "exit 4")
    return (f"id -nG {shlex.quote(login)} 2>/dev/null | tr ' ' '\\n' | grep -qx {shlex.quote(group)} || exit 3; "
            f"[ -f {secret} ] || {make}; head -n 1 {secret}")
