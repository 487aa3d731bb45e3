"""`pmops comply`: the compliance run auditors get, changing nothing on any host.

1. audit.yml in check + diff mode through ansible-runner (every control checked by the code
   that enforces it; /etc fingerprinted before and after; the exceptions register read);
2. the testinfra test each catalogue control names, against the hosts that answered;
3. one result per host and control (pass, fail, waived, not applicable, ...; pmops.report),
   written to <reports>/<UTC time>/report.json, junit.xml and report.html, with the trend of
   the earlier reports beside it.

Exit status: 0 when the run is compliant (score >= --threshold and nothing changed), 1 when
not, 2 when it could not run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import yaml

from pmops import PmopsError, __version__, audit, report, runlog, runner

ROOT = runner.ROOT


def load_catalogue(path: Path = audit.CATALOGUE) -> dict:
    return yaml.safe_load(path.read_text())


def control_tests(controls: list[dict]) -> dict[str, tuple[str, str]]:
    """{control id: (file::function, param)} from the catalogue's `test` fields."""
    tests = {}
    for control in controls:
        node, _, param = control["test"].partition("[")
        tests[control["id"]] = (node, param.rstrip("]"))
    return tests


def map_results(records: list[dict], controls: list[dict]) -> dict[str, dict]:
    """{host: {control id: {outcome, detail, test}}} from the plugin's records.

    A control's test may run once per host or once per host and parameter; the control is
    failed when any matching run failed, passed when one passed, skipped when all skipped.
    """
    wanted = control_tests(controls)
    by_host: dict[str, dict] = defaultdict(dict)
    for cid, (node, param) in wanted.items():
        for host in {r["host"] for r in records}:
            runs = [r for r in records if r["host"] == host and r["test"] == node and (not param or r["param"] == param)]
            if not runs:
                continue
            failed = [r for r in runs if r["outcome"] == "failed"]
            passed = [r for r in runs if r["outcome"] == "passed"]
            chosen = failed[0] if failed else (passed[0] if passed else runs[0])
            by_host[host][cid] = {"outcome": chosen["outcome"], "detail": chosen.get("detail", ""),
                                  "test": node.rsplit("/", 1)[-1] + (f"[{param}]" if param else "")}
    return dict(by_host)


def run_testinfra(controls: list[dict], inventory: str, hosts: list[str], log_path: Path,
                  verbose: bool = False) -> dict[str, dict]:
    if not hosts:
        return {}
    nodes = sorted({node for node, _ in control_tests(controls).values()})
    with tempfile.NamedTemporaryFile(prefix="pmops-testinfra-", suffix=".jsonl", delete=False) as tmp:
        results = Path(tmp.name)
    want = sorted({pair for pair in control_tests(controls).values()})
    env = dict(os.environ, PMOPS_TESTINFRA_RESULTS=str(results), ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               PMOPS_TESTINFRA_WANT=json.dumps(want),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    argv = [sys.executable, "-m", "pytest", *nodes, f"--hosts={','.join('ansible://' + h for h in hosts)}",
            f"--ansible-inventory={inventory}", "--sudo", "-p", "pmops.pytest_results", "-p", "no:cacheprovider",
            "-q", "-rN", "--color=no"]
    try:
        with open(log_path, "w") as fh:
            subprocess.run(argv, cwd=ROOT, env=env, stdout=None if verbose else fh, stderr=subprocess.STDOUT)
        records = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    finally:
        results.unlink(missing_ok=True)
    return map_results(records, controls)


def summary_lines(rep: dict) -> list[str]:
    titles = {c["id"]: c["title"] for c in rep["controls"]}
    statuses = report.STATUSES
    lines = [f"{'host':<14}{'score':>8}" + "".join(f"{s:>15}" for s in statuses)]
    for host, data in rep["hosts"].items():
        score = "n/a" if data["score"] is None else f"{data['score']:.1f}"
        lines.append(f"{host:<14}{score:>8}" + "".join(f"{data['counts'][s]:>15}" for s in statuses))
    for host, data in rep["hosts"].items():
        for cid, r in data["controls"].items():
            if r["status"] in report.NOT_COMPLIANT or r["status"] == "waived":
                lines.append(f"{host}  {cid}  {r['status'].upper()}  {titles.get(cid, '')}")
                for item in r["evidence"]:
                    lines += ["    " + line for line in str(item).splitlines()[:12]]
        for change in data["unclaimed_changes"]:
            lines.append(f"{host}  also would change (no control of its own): {change.splitlines()[0]}")
        if not data["changed_nothing"]:
            lines.append(f"{host}  /etc was NOT proven unchanged (see ansible.log)")
    return lines


def run(inventory: str, limit: str | None = None, threshold: float = 100.0, reports_dir: str | None = None,
        testinfra: bool = True, verbose: bool = False) -> int:
    if not 0 <= threshold <= 100:
        raise PmopsError(f"--threshold must be a percentage between 0 and 100, got {threshold}")
    if not Path(inventory).exists():
        raise PmopsError(f"inventory {inventory} does not exist")
    shown, inventory = inventory, str(Path(inventory).resolve())
    catalogue = load_catalogue()
    controls = catalogue["controls"]
    reports = Path(reports_dir) if reports_dir else runner.state_dir() / "reports"
    started = datetime.now(timezone.utc)
    run_id = started.strftime("%Y%m%dT%H%M%SZ")
    outdir = reports / run_id
    outdir.mkdir(parents=True, exist_ok=True)
    hosts = audit._inventory_hosts(inventory, limit)
    commit, dirty = runlog.git_state(ROOT)
    print(f"pmops: compliance run on {shown}{' --limit ' + limit if limit else ''} ({len(hosts)} hosts); "
          f"report in {outdir}", file=sys.stderr, flush=True)
    clock = time.monotonic()
    result = runner.run_playbook("playbooks/audit.yml", inventory, check=True, label="comply (check mode)",
                                 limit=limit, verbose=verbose, log_path=outdir / "ansible.log")
    if not result.events:
        raise PmopsError(f"the check-mode run produced no results (ansible exit {result.rc}); "
                         f"see {outdir / 'ansible.log'}:\n{result.log[-1500:]}")
    audited = audit.evaluate(result.events, controls, hosts)
    # the plays on the control node itself (localhost) are not a host of the fleet
    audited = {h: d for h, d in audited.items() if h in hosts} if hosts else audited
    reachable = [h for h, d in audited.items()
                 if not any(r["status"] == "unreachable" for r in d["controls"].values())]
    tested = {}
    if testinfra:
        print(f"pmops: testinfra checks of {len(controls)} controls on {len(reachable)} hosts", file=sys.stderr,
              flush=True)
        tested = run_testinfra(controls, inventory, reachable, outdir / "testinfra.log", verbose)
    facts = {"id": run_id, "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"), "finished": runlog.now(),
             "seconds": round(time.monotonic() - clock, 1), "inventory": shown, "limit": limit,
             "user": runlog.who(), "git_commit": commit, "git_dirty": dirty, "threshold": threshold,
             "pmops_version": __version__, "testinfra": testinfra}
    rep = report.build(facts, catalogue, audited, tested, report.earlier(reports))
    report.write(rep, outdir)
    for line in summary_lines(rep):
        print(line)
    s = rep["summary"]
    score = "n/a" if s["score"] is None else f"{s['score']:.1f} %"
    print(f"pmops: {'COMPLIANT' if s['compliant'] else 'NOT COMPLIANT'}: score {score} (threshold {threshold:g} %), "
          f"{s['counts']['fail']} failing, {s['counts']['error']} errors, {s['counts']['unreachable']} unreachable, "
          f"{s['counts']['waived']} waived; {outdir / 'report.html'} ({facts['seconds']:.0f} s)", file=sys.stderr)
    return 0 if s["compliant"] else 1
