"""Command line of pmops. Every command has --help; errors are one clear line.

Layer: command, the top: it parses arguments and calls the other commands.
"""

from __future__ import annotations

import argparse
import os
import sys

from pmops import PmopsError, __version__


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def add_inventory(sub: argparse.ArgumentParser) -> None:
    """-i, the same on every command that reads an inventory."""
    sub.add_argument("-i", "--inventory", default="inventory/lab", help="inventory (default: inventory/lab)")


def add_target(sub: argparse.ArgumentParser, limit_help: str = "only these hosts or groups (Ansible pattern)",
               verbose_help: str = "show Ansible's output") -> None:
    """-i, -l and -v, the same on every command that runs playbooks."""
    add_inventory(sub)
    sub.add_argument("-l", "--limit", help=limit_help)
    sub.add_argument("-v", "--verbose", action="store_true", help=verbose_help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pmops",
        description="Power Marketing Ops: run and check the marketing IT system's infrastructure.",
    )
    parser.add_argument("--version", action="version", version=f"pmops {__version__}")
    parser.add_argument("--ee", metavar="IMAGE", default=os.environ.get("PMOPS_EE") or None,
                        help="run Ansible and testinfra in this execution environment (a container image, "
                             "e.g. localhost/pmops-ee:latest from `pmops ee build`) through ansible-runner's "
                             "process isolation, as AWX does (default: $PMOPS_EE, else this virtualenv)")
    parser.add_argument("--worker", metavar="NODE", default=os.environ.get("PMOPS_WORKER") or None,
                        help="run each playbook on an execution node, as AWX does through receptor: ansible-runner "
                             "transmit here, worker on NODE, process here. NODE is podman:IMAGE (an execution "
                             "environment container) or ssh:[USER@]HOST (default: $PMOPS_WORKER, else here)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    lab = commands.add_parser(
        "lab", help="the built-in lab: six podman hosts running systemd and sshd",
        description="Create, inspect and remove the lab described by inventory/lab.")
    lab_cmds = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    lab_up = lab_cmds.add_parser(
        "up", help="build the base image if its recipe changed, start the hosts, seed SSH keys",
        description="Build the Debian 12 base image (cached by recipe digest), create the lab "
                    "network and hosts, create the automation account and pre-seed known_hosts. "
                    "Safe to run again: it repairs stopped hosts and stale leftovers.")
    lab_up.add_argument("--scale", type=int, metavar="N", default=None,
                        help="also N generic hosts gen-01..gen-N (the generic tier; inventory .lab/scale, "
                             "playbooks take -i .lab/scale); 0 removes them (default: keep the lab's scale)")
    lab_cmds.add_parser(
        "secrets", help="make the lab's keys and certificates (no containers)",
        description="Make what the lab inventory reads from .lab/ (the automation account's key, the lab CA "
                    "and host certificates, the sample people's SSH keys) without starting any host. "
                    "`up` does it too; nothing is made twice.")
    lab_cmds.add_parser(
        "image", help="build the base image if its recipe changed, and print its tag",
        description="Build (or reuse) the lab's Debian 12 base image and tag it "
                    "localhost/pmops-lab-base:latest for molecule.")
    down = lab_cmds.add_parser(
        "down", help="remove every container, network and key the lab made",
        description="Remove the lab's containers, network, SSH keys and known_hosts. "
                    "The base image stays cached unless --purge-image is given.")
    down.add_argument("--purge-image", action="store_true", help="also remove the cached base image")
    lab_cmds.add_parser(
        "status", help="show each host, its address, container state and SSH port",
        description="Show the lab's hosts. Exit status 3 when any host is not reachable.")
    ssh = lab_cmds.add_parser(
        "ssh", help="open an SSH session to a lab host as the automation account",
        description="SSH to a lab host with the lab's key and known_hosts (host key checking on).")
    ssh.add_argument("host", help="lab host name, e.g. web-01")
    ssh.add_argument("remote_command", nargs=argparse.REMAINDER, help="optional command to run")
    audit = commands.add_parser(
        "audit", help="pmops comply --check-mode --no-testinfra (one engine; kept for its users)",
        description="The same run as `pmops comply --check-mode --no-testinfra`: the state in force on every host "
                    "against the policy, and site.yml in check mode for what a converge would change. Reports in "
                    "<reports>/<UTC time>/; --json copies report.json. Exit status 1 when any host is not compliant.")
    add_target(audit)
    audit.add_argument("--json", dest="json_out", help="also write report.json here")
    audit.add_argument("--reports", help="reports directory (default: $PMOPS_STATE_DIR/reports or ./reports)")
    comply = commands.add_parser(
        "comply", help="compliance run: every control on every host, with reports for auditors and CI",
        description="Read each host's state in force in one round trip (effective sshd settings, the loaded "
                    "firewall rules, every account, key and sudoers file, ...) and compare it on the controller with "
                    "what the roles say it must be; run the testinfra test of every catalogue control that check "
                    "does not decide alone; report per host and control (pass, fail with its evidence, waived with "
                    "owner and expiry, not applicable, unreachable) in <reports>/<UTC time>/: report.json, "
                    "junit.xml, report.html. Changes nothing. Exit 0 when compliant, 1 when not.")
    add_target(comply, verbose_help="show Ansible's and pytest's output")
    comply.add_argument("--threshold", type=float, default=100.0,
                        help="lowest overall score (%%, pass and waived over assessed) that exits 0 (default 100)")
    comply.add_argument("--reports", help="reports directory (default: $PMOPS_STATE_DIR/reports or ./reports)")
    comply.add_argument("--no-testinfra", dest="testinfra", action="store_false",
                        help="check mode only, without the testinfra checks")
    comply.add_argument("--check-mode", action="store_true",
                        help="also run site.yml in check + diff mode first: what a converge would change, with diffs")
    comply.add_argument("--json", dest="json_out", help="also write report.json here")
    comply.add_argument("-j", "--jobs", type=positive_int, default=8,
                        help="hosts whose testinfra tests run at once (default 8)")
    for name, text, desc in (
            ("plan", "what site.yml would change, per host and task, as Markdown for a merge request",
             "Run site.yml in check + diff mode and summarise what would change per host and task, with the "
             "diffs: plan.md (for a merge request) and plan.json. Says \"No changes\" when nothing would change. "
             "Exit 1 when a host was unreachable or a task failed."),
            ("apply", "converge site.yml and append an audit record to the run log",
             "Run site.yml and append who, when, the git commit, inventory, limit, tags, each host's changed "
             "tasks and the result to the append-only run log that `pmops history` lists.")):
        sub = commands.add_parser(name, help=text, description=desc)
        add_target(sub)
        sub.add_argument("-t", "--tags", help="only tasks with these tags (comma-separated)")
        if name == "plan":
            sub.add_argument("--out", help="directory for plan.md and plan.json (default: <state>/plans/<UTC time>)")
            sub.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when something would change")
    recorded = "Recorded in the run log (`pmops history`) whatever the result."
    deploy = commands.add_parser(
        "deploy", help="rolling, health-gated deploy of a release of the portal",
        description="Check the release's artifact against its manifest before any host changes, then one app host "
                    "at a time: drain, install, migrate, switch, health-check, restore. A failed health check rolls "
                    "that host back, stops the rollout and exits 1. " + recorded)
    deploy.add_argument("version", metavar="VERSION", help="the release, e.g. 1.1.0 (see apps/marketing-portal/dist)")
    deploy.add_argument("--artifact-dir", help="where the release's tarball and manifest are "
                                               "(default: apps/marketing-portal/dist)")
    add_target(deploy)
    rollback = commands.add_parser(
        "rollback", help="rolling rollback of the portal to the previous release or a named one",
        description="One app host at a time: drain, switch to the release, restart, health-check, restore. "
                    + recorded)
    rollback.add_argument("to", metavar="TO", nargs="?", help="a release still on the hosts (default: the previous)")
    add_target(rollback)
    patch = commands.add_parser(
        "patch", help="rolling OS patching, the portal answering throughout",
        description="Per host: pre-checks, drain, upgrade, restart what needrestart names, post-checks, restore. "
                    "JSON reports under .cache/patch/<time>/. " + recorded)
    patch.add_argument("--reboot", action="store_true", help="reboot hosts that need it (default: report only)")
    add_target(patch)
    backup = commands.add_parser(
        "backup", help="every client's backup now, as the daily timers run it",
        description="Start each client's pmops-backup.service and wait for it; a failure names the host and the "
                    "unit's last lines. " + recorded)
    add_target(backup)
    restore = commands.add_parser(
        "restore", help="restore a database, files or a point in time from the backups (side copy by default)",
        description="Restore on the hosts of --limit: a database (--database) into <db>_restored_<time>, files "
                    "(--path) under /var/tmp/pmops-restore/<time>, or with --to original --confirm over the live "
                    "data; --pitr-target recovers the whole cluster to a time (where point-in-time recovery is on). "
                    "--drill runs the restore drill instead (scratch databases compared with the live ones). "
                    + recorded)
    add_target(restore, "the host(s) to restore on, e.g. db-01 (required, but with --drill)")
    what = restore.add_mutually_exclusive_group(required=True)
    what.add_argument("--database", help="a PostgreSQL database, e.g. marketing")
    what.add_argument("--path", dest="paths", action="append", help="an absolute path (repeatable)")
    what.add_argument("--pitr-target", help="a time, e.g. '2026-11-24 18:30:00+00' (needs --to original --confirm)")
    what.add_argument("--drill", action="store_true", help="the restore drill on the db tier")
    restore.add_argument("--snapshot", default="latest", help="latest (default) or a snapshot id")
    restore.add_argument("--to", choices=["side", "original"], default="side",
                         help="side (default): beside the live data; original: over it")
    restore.add_argument("--confirm", action="store_true", help="needed with --to original")
    otp = commands.add_parser(
        "otp", help="the second factor of people with sudo rights: enrol a person (key, then a one-time code)",
        description="enrol LOGIN: on every host of --limit where the access matrix gives LOGIN sudo rights, one "
                    "one-time-password secret made on a host and copied host to host (never on this machine's disk "
                    "or in the repository); the key and otpauth URI are shown once, when made. Already enrolled: "
                    "kept (and given to hosts that lack it). --rotate makes a new one for all (a lost phone). "
                    + recorded)
    otp_cmds = otp.add_subparsers(dest="otp_command", metavar="COMMAND", required=True)
    enrol = otp_cmds.add_parser("enrol", help="give a person their secret on the hosts that ask them for a code")
    enrol.add_argument("login", metavar="LOGIN", help="the person's login, e.g. li.wei")
    enrol.add_argument("--rotate", action="store_true", help="a new secret for every host, replacing the old one")
    add_target(enrol)
    history = commands.add_parser(
        "history", help="list the changes recorded in the run log (applies, deploys, rollbacks, patches, ...)",
        description="List every recorded run (apply, deploy, rollback, patch, backup, restore): when, who, the "
                    "command, git commit, result, changed tasks, inventory, limit, tags and the request. "
                    "--verify checks that no record was edited or removed.")
    history.add_argument("-n", "--last", type=positive_int, help="only the last N")
    history.add_argument("-v", "--verbose", action="store_true", help="each host's changed tasks")
    history.add_argument("--json", dest="as_json", action="store_true", help="the records as JSON")
    history.add_argument("--verify", action="store_true", help="check the chain of records")
    load = commands.add_parser(
        "load", help="a bounded load on the portal through the web tier, counting failed requests",
        description="Customers' visits (account, meter reading, bill, version) through the web tier for a "
                    "number of seconds, each request on a new connection; prints requests sent, failed, and "
                    "which release answered. Exit status 1 when any request failed.")
    load.add_argument("--url", default="https://10.89.30.11", help="the web tier (default: the lab's web-01)")
    load.add_argument("--ca", default=".lab/pki/ca.crt", help="CA that signed its certificate (default: the lab's)")
    load.add_argument("--seconds", type=float, default=30, help="how long (default 30)")
    load.add_argument("--workers", type=int, default=2, help="parallel customers (default 2)")
    status = commands.add_parser(
        "status", help="the system at a glance: targets, firing alerts, today's business, backups, compliance",
        description="Ask Prometheus which targets answer and which alerts fire, read today's business figures "
                    "(meter readings, rejections, coverage, bills, database errors) and the age of every host's last "
                    "backup and restore drill, and show the last compliance score: one terminal screen, or a "
                    "self-contained HTML page. Exit status 1 when a target is down or a page fires. Prometheus: "
                    "the lab's, or PMOPS_PROMETHEUS_URL, PMOPS_PROMETHEUS_CA, PMOPS_PROMETHEUS_PASSWORD_FILE.")
    add_inventory(status)
    status.add_argument("--html", metavar="FILE", help="also write the page to FILE")
    status.add_argument("--json", dest="as_json", action="store_true", help="the figures as JSON")
    watch = commands.add_parser(
        "watchdog", help="is alerting alive? the Watchdog, Prometheus, Alertmanager and delivery, seen from here",
        description="The dead man's switch from outside the monitor tier: Prometheus answers, the Watchdog fires, "
                    "Prometheus has an Alertmanager that answers, and neither failed to deliver in the last 10 "
                    "minutes. Exit status 1, naming what is broken, otherwise (the control node's "
                    "pmops-alerting-watch timer runs it and raises its own notice).")
    add_inventory(watch)
    topo = commands.add_parser(
        "topology", help="the inventory's static topology (group_vars/all/pmops_topology.yml): current, or write it",
        description="Every host's address, groups and the variables other hosts' roles read of it, from the "
                    "whole inventory, so that a sliced job (AWX's job slicing), whose inventory holds only its "
                    "slice's hosts, still admits and scrapes every peer. Without --write: exit 1 and the "
                    "difference when the file is not current (make lint runs this on every inventory).")
    add_inventory(topo)
    topo.add_argument("--write", action="store_true", help="write the file")
    slices = commands.add_parser(
        "slices", help="write the inventories AWX's job slicing would give each of N slices",
        description="AWX's slices of an inventory (hosts sorted by name, slice K taking every N-th from the "
                    "K-th; every group and its variables, only the slice's hosts), as slice-K.json in OUT: "
                    "ansible-playbook -i OUT/slice-1.json runs what slice 1 of a sliced job would.")
    add_inventory(slices)
    slices.add_argument("-n", "--count", type=positive_int, required=True, help="how many slices")
    slices.add_argument("--out", required=True, help="directory for slice-K.json")
    slices.add_argument("-l", "--limit", help="pare the inventory down to these hosts first (Ansible pattern)")
    ee = commands.add_parser(
        "ee", help="the execution environment: build it here, with no image registry",
        description="Build the execution environment of ee/execution-environment.yml with ansible-builder on "
                    "the lab's Debian 12 image, installing the project's lock from the wheelhouse. Cached: "
                    "built again only when ee/, requirements.txt or the lab image change. Prints its tag.")
    ee_cmds = ee.add_subparsers(dest="ee_command", metavar="EE_COMMAND", required=True)
    ee_build = ee_cmds.add_parser("build", help="build the image, or say which one is current")
    ee_build.add_argument("--rebuild", action="store_true", help="build it even when the current one exists")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Read by pmops.runner (playbooks) and pmops.comply (testinfra), in this process only.
    for variable, value in (("PMOPS_EE", args.ee), ("PMOPS_WORKER", args.worker)):
        if value:
            os.environ[variable] = value
        else:
            os.environ.pop(variable, None)
    try:
        if args.command == "audit":
            from pmops import comply
            print("pmops: audit is `pmops comply --check-mode --no-testinfra`", file=sys.stderr, flush=True)
            return comply.run(args.inventory, args.limit, reports_dir=args.reports, testinfra=False,
                              verbose=args.verbose, check_mode=True, json_out=args.json_out)
        if args.command == "comply":
            from pmops import comply
            return comply.run(args.inventory, args.limit, args.threshold, args.reports, args.testinfra, args.verbose,
                              jobs=args.jobs, check_mode=args.check_mode, json_out=args.json_out)
        if args.command in ("plan", "apply"):
            from pmops import change
            tags = [t.strip() for t in args.tags.split(",") if t.strip()] if args.tags else None
            if args.command == "plan":
                return change.run_plan(args.inventory, args.limit, tags, args.out, args.detailed_exitcode, args.verbose)
            return change.run_apply(args.inventory, args.limit, tags, args.verbose)
        if args.command in ("deploy", "rollback", "patch", "backup", "restore"):
            from pmops import operations as ops
            if args.command == "deploy":
                return ops.run_deploy(args.version, args.inventory, args.limit, args.verbose, args.artifact_dir)
            if args.command == "rollback":
                return ops.run_rollback(args.to, args.inventory, args.limit, args.verbose)
            if args.command == "patch":
                return ops.run_patch(args.inventory, args.limit, args.reboot, args.verbose)
            if args.command == "backup":
                return ops.run_backup(args.inventory, args.limit, args.verbose)
            if args.drill:
                return ops.run_restore_drill(args.inventory, args.limit, args.verbose)
            request = ops.restore_request(args.database, args.paths, args.pitr_target, args.snapshot, args.to,
                                          args.confirm)
            return ops.run_restore(args.inventory, args.limit, request, args.verbose)
        if args.command == "otp":
            from pmops import operations as ops
            return ops.run_otp_enrol(args.login, args.rotate, args.inventory, args.limit)
        if args.command == "history":
            from pmops import change
            return change.run_history(args.last, args.verbose, args.as_json, args.verify)
        if args.command == "status":
            from pmops import status
            return status.run(args.inventory, args.html, args.as_json)
        if args.command == "watchdog":
            from pmops import status
            return status.run_watchdog(args.inventory)
        if args.command == "load":
            from pmops import load
            return load.run(args.url, args.seconds, args.ca, args.workers)
        if args.command == "topology":
            from pmops import slicing
            return slicing.run_topology(args.inventory, args.write)
        if args.command == "slices":
            from pathlib import Path

            from pmops import slicing
            for path in slicing.write_slices(args.inventory, args.count, Path(args.out), args.limit):
                print(path)
            return 0
        if args.command == "ee":
            from pmops import ee
            tag, _ = ee.ensure(rebuild=args.rebuild)
            print(tag)
            return 0
        if args.command == "lab":
            from pmops import lab
            if args.lab_command == "up":
                return lab.up(scale=args.scale)
            if args.lab_command == "secrets":
                lab.ensure_secrets(lab.load_topology())
                return 0
            if args.lab_command == "image":
                tag, built = lab.ensure_image()
                print(tag)
                return 0
            if args.lab_command == "down":
                return lab.down(purge_image=args.purge_image)
            if args.lab_command == "status":
                return lab.status()
            if args.lab_command == "ssh":
                return lab.ssh(args.host, args.remote_command)
    except PmopsError as exc:
        print(f"pmops: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into head and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("pmops: interrupted; `pmops lab up` again resumes from what is there", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
