#!/usr/bin/python3
"""Read throughput of a Conclave cluster with 0, 1 and 2 learners.

    tools/bench/learner_reads.py [--bin DIR] [--clients-per-node N]
        [--seconds S] [--znodes K] [--value-bytes B] [--json FILE]
    tools/bench/learner_reads.py --smoke [--bin DIR]

Starts three voters on loopback (free ports, a temporary directory), writes
K znodes of B bytes (/bench-learners/k<i>), then measures plain reads
(getData of a random znode of the set, ZooKeeper protocol, kazoo) in three
phases: the three voters alone, after `conclavectl members add ... --learner`
of one learner, after a second one. Each phase runs N client processes per
member, each connected to ONE member (so that learners serve their share),
all started together after every client connected; each reports its
operations and latencies, and checks every value it read. The table gives
ops/s and p50/p99 latency per phase, overall and per role (voters,
learners); --json writes the same as JSON.

--smoke: a couple of seconds, one learner, one client per member; asserts
that reads from the learner succeed and return the written values (also a
value written through the learner, which forwards writes) and that the
learner's clients completed reads without errors. Exit code 0 ok, 1 failed,
77 binaries missing (CTest: skipped).

Every node started is stopped at exit, also on Ctrl-C / SIGTERM. Python 3,
kazoo. See docs/benchmarks.md ("Read throughput with learners").
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXIT_SKIP = 77
PREFIX = "/bench-learners"

CONFIG = """# Written by tools/bench/learner_reads.py.
conclave {{
  id = {id}
  data-dir = "{data}"
  bind-address = "127.0.0.1"
  client-port = {client_port}
  zk-port = {zk_port}
  admin-port = {admin_port}
  peer-port = {peer_port}
  peers = [{peers}]
  initial-cluster-state = "{state}"
  log-level = "warning"
}}
"""


def value_of(i, size):
    """The value written to znode i: deterministic, so readers can check."""
    unit = ("v%d-" % i).encode()
    return (unit * (size // len(unit) + 1))[:size]


def percentile(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values))) - 1))
    return sorted_values[k]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, pred, timeout_s, step_s=0.1):
    """Polls pred() until it returns a true value (returned) or raises
    RuntimeError naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout_s, what))
        time.sleep(step_s)


# -- the cluster ----------------------------------------------------------------
class Node:
    def __init__(self, bench, node_id):
        self.bench = bench
        self.id = node_id
        self.client_port = free_port()
        self.zk_port = free_port()
        self.admin_port = free_port()
        self.peer_port = free_port()
        self.dir = os.path.join(bench.tmp, "n%d" % node_id)
        self.data = os.path.join(self.dir, "data")
        self.proc = None
        self.role = "voter"

    @property
    def peer(self):
        return "%d@127.0.0.1:%d" % (self.id, self.peer_port)

    @property
    def zk(self):
        return "127.0.0.1:%d" % self.zk_port

    @property
    def client(self):
        return "127.0.0.1:%d" % self.client_port

    def start(self, peers, state):
        os.makedirs(self.data, exist_ok=True)
        conf = os.path.join(self.dir, "node.conf")
        with open(conf, "w") as f:
            f.write(CONFIG.format(id=self.id, data=self.data, client_port=self.client_port,
                                  zk_port=self.zk_port, admin_port=self.admin_port,
                                  peer_port=self.peer_port, state=state,
                                  peers=", ".join('"%s"' % p for p in peers)))
        out = open(os.path.join(self.dir, "node.out"), "ab")
        self.proc = subprocess.Popen([self.bench.binary("conclave-node"),
                                      "--config-file=" + conf],
                                     stdout=out, stderr=subprocess.STDOUT, cwd=self.dir,
                                     start_new_session=True)
        out.close()

    def stop(self, timeout_s=20):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = self.proc.returncode
        self.proc = None
        return code


class Bench:
    def __init__(self, bin_dir, keep=False):
        self.bin_dir = bin_dir
        self.tmp = tempfile.mkdtemp(prefix="conclave-learner-reads-")
        self.keep = keep
        self.nodes = []
        self.workers = []

    def binary(self, name):
        return os.path.join(self.bin_dir, name)

    def ctl(self, args, servers=None, timeout_ms=10000, check=True):
        servers = servers or ",".join(n.client for n in self.nodes if n.role == "voter")
        cmd = [self.binary("conclavectl"), "--server", servers, "--timeout", str(timeout_ms)]
        res = subprocess.run(cmd + args, capture_output=True, text=True,
                             timeout=timeout_ms / 1000 + 30)
        if check and res.returncode != 0:
            raise RuntimeError("conclavectl %s: exit %d: %s" % (" ".join(args), res.returncode,
                                                                (res.stderr + res.stdout).strip()))
        return res

    def status(self, nodes):
        res = self.ctl(["--json", "status"], servers=",".join(n.client for n in nodes),
                       timeout_ms=2000, check=False)
        try:
            return [r for r in json.loads(res.stdout)["nodes"] if "error" not in r]
        except (ValueError, KeyError):
            return []

    def start_voters(self, count=3):
        self.nodes = [Node(self, i) for i in range(1, count + 1)]
        peers = [n.peer for n in self.nodes]
        for n in self.nodes:
            n.start(peers, "new")

        def leader():
            rows = self.status(self.nodes)
            leaders = {int(r.get("leader", 0)) for r in rows}
            return (len(rows) == count and len(leaders) == 1 and 0 not in leaders
                    and leaders.pop())
        return wait_until("a leader", leader, 60)

    def add_learner(self):
        node = Node(self, len(self.nodes) + 1)
        node.role = "learner"
        voters = [n for n in self.nodes if n.role == "voter"]
        peers = [n.peer for n in self.nodes] + [node.peer]
        self.nodes.append(node)
        node.start(peers, "existing")
        self.ctl(["members", "add", "%d@127.0.0.1:%d" % (node.id, node.peer_port),
                  "--learner", "--client", node.zk], timeout_ms=60000)
        # Caught up: it has applied what the leader had committed.
        target = max(int(r.get("commit", 0)) for r in self.status(voters))
        wait_until("learner %d to catch up" % node.id,
                   lambda: any(int(r.get("applied", 0)) >= target
                               for r in self.status([node])), 60)
        return node

    def kill_workers(self):
        for p in self.workers:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.workers = []

    def close(self):
        self.kill_workers()
        codes = {n.id: n.stop() for n in self.nodes}
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return codes


# -- the load -------------------------------------------------------------------
def worker(args):
    """One client process: connects to one node, says `ready`, waits for
    `go` on stdin, reads random znodes for --seconds, prints a JSON line."""
    from kazoo.client import KazooClient
    rng = random.Random(args.worker_seed)
    zk = KazooClient(hosts=args.worker, timeout=10)
    zk.start(timeout=30)
    expect = [value_of(i, args.value_bytes) for i in range(args.znodes)]
    zk.get("%s/k0" % PREFIX)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    lat_us, errors, wrong = [], 0, 0
    end = time.monotonic() + args.seconds
    while True:
        i = rng.randrange(args.znodes)
        t = time.perf_counter()
        try:
            data, _ = zk.get("%s/k%d" % (PREFIX, i))
        except Exception:  # counted, not fatal: the report says how many
            errors += 1
            data = None
        lat_us.append(int((time.perf_counter() - t) * 1e6))
        if data is not None and data != expect[i]:
            wrong += 1
        if time.monotonic() >= end:
            break
    zk.stop()
    zk.close()
    print(json.dumps({"server": args.worker, "ops": len(lat_us) - errors, "errors": errors,
                      "wrong": wrong, "lat_us": lat_us}), flush=True)
    return 0


def run_phase(bench, args, label):
    """N clients per member, started together; returns the phase's row."""
    me = os.path.abspath(__file__)
    procs = []  # (node, proc)
    for n in bench.nodes:
        for c in range(args.clients_per_node):
            p = subprocess.Popen([sys.executable, me, "--worker", n.zk,
                                  "--worker-seed", str(n.id * 1000 + c),
                                  "--seconds", str(args.seconds), "--znodes", str(args.znodes),
                                  "--value-bytes", str(args.value_bytes)],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            bench.workers.append(p)
            procs.append((n, p))
    for n, p in procs:  # every client connected (and read once) before the clock starts
        line = p.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError("a client of node %d did not connect (%r)" % (n.id, line))
    t0 = time.monotonic()
    for _, p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for n, p in procs:
        out, _ = p.communicate(timeout=args.seconds + 60)
        if p.returncode != 0:
            raise RuntimeError("a client of node %d exited with %s" % (n.id, p.returncode))
        results.append((n, json.loads(out.strip().splitlines()[-1])))
    wall = time.monotonic() - t0
    bench.workers = []

    def summary(rows):
        lat = sorted(x for _, r in rows for x in r["lat_us"])
        ops = sum(r["ops"] for _, r in rows)
        return {"clients": len(rows), "ops": ops, "ops_per_s": ops / args.seconds,
                "errors": sum(r["errors"] for _, r in rows),
                "wrong": sum(r["wrong"] for _, r in rows),
                "p50_ms": (percentile(lat, 50) or 0) / 1000.0,
                "p99_ms": (percentile(lat, 99) or 0) / 1000.0}
    row = {"phase": label, "learners": sum(1 for n in bench.nodes if n.role == "learner"),
           "members": len(bench.nodes), "seconds": args.seconds, "wall_s": wall}
    row.update(summary(results))
    row["voters"] = summary([x for x in results if x[0].role == "voter"])
    lr = [x for x in results if x[0].role == "learner"]
    row["learner_clients"] = summary(lr) if lr else None
    row["per_node"] = {str(n.id): summary([x for x in results if x[0] is n])["ops_per_s"]
                       for n in bench.nodes}
    return row


def write_znodes(bench, args):
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=",".join(n.zk for n in bench.nodes), timeout=10)
    zk.start(timeout=30)
    zk.ensure_path(PREFIX)
    for i in range(args.znodes):
        zk.create("%s/k%d" % (PREFIX, i), value_of(i, args.value_bytes))
    zk.stop()
    zk.close()


def print_table(rows):
    head = "%-10s %8s %10s %9s %9s %14s %14s %8s" % (
        "learners", "clients", "ops/s", "p50 ms", "p99 ms", "voter ops/s", "learner ops/s",
        "errors")
    print(head)
    print("-" * len(head))
    for r in rows:
        lr = r["learner_clients"]
        print("%-10d %8d %10.0f %9.2f %9.2f %14.0f %14s %8d" % (
            r["learners"], r["clients"], r["ops_per_s"], r["p50_ms"], r["p99_ms"],
            r["voters"]["ops_per_s"], "%.0f" % lr["ops_per_s"] if lr else "-",
            r["errors"] + r["wrong"]))


def smoke(bench, args):
    from kazoo.client import KazooClient
    bench.start_voters()
    write_znodes(bench, args)
    learner = bench.add_learner()
    zk = KazooClient(hosts=learner.zk, timeout=10)
    zk.start(timeout=30)
    try:
        zk.sync(PREFIX)
        for i in range(args.znodes):
            data, _ = zk.get("%s/k%d" % (PREFIX, i))
            assert data == value_of(i, args.value_bytes), "learner read k%d: %r" % (i, data)
        # A write through the learner is forwarded to the leader; the
        # learner then reads it back.
        zk.set("%s/k0" % PREFIX, b"through-the-learner")
        data, _ = zk.get("%s/k0" % PREFIX)
        assert data == b"through-the-learner", "read back %r" % data
        zk.set("%s/k0" % PREFIX, value_of(0, args.value_bytes))
        children = zk.get_children(PREFIX)
        assert len(children) == args.znodes, children
    finally:
        zk.stop()
        zk.close()
    row = run_phase(bench, args, "1 learner")
    lr = row["learner_clients"]
    assert lr and lr["ops"] > 0, "learner clients completed no read: %s" % lr
    assert row["errors"] == 0 and row["wrong"] == 0, row
    print_table([row])
    print("smoke: ok (learner %d served %d reads, values checked)" % (learner.id, lr["ops"]))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.environ.get("CONCLAVE_BIN_DIR",
                                                   os.path.join(ROOT, "build", "bin")))
    p.add_argument("--clients-per-node", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--znodes", type=int, default=100)
    p.add_argument("--value-bytes", type=int, default=64)
    p.add_argument("--json", default=None, help="write the results here")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-seed", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    if args.smoke:
        args.seconds, args.clients_per_node, args.znodes = 2, 1, min(args.znodes, 20)
    if min(args.clients_per_node, args.znodes, args.value_bytes) < 1 or args.seconds <= 0:
        p.error("--clients-per-node, --znodes, --value-bytes and --seconds must be positive")
    args.bin = os.path.abspath(args.bin)
    for need in ("conclave-node", "conclavectl"):
        if not os.path.exists(os.path.join(args.bin, need)):
            print("learner_reads: %s not found in %s (--bin)" % (need, args.bin),
                  file=sys.stderr)
            return EXIT_SKIP
    try:
        import kazoo  # noqa: F401
    except ImportError:
        print("learner_reads: kazoo is not installed", file=sys.stderr)
        return EXIT_SKIP

    def on_signal(signum, _frame):
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt("signal %d" % signum)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    bench = Bench(args.bin, keep=args.keep)
    rc = 0
    try:
        if args.smoke:
            smoke(bench, args)
        else:
            bench.start_voters()
            write_znodes(bench, args)
            rows = []
            for learners in range(3):
                if learners:
                    bench.add_learner()
                rows.append(run_phase(bench, args, "%d learner(s)" % learners))
                print("phase %d learner(s): %.0f ops/s" % (learners, rows[-1]["ops_per_s"]),
                      flush=True)
            print()
            print_table(rows)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump({"command": " ".join([sys.argv[0]] + sys.argv[1:]),
                               "clients_per_node": args.clients_per_node,
                               "seconds": args.seconds, "znodes": args.znodes,
                               "value_bytes": args.value_bytes, "nproc": os.cpu_count(),
                               "phases": rows}, f, indent=1)
    except KeyboardInterrupt:
        print("learner_reads: interrupted; stopping every node", file=sys.stderr)
        rc = 1
    except (AssertionError, RuntimeError, subprocess.TimeoutExpired) as e:
        print("learner_reads: FAILED: %s: %s (logs: %s)" % (type(e).__name__, e, bench.tmp),
              file=sys.stderr)
        bench.keep = True
        rc = 1
    finally:
        codes = bench.close()
        bad = {i: c for i, c in codes.items() if c not in (0, None)}
        if bad:
            print("learner_reads: nodes exited with %s on a graceful stop" % bad, file=sys.stderr)
            rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
