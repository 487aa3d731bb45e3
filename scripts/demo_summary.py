#!/usr/bin/env python3
"""Print what `make demo` did: the hosts, what was applied, and how to go on from here."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from assert_idempotent import parse_recap  # noqa: E402
from pmops import lab  # noqa: E402


def asset(host: str) -> dict:
    return (lab.cached_facts(host).get("ansible_local") or {}).get("asset") or {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-i", "--inventory", default="inventory/lab")
    parser.add_argument("--log", default=".cache/last-converge.log")
    args = parser.parse_args()
    topo = lab.load_topology()
    log = ROOT / args.log
    recap = parse_recap(log.read_text()) if log.exists() else {}
    print()
    print("Power Marketing Ops: the lab is converged")
    print("=" * 60)
    print(f"{'host':<12} {'address':<13} {'tier':<8} {'service':<22} {'ok':>4} {'changed':>8}")
    for host in topo.hosts:
        facts = asset(host.name)
        r = recap.get(host.name, {})
        print(f"{host.name:<12} {host.ip:<13} {facts.get('tier', '?'):<8} {facts.get('service', '?'):<22} "
              f"{r.get('ok', '-'):>4} {r.get('changed', '-'):>8}")
    print()
    print("Applied by playbooks/site.yml:")
    print("  validate  the inventory and toolchain (refuses bad input before any change)")
    print("  baseline  hostname, /etc/hosts, time zone, locale, chrony, persistent journal,")
    print("            base packages, /etc/ansible/facts.d/asset.fact")
    print("  access    the people of access.yml: accounts where their duties reach, every key,")
    print("            sudo per duty; everyone else revoked; unmanaged keys and sudoers removed")
    print("  tiers     PostgreSQL (TLS, pg_hba from the tier policy), the marketing portal's first")
    print("            release on app-01/02 (sandboxed, health-checked), nginx with TLS on web-01")
    print("  hardening kernel parameters, PAM (proven by a canary login), login.defs, sudo log,")
    print("            auditd, AIDE, logs over TLS to monitor-01, set-id review, security updates")
    print("  ssh       modern algorithms only, no root or password login, AllowGroups, banner;")
    print("            proven by a canary login before sshd was reloaded")
    print("  firewall  nftables from the tier policy, kept only after a fresh login through it")
    print()
    print("Next steps (run from this directory; `. .venv/bin/activate` first, or prefix .venv/bin/):")
    print("  pmops lab ssh web-01                        # SSH in as the automation account")
    print("  pmops lab status                            # the lab's hosts and their state")
    print("  curl --cacert .lab/pki/ca.crt https://10.89.30.11/version   # the portal through nginx")
    print("  make deploy VERSION=1.1.0                   # rolling, health-gated deploy (try 1.2.0: it fails")
    print("                                              # its health check and is rolled back)")
    print("  make load DURATION=60 & make deploy VERSION=1.0.0   # ... under load: 0 failed requests")
    print(f"  pmops audit -i {args.inventory}                   # every control on every host, changing nothing")
    print(f"  pmops comply -i {args.inventory}                  # + testinfra; reports/<time>/report.html for auditors")
    print(f"  pmops plan -i {args.inventory}                    # what a change would do, per host and task (Markdown)")
    print("  ssh -i .lab/people/zhang.min -o UserKnownHostsFile=.lab/ssh/known_hosts zhang.min@10.89.30.21")
    print(f"  ansible-playbook -i {args.inventory} playbooks/site.yml --check --diff   # what would change")
    print(f"  ansible-playbook -i {args.inventory} playbooks/site.yml --limit db --tags baseline")
    print("  ansible-playbook -i inventory/production playbooks/site.yml --check --diff   # real servers (README)")
    print("  pmops lab down                              # remove the lab")
    return 0


if __name__ == "__main__":
    sys.exit(main())
