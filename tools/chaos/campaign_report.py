#!/usr/bin/env python3
"""campaign_report: Markdown tables of one or more chaos campaigns.

  python3 tools/chaos/campaign_report.py DIR [DIR ...]

Each DIR is a `tools/chaos/chaos --out` directory; its runs.jsonl (one
result per finished run, also while the campaign is still going) and
summary.json (the command line) are read. Prints: one row per campaign and
a total (runs, passes, operations by outcome, events, faults by kind,
workload runs, killed sessions observed after their bound), and the
failover figures over all leader kills (ms from the kill to the completion
of the first successful write invoked after it). docs/reliability.md is
made from this output.
"""

import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import percentile  # noqa: E402


def load(directory):
    runs = []
    path = os.path.join(directory, "runs.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            runs = [json.loads(line) for line in f if line.strip()]
    command = None
    summary = os.path.join(directory, "summary.json")
    if os.path.exists(summary):
        with open(summary) as f:
            command = json.load(f).get("command")
    return runs, command


def totals(runs):
    t = {"runs": len(runs), "passed": sum(r["passed"] for r in runs),
         "nodes": sorted({r["nodes"] for r in runs}), "faults": {}, "workloads": {},
         "kills": 0, "observed": 0, "failover": []}
    for key in ("invoke", "ok", "fail", "info", "event"):
        t[key] = sum(r["history"][key] for r in runs)
    for r in runs:
        for k, v in r.get("faults", {}).items():
            t["faults"][k] = t["faults"].get(k, 0) + v
        for w in r.get("workloads", []):
            t["workloads"][w] = t["workloads"].get(w, 0) + 1
        t["kills"] += r["check"].get("kills", 0)
        t["observed"] += r["check"].get("kill_bounds_observed", 0)
        t["failover"] += [x for x in r.get("failover_ms", []) if x is not None]
    return t


def membership(directory, runs):
    """What the membership nemesis did in a campaign, from its runs'
    nemesis.jsonl: changes by action, leader removals, steps that needed
    more than one attempt or failed, and how long joins took."""
    m = {"replace": 0, "leader": 0, "learner": 0, "retried": 0, "failed": 0, "join_s": []}
    for r in runs:
        path = os.path.join(directory, "run-%d" % r["seed"], "nemesis.jsonl")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                ev = json.loads(line)
                if not ev.get("kind", "").startswith("membership"):
                    continue
                if ev["op"] == "start" and ev.get("action") in ("replace", "learner"):
                    m[ev["action"]] += 1
                    m["leader"] += bool(ev.get("leader"))
                for k in ("remove_attempts", "add_attempts"):
                    m["retried"] += len(ev.get(k, [])) > 1
                m["failed"] += (ev.get("removed") is False) + (ev.get("added") is False)
                if ev.get("added") and "join_s" in ev:
                    m["join_s"].append(ev["join_s"])
    return m


def row(name, t):
    return "| %s | %s | %d | %d | %d | %d / %d / %d | %d | %s |" % (
        name, "/".join(map(str, t["nodes"])), t["runs"], t["passed"], t["invoke"], t["ok"],
        t["fail"], t["info"], t["event"],
        "%d of %d" % (t["observed"], t["kills"]) if t["kills"] else "-")


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    campaigns = [(d,) + load(d) for d in argv]
    everything = []
    print("| campaign | nodes | runs | passed | operations | ok / fail / info | events |"
          " killed sessions observed after their bound |")
    print("|---|---|---|---|---|---|---|---|")
    for d, runs, _ in campaigns:
        everything += runs
        print(row(os.path.basename(os.path.normpath(d)), totals(runs)))
    t = totals(everything)
    print(row("**total**", t))
    print()
    print("| fault | injected |")
    print("|---|---|")
    for k, v in sorted(t["faults"].items()):
        print("| `%s` | %d |" % (k, v))
    print()
    print("| workload | runs |")
    print("|---|---|")
    for k, v in sorted(t["workloads"].items()):
        print("| `%s` | %d |" % (k, v))
    print()
    changes = [(os.path.basename(os.path.normpath(d)), membership(d, runs))
               for d, runs, _ in campaigns]
    if any(m["replace"] + m["learner"] for _, m in changes):
        print("| campaign | voters replaced (the leader) | learners added and removed |"
              " steps retried | steps failed | join: median / max s |")
        print("|---|---|---|---|---|---|")
        for name, m in changes:
            j = m["join_s"]
            print("| %s | %d (%d) | %d | %d | %d | %s |" % (
                name, m["replace"], m["leader"], m["learner"], m["retried"], m["failed"],
                "%.1f / %.1f" % (statistics.median(j), max(j)) if j else "-"))
        print()
    f = t["failover"]
    if f:
        print("Leader kill to first successful write: %d kills, median %.0f ms, p99 %.0f ms,"
              " max %.0f ms." % (len(f), statistics.median(f), percentile(f, 99), max(f)))
    print()
    for d, runs, command in campaigns:
        print("- `%s`: %s" % (os.path.basename(os.path.normpath(d)),
                              "`%s`" % command if command else "(still running)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
