"""`pmops comply`: the compliance run auditors get, changing nothing on any host.

1. comply.yml in check mode through ansible-runner: each host's state in force read in one
   round trip (pmops_live_state) and what the roles say it must be (their `wanted` entry
   points), compared on the controller by pmops.checks; /etc fingerprinted before and after;
   the exceptions register read. With --check-mode, audit.yml instead: site.yml in check +
   diff mode first (what a converge would change, claimed by the controls in the tasks' tags),
   then the same;
2. beside it, the testinfra test of each catalogue control that pmops.checks does not decide
   by itself, against the hosts that answered;
3. one result per host and control (pass, fail, waived, not applicable, ...; pmops.report),
   written to <reports>/<UTC time>/report.json, junit.xml and report.html, with the trend of
   the earlier reports beside it.

`pmops audit` is the same run with --check-mode and without testinfra.

Exit status: 0 when the run is compliant (score >= --threshold and nothing changed), 1 when
not, 2 when it could not run.

Layer: command. It runs the playbooks with pmops.runner, hands their events to
pmops.controls, runs testinfra and writes the report (pmops.report).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from pmops import PmopsError, __version__, controls, report, runlog, runner
from pmops.paths import ANSIBLE_CFG, ROOT, state_dir


class Testinfra:
    """The catalogue's testinfra tests: one pytest process per host, up to `jobs` at once.

    The tests spend their time waiting on SSH round trips, not on this machine's CPU, so the
    hosts run side by side, and beside the check-mode run (which changes nothing either). Each
    process has its own results file and log; testinfra.log joins the logs.
    """

    def __init__(self, controls: list[dict], inventory: str, hosts: list[str], jobs: int | None = None,
                 listing: dict | None = None):
        self.controls, self.inventory, self.hosts = controls, inventory, list(hosts)
        self.jobs = max(1, min(jobs or len(self.hosts) or 1, len(self.hosts) or 1))
        self.tmp = Path(tempfile.mkdtemp(prefix="pmops-testinfra-"))
        # the inventory listing pmops already has, served to each testinfra process (pytest_results)
        self.listing = self.tmp / "inventory.json" if listing else None
        if self.listing:
            self.listing.write_text(json.dumps(listing))
        self.done: list[str] = []
        self.failing: list[str] = []
        self.cancelled: set[str] = set()  # hosts the check-mode run found unreachable: stopped, not waited for
        self._thread = threading.Thread(target=self._loop, name="testinfra", daemon=True)

    def start(self) -> "Testinfra":
        self._thread.start()
        return self

    def status(self) -> str:
        bad = f" ({len(self.failing)} with failures)" if self.failing else ""
        return f"testinfra {len(self.done)}/{len(self.hosts)} hosts done{bad}"

    def _argv(self, host: str, env: dict[str, str]) -> list[str]:
        """pytest for one host: in this virtualenv, or in the execution environment (`--ee`) with
        the variables it needs passed in (a container inherits none)."""
        nodes = sorted({node for node, _ in controls.control_tests(self.controls).values()})
        image = runner.execution_environment()
        argv = ["python3" if image else sys.executable, "-m", "pytest", *nodes, f"--hosts=ansible://{host}",
                f"--ansible-inventory={self.inventory}", "--sudo", "-p", "pmops.pytest_results",
                "-p", "no:cacheprovider", "-q", "-rN", "--color=no"]
        if not image:
            return argv
        return runner.in_container(image, argv, {k: v for k, v in env.items() if k in self.PASSED},
                                   mounts=(self.tmp,))

    # What testinfra's processes are told, in the virtualenv or in the execution environment.
    PASSED = ("ANSIBLE_CONFIG", "ANSIBLE_HOST_KEY_CHECKING", "PMOPS_TESTINFRA_WANT", "PMOPS_TESTINFRA_RESULTS",
              "PMOPS_TESTINFRA_INVENTORY", "PYTHONPATH")

    def _loop(self) -> None:
        want = sorted(set(controls.control_tests(self.controls).values()))
        env = dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE_CFG), PMOPS_TESTINFRA_WANT=json.dumps(want),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        if self.listing:
            env["PMOPS_TESTINFRA_INVENTORY"] = json.dumps({"source": self.inventory, "listing": str(self.listing)})
        pending, running = list(self.hosts), {}
        while pending or running:
            while pending and len(running) < self.jobs:
                host = pending.pop(0)
                if host in self.cancelled:
                    continue
                host_env = dict(env, PMOPS_TESTINFRA_RESULTS=str(self.tmp / f"{host}.jsonl"))
                with open(self.tmp / f"{host}.log", "w") as log:
                    running[host] = subprocess.Popen(
                        self._argv(host, host_env), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                        stdin=subprocess.DEVNULL, env=host_env)
            for host, proc in list(running.items()):
                if host in self.cancelled and proc.poll() is None:
                    proc.terminate()
                if proc.poll() is not None:
                    del running[host]
                    if proc.returncode != 0 and host not in self.cancelled:
                        self.failing.append(host)
                    self.done.append(host)
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop whatever still runs and remove the temporary directory (results, logs, listing);
        after wait() it only makes sure the directory is gone."""
        self.cancelled.update(self.hosts)
        self._thread.join(30)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def wait(self, log_path: Path, keep: list[str], verbose: bool = False) -> dict[str, dict]:
        """Results of the hosts in `keep` (those the check-mode run reached); writes the joint log."""
        self.cancelled.update(h for h in self.hosts if h not in keep)
        progress = runner.Progress("comply (testinfra)")
        while self._thread.is_alive():
            progress.show(lambda: f"{self.status()}, {progress.elapsed()}")
            self._thread.join(0.5)
        progress.show(self.status, final=True)
        records: list[dict] = []
        try:
            with open(log_path, "w") as out:
                for host in self.hosts:
                    log = self.tmp / f"{host}.log"
                    text = log.read_text() if log.exists() else ""
                    if host in self.cancelled:
                        text += "(not tested: the check-mode run could not reach this host)\n"
                    out.write(f"===== {host} =====\n{text}\n")
                    if verbose:
                        print(f"===== testinfra on {host} =====\n{text}", flush=True)
                    results = self.tmp / f"{host}.jsonl"
                    if host in keep and results.exists():
                        records += [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return controls.map_results(records, self.controls)


def summary_lines(rep: dict) -> list[str]:
    titles = {c["id"]: c["title"] for c in rep["controls"]}
    statuses = controls.STATUSES
    lines = [f"{'host':<14}{'score':>8}" + "".join(f"{s:>15}" for s in statuses)]
    for host, data in rep["hosts"].items():
        score = "n/a" if data["score"] is None else f"{data['score']:.1f}"
        lines.append(f"{host:<14}{score:>8}" + "".join(f"{data['counts'][s]:>15}" for s in statuses))
    for host, data in rep["hosts"].items():
        for cid, r in data["controls"].items():
            if r["status"] in controls.NOT_COMPLIANT or r["status"] == "waived":
                lines.append(f"{host}  {cid}  {r['status'].upper()}  {titles.get(cid, '')}")
                for item in r["evidence"]:
                    lines += ["    " + line for line in str(item).splitlines()[:12]]
        for change in data["unclaimed_changes"]:
            lines.append(f"{host}  also would change (no control of its own): {change.splitlines()[0]}")
        if not data["changed_nothing"]:
            lines.append(f"{host}  /etc was NOT proven unchanged (see ansible.log)")
    return lines


def run(inventory: str, limit: str | None = None, threshold: float = 100.0, reports_dir: str | None = None,
        testinfra: bool = True, verbose: bool = False, jobs: int = 8, check_mode: bool = False,
        json_out: str | None = None) -> int:
    if not 0 <= threshold <= 100:
        raise PmopsError(f"--threshold must be a percentage between 0 and 100, got {threshold}")
    inv = runner.resolve_inventory(inventory)
    catalogue = controls.load_catalogue()
    all_controls = catalogue["controls"]
    reports = Path(reports_dir) if reports_dir else state_dir() / "reports"
    started = datetime.now(timezone.utc)
    run_id = started.strftime("%Y%m%dT%H%M%SZ")
    outdir = reports / run_id
    outdir.mkdir(parents=True, exist_ok=True)
    hosts = inv.hosts(limit)
    commit, dirty = runlog.git_state(ROOT)
    print(f"pmops: compliance run on {inv.shown}{' --limit ' + limit if limit else ''} ({len(hosts)} hosts); "
          f"report in {outdir}", file=sys.stderr, flush=True)
    clock = time.monotonic()
    # testinfra starts on every host now and runs beside the check-mode run; the results of a
    # host that run cannot reach are dropped (it is reported unreachable, never compliant)
    tested_controls = controls.testinfra_controls(all_controls)
    # testinfra is given the whole inventory, as it reads it by itself: its tests look up other
    # hosts (the log server, a database's clients) whatever the limit
    infra = (Testinfra(tested_controls, inv.path, hosts, jobs, inv.listing()).start()
             if testinfra and hosts and tested_controls else None)
    try:
        label = "comply (check mode + live state)" if check_mode else "comply (live state)"
        progress = runner.Progress(label)
        if infra:
            progress.extra = infra.status
        result = runner.run_playbook("playbooks/audit.yml" if check_mode else "playbooks/comply.yml", inv,
                                     check=True, label=label, limit=limit, verbose=verbose,
                                     log_path=outdir / "ansible.log", progress=progress)
        ansible_done = round(time.monotonic() - clock, 1)
        if not result.events:
            raise PmopsError(f"the check-mode run produced no results (ansible exit {result.rc}); "
                             f"see {outdir / 'ansible.log'}:\n{result.log[-1500:]}")
        audited = controls.evaluate(result.events, all_controls, hosts)
        # the plays on the control node itself (localhost) are not a host of the fleet
        audited = {h: d for h, d in audited.items() if h in hosts} if hosts else audited
        reachable = [h for h, d in audited.items()
                     if not any(r["status"] == "unreachable" for r in d["controls"].values())]
        tested = {}
        if infra:
            print(f"pmops: testinfra checks of {len(tested_controls)} controls on {len(reachable)} reachable hosts "
                  f"({len(all_controls) - len(tested_controls)} decided by the state in force alone)",
                  file=sys.stderr, flush=True)
            tested = infra.wait(outdir / "testinfra.log", keep=reachable, verbose=verbose)
        testinfra_done = round(time.monotonic() - clock, 1) if infra else None
        facts = {"id": run_id, "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "finished": runlog.now(),
                 "seconds": round(time.monotonic() - clock, 1), "inventory": inv.shown, "limit": limit,
                 "user": runlog.who(), "git_commit": commit, "git_dirty": dirty, "threshold": threshold,
                 "pmops_version": __version__, "testinfra": testinfra, "check_mode": check_mode,
                 # where Ansible ran: the execution environment's image and the execution node, or null (here)
                 "execution": {"ee": runner.execution_environment(), "worker": runner.execution_node()},
                 # seconds from the start until each part was done (they run side by side)
                 "phases": {"ansible": ansible_done, "testinfra": testinfra_done}}
        rep = report.build(facts, catalogue, audited, tested, report.earlier(reports))
        report.write(rep, outdir)
        if json_out:
            shutil.copyfile(outdir / "report.json", json_out)
        for line in summary_lines(rep):
            print(line)
        s = rep["summary"]
        score = "n/a" if s["score"] is None else f"{s['score']:.1f} %"
        print(f"pmops: {'COMPLIANT' if s['compliant'] else 'NOT COMPLIANT'}: score {score} (threshold {threshold:g} %), "
              f"{s['counts']['fail']} failing, {s['counts']['error']} errors, {s['counts']['unreachable']} unreachable, "
              f"{s['counts']['waived']} waived; {outdir / 'report.html'} ({facts['seconds']:.0f} s)", file=sys.stderr)
        return 0 if s["compliant"] else 1
    finally:
        if infra:
            infra.stop()  # a failed or stopped run leaves no pytest and no listing behind
