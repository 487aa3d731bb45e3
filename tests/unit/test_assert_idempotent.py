"""The idempotence gate reads PLAY RECAP, with or without colour."""

from assert_idempotent import parse_recap

RECAP = """
PLAY RECAP *********************************************************************
app-01                     : ok=21   changed=0    unreachable=0    failed=0    skipped=2    rescued=0    ignored=0
\x1b[0;33mweb-01\x1b[0m                     : \x1b[0;32mok=23  \x1b[0m \x1b[0;33mchanged=1   \x1b[0m unreachable=0    failed=0    skipped=2    rescued=0    ignored=0
"""


def test_parse_recap_reads_every_host():
    recap = parse_recap(RECAP)
    assert recap["app-01"] == {"ok": 21, "changed": 0, "unreachable": 0, "failed": 0}
    assert recap["web-01"]["changed"] == 1


def test_parse_recap_of_nothing_is_empty():
    assert parse_recap("no recap here") == {}
