#!/usr/bin/env python3
"""How the project's cost grows with the fleet, on the scale lab (`pmops lab up --scale 48`,
converged with `ansible-playbook -i .lab/scale playbooks/site.yml`): for 6, 12, 24 and 48 of its
generic hosts (gen-01 ...), all in one run,

- the floor: a no-op task (ansible.builtin.ping as root, bench/playbooks/noop.yml), its marginal
  cost per host-task (twenty tasks less one), with Mitogen and with the stock linear strategy;
- site.yml's idempotent re-run (must change nothing) with Mitogen: wall seconds and controller
  CPU-seconds per host-task, against the floor; with the stock strategy on the sizes of
  --stock-sizes (default 6: it takes about five times as long);
- `pmops comply` on those hosts: seconds and CPU-seconds per host; then the same hosts as AWX's
  job slicing runs them (4 slices, side by side, `pmops slices`), total CPU against unsliced.

Controller CPU is what ansible-playbook, pmops and every process they start use (rusage of the
children), plus the OpenSSH master connections the stock strategy leaves running (ControlPersist
detaches them, so rusage misses them; they are stopped before each run and read after it). The
hosts' own CPU (they are containers on this machine) is not in it. A host-task is a task on a
host, run or skipped (the recap's ok + skipped + failed): a skipped one costs the controller its
condition only, and a run_once task counts once, so a playbook's mix of them moves its figure.
A master connection that ends during a run (ControlPersist, 120 s idle) takes its CPU with it:
none does in these runs, whose tasks follow each other within seconds.

Prints the tables and saves JSON under bench/results/.

Usage: bench_scale.py [--sizes 6,12,24,48] [--stock-sizes 6] [--slices 4] [--tables SAVED.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
INVENTORY = ".lab/scale"
NOOP = "bench/playbooks/noop.yml"
NOOP_TASKS = 20
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", re.M)
TICK = os.sysconf("SC_CLK_TCK")


def masters() -> dict[int, float]:
    """This checkout's OpenSSH master connections (control path .cache/cp, started from here), and
    their CPU so far. Another checkout's, or another session's, are not touched nor counted."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            if not cmd.startswith("ssh: ") or ".cache/cp/" not in cmd:
                continue
            if str(ROOT / ".cache" / "cp") not in cmd and Path(os.readlink(proc / "cwd")) != ROOT:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            found[int(proc.name)] = (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError, ValueError):
            continue
    return found


def stop_masters() -> None:
    for pid in masters():
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    time.sleep(0.5)


def run(argvs: list[list[str]], env: dict | None = None) -> dict:
    """Run the commands side by side; wall seconds, controller CPU-seconds, their output."""
    stop_masters()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    procs = [subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ, ANSIBLE_NOCOLOR="1", **(env or {})),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for argv in argvs]
    outputs = [p.communicate()[0] for p in procs]
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) + sum(masters().values())
    return {"seconds": seconds, "cpu": cpu, "rcs": [p.returncode for p in procs], "outputs": outputs}


def recap(output: str) -> dict:
    """Host-tasks and changed tasks, summed over the recap's hosts."""
    rows = [tuple(int(x) for x in m.groups()[1:]) for m in RECAP.finditer(output)]
    return {"hosts": len(rows), "host_tasks": sum(ok + failed + skipped for ok, _, _, failed, skipped in rows),
            "changed": sum(r[1] for r in rows), "unreachable": sum(r[2] for r in rows),
            "failed": sum(r[3] for r in rows)}


def playbook(args: list[str], limit: str, env: dict | None = None, must_pass: bool = True) -> dict:
    argv = [str(BIN / "ansible-playbook"), "-i", INVENTORY, *args, "--limit", limit]
    result = run([argv], env)
    counts = recap(result["outputs"][0])
    if must_pass and (result["rcs"][0] != 0 or counts["failed"] or counts["unreachable"]):
        raise SystemExit(f"bench: {' '.join(argv)} failed:\n{result['outputs'][0][-4000:]}")
    return {"seconds": result["seconds"], "cpu": result["cpu"], **counts}


def floor(limit: str, size: int, env: dict | None = None) -> dict:
    """The marginal cost of one no-op host-task: twenty tasks less one, on the same hosts."""
    one = playbook([NOOP, "--start-at-task", f"No-op {NOOP_TASKS}"], limit, env)
    all_ = playbook([NOOP], limit, env)
    tasks = (NOOP_TASKS - 1) * size
    return {"cpu_per_ht": (all_["cpu"] - one["cpu"]) / tasks, "wall_per_ht": (all_["seconds"] - one["seconds"]) / tasks,
            "one": one, "all": all_}


def comply(limit: str | None, inventories: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="pmops-bench-scale-") as tmp:
        argvs = [[str(BIN / "pmops"), "comply", "-i", inv, *(["--limit", limit] if limit else []),
                  "--reports", f"{tmp}/reports-{n}", "--json", f"{tmp}/report-{n}.json"]
                 for n, inv in enumerate(inventories)]
        result = run(argvs)
        reports = []
        for n in range(len(inventories)):
            path = Path(f"{tmp}/report-{n}.json")
            if not path.exists():
                raise SystemExit(f"bench: no report from {' '.join(argvs[n])}:\n{result['outputs'][n][-3000:]}")
            reports.append(json.loads(path.read_text()))
    hosts = {h: data for r in reports for h, data in r["hosts"].items()}
    return {"seconds": result["seconds"], "cpu": result["cpu"], "hosts": len(hosts), "rcs": result["rcs"],
            "scores": [r["summary"]["score"] for r in reports]}


def slices(limit: str, count: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="pmops-bench-slices-") as out:
        subprocess.run([str(BIN / "pmops"), "slices", "-i", INVENTORY, "--count", str(count), "--limit", limit,
                        "--out", out], cwd=ROOT, check=True, capture_output=True)
        return comply(None, [str(p) for p in sorted(Path(out).glob("slice-*.json"))])


def measure(size: int, stock: bool, slice_count: int) -> dict:
    limit = ",".join(f"gen-{n:02d}" for n in range(1, size + 1))
    say = lambda what: print(f"bench: {size} hosts: {what}", file=sys.stderr, flush=True)  # noqa: E731
    row: dict = {"hosts": size}
    say("no-op floor, Mitogen")
    row["floor_mitogen"] = floor(limit, size)
    say("no-op floor, stock linear strategy")
    row["floor_stock"] = floor(limit, size, {"ANSIBLE_STRATEGY": "linear"})
    say("site.yml idempotent re-run, Mitogen")
    row["rerun_mitogen"] = playbook(["playbooks/site.yml"], limit)
    if stock:
        say("site.yml idempotent re-run, stock linear strategy")
        row["rerun_stock"] = playbook(["playbooks/site.yml"], limit, {"ANSIBLE_STRATEGY": "linear"})
    say("pmops comply")
    row["comply"] = comply(limit, [INVENTORY])
    say(f"pmops comply in {slice_count} slices, side by side")
    row["slices"] = dict(slices(limit, slice_count), count=slice_count)
    return row


def per_ht(run_: dict) -> float:
    return run_["cpu"] / run_["host_tasks"]


def line_fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least squares: intercept and slope."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, slope


def break_even(rows: list[dict], slice_count: int, goal: float = 1.15) -> dict:
    """Where slicing's extra CPU falls within the goal: unsliced CPU = fixed + per_host × hosts
    and the slices' extra = start + extra_per_host × hosts, fitted over the sizes; the smallest
    host count whose ratio is within goal (None: never, at this fit)."""
    hosts = [r["hosts"] for r in rows]
    fixed, per_host = line_fit(hosts, [r["comply"]["cpu"] for r in rows])
    start, extra = line_fit(hosts, [r["slices"]["cpu"] - r["comply"]["cpu"] for r in rows])
    # (fixed + per_host h + start + extra h) <= goal (fixed + per_host h), solved for h
    gain = (goal - 1) * per_host - extra
    need = start - (goal - 1) * fixed
    # the smallest h >= 1 with need <= gain h: 1 when one host already meets it; none when the
    # slices' extra per host is above the margin (more hosts only make it worse)
    smallest = 1 if need <= gain else (math.ceil(need / gain) if gain > 0 else None)
    return {"fixed": fixed, "per_host": per_host, "start_per_slice": start / (slice_count - 1),
            "extra_per_host": extra, "smallest": smallest}


def tables(rows: list[dict], slice_count: int) -> list[str]:
    first = rows[0]
    out = ["site.yml idempotent re-run (Mitogen), against a no-op task's marginal cost in the same run:", "",
           "| hosts | host-tasks | changed | wall s | wall s per host | CPU s | CPU ms per host-task | vs smallest "
           "| no-op floor CPU ms | re-run ÷ floor |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        m, f = r["rerun_mitogen"], r["floor_mitogen"]["cpu_per_ht"]
        out.append(f"| {r['hosts']} | {m['host_tasks']:,} | {m['changed']} | {m['seconds']:.0f} | "
                   f"{m['seconds'] / r['hosts']:.1f} | {m['cpu']:.0f} | {per_ht(m) * 1000:.1f} | "
                   f"{per_ht(m) / per_ht(first['rerun_mitogen']):.2f} | {f * 1000:.1f} | {per_ht(m) / f:.2f} |")
    out += ["", "Mitogen against the stock linear strategy:", "",
            "| hosts | no-op floor CPU ms, Mitogen | stock | no-op floor wall ms per host-task, Mitogen | stock "
            "| site.yml re-run CPU s, Mitogen | stock | re-run wall s, Mitogen | stock |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fm, fs, m, s = r["floor_mitogen"], r["floor_stock"], r["rerun_mitogen"], r.get("rerun_stock")
        stock_cpu, stock_wall = (f"{s['cpu']:.0f}", f"{s['seconds']:.0f}") if s else ("-", "-")
        out.append(f"| {r['hosts']} | {fm['cpu_per_ht'] * 1000:.1f} | {fs['cpu_per_ht'] * 1000:.1f} | "
                   f"{fm['wall_per_ht'] * 1000:.1f} | {fs['wall_per_ht'] * 1000:.1f} | {m['cpu']:.0f} | "
                   f"{stock_cpu} | {m['seconds']:.0f} | {stock_wall} |")
    out += ["", f"pmops comply, unsliced and in {slice_count} slices side by side (AWX's job slicing):", "",
            "| hosts | wall s | s per host | CPU s | CPU s per host | scores | sliced wall s | sliced CPU s "
            "| sliced ÷ unsliced CPU |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c, s = r["comply"], r["slices"]
        out.append(f"| {r['hosts']} | {c['seconds']:.1f} | {c['seconds'] / r['hosts']:.2f} | {c['cpu']:.1f} | "
                   f"{c['cpu'] / r['hosts']:.2f} | {', '.join(str(x) for x in c['scores'])} | {s['seconds']:.1f} | "
                   f"{s['cpu']:.1f} | {s['cpu'] / c['cpu']:.2f} |")
    if len(rows) > 1:
        fit = break_even(rows, slice_count)
        out += ["", f"Fitted over these sizes: an unsliced comply costs {fit['fixed']:.1f} CPU-s plus "
                    f"{fit['per_host']:.2f} per host; the {slice_count} slices cost {fit['start_per_slice']:.1f} "
                    f"CPU-s more for each slice's start and {fit['extra_per_host']:.2f} more per host, so sliced ÷ "
                    "unsliced is within 1.15 from "
                    + (f"{fit['smallest']} hosts ({fit['smallest'] / slice_count:.1f} per slice)."
                       if fit["smallest"] else "no host count at this fit.")]
    spread = [per_ht(r["rerun_mitogen"]) / per_ht(first["rerun_mitogen"]) for r in rows]
    comply_s = [r["comply"]["seconds"] / r["hosts"] for r in rows]
    last = rows[-1]
    goals = [
        ("re-run CPU per host-task within ±15 % of the smallest size's", all(0.85 <= x <= 1.15 for x in spread),
         f"{min(spread):.2f}..{max(spread):.2f}"),
        ("comply seconds per host not rising with the host count",
         all(b <= a * 1.05 for a, b in zip(comply_s, comply_s[1:])), " → ".join(f"{x:.2f}" for x in comply_s)),
        (f"{slice_count} slices ÷ unsliced CPU at {last['hosts']} hosts ≤ 1.15",
         last["slices"]["cpu"] / last["comply"]["cpu"] <= 1.15, f"{last['slices']['cpu'] / last['comply']['cpu']:.2f}"),
        ("re-run CPU per host-task ≤ 2 × Mitogen's no-op floor, every size",
         all(per_ht(r["rerun_mitogen"]) <= 2 * r["floor_mitogen"]["cpu_per_ht"] for r in rows),
         ", ".join(f"{per_ht(r['rerun_mitogen']) / r['floor_mitogen']['cpu_per_ht']:.2f}" for r in rows)),
        ("re-run changed nothing", all(r["rerun_mitogen"]["changed"] == 0 for r in rows), ""),
    ]
    out += ["", "| goal | met | measured |", "|---|---|---|"]
    out += [f"| {what} | {'yes' if ok else 'NO'} | {figure} |" for what, ok, figure in goals]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="6,12,24,48", help="numbers of generic hosts (default 6,12,24,48)")
    parser.add_argument("--stock-sizes", default="6", help="sizes also re-run with the stock strategy (default 6)")
    parser.add_argument("--slices", type=int, default=4, help="slices of the sliced comply (default 4)")
    parser.add_argument("--tables", metavar="JSON", help="print the tables of a saved run (bench/results/scale-*.json) "
                                                         "and measure nothing")
    args = parser.parse_args()
    if args.slices < 2:
        parser.error(f"--slices: at least 2 (a sliced run against the unsliced one), got {args.slices}")
    if args.tables:
        saved = json.loads(Path(args.tables).read_text())
        # the runs of record before the count was saved used 4 slices (the default)
        print("\n".join(tables(saved, saved[0]["slices"].get("count", args.slices))))
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    stock = {int(s) for s in args.stock_sizes.split(",") if s}
    if not (ROOT / INVENTORY / "hosts.yml").exists():
        raise SystemExit(f"bench: no scale lab; run `pmops lab up --scale {max(sizes)}` and converge "
                         f"`ansible-playbook -i {INVENTORY} playbooks/site.yml` first")
    sys.path.insert(0, str(ROOT))
    from pmops.lab import current_scale
    have = current_scale()
    if max(sizes) > have:
        raise SystemExit(f"bench: the scale lab has {have} generic hosts, fewer than {max(sizes)}; "
                         f"run `pmops lab up --scale {max(sizes)}` and converge it")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    rows = [measure(size, size in stock, args.slices) for size in sizes]
    print(f"Measured {started}, one run, `python bench/bench_scale.py --sizes {args.sizes}`:\n")
    print("\n".join(tables(rows, args.slices)))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"scale-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
