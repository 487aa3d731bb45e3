"""pmops.totp against RFC 6238's test vectors (SHA-1) and google-authenticator's secret files."""

import base64

from pmops.totp import code, secret_key

RFC_KEY = b"12345678901234567890"


def test_rfc_6238_vectors():
    for at, expected in ((59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"),
                         (1234567890, "89005924"), (2000000000, "69279037"), (20000000000, "65353130")):
        assert code(RFC_KEY, at=at, digits=8) == expected


def test_six_digits_are_the_low_digits():
    assert code(RFC_KEY, at=59) == "287082"


def test_a_secret_file_gives_its_first_line_as_the_key():
    text = base64.b32encode(RFC_KEY).decode().rstrip("=") + '\n" WINDOW_SIZE 3\n" TOTP_AUTH\n'
    assert secret_key(text) == RFC_KEY
    assert secret_key(text.lower()) == RFC_KEY


def test_the_secret_command_says_who_needs_no_code_and_enrols_only_when_asked():
    from pmops.totp import secret_shell
    made = secret_shell("li.wei")
    assert "grep -qx pmops-2fa || exit 3" in made and "--secret=/var/lib/pmops-otp/li.wei" in made
    assert "google-authenticator" not in secret_shell("li.wei", enrol=False)
    assert "'li.wei; rm'" in secret_shell("li.wei; rm"), "a login is quoted for the shell"
