"""What the lab needs secret, made here and never committed (.lab/ is ignored): the automation
account's SSH key and the known_hosts it trusts, the lab's CA and host certificates, the sample
people's SSH keys, the services' passwords and root's console password. Made once and kept until
`pmops lab down`.

Layer: command, part of pmops.lab; imports pmops.lab.base only.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

from pmops import progress
from pmops.lab.base import INVENTORY, STATE_DIR, Topology
from pmops.paths import ROOT

SSH_DIR = STATE_DIR / "ssh"
KEY_FILE = SSH_DIR / "id_ed25519"
KNOWN_HOSTS = SSH_DIR / "known_hosts"
PKI_DIR = STATE_DIR / "pki"
PEOPLE_DIR = STATE_DIR / "people"
SECRETS_DIR = STATE_DIR / "secrets"
# Passwords the lab needs (its services', root's console), one random token per file (production: ansible-vault).
LAB_PASSWORDS = ("portal_db_password", "backup_password", "prometheus_password", "root_password")
ACCESS_FILE = INVENTORY / "group_vars" / "all" / "access.yml"


def ensure_keypair() -> None:
    SSH_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(SSH_DIR, 0o700)
    if not KEY_FILE.exists() or not KEY_FILE.with_suffix(".pub").exists():
        for path in (KEY_FILE, KEY_FILE.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pmops-lab-control",
                        "-f", str(KEY_FILE)], check=True)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def ensure_pki(topo: Topology) -> None:
    """The lab's own small CA and one TLS certificate per host (made once, kept until down)."""
    PKI_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(PKI_DIR, 0o700)
    ca_key, ca_crt = PKI_DIR / "ca.key", PKI_DIR / "ca.crt"
    if not ca_key.exists() or not ca_crt.exists():
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(ca_key), "-out", str(ca_crt), "-days", "825",
                 "-subj", "/O=Power Marketing Ops lab/CN=pmops lab CA",
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        for old in PKI_DIR.glob("*.crt"):
            if old != ca_crt:
                old.unlink()
    for host in topo.hosts:
        key, crt = PKI_DIR / f"{host.name}.key", PKI_DIR / f"{host.name}.crt"
        if key.exists() and crt.exists():
            continue
        csr = PKI_DIR / f"{host.name}.csr"
        ext = PKI_DIR / f"{host.name}.ext"
        ext.write_text(f"subjectAltName=DNS:{host.name},IP:{host.ip}\n"
                       "extendedKeyUsage=serverAuth,clientAuth\n"
                       "keyUsage=critical,digitalSignature,keyEncipherment\n")
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(key), "-out", str(csr), "-subj", f"/O=Power Marketing Ops lab/CN={host.name}")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
                 "-CAcreateserial", "-out", str(crt), "-days", "397", "-extfile", str(ext))
        csr.unlink()
        ext.unlink()
    for path in PKI_DIR.iterdir():
        os.chmod(path, 0o600)


def people_key_names(access_file: Path = ACCESS_FILE) -> list[str]:
    """The sample people's key files the lab's access matrix reads (.lab/people/<name>.pub)."""
    if not access_file.exists():
        return []
    return sorted(set(re.findall(r"\.lab/people/([A-Za-z0-9_.-]+)\.pub", access_file.read_text())))


def ensure_people_keys(access_file: Path = ACCESS_FILE) -> None:
    """One key pair per key file named in the lab's access matrix (made once, kept until down)."""
    names = people_key_names(access_file)
    if not names:
        return
    PEOPLE_DIR.mkdir(parents=True, exist_ok=True)
    os.chmod(PEOPLE_DIR, 0o700)
    for name in names:
        key = PEOPLE_DIR / name
        if key.exists() and key.with_suffix(key.suffix + ".pub").exists():
            continue
        for path in (key, PEOPLE_DIR / f"{name}.pub"):
            path.unlink(missing_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@pmops-lab", "-f", str(key)],
                       check=True)


def ensure_secrets(topo: Topology) -> None:
    """Everything secret the lab needs, made here and never committed: the automation
    account's key, the CA and host certificates, the sample people's keys."""
    ensure_keypair()
    ensure_pki(topo)
    ensure_people_keys()
    ensure_passwords()


def ensure_passwords() -> None:
    """A random password per name in LAB_PASSWORDS, kept once made (a converged lab uses it)."""
    SECRETS_DIR.mkdir(parents=True, exist_ok=True)
    SECRETS_DIR.chmod(0o700)
    for name in LAB_PASSWORDS:
        path = SECRETS_DIR / name
        if not path.exists():
            tmp = path.with_suffix(".tmp")
            tmp.write_text(secrets.token_urlsafe(24) + "\n")
            tmp.chmod(0o600)
            tmp.replace(path)


def remove_secrets() -> None:
    """Remove what ensure_secrets made: the lab's keys and passwords go with the lab."""
    if SSH_DIR.exists():
        progress(f"removing the lab's SSH keys and known_hosts ({SSH_DIR.relative_to(ROOT)})")
        shutil.rmtree(SSH_DIR)
    for secret_dir, what in ((PKI_DIR, "CA and certificates"), (PEOPLE_DIR, "sample people's keys"),
                             (SECRETS_DIR, "service passwords")):
        if secret_dir.exists():
            progress(f"removing the lab's {what} ({secret_dir.relative_to(ROOT)})")
            shutil.rmtree(secret_dir)
