#!/usr/bin/python3
"""Smoke run of conclave-bench (tools/bench/zk_bench.cpp) against one node.

    tools/bench/zk_bench_smoke.py [--bin DIR] [--keep]

Starts ONE Conclave node (free ports, a temporary directory), then runs
conclave-bench for about a second per workload with small parameters
(2 clients, 4 outstanding, 50 znodes, watch with 5 watchers) and checks each
run's JSON: ops > 0, no errors, p50 <= p99 <= p99.9 <= max, the node's RSS
read, the run's subtree cleaned up (after churn: every ephemeral gone).
`create` runs once more with --keep, and kazoo counts the znodes it left:
at least `ops` of them, each of --value-bytes. Then `floor` (positive
numbers, its file deleted) and a usage error (exit code 2).

Exit code 0 ok, 1 failed, 77 binaries or kazoo missing (CTest: skipped).
The node is stopped at exit, also on failure or Ctrl-C.
"""

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXIT_SKIP = 77
WORKLOADS = ["create", "set", "get", "exists", "children", "delete", "multi",
             "mixed", "churn", "watch"]
SMALL = ["--clients", "2", "--outstanding", "4", "--znodes", "50",
         "--value-bytes", "64", "--duration-s", "1", "--warmup-s", "0.2",
         "--watchers", "5", "--multi-ops", "3", "--read-percent", "50"]

CONFIG = """# Written by tools/bench/zk_bench_smoke.py.
conclave {{
  id = 1
  data-dir = "{data}"
  bind-address = "127.0.0.1"
  client-port = {client_port}
  zk-port = {zk_port}
  admin-port = {admin_port}
  peer-port = {peer_port}
  peers = ["1@127.0.0.1:{peer_port}"]
  initial-cluster-state = "new"
  log-level = "warning"
}}
"""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One conclave-node on loopback; stop() always leaves no process."""

    def __init__(self, bin_dir, tmp):
        self.dir = tmp
        self.zk_port = free_port()
        self.proc = None
        self.bin_dir = bin_dir

    @property
    def zk(self):
        return "127.0.0.1:%d" % self.zk_port

    def start(self):
        data = os.path.join(self.dir, "data")
        os.makedirs(data, exist_ok=True)
        conf = os.path.join(self.dir, "node.conf")
        with open(conf, "w") as f:
            f.write(CONFIG.format(data=data, client_port=free_port(), zk_port=self.zk_port,
                                  admin_port=free_port(), peer_port=free_port()))
        out = open(os.path.join(self.dir, "node.out"), "ab")
        self.proc = subprocess.Popen([os.path.join(self.bin_dir, "conclave-node"),
                                      "--config-file=" + conf],
                                     stdout=out, stderr=subprocess.STDOUT, cwd=self.dir,
                                     start_new_session=True)
        out.close()

    def stop(self):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code


def kazoo_client(node):
    """A connected kazoo client once the node serves writes (kazoo's start
    retries while the node has no leader yet and closes connections)."""
    from kazoo.client import KazooClient
    # Quiet: kazoo warns about every connection the node closes while it
    # has no leader yet.
    logging.getLogger("kazoo").addHandler(logging.NullHandler())
    logging.getLogger("kazoo").propagate = False
    zk = KazooClient(hosts=node.zk, timeout=10)
    zk.start(timeout=30)
    zk.ensure_path("/zk-bench-smoke-ready")
    zk.delete("/zk-bench-smoke-ready")
    return zk


def bench(bin_dir, args, timeout=90):
    cmd = [os.path.join(bin_dir, "conclave-bench")] + args
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return res


def check_run(name, res, json_path, node_pid):
    assert res.returncode == 0, "%s: exit %d\n%s%s" % (name, res.returncode, res.stdout,
                                                       res.stderr)
    with open(json_path) as f:
        r = json.load(f)
    where = "%s: %s" % (name, json.dumps(r))
    assert r["workload"] == name.split()[0], where
    assert r["ops"] > 0, "no operations: " + where
    assert r["errors"] == 0 and r["errors_by_code"] == {}, "errors: " + where
    assert r["ops_per_s"] > 0 and r["duration_s"] > 0, where
    assert 0 < r["p50_us"] <= r["p90_us"] <= r["p99_us"] <= r["p999_us"] <= r["max_us"], \
        "percentiles out of order: " + where
    assert r["min_us"] <= r["p50_us"] and r["mean_us"] > 0, where
    assert len(r["server_rss_kb"]) == 1 and r["server_rss_kb"][0] > 0, \
        "node %d's RSS: %s" % (node_pid, where)
    if name == "watch":
        assert r["notifications"] == r["ops"] * 5, "watch notifications: " + where
    if name == "delete":
        assert not r["pool_exhausted"] and r["pool_per_client"] >= 50, where
    # Every line of the table: the header and the run's row.
    lines = res.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[1].split()[0] == r["workload"], res.stdout
    return r


def smoke(bin_dir, tmp, node):
    zk = kazoo_client(node)
    pid = str(node.proc.pid)
    try:
        results = {}
        for i, w in enumerate(WORKLOADS):
            path = os.path.join(tmp, "%s.json" % w)
            t0 = time.monotonic()
            res = bench(bin_dir, ["--servers", node.zk, "--workload", w, "--label", "smoke-" + w,
                                  "--json", path, "--server-pids", pid, "--seed", str(100 + i)]
                        + SMALL)
            r = check_run(w, res, path, node.proc.pid)
            assert r["cleaned"], "%s: not cleaned up: %s" % (w, r)
            assert zk.exists(r["run_path"]) is None, "%s left %s" % (w, r["run_path"])
            results[w] = r
            print("%-9s %7d ops %9.1f ops/s  p50 %6.2f ms  p99 %6.2f ms  (%.1f s)" % (
                w, r["ops"], r["ops_per_s"], r["p50_us"] / 1000.0, r["p99_us"] / 1000.0,
                time.monotonic() - t0), flush=True)
        # Nothing left of the runs below --root.
        assert zk.get_children("/conclave-bench") == [], zk.get_children("/conclave-bench")

        # create --keep: the znodes really exist, with their values.
        path = os.path.join(tmp, "create-keep.json")
        res = bench(bin_dir, ["--servers", node.zk, "--workload", "create", "--keep",
                              "--json", path, "--server-pids", pid] + SMALL)
        r = check_run("create --keep", res, path, node.proc.pid)
        run_path = r["run_path"]
        parents = sorted(zk.get_children(run_path))
        assert parents == ["c0", "c1"], parents
        kept = ["%s/%s/%s" % (run_path, p, c) for p in parents
                for c in zk.get_children("%s/%s" % (run_path, p))]
        assert len(kept) >= r["ops"], "%d znodes for %d creates" % (len(kept), r["ops"])
        for p in kept[:20]:
            data, _ = zk.get(p)
            assert len(data) == 64, "%s: %d bytes" % (p, len(data))
        print("create --keep: %d znodes on the server for %d measured creates" % (
            len(kept), r["ops"]), flush=True)
        # Clean up in transactions of 100 (kazoo's recursive delete is slow).
        for i in range(0, len(kept), 100):
            t = zk.transaction()
            for p in kept[i:i + 100]:
                t.delete(p)
            assert all(x is True for x in t.commit()), "transaction failed"
        zk.delete(run_path, recursive=True)
    finally:
        zk.stop()
        zk.close()

    # floor: positive numbers, the formula, its file gone.
    path = os.path.join(tmp, "floor.json")
    fdir = os.path.join(tmp, "floor")
    os.makedirs(fdir)
    res = bench(bin_dir, ["floor", "--dir", fdir, "--samples", "200", "--json", path])
    assert res.returncode == 0, "floor: exit %d: %s" % (res.returncode, res.stderr)
    with open(path) as f:
        fl = json.load(f)
    for k in ("fdatasync_p50_us", "fdatasync_p99_us", "rtt_p50_us", "rtt_p99_us",
              "best_write_us"):
        assert fl[k] > 0, "floor %s: %s" % (k, fl)
    assert fl["fdatasync_p50_us"] <= fl["fdatasync_p99_us"], fl
    assert fl["rtt_p50_us"] <= fl["rtt_p99_us"], fl
    assert abs(fl["best_write_us"] - (fl["fdatasync_p50_us"] + 2 * fl["rtt_p50_us"])) < 0.2, fl
    assert os.listdir(fdir) == [], "floor left %s" % os.listdir(fdir)
    print("floor: fdatasync p50 %.1f us, rtt p50 %.1f us, best write %.1f us" % (
        fl["fdatasync_p50_us"], fl["rtt_p50_us"], fl["best_write_us"]), flush=True)

    # Usage errors: exit code 2, with a message.
    for args in (["--servers", node.zk, "--workload", "nope"],
                 ["--workload", "set"],
                 ["--servers", node.zk, "--workload", "set", "--clients", "0"],
                 ["floor"]):
        res = bench(bin_dir, args)
        assert res.returncode == 2 and "conclave-bench:" in res.stderr, \
            "%s: exit %d: %s" % (args, res.returncode, res.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.environ.get("CONCLAVE_BIN_DIR",
                                                   os.path.join(ROOT, "build", "bin")))
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args()
    bin_dir = os.path.abspath(args.bin)
    for need in ("conclave-node", "conclave-bench"):
        if not os.path.exists(os.path.join(bin_dir, need)):
            print("zk_bench_smoke: %s not found in %s (--bin)" % (need, bin_dir),
                  file=sys.stderr)
            return EXIT_SKIP
    try:
        import kazoo  # noqa: F401
    except ImportError:
        print("zk_bench_smoke: kazoo is not installed", file=sys.stderr)
        return EXIT_SKIP

    def on_signal(signum, _frame):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    tmp = tempfile.mkdtemp(prefix="conclave-zk-bench-smoke-")
    node = Node(bin_dir, tmp)
    rc = 0
    keep = args.keep
    t0 = time.monotonic()
    try:
        node.start()
        smoke(bin_dir, tmp, node)
        print("smoke: ok (%.1f s)" % (time.monotonic() - t0))
    except KeyboardInterrupt:
        print("zk_bench_smoke: interrupted; stopping the node", file=sys.stderr)
        rc = 1
    except (AssertionError, RuntimeError, OSError, ValueError,
            subprocess.TimeoutExpired) as e:
        print("zk_bench_smoke: FAILED: %s: %s (logs: %s)" % (type(e).__name__, e, tmp),
              file=sys.stderr)
        keep = True
        rc = 1
    except Exception as e:  # kazoo's errors: also a failure, never a hang
        print("zk_bench_smoke: FAILED: %s: %s (logs: %s)" % (type(e).__name__, e, tmp),
              file=sys.stderr)
        keep = True
        rc = 1
    finally:
        code = node.stop()
        if code not in (0, None):
            print("zk_bench_smoke: the node exited with %s on a graceful stop" % code,
                  file=sys.stderr)
            rc = rc or 1
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
