"""The pmops_live_state module and its parsers (module_utils/pmops_live_state.py)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import module_utils.pmops_live_state as parsers  # noqa: E402

sys.modules["ansible.module_utils.pmops_live_state"] = parsers
from ansible.module_utils import basic  # noqa: E402
from ansible.module_utils.common.text.converters import to_bytes  # noqa: E402

PASSWD = """root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
pmops:x:999:999::/home/pmops:/bin/bash
li.wei:x:2001:2001:Li Wei (operations):/home/li.wei:/bin/bash
mallory:x:0:0::/root:/bin/sh
"""
SHADOW = """root:*:19700:0:99999:7:::
daemon:*:19700:0:99999:7:::
sync:*:19700:0:99999:7:::
pmops:!:19700::::::
li.wei:!:19700:0:99999:7::20000:
mallory:$y$j9T$abc$def:19700:0:99999:7:::
"""
GROUP = """root:x:0:
adm:x:4:li.wei
sudo:x:27:
pmops:x:999:
li.wei:x:2001:
pmops-people:x:1001:li.wei
"""


def test_sshd_t_keeps_every_value_of_a_repeated_key():
    text = "permitrootlogin no\nallowgroups pmops\nallowgroups pmops-people\nBanner /etc/issue.net\n"
    assert parsers.parse_sshd_t(text) == {"permitrootlogin": ["no"], "allowgroups": ["pmops", "pmops-people"],
                                          "banner": ["/etc/issue.net"]}


@pytest.mark.parametrize(("field", "state"), [("", "none"), ("!", "locked"), ("*", "locked"),
                                             ("!$y$abc", "locked"), ("$y$j9T$abc", "set")])
def test_password_state_never_keeps_the_hash(field, state):
    assert parsers.password_state(field) == state


def test_accounts_join_passwd_shadow_and_groups():
    data = parsers.accounts(PASSWD, SHADOW, GROUP)
    li = data["accounts"]["li.wei"]
    assert li["groups"] == ["li.wei", "adm", "pmops-people"]
    assert li["password"] == "locked" and li["expires"] == 20000 and li["login_shell"]
    assert data["accounts"]["mallory"]["uid"] == 0 and data["accounts"]["mallory"]["password"] == "set"
    assert data["accounts"]["mallory"]["groups"] == ["root"]
    assert not data["accounts"]["daemon"]["login_shell"]
    assert "$y$" not in json.dumps(data), "no password hash leaves the host"
    # the ageing fields, in days (empty: None)
    assert {k: data["accounts"]["mallory"][k] for k in ("changed", "min", "max", "warn", "inactive")} == \
        {"changed": 19700, "min": 0, "max": 99999, "warn": 7, "inactive": None}
    assert data["accounts"]["pmops"]["max"] is None


def test_the_account_databases_keep_duplicates_and_never_a_password_field():
    passwd = PASSWD + "li.wei:secret:2002:2001::/home/x:/bin/sh\nghost:x:3000:4242::/:/usr/sbin/nologin\n"
    system = "daemon:x:1:\nnogroup:x:65534:\n"
    group = GROUP + system + "sudo:x:28:\nwheel0:x:0:\nshadow:x:42:li.wei\n"
    data = parsers.accounts(passwd, SHADOW.replace("sync:*:", "sync::"), group)
    assert ["li.wei", 2002, 2001, False] in data["databases"]["passwd"]
    assert "secret" not in json.dumps(data)
    assert ["sudo", 28, []] in data["databases"]["group"] and ["sudo", 27, []] in data["databases"]["group"]
    from pmops.checks import account_databases
    found = account_databases(data)
    assert found == [
        "li.wei: password field in /etc/passwd, not shadowed",
        "sync: empty password: logs in with none",
        "user li.wei is listed 2 times",
        "uid 0 shared by root, mallory",
        "group sudo is listed 2 times",
        "gid 0 shared by root, wheel0",
        "ghost: primary group 4242 is not in /etc/group",
        "group shadow has members: li.wei",
        "mallory: primary group 0 (root's)",
        "group wheel0 has gid 0",
    ], found
    clean = parsers.accounts(PASSWD.replace("mallory:x:0:0", "mallory:x:2002:2001"), SHADOW, GROUP + system)
    assert account_databases(clean) == []


def test_systemctl_show_blocks_per_unit():
    text = ("Id=ssh.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\n\n"
            "Id=nope.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n")
    units = parsers.parse_systemctl_show(text)
    assert units["ssh.service"] == {"load": "loaded", "active": "active", "sub": "running", "enabled": "enabled",
                                    "calendar": ""}
    assert units["nope.service"]["load"] == "not-found"


def test_ss_listening_sockets_with_their_process():
    text = ('tcp   LISTEN 0      128          0.0.0.0:22        0.0.0.0:*    users:(("sshd",pid=88,fd=3))\n'
            'tcp   LISTEN 0      128             [::]:22           [::]:*    users:(("sshd",pid=88,fd=4))\n'
            'udp   UNCONN 0      0      127.0.0.1%lo:323        0.0.0.0:*    users:(("chronyd",pid=70,fd=5))\n')
    assert parsers.parse_ss(text) == [
        {"proto": "tcp", "address": "0.0.0.0", "port": 22, "process": "sshd"},
        {"proto": "tcp", "address": "::", "port": 22, "process": "sshd"},
        {"proto": "udp", "address": "127.0.0.1", "port": 323, "process": "chronyd"},
    ]


def load_module():
    spec = importlib.util.spec_from_file_location("pmops_live_state", ROOT / "library" / "pmops_live_state.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_module(args: dict, capsys, check: bool = True) -> dict:
    basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": dict(args, _ansible_check_mode=check)}))
    basic._ANSIBLE_PROFILE = "legacy"
    with pytest.raises(SystemExit):
        load_module().main()
    return json.loads(capsys.readouterr().out)


def test_the_module_reads_accounts_and_changes_nothing_in_check_mode(capsys):
    result = run_module({"accounts": True}, capsys)
    assert result["changed"] is False
    assert "root" in result["state"]["accounts"]["accounts"]
    assert set(result["state"]) == {"accounts", "container", "now"}, "only the sections asked for (and the container, the clock)"


def test_the_module_refuses_a_malformed_table_name_naming_the_option(capsys):
    result = run_module({"nftables_table": "pmops"}, capsys)
    assert result["failed"] and "nftables_table must be 'FAMILY NAME'" in result["msg"]


def test_the_module_documents_itself():
    module = load_module()
    import yaml
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert set(doc["options"]) == {"sshd", "sshd_users", "listings", "nftables_table", "accounts", "units", "sockets", "files", "stats",
                                   "packages", "probes", "unit_properties", "postgresql", "nginx", "env_files", "endpoints", "monitor"}
    assert set(doc["options"]["probes"]["choices"]) == set(module.PROBES)
    assert doc["attributes"]["check_mode"]["support"] == "full"
    assert yaml.safe_load(module.EXAMPLES) and yaml.safe_load(module.RETURN)["state"]


def test_files_stats_and_probes_read_what_is_there_and_never_a_stat_only_files_content(capsys, tmp_path):
    conf = tmp_path / "a.conf"
    conf.write_text("key = 1\n")
    secret = tmp_path / "secret"
    secret.write_text("hunter2\n")
    secret.chmod(0o600)
    result = run_module({"files": [str(conf), str(tmp_path / "missing")], "stats": [str(secret)],
                         "packages": ["dpkg", "no-such-package-here"], "probes": ["sudoers_valid"]}, capsys)
    files = result["state"]["files"]
    assert files[str(conf)]["content"] == "key = 1\n" and files[str(conf)]["type"] == "file"
    assert files[str(tmp_path / "missing")] == {"exists": False}
    assert files[str(secret)]["mode"] == "0600" and "content" not in files[str(secret)]
    assert result["state"]["packages"]["dpkg"] and result["state"]["packages"]["no-such-package-here"] is None
    assert "rc" in result["state"]["probes"]["sudoers_valid"]


def test_a_listing_names_entries_with_owner_and_mode_never_their_content(capsys, tmp_path):
    secrets = tmp_path / "otp"
    secrets.mkdir()
    (secrets / "li.wei").write_text("JBSWY3DPEHPK3PXP\n")
    (secrets / "li.wei").chmod(0o400)
    result = run_module({"listings": [str(secrets), str(tmp_path / "missing")]}, capsys)
    listing = result["state"]["listings"]
    assert listing[str(tmp_path / "missing")] is None
    entry = listing[str(secrets)]["li.wei"]
    assert entry["mode"] == "0400" and entry["type"] == "file" and "content" not in entry
    assert "JBSWY3DPEHPK3PXP" not in json.dumps(result)


def test_sshd_per_user_keeps_only_the_authentication_settings(capsys, monkeypatch):
    """sshd -T -C user=... for each login of sshd_users (a Match Group block shows there)."""
    outputs = {"user=pmops,host=localhost,addr=127.0.0.1": "authenticationmethods any\nport 22\n",
               "user=li.wei,host=localhost,addr=127.0.0.1":
                   "authenticationmethods publickey,keyboard-interactive:pam\nkbdinteractiveauthentication yes\nport 22\n"}
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: f"/usr/sbin/{name}")
    monkeypatch.setattr(basic.AnsibleModule, "run_command",
                        lambda self, argv, **k: (0, outputs.get(argv[-1], ""), "") if argv[0] == "/usr/sbin/sshd" else (1, "", ""))
    result = run_module({"sshd": {"user": "pmops", "host": "localhost", "addr": "127.0.0.1"}, "sshd_users": ["li.wei"]},
                        capsys)
    sshd = result["state"]["sshd"]
    assert sshd["effective"]["authenticationmethods"] == ["any"]
    assert sshd["per_user"] == {"li.wei": {"authenticationmethods": "publickey,keyboard-interactive:pam",
                                           "kbdinteractiveauthentication": "yes"}}


def test_a_program_that_is_not_installed_yet_is_said_so_not_a_failure(capsys, monkeypatch):
    """A new host in the check mode of its first converge has no nft, psql or nginx yet."""
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", lambda self, *a, **k: None)
    result = run_module({"nftables_table": "inet pmops", "postgresql": True, "nginx": True, "sshd": {"user": "pmops"}},
                        capsys)
    state = result["state"]
    assert state["nftables"] == {"loaded": False, "error": "nft: not installed"}
    assert state["postgresql"] == {"error": "psql: not installed"}
    assert state["nginx"]["rc"] is None and state["sshd"]["error"] == "sshd: not installed"


# ------------------------------------------------------------------ monitoring (MON-*)
@pytest.mark.parametrize("head, status", [(b"HTTP/1.1 200 OK\r\n", 200), (b"HTTP/1.0 400 Bad Request\r\n\r\nClient", 400),
                                          (b"SSH-2.0-OpenSSH_9.2\r\n", None), (b"", None)])
def test_http_status_of_an_answers_first_bytes(head, status):
    assert parsers.http_status(head) == status


def _serve(handler_body: bytes):
    """A one-answer TCP server on loopback: (port, thread)."""
    import socket
    import threading
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer():
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(handler_body)
        server.close()
    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return server.getsockname()[1], thread


def test_an_exporter_that_answers_a_stranger_in_the_clear_is_seen():
    port, thread = _serve(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert parsers.probe_anonymous("127.0.0.1", port, tls=False) == {"status": 200, "error": ""}
    thread.join(5)


def test_a_tls_port_that_closes_on_a_stranger_gives_no_status():
    port, thread = _serve(b"")  # reads the ClientHello and hangs up, as a server refusing the handshake does
    found = parsers.probe_anonymous("127.0.0.1", port, tls=True, timeout=3)
    assert found["status"] is None and found["error"], found
    thread.join(5)


def test_nothing_listening_is_said_so():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    assert parsers.probe_anonymous("127.0.0.1", port, tls=True) == {"status": None, "error": "connection refused: nothing listens"}


def test_read_monitor_takes_targets_rules_flags_and_receivers_from_the_apis():
    answers = {
        "/api/v1/targets?state=active": {"status": "success", "data": {"activeTargets": [
            {"labels": {"job": "node", "host": "db-01", "instance": "db-01:9100"}, "health": "down",
             "scrapeUrl": "https://db-01:9100/metrics", "lastError": "connection refused"}]}},
        "/api/v1/rules?type=alert": {"status": "success", "data": {"groups": [
            {"name": "pmops-fleet", "rules": [{"name": "HostDown", "health": "ok"}, {"name": "Watchdog", "health": "ok"}]}]}},
        "/api/v1/status/flags": {"status": "success", "data": {"storage.tsdb.retention.time": "180d"}},
        "/api/v1/alertmanagers": {"status": "success", "data": {"activeAlertmanagers": [{"url": "https://m:9093/api/v2/alerts"}]}},
        "/api/v2/status": {"cluster": {"status": "disabled"},
                           "config": {"original": "global: {}\nreceivers:\n- name: people\n  webhook_configs: []\n- name: 'watchdog'\nroute: {}\n"}},
    }
    asked = []

    def get(url, ca, user, password):
        path = url.split(":9090", 1)[-1].split(":9093", 1)[-1]
        asked.append((path, user, password))
        if not user:
            return 401, None, "HTTP 401 Unauthorized"
        return 200, answers[path], ""

    found = parsers.read_monitor({"prometheus_url": "https://m:9090", "alertmanager_url": "https://m:9093", "ca": "/ca",
                                  "user": "pmops", "password": "s3cret"}, get=get)
    assert found["targets"] == [{"job": "node", "host": "db-01", "instance": "db-01:9100", "health": "down",
                                 "scrape_url": "https://db-01:9100/metrics", "error": "connection refused"}]
    assert found["rules"] == {"HostDown": "ok", "Watchdog": "ok"}
    assert found["flags"] == {"storage.tsdb.retention.time": "180d"}
    assert found["alertmanagers"] == ["https://m:9093/api/v2/alerts"]
    assert found["alertmanager_receivers"] == ["people", "watchdog"]
    assert found["prometheus_anonymous"] == 401 and found["alertmanager_anonymous"] == 401
    assert found["errors"] == [] and "s3cret" not in json.dumps(found)


def test_read_monitor_names_an_api_that_does_not_answer():
    found = parsers.read_monitor({"prometheus_url": "https://m:9090"}, get=lambda *a: (None, None, "connection refused"))
    assert found["targets"] == [] and found["rules"] == {}
    assert "https://m:9090/api/v1/targets?state=active: connection refused" in found["errors"]


def test_the_module_never_returns_the_monitors_password(capsys):
    result = run_module({"monitor": {"prometheus_url": "https://127.0.0.1:1", "user": "pmops", "password": "s3cret-pass"},
                         "endpoints": [{"name": "nothing", "port": 1}]}, capsys)
    assert "s3cret-pass" not in json.dumps(result)
    assert result["state"]["endpoints"]["nothing"]["status"] is None
    assert result["state"]["monitor"]["errors"]
