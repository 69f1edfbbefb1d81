#!/usr/bin/python3
"""Conclave vs Apache ZooKeeper, side by side, on this machine.

    tools/bench/compare.py [--bin DIR] [--out DIR] [--quick | --smoke]
        [--reps N] [--workloads a,b,c] [--clients 1,32,256] [--outstanding K]
        [--duration-s S] [--warmup-s W] [--prime-s S] [--znodes Z]
        [--value-bytes B] [--memory-znodes N] [--catchup-writes N]
        [--skip-memory] [--only zookeeper|conclave] [--tmp-dir DIR] [--keep]

(scripts/bench-vs-zookeeper.sh builds the programs and runs this.)

What it does, in order:

1. Physical floor: `conclave-bench floor --dir DIR` on the disk the servers
   use (fdatasync p50/p99, loopback round trip, best replicated write).
2. Throughput and latency: starts a three-node Apache ZooKeeper (Debian's
   3.8 package, zk_cluster.py: forceSync=yes, -Xms512m -Xmx2g) and a
   three-node Conclave (conclave_cluster.py: fsync always on), both on
   127.0.0.1 with free ports and their data under one temporary directory
   (both stay up during this phase; the idle one costs a few heartbeats).
   An unrecorded `mixed` run of --prime-s seconds primes each (ZooKeeper's
   JIT). Then for each row (workload x clients) it runs conclave-bench
   against ZooKeeper, then Conclave, REPS times (A B A B ...), with
   identical parameters and a connection string of all three client ports;
   every run passes --server-pids for the servers' RSS. Around every run it
   reads each member's fsync counter and the leader's commit position
   (ZooKeeper: zk_cnt_fsynctime from `mntr`, exactly its fdatasync calls,
   and the zxid from `srvr`; Conclave: a conclave_*fsync*_total counter if
   /metrics has one, else conclave_persist_total, which counts storage round
   trips and overstates fdatasyncs, and conclave_raft_commit_index) and
   reports fsyncs per committed write.
3. Memory and recovery (unless --skip-memory), one server at a time on a
   fresh cluster: about N znodes of 100 bytes created by conclave-bench's
   create workload (16 sessions x 32 in flight, --keep), then each member's
   RSS (VmRSS; for ZooKeeper also the Java heap in use after a full GC, from
   jcmd) and data directory size; then one follower is stopped and
   restarted, timed until it alone answers a read of a marker znode written
   after the load; then it is stopped again, --catchup-writes znodes are
   created through the other two (kazoo, pipelined), and it is started and
   timed until it serves the last of them.
4. Results in --out (default bench-results/<timestamp>): raw/*.json and
   *.log of every conclave-bench run, floor.json, summary.json (everything,
   machine information included), summary.md (Markdown tables for
   docs/benchmarks.md) and chart.svg (chart.py). The table is printed too:
   medians over the repetitions, ratio = Conclave / ZooKeeper (throughput:
   higher is better for Conclave; p99: lower is).

Defaults: 10 s per run (+1 s warm-up), 2 repetitions, 16 rows (create and
set with 1, 32 and 256 clients; get and mixed with 32 and 256; the others
with 32), one million znodes in the memory test: about 25-30 minutes.
--quick: 1 repetition, 3 s per run, 12 rows, 100000 znodes: about 4 min.
--smoke (CI): 1 repetition, create and get with 8 clients for 2 s, no
priming, 1000 znodes; fails unless both servers completed operations
without errors (about 60 s).

Exit codes: 0 ok, 1 a run or a check failed, 2 usage, 77 Java/ZooKeeper,
kazoo or a program is missing (CTest: skipped). Everything started is
stopped at exit, also on Ctrl-C/SIGTERM; the temporary directory is removed
unless --keep (or a failure, when it is kept for the logs).
"""

import argparse
import atexit
import datetime
import importlib.util
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import chart  # noqa: E402
import conclave_cluster as cc  # noqa: E402
import zk_cluster as zc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
EXIT_SKIP = 77
SERVERS = ("zookeeper", "conclave")
LABELS = {"zookeeper": "ZooKeeper", "conclave": "Conclave"}
WORKLOADS = ("create", "set", "get", "exists", "children", "delete", "multi", "churn",
             "watch", "mixed")
WRITE_WORKLOADS = ("create", "set", "delete", "multi", "churn", "mixed")

DEFAULT_CLIENTS = {"create": [1, 32, 256], "set": [1, 32, 256], "get": [32, 256],
                   "mixed": [32, 256]}
QUICK_CLIENTS = {"create": [1, 32], "set": [1, 32]}
OTHER_CLIENTS = [32]

MEM_PREFIX = "/cb-mem"
MARKER = "/cb-mem-loaded"
CATCHUP_PREFIX = "/cb-catchup"


# -- pure parts (compare_test.py) ----------------------------------------------

def plan_rows(workloads, clients=None, quick=False):
    """[(workload, clients)] in run order. clients: one list for every
    workload (--clients), else the defaults per workload."""
    rows = []
    for w in workloads:
        if clients:
            cl = clients
        elif quick:
            cl = QUICK_CLIENTS.get(w, OTHER_CLIENTS)
        else:
            cl = DEFAULT_CLIENTS.get(w, OTHER_CLIENTS)
        rows += [(w, c) for c in cl]
    return rows


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    """a / b, None if either is missing or b is 0."""
    if a is None or b is None or b == 0:
        return None
    return a / b


def aggregate(runs):
    """Median figures of one server's runs of one row. A failed run counts
    in `failed` and nowhere else."""
    ok = [r for r in runs if not r.get("failed")]
    out = {"runs": len(runs), "failed": len(runs) - len(ok)}
    if not ok:
        return out
    for key in ("ops_per_s", "p50_us", "p90_us", "p99_us", "p999_us", "max_us", "mean_us"):
        out[key] = median([r.get(key) for r in ok])
    out["ops"] = sum(r.get("ops", 0) or 0 for r in ok)
    out["errors"] = sum(r.get("errors", 0) or 0 for r in ok)
    codes = {}
    for r in ok:
        for k, v in (r.get("errors_by_code") or {}).items():
            codes[k] = codes.get(k, 0) + v
    out["errors_by_code"] = codes
    rss = [max(r.get("server_rss_kb") or [0]) for r in ok]
    out["max_server_rss_kb"] = max(rss) if rss else None
    fs = [r["fsync"]["leader_fsyncs_per_write"] for r in ok
          if r.get("fsync") and r["fsync"].get("leader_fsyncs_per_write") is not None]
    out["leader_fsyncs_per_write"] = median(fs)
    fs = [r["fsync"]["follower_fsyncs_per_write"] for r in ok
          if r.get("fsync") and r["fsync"].get("follower_fsyncs_per_write") is not None]
    out["follower_fsyncs_per_write"] = median(fs)
    sources = sorted({r["fsync"].get("source") for r in ok if r.get("fsync")} - {None})
    out["fsync_source"] = ",".join(sources) or None
    if any("notifications" in r for r in ok):
        out["notifications"] = median([r.get("notifications") for r in ok])
    return out


def summarize(runs, plan):
    """Rows of the comparison: per (workload, clients) in plan order, each
    server's aggregate and the ratios Conclave / ZooKeeper."""
    rows = []
    for workload, clients in plan:
        row = {"workload": workload, "clients": clients}
        mine = [r for r in runs if r["workload"] == workload and r["clients"] == clients]
        row["outstanding"] = mine[0].get("outstanding") if mine else None
        for s in SERVERS:
            sr = [r for r in mine if r["server"] == s]
            row[s] = aggregate(sr) if sr else None
        z, c = row["zookeeper"] or {}, row["conclave"] or {}
        row["ratio_ops"] = ratio(c.get("ops_per_s"), z.get("ops_per_s"))
        row["ratio_p99"] = ratio(c.get("p99_us"), z.get("p99_us"))
        rows.append(row)
    return rows


def _ms(us):
    return "-" if us is None else ("%.2f" % (us / 1000.0) if us < 10000 else "%.1f" % (us / 1000.0))


def _ops(v):
    return "-" if v is None else "%.0f" % v


def _x(v):
    return "-" if v is None else "%.2f" % v


def _lat3(m):
    if not m or m.get("p50_us") is None:
        return "-"
    return "%s / %s / %s" % (_ms(m["p50_us"]), _ms(m["p99_us"]), _ms(m["p999_us"]))


def _errors(m):
    if not m:
        return "-"
    text = str(m.get("errors", "-"))
    if m.get("failed"):
        text += " (%d failed)" % m["failed"]
    return text


TABLE_HEAD = ["workload", "clients", "out", "ZK ops/s", "Conclave ops/s", "C/ZK",
              "ZK p50/p99/p99.9 ms", "Conclave p50/p99/p99.9 ms", "p99 C/ZK", "errors ZK",
              "errors C"]


def table_cells(rows):
    cells = []
    for r in rows:
        z, c = r.get("zookeeper"), r.get("conclave")
        cells.append([r["workload"], str(r["clients"]), str(r.get("outstanding") or "-"),
                      _ops((z or {}).get("ops_per_s")), _ops((c or {}).get("ops_per_s")),
                      _x(r.get("ratio_ops")), _lat3(z), _lat3(c), _x(r.get("ratio_p99")),
                      _errors(z), _errors(c)])
    return cells


def format_table(rows):
    """Plain-text table, columns aligned."""
    cells = [TABLE_HEAD] + table_cells(rows)
    widths = [max(len(row[i]) for row in cells) for i in range(len(TABLE_HEAD))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(v.rjust(widths[i]) if i > 0 else v.ljust(widths[i])
                               for i, v in enumerate(row)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"


def markdown_table(rows):
    lines = ["| " + " | ".join(TABLE_HEAD) + " |",
             "|" + "|".join("---" for _ in TABLE_HEAD) + "|"]
    for row in table_cells(rows):
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def chart_rows(rows):
    out = []
    for r in rows:
        item = {"label": r["workload"],
                "sublabel": "%d client%s" % (r["clients"], "" if r["clients"] == 1 else "s")}
        for s in SERVERS:
            m = r.get(s)
            item[s] = ({k: m.get(k) for k in ("ops_per_s", "p50_us", "p99_us", "p999_us")}
                       if m and m.get("ops_per_s") is not None else None)
        out.append(item)
    return out


def fsync_figures(before, after):
    """fsyncs per committed write from two samples of
    {"committed": int, "leader": id, "fsyncs": {id: count}}."""
    if not before or not after or before.get("leader") != after.get("leader"):
        return None
    committed = (after.get("committed") or 0) - (before.get("committed") or 0)
    if committed <= 0:
        return {"committed": committed}
    deltas = {k: after["fsyncs"][k] - before["fsyncs"].get(k, 0) for k in after["fsyncs"]}
    leader = after["leader"]
    followers = [v for k, v in deltas.items() if k != leader]
    return {"committed": committed, "source": after.get("source"),
            "leader_fsyncs": deltas.get(leader),
            "leader_fsyncs_per_write": (deltas[leader] / committed) if leader in deltas else None,
            "follower_fsyncs_per_write": (sum(followers) / len(followers) / committed)
            if followers else None}


# -- running things -------------------------------------------------------------

def log(msg):
    print(msg, flush=True)


def fmt_secs(v):
    """A number for conclave-bench's --duration-s / --warmup-s."""
    return ("%d" % v) if float(v) == int(v) else ("%g" % v)


def conclave_fsync_metric(metrics):
    """The name of Conclave's fsync counter: a conclave_*fsync*_total if the
    node has one, else conclave_persist_total (storage round trips: an upper
    bound, since a round trip that wrote no entry does not fdatasync)."""
    for key in sorted(metrics):
        if key.startswith("conclave_") and "fsync" in key and key.endswith("_total"):
            return key
    return "conclave_persist_total"


def fsync_sample(cluster):
    """{"committed", "leader", "fsyncs": {node id: count}, "source"} or None."""
    try:
        if cluster.name == "conclave":
            fs, leader, committed, source = {}, None, None, None
            for n in cluster.nodes:
                if not n.proc:
                    continue
                m = n.metrics()
                source = conclave_fsync_metric(m)
                fs[n.id] = m.get(source, 0)
                if m.get("conclave_raft_is_leader") == 1:
                    leader = n.id
                    committed = m.get("conclave_raft_commit_index")
            return {"committed": committed, "leader": leader, "fsyncs": fs, "source": source}
        fs, leader, committed = {}, None, None
        for n in cluster.nodes:
            if not n.proc:
                continue
            fs[n.id] = n.mntr().get("zk_cnt_fsynctime", 0)
            srvr = n.srvr()
            if srvr.get("mode") == "leader":
                leader = n.id
                committed = (srvr.get("zxid") or 0) & 0xFFFFFFFF
        return {"committed": committed, "leader": leader, "fsyncs": fs,
                "source": "zk_cnt_fsynctime"}
    except (OSError, ValueError):
        return None


def run_bench(args, cluster, workload, clients, rep, out_dir):
    """One conclave-bench run; the record (its JSON plus ours)."""
    name = "%s-c%d-r%d-%s" % (workload, clients, rep + 1, cluster.name)
    json_path = os.path.join(out_dir, "raw", name + ".json")
    argv = [os.path.join(args.bin, "conclave-bench"),
            "--servers", cluster.connect_string(), "--workload", workload,
            "--clients", str(clients), "--outstanding", str(args.outstanding),
            "--value-bytes", str(args.value_bytes), "--znodes", str(args.znodes),
            "--duration-s", fmt_secs(args.duration_s), "--warmup-s", fmt_secs(args.warmup_s),
            "--root", "/cb-%s-c%d-r%d" % (workload, clients, rep + 1),
            "--label", cluster.name, "--json", json_path,
            "--server-pids", ",".join(str(p) for p in cluster.pids()),
            "--seed", str(1000 * (rep + 1) + clients)]
    record = {"server": cluster.name, "workload": workload, "clients": clients,
              "outstanding": args.outstanding, "rep": rep + 1, "json": json_path,
              "argv": argv}
    before = fsync_sample(cluster)
    timeout = args.duration_s + args.warmup_s + 120 + args.znodes / 500.0
    t0 = time.monotonic()
    log_path = os.path.join(out_dir, "raw", name + ".log")
    with open(log_path, "wb") as out:
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            code = p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            code = "timeout"
        except BaseException:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise
    record["wall_s"] = time.monotonic() - t0
    record["exit"] = code
    after = fsync_sample(cluster)
    data = None
    if code == 0:
        try:
            with open(json_path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = None
    if data is None:
        record["failed"] = True
        with open(log_path, "rb") as f:
            record["output_tail"] = f.read()[-2000:].decode(errors="replace")
        return record
    for k, v in data.items():
        if k not in record or k in ("outstanding",):
            record[k] = v
    record["fsync"] = fsync_figures(before, after)
    return record


def prime(args, cluster, out_dir):
    """A `mixed` run of --prime-s seconds with 32 clients, not recorded."""
    json_path = os.path.join(out_dir, "raw", "prime-%s.json" % cluster.name)
    argv = [os.path.join(args.bin, "conclave-bench"), "--servers", cluster.connect_string(),
            "--workload", "mixed", "--clients", "32", "--duration-s", fmt_secs(args.prime_s),
            "--warmup-s", "0", "--root", "/cb-prime", "--label", cluster.name,
            "--json", json_path]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=args.prime_s + 300)
    rec = {"exit": res.returncode}
    try:
        with open(json_path) as f:
            rec.update(json.load(f))
    except (OSError, ValueError):
        rec["failed"] = True
        rec["output_tail"] = (res.stdout + res.stderr)[-2000:]
    return rec


def describe(rec):
    if rec.get("failed"):
        return "FAILED (exit %s): %s" % (rec.get("exit"),
                                        (rec.get("output_tail") or "").strip()[-300:])
    return "%8.0f ops/s  p50 %s ms  p99 %s ms  p99.9 %s ms  errors %s%s" % (
        rec.get("ops_per_s") or 0, _ms(rec.get("p50_us")), _ms(rec.get("p99_us")),
        _ms(rec.get("p999_us")), rec.get("errors"),
        "  POOL EXHAUSTED (ops/s underestimated)" if rec.get("pool_exhausted") else "")


# -- memory and recovery --------------------------------------------------------

def load_worker(hosts, prefix, start, count, value_bytes, window):
    """Creates prefix-layout znodes start..start+count-1 (pipelined, `window`
    requests in flight). Run as a separate process (--load-worker)."""
    zk = cc.kazoo_client(hosts, timeout_s=30)
    value = b"x" * value_bytes
    pending = deque()
    errors = 0

    def settle(req):
        nonlocal errors
        try:
            req.get(timeout=120)
        except Exception as e:  # NodeExists after a retried request is fine
            if type(e).__name__ != "NodeExistsError":
                errors += 1
                if errors <= 5:
                    print("load error: %r" % e, file=sys.stderr, flush=True)
    for i in range(start, start + count):
        path = ("%s/d%04d/n%07d" % (prefix, i // 1000, i))
        pending.append(zk.create_async(path, value))
        if len(pending) >= window:
            settle(pending.popleft())
    while pending:
        settle(pending.popleft())
    zk.stop()
    zk.close()
    return 1 if errors else 0


def load_znodes(hosts, prefix, count, value_bytes, procs=2, window=256):
    """Creates `count` znodes prefix/d<4 digits>/n<7 digits> (parents first) with
    `procs` kazoo processes; returns the seconds it took."""
    t0 = time.monotonic()
    zk = cc.kazoo_client(hosts, timeout_s=30)
    try:
        zk.ensure_path(prefix)
        reqs = [zk.create_async("%s/d%04d" % (prefix, d), b"")
                for d in range((count + 999) // 1000)]
        for r in reqs:
            try:
                r.get(timeout=60)
            except Exception as e:
                if type(e).__name__ != "NodeExistsError":
                    raise
    finally:
        zk.stop()
        zk.close()
    procs = max(1, min(procs, count // 1000 or 1))
    share = (count + procs - 1) // procs
    workers = []
    for k in range(procs):
        start, n = k * share, min(share, count - k * share)
        if n <= 0:
            continue
        workers.append(subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--load-worker", hosts, prefix,
             str(start), str(n), str(value_bytes), str(window)],
            start_new_session=True))
    try:
        codes = [w.wait(timeout=3600) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()
    if any(codes):
        raise RuntimeError("loading %d znodes into %s failed (worker exit codes %s)"
                           % (count, hosts, codes))
    return time.monotonic() - t0


def bench_load(args, cluster, count, out_dir):
    """Creates about `count` znodes of 100 bytes with conclave-bench's create
    workload (16 sessions x 32 requests in flight, single creates, so that
    the log and the snapshots look as they do after ordinary use), kept
    (--keep) under /cb-mem, in runs of a duration computed from the
    measured rate (each at most twice as long as the one before) until fewer
    than 1% are missing. Returns (seconds, znodes added: the leader's count)."""
    t0 = time.monotonic()
    base = cluster.znode_count() or 0
    created, rate, k, dur = 0, None, 0, None
    while count - created > max(count // 100, 1) or created == 0:
        remaining = count - created
        if rate is None:
            dur = max(0.2, min(0.5, remaining / 5000.0))
        else:  # at most twice the last run: the first runs of a cold JVM are slow
            dur = max(0.2, min(120.0, 2 * dur, remaining / rate * 0.9))
        k += 1
        json_path = os.path.join(out_dir, "raw", "memory-load-%s-%d.json" % (cluster.name, k))
        argv = [os.path.join(args.bin, "conclave-bench"), "--servers", cluster.connect_string(),
                "--workload", "create", "--clients", "16", "--outstanding", "32",
                "--value-bytes", "100", "--duration-s", "%.2f" % dur, "--warmup-s", "0",
                "--root", MEM_PREFIX, "--label", "load%d" % k, "--keep", "--json", json_path]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=dur + 300)
        try:
            with open(json_path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = None
        if res.returncode != 0 or not data or not data.get("ops"):
            raise RuntimeError("loading %s: conclave-bench exit %d: %s" % (
                cluster.label, res.returncode, (res.stdout + res.stderr).strip()[-500:]))
        # The leader's count, not the ops of the window: creates still in
        # flight when the window closed completed too.
        created = (cluster.znode_count() or 0) - base
        rate = data["ops"] / data.get("duration_s", dur)
    return time.monotonic() - t0, created


def wait_serves(port, path, timeout_s):
    """Seconds until 127.0.0.1:port (alone) answers exists(path) != None."""
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    while time.monotonic() < deadline:
        try:
            zk = cc.kazoo_client("127.0.0.1:%d" % port, timeout_s=max(1.0, deadline -
                                                                       time.monotonic()))
        except Exception:
            time.sleep(0.05)
            continue
        try:
            while time.monotonic() < deadline:
                try:
                    if zk.exists(path) is not None:
                        return time.monotonic() - t0
                except Exception:
                    break  # connection lost while the node settles: reconnect
                time.sleep(0.02)
        finally:
            try:
                zk.stop()
                zk.close()
            except Exception:
                pass
    raise RuntimeError("127.0.0.1:%d did not serve %s within %.0f s" % (port, path, timeout_s))


def du_kb(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total // 1024


def memory_test(args, make_cluster, tmp, out_dir):
    """The memory and recovery figures of one server (fresh cluster)."""
    cluster = make_cluster(os.path.join(tmp, "mem"))
    res = {"znodes_asked": args.memory_znodes, "value_bytes": 100}
    try:
        cluster.start()
        cluster.wait_ready()
        time.sleep(1)
        res["idle_rss_kb"] = {n.id: cc.rss_kb(n.pid) for n in cluster.nodes}
        log("  %s: loading %d znodes of 100 bytes ..." % (cluster.label, args.memory_znodes))
        res["load_s"], res["znodes_added"] = bench_load(args, cluster, args.memory_znodes,
                                                        out_dir)
        # A marker written after the load: a member that serves it has
        # applied everything before it.
        zk = cc.kazoo_client(cluster.connect_string())
        try:
            zk.create(MARKER, b"")
        finally:
            zk.stop()
            zk.close()
        last = MARKER
        for n in cluster.nodes:  # every member has applied the load
            wait_serves(n.zk_port, last, 300)
        log("  %s: %d znodes added in %.1f s (%.0f creates/s, conclave-bench create)" % (
            cluster.label, res["znodes_added"], res["load_s"],
            res["znodes_added"] / res["load_s"]))
        time.sleep(1)
        nodes = []
        for n in cluster.nodes:
            nodes.append({"id": n.id, "role": cluster.role(n), "pid": n.pid,
                          "rss_kb": cc.rss_kb(n.pid), "data_dir_kb": du_kb(n.data)})
        if cluster.name == "zookeeper" and args.mode != "smoke":  # jcmd: ~1 s of JVM each
            for item, n in zip(nodes, cluster.nodes):
                item["heap_used_after_full_gc_kb"] = zc.jvm_heap_used_kb(n.pid)
                item["rss_after_full_gc_kb"] = cc.rss_kb(n.pid)
        res["nodes"] = nodes
        log("  %s: RSS MiB %s" % (cluster.label, ", ".join(
            "%s %.0f" % (x["role"], (x["rss_kb"] or 0) / 1024.0) for x in nodes)))
        # Restart a follower with that data.
        follower = next(n for n in cluster.nodes if cluster.role(n) not in ("leader", "?"))
        res["restarted_node"] = follower.id
        cluster.stop_node(follower)
        t0 = time.monotonic()
        cluster.start_node(follower)
        wait_serves(follower.zk_port, last, 600)
        res["restart_to_serve_s"] = time.monotonic() - t0
        res["restarted_rss_kb"] = cc.rss_kb(follower.pid)
        log("  %s: follower %d restarted and served in %.2f s" % (
            cluster.label, follower.id, res["restart_to_serve_s"]))
        # Catch-up after writes it missed.
        cluster.stop_node(follower)
        others = [n for n in cluster.nodes if n is not follower]
        res["catchup_writes"] = args.catchup_writes
        res["catchup_load_s"] = load_znodes(cluster.connect_string(others), CATCHUP_PREFIX,
                                            args.catchup_writes, 100, procs=1)
        last_c = "%s/d%04d/n%07d" % (CATCHUP_PREFIX, (args.catchup_writes - 1) // 1000,
                                     args.catchup_writes - 1)
        t0 = time.monotonic()
        cluster.start_node(follower)
        wait_serves(follower.zk_port, last_c, 600)
        res["catchup_s"] = time.monotonic() - t0
        log("  %s: follower %d caught up on %d writes and served in %.2f s" % (
            cluster.label, follower.id, args.catchup_writes, res["catchup_s"]))
    finally:
        res["exit_codes"] = cluster.close()
    # Only now: after a failure the caller keeps the directory for its logs.
    shutil.rmtree(os.path.join(tmp, "mem"), ignore_errors=True)
    return res


# -- machine --------------------------------------------------------------------

def sh(argv, cwd=None):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20,
                              cwd=cwd).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info(data_dir, bin_dir):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f.readline().split(":", 1)[1].strip()
    except (OSError, IndexError):
        pass
    commit = sh(["git", "rev-parse", "HEAD"], cwd=ROOT)
    if commit and sh(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT):
        commit += "+dirty"
    build_type = ""
    cache = os.path.join(os.path.dirname(bin_dir), "CMakeCache.txt")
    try:
        with open(cache) as f:
            for line in f:
                if line.startswith("CMAKE_BUILD_TYPE:"):
                    build_type = line.split("=", 1)[1].strip()
    except OSError:
        pass
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr \
        .splitlines()[0:1] if shutil.which("java") else []
    return {"nproc": os.cpu_count(), "cpu_model": cpu, "memory": mem,
            "kernel": platform.release(), "python": platform.python_version(),
            "disk": sh(["df", "-hT", data_dir]).splitlines()[-1:],
            "mount": " ".join(sh(["findmnt", "-no", "SOURCE,FSTYPE,OPTIONS", "--target",
                                  data_dir]).split()),
            "conclave_commit": commit, "conclave_build_type": build_type,
            "zookeeper_package": sh(["dpkg-query", "-W", "-f", "${Version}", "zookeeper"]),
            "java": java[0] if java else None,
            "loadavg_before": list(os.getloadavg())}


# -- main -----------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See the module docstring (tools/bench/compare.py).")
    p.add_argument("--bin", default=os.path.join(ROOT, "build-bench", "bin"),
                   help="conclave-node, conclavectl and conclave-bench (default build-bench/bin)")
    p.add_argument("--out", default=None, help="results directory")
    p.add_argument("--quick", action="store_true", help="about 3-4 minutes")
    p.add_argument("--smoke", action="store_true", help="CI: under 90 s, checks")
    p.add_argument("--reps", type=int, default=None)
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--clients", default=None, help="e.g. 1,32,256: for every workload")
    p.add_argument("--outstanding", type=int, default=1)
    p.add_argument("--duration-s", type=float, default=None)
    p.add_argument("--warmup-s", type=float, default=None)
    p.add_argument("--znodes", type=int, default=1000)
    p.add_argument("--value-bytes", type=int, default=100)
    p.add_argument("--memory-znodes", type=int, default=None)
    p.add_argument("--catchup-writes", type=int, default=None)
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--only", choices=SERVERS, default=None)
    p.add_argument("--floor-samples", type=int, default=None)
    p.add_argument("--prime-s", type=float, default=None,
                   help="unrecorded mixed load per server before the runs (JIT warm-up)")
    p.add_argument("--tmp-dir", default=None, help="parent of the data directories")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--load-worker", nargs=6, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.load_worker:
        return args
    if args.quick and args.smoke:
        p.error("--quick and --smoke exclude each other")
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    defaults = {"full": (2, 10, 1, 1000000, 10000, 2000, 10),
                "quick": (1, 3, 1, 100000, 10000, 500, 3),
                "smoke": (1, 2, 1, 1000, 1000, 200, 0)}[mode]
    for name, value in zip(("reps", "duration_s", "warmup_s", "memory_znodes",
                            "catchup_writes", "floor_samples", "prime_s"), defaults):
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.mode = mode
    if args.smoke and args.workloads == ",".join(WORKLOADS):
        args.workloads = "create,get"
    if args.smoke and not args.clients:
        args.clients = "8"
    args.workloads = [w for w in args.workloads.split(",") if w]
    bad = [w for w in args.workloads if w not in WORKLOADS]
    if bad:
        p.error("unknown workload(s) %s (known: %s)" % (",".join(bad), ",".join(WORKLOADS)))
    try:
        args.clients = [int(c) for c in args.clients.split(",")] if args.clients else None
    except ValueError:
        p.error("--clients: expected integers like 1,32,256")
    if args.clients and min(args.clients) < 1:
        p.error("--clients must be positive")
    if min(args.reps, args.outstanding, args.znodes, args.value_bytes,
           args.memory_znodes, args.catchup_writes) < 1 or args.duration_s <= 0 \
            or args.warmup_s < 0:
        p.error("counts and durations must be positive")
    args.bin = os.path.abspath(args.bin)
    if not args.out:
        args.out = os.path.join(ROOT, "bench-results",
                                datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    return args


def main(argv):
    args = parse_args(argv)
    if args.load_worker:
        h, prefix, start, count, vb, window = args.load_worker
        return load_worker(h, prefix, int(start), int(count), int(vb), int(window))

    servers = [args.only] if args.only else list(SERVERS)
    need = ["conclave-bench"] + (["conclave-node"] if "conclave" in servers else [])
    missing = [b for b in need if not os.access(os.path.join(args.bin, b), os.X_OK)]
    if missing:
        print("compare: %s not found in %s (--bin)" % (", ".join(missing), args.bin),
              file=sys.stderr)
        return EXIT_SKIP
    install = zc.find_zookeeper() if "zookeeper" in servers else None
    if "zookeeper" in servers and install is None:
        print("compare: Java or Apache ZooKeeper is not installed (Debian: apt-get install "
              "zookeeper; scripts/deps.sh)", file=sys.stderr)
        return EXIT_SKIP
    if importlib.util.find_spec("kazoo") is None:
        print("compare: kazoo is not installed (python3-kazoo)", file=sys.stderr)
        return EXIT_SKIP

    def on_signal(signum, _frame):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    atexit.register(cc.stop_all)

    os.makedirs(os.path.join(args.out, "raw"), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="conclave-vs-zk-", dir=args.tmp_dir)
    keep = args.keep
    plan = plan_rows(args.workloads, args.clients, quick=args.mode == "quick")
    per_run = args.duration_s + args.warmup_s + 2
    log("compare: %s mode, %d rows x %d reps x %d servers, ~%.0f s of load; results in %s; "
        "data in %s" % (args.mode, len(plan), args.reps, len(servers),
                        len(plan) * args.reps * len(servers) * per_run, args.out, tmp))
    started = time.time()
    summary = {"command": " ".join([sys.argv[0]] + argv), "mode": args.mode,
               "started": datetime.datetime.now().isoformat(timespec="seconds"),
               "settings": {k: getattr(args, k) for k in (
                   "reps", "duration_s", "warmup_s", "outstanding", "znodes", "value_bytes",
                   "memory_znodes", "catchup_writes", "workloads", "clients", "only", "bin",
                   "prime_s")},
               "machine": machine_info(tmp, args.bin), "runs": [], "checks": []}
    summary["servers"] = {
        "zookeeper": {"jvm_flags": zc.JVM_FLAGS, "launch": "java ... QuorumPeerMain zoo.cfg",
                      "classpath": (install or {}).get("classpath")},
        "conclave": {"commit": summary["machine"]["conclave_commit"]}}
    rc = 0
    clusters = {}
    phases = summary["phase_s"] = {}
    mark = [time.monotonic()]

    def phase(name):
        now = time.monotonic()
        phases[name] = round(now - mark[0], 1)
        mark[0] = now
    try:
        # 1. the floor
        floor_json = os.path.join(args.out, "floor.json")
        floor_dir = os.path.join(tmp, "floor")
        os.makedirs(floor_dir)
        res = subprocess.run([os.path.join(args.bin, "conclave-bench"), "floor", "--dir",
                              floor_dir, "--samples", str(args.floor_samples), "--json",
                              floor_json], capture_output=True, text=True, timeout=300)
        try:
            with open(floor_json) as f:
                summary["floor"] = json.load(f)
            log("floor: %s" % json.dumps(summary["floor"]))
        except (OSError, ValueError):
            summary["floor"] = {"error": (res.stdout + res.stderr).strip()[-500:]}
            log("floor: failed (exit %d): %s" % (res.returncode, summary["floor"]["error"]))
        shutil.rmtree(floor_dir, ignore_errors=True)
        phase("floor")

        # 2. throughput and latency
        if "zookeeper" in servers:
            clusters["zookeeper"] = zc.ZooKeeperCluster(install, os.path.join(tmp, "zookeeper"))
        if "conclave" in servers:
            clusters["conclave"] = cc.ConclaveCluster(args.bin, os.path.join(tmp, "conclave"))
        for s in servers:
            t0 = time.monotonic()
            clusters[s].start()
            clusters[s].wait_ready()
            log("%s: 3 nodes ready in %.1f s (client ports %s)" % (
                LABELS[s], time.monotonic() - t0, clusters[s].connect_string()))
        if "zookeeper" in clusters:
            summary["servers"]["zookeeper"]["version"] = clusters["zookeeper"].version()
            with open(clusters["zookeeper"].nodes[0].cfg) as f:
                summary["servers"]["zookeeper"]["zoo_cfg_node1"] = f.read()
        if "conclave" in clusters:
            with open(clusters["conclave"].nodes[0].conf) as f:
                summary["servers"]["conclave"]["config_node1"] = f.read()
        phase("start")
        # Priming, not recorded: a fresh JVM interprets ZooKeeper's code until
        # the JIT compiles it, which a 1 s warm-up does not cover; Conclave gets
        # the same run for symmetry.
        if args.prime_s > 0:
            for s in servers:
                rec = prime(args, clusters[s], args.out)
                log("prime    %3d clients       %-9s %s" % (32, LABELS[s], describe(rec)))
            phase("prime")
        for workload, clients in plan:
            for rep in range(args.reps):
                for s in servers:
                    clusters[s].check_alive()
                    rec = run_bench(args, clusters[s], workload, clients, rep, args.out)
                    summary["runs"].append(rec)
                    log("%-8s %3d clients rep %d %-9s %s" % (workload, clients, rep + 1,
                                                             LABELS[s], describe(rec)))
        for s in servers:
            clusters[s].check_alive()
        summary["clusters_exit_codes"] = {s: clusters[s].close() for s in servers}
        clusters = {}
        # ZooKeeper's JVM exits with 143 on SIGTERM; Conclave should exit 0.
        bad = {k: v for k, v in summary["clusters_exit_codes"].get("conclave", {}).items()
               if v not in (0, None)}
        if bad:
            log("compare: warning: Conclave nodes exited with %s on SIGTERM" % bad)
        phase("runs")

        # 3. memory and recovery, one server at a time
        if not args.skip_memory:
            summary["memory"] = {}
            for s in servers:
                log("memory: %s with %d znodes" % (LABELS[s], args.memory_znodes))
                if s == "zookeeper":
                    def make(root):
                        return zc.ZooKeeperCluster(install, root)
                else:
                    def make(root):
                        return cc.ConclaveCluster(args.bin, root)
                summary["memory"][s] = memory_test(args, make, tmp, args.out)
                phase("memory_" + s)
    except KeyboardInterrupt:
        print("compare: interrupted; stopping every server", file=sys.stderr)
        rc = 1
    except Exception as e:  # noqa: BLE001 - kazoo has its own; report, keep the logs
        print("compare: FAILED: %s: %s (logs kept in %s)" % (type(e).__name__, e, tmp),
              file=sys.stderr)
        summary["failure"] = "%s: %s" % (type(e).__name__, e)
        keep = True
        rc = 1
    finally:
        for c in clusters.values():
            c.close()
        cc.stop_all()

    summary["rows"] = summarize(summary["runs"], plan)
    summary["chart_rows"] = chart_rows(summary["rows"])
    summary["machine"]["loadavg_after"] = list(os.getloadavg())
    summary["wall_s"] = time.time() - started
    summary["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    m = summary["machine"]
    summary["chart_title"] = "Conclave vs Apache ZooKeeper %s (3 nodes each, loopback)" % (
        summary["servers"]["zookeeper"].get("version") or "")
    summary["chart_subtitle"] = "%d x %s, %s; %s; medians of %d rep(s), %s s each" % (
        m["nproc"], m["cpu_model"], m["kernel"], args.mode, args.reps, fmt_secs(args.duration_s))

    if args.smoke:
        for row in summary["rows"]:
            for s in servers:
                agg = row.get(s) or {}
                ok = agg.get("failed") == 0 and (agg.get("ops") or 0) > 0 \
                    and agg.get("errors") == 0
                summary["checks"].append({"row": "%s c=%d" % (row["workload"], row["clients"]),
                                          "server": s, "ok": bool(ok)})
                if not ok:
                    rc = 1
        if not summary["rows"]:
            rc = 1

    text = report(summary)
    print()
    print(text)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(report(summary, markdown=True))
    with open(os.path.join(args.out, "chart.svg"), "w") as f:
        f.write(chart.render_svg(summary["chart_rows"], summary["chart_title"],
                                 summary["chart_subtitle"]))
    if args.smoke:
        bad = [c for c in summary["checks"] if not c["ok"]]
        log("smoke: %s" % ("ok" if rc == 0 else "FAILED: %s" % (bad or summary.get("failure"))))
    log("compare: %.0f s (%s); results in %s" % (
        summary["wall_s"], ", ".join("%s %.0f s" % kv for kv in phases.items()), args.out))
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        log("compare: data and logs kept in %s" % tmp)
    return rc


def floor_text(fl, rows):
    """The floor in one paragraph, beside the best single-client writes."""
    if not fl or "error" in fl:
        return "not measured: %s" % (fl or {}).get("error", "no result")

    def us(key):
        v = fl.get(key)
        return "-" if v is None else ("%.0f us" % v)
    text = ("fdatasync of a 4 KiB append p50 %s, p99 %s; loopback round trip p50 %s, p99 %s; "
            "best possible replicated write (fdatasync p50 + 2 round trips) %s."
            % (us("fdatasync_p50_us"), us("fdatasync_p99_us"), us("rtt_p50_us"),
               us("rtt_p99_us"), us("best_write_us")))
    single = [r for r in rows if r["clients"] == 1 and r["workload"] in ("create", "set")]
    for r in single:
        parts = []
        for s in SERVERS:
            m = r.get(s) or {}
            if m.get("p50_us") is not None:
                parts.append("%s %.0f us" % (LABELS[s], m["p50_us"]))
        if parts:
            text += " %s with 1 client, p50: %s." % (r["workload"], ", ".join(parts))
    return text


def report(summary, markdown=False):
    """The printed report (plain text or Markdown)."""
    rows = summary.get("rows") or []
    m = summary["machine"]
    out = []
    h = (lambda s: "### " + s) if markdown else (lambda s: "== " + s + " ==")
    out.append(h("Throughput and latency (medians over %d rep(s), %s s runs; ratio = Conclave / "
                 "ZooKeeper)" % (summary["settings"]["reps"],
                                 fmt_secs(summary["settings"]["duration_s"]))))
    out.append("")
    out.append(markdown_table(rows) if markdown else format_table(rows))
    fs = [r for r in rows if r["workload"] in WRITE_WORKLOADS
          and any((r.get(s) or {}).get("leader_fsyncs_per_write") is not None for s in SERVERS)]
    if fs:
        csrc = sorted({(r.get("conclave") or {}).get("fsync_source") for r in fs} - {None})
        out.append(h("fsyncs per committed write (leader / follower mean)"))
        out.append("")
        out.append("Counted over each whole run (setup, warm-up, clean-up included) against "
                   "the leader's committed entries (ZooKeeper: zxid counter; Conclave: commit "
                   "index; both include session open/close). ZooKeeper: zk_cnt_fsynctime "
                   "(mntr), one per fsync of the transaction log. Conclave: %s%s." % (
                       ", ".join(csrc) or "-",
                       " = storage round trips, an UPPER BOUND of its fdatasyncs (a round trip "
                       "that wrote no entry does not sync)"
                       if csrc == ["conclave_persist_total"] else ""))
        out.append("")
        if markdown:
            out.append("| workload | clients | ZK leader | ZK follower | Conclave leader | "
                       "Conclave follower |")
            out.append("|---|---|---|---|---|---|")
        for r in fs:
            z, c = r.get("zookeeper") or {}, r.get("conclave") or {}
            cells = [r["workload"], str(r["clients"]),
                     _x(z.get("leader_fsyncs_per_write")), _x(z.get("follower_fsyncs_per_write")),
                     _x(c.get("leader_fsyncs_per_write")), _x(c.get("follower_fsyncs_per_write"))]
            out.append(("| " + " | ".join(cells) + " |") if markdown else
                       "%-8s %4s clients  ZK %s / %s   Conclave %s / %s" % tuple(cells))
        out.append("")
    out.append(h("Physical floor (conclave-bench floor)"))
    out.append("")
    out.append(floor_text(summary.get("floor") or {}, rows))
    out.append("")
    mem = summary.get("memory")
    if mem:
        out.append(h("Memory and recovery"))
        out.append("")
        head = ["server", "znodes", "load s", "idle RSS MiB", "leader RSS MiB",
                "follower RSS MiB", "ZK heap after GC MiB", "data dir MiB", "restart to serve s",
                "catch-up s (writes)"]
        lines = []
        for s in SERVERS:
            r = mem.get(s)
            if not r or "nodes" not in r:
                if r is not None:
                    lines.append([LABELS[s], str(r.get("znodes_asked")), "failed"] + [""] * 7)
                continue

            def mib(kb):
                return "-" if kb is None else "%.0f" % (kb / 1024.0)
            ld = [n for n in r["nodes"] if n["role"] == "leader"]
            fo = [n for n in r["nodes"] if n["role"] != "leader"]
            heap = [n.get("heap_used_after_full_gc_kb") for n in r["nodes"]
                    if n.get("heap_used_after_full_gc_kb")]
            lines.append([LABELS[s], str(r.get("znodes_added")), "%.1f" % r.get("load_s", 0),
                          mib(max((r.get("idle_rss_kb") or {0: None}).values(),
                                  key=lambda v: v or 0)),
                          mib(ld[0]["rss_kb"]) if ld else "-",
                          ", ".join(mib(n["rss_kb"]) for n in fo),
                          ", ".join(mib(v) for v in heap) if heap else "-",
                          mib(max(n["data_dir_kb"] for n in r["nodes"])),
                          "%.2f" % r["restart_to_serve_s"] if "restart_to_serve_s" in r else "-",
                          ("%.2f (%d)" % (r["catchup_s"], r["catchup_writes"]))
                          if "catchup_s" in r else "-"])
        if markdown:
            out.append("| " + " | ".join(head) + " |")
            out.append("|" + "|".join("---" for _ in head) + "|")
            out += ["| " + " | ".join(x) + " |" for x in lines]
        else:
            widths = [max(len(x[i]) for x in [head] + lines) for i in range(len(head))]
            out += ["  ".join(v.ljust(widths[i]) for i, v in enumerate(x)).rstrip()
                    for x in [head] + lines]
        out.append("")
    out.append(h("Machine"))
    out.append("")
    out.append("%s x %s, %s, kernel %s; data on %s; ZooKeeper %s (Debian %s, %s, %s); "
               "Conclave %s (%s); load average %s before, %s after; %.0f s in all" % (
                   m.get("nproc"), m.get("cpu_model"), m.get("memory"), m.get("kernel"),
                   m.get("mount") or m.get("disk"),
                   summary["servers"]["zookeeper"].get("version") or "-",
                   m.get("zookeeper_package") or "-", m.get("java") or "no java",
                   " ".join(summary["servers"]["zookeeper"]["jvm_flags"]),
                   m.get("conclave_commit"), m.get("conclave_build_type") or "?",
                   "/".join("%.1f" % v for v in m.get("loadavg_before", [])),
                   "/".join("%.1f" % v for v in m.get("loadavg_after", [])),
                   summary.get("wall_s", 0)))
    if summary.get("failure"):
        out.append("")
        out.append("FAILED: " + summary["failure"])
    short = [r for r in summary.get("runs", []) if r.get("pool_exhausted")]
    if short:
        out.append("")
        out.append("delete pool exhausted (ops/s is an underestimate): " + ", ".join(
            "c=%d rep %d %s" % (r["clients"], r["rep"], r["server"]) for r in short))
    failed = [r for r in summary.get("runs", []) if r.get("failed")]
    if failed:
        out.append("")
        out.append("failed runs: " + ", ".join("%s c=%d rep %d %s (exit %s)" % (
            r["workload"], r["clients"], r["rep"], r["server"], r.get("exit")) for r in failed))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
