"""A three-node Conclave cluster on loopback for benchmarks, and the process
helpers both clusters of tools/bench/compare.py share.

    from conclave_cluster import ConclaveCluster
    c = ConclaveCluster(bin_dir="build-bench/bin", root="/tmp/x/conclave")
    c.start(); c.wait_ready()          # a leader, and every ZooKeeper port serves
    c.connect_string()                 # "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3"
    c.metrics(node)                    # {metric name (with labels): value}
    c.stop_node(n); c.start_node(n)    # restart one member with its data
    c.close()                          # every process stopped (SIGTERM, then SIGKILL)

Each node gets free ports (bind to port 0 on 127.0.0.1, then released), its
own data directory and a generated config (render_config(), unit-tested in
compare_test.py) with the CAF settings of configs/local/node1.conf
(scheduler policy "sharing", middleman workers 0), log level "warning",
four-letter words "*" and no per-address connection limit (all the load
comes from 127.0.0.1, as ZooKeeper's maxClientCnxns=0). Conclave always
fsyncs before it acknowledges a write; there is no setting to turn it off.

The helpers at the top (free_port, wait_until, Proc, rss_kb, kazoo_client)
are used by zk_cluster.py too: every server and every load generator is
started in its own process group and registered, so that stop_all() (called
by compare.py at exit and on SIGINT/SIGTERM) can stop whatever is left.
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

# -- shared by both clusters ----------------------------------------------------

_LIVE = []  # every Proc started and not yet reaped, for stop_all()


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, pred, timeout_s, step_s=0.1):
    """Polls pred() until it returns a true value (returned); raises
    RuntimeError naming `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout_s, what))
        time.sleep(step_s)


def rss_kb(pid):
    """VmRSS of a process in KiB (None if it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def port_open(port, timeout_s=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def four_letter(port, word, timeout_s=2.0):
    """ZooKeeper's four-letter word `word` on 127.0.0.1:port (text; "" on
    failure). Both servers answer srvr and mntr."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


def kazoo_client(hosts, timeout_s=10.0):
    """A started kazoo client (kazoo logs connection retries loudly: quiet)."""
    import logging
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    zk = KazooClient(hosts=hosts, timeout=timeout_s,
                     connection_retry=KazooRetry(max_tries=-1, delay=0.05, max_delay=0.5))
    zk.start(timeout=timeout_s)
    return zk


class Proc:
    """A child process in its own process group, logged to `log_path`."""

    def __init__(self, argv, log_path, cwd=None, env=None):
        self.argv = argv
        out = open(log_path, "ab")
        self.popen = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                      env=env, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        out.close()
        self.pid = self.popen.pid
        _LIVE.append(self)

    def alive(self):
        return self.popen.poll() is None

    def stop(self, timeout_s=20.0, sig=signal.SIGTERM):
        """Signals the whole process group, waits, then SIGKILLs it. Returns
        the exit code."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait()
        else:
            # The leader of the group is gone; anything it left behind goes too.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self in _LIVE:
            _LIVE.remove(self)
        return self.popen.returncode


def stop_all():
    """Stops every process still registered (at exit, on a signal)."""
    for p in list(_LIVE):
        p.stop(timeout_s=10)


# -- Conclave -------------------------------------------------------------------

CONFIG = """# Written by tools/bench/conclave_cluster.py (compare.py).
conclave {{
  id = {id}
  data-dir = "{data}"
  bind-address = "127.0.0.1"
  client-port = {client_port}
  zk-port = {zk_port}
  admin-port = {admin_port}
  peer-port = {peer_port}
  peers = [{peers}]
  log-level = "warning"
  # All the load comes from 127.0.0.1 (ZooKeeper: maxClientCnxns=0).
  zk-max-connections-per-address = 1000000
  four-letter-words = "*"
}}
# As configs/local/node1.conf: one shared scheduler queue, the I/O thread
# deserializes itself.
caf {{
  scheduler {{
    policy = "sharing"
  }}
  middleman {{
    workers = 0
  }}
}}
"""


def render_config(node_id, data_dir, client_port, zk_port, admin_port, peer_port, peers):
    """The config file of one node (pure: unit-tested)."""
    return CONFIG.format(id=node_id, data=data_dir, client_port=client_port, zk_port=zk_port,
                         admin_port=admin_port, peer_port=peer_port,
                         peers=", ".join('"%s"' % p for p in peers))


def parse_prometheus(text):
    """{"name{labels}": float} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
        except ValueError:
            continue
    return out


class ConclaveNode:
    def __init__(self, cluster, node_id):
        self.cluster = cluster
        self.id = node_id
        self.client_port = free_port()
        self.zk_port = free_port()
        self.admin_port = free_port()
        self.peer_port = free_port()
        self.dir = os.path.join(cluster.root, "n%d" % node_id)
        self.data = os.path.join(self.dir, "data")
        self.conf = os.path.join(self.dir, "node.conf")
        self.proc = None

    @property
    def peer(self):
        return "%d@127.0.0.1:%d" % (self.id, self.peer_port)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def write_config(self, peers):
        os.makedirs(self.data, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(render_config(self.id, self.data, self.client_port, self.zk_port,
                                  self.admin_port, self.peer_port, peers))

    def start(self):
        self.proc = Proc([self.cluster.binary("conclave-node"), "--config-file=" + self.conf],
                         os.path.join(self.dir, "node.out"), cwd=self.dir)

    def stop(self):
        if self.proc is None:
            return None
        code = self.proc.stop()
        self.proc = None
        return code

    def status(self):
        """/status of this node (dict), or None."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/status" % self.admin_port,
                                        timeout=2) as r:
                return json.loads(r.read().decode())
        except (OSError, ValueError):
            return None

    def metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.admin_port,
                                    timeout=5) as r:
            return parse_prometheus(r.read().decode())


class ConclaveCluster:
    name = "conclave"
    label = "Conclave"

    def __init__(self, bin_dir, root, size=3):
        self.bin_dir = bin_dir
        self.root = root
        self.nodes = [ConclaveNode(self, i) for i in range(1, size + 1)]

    def binary(self, name):
        return os.path.join(self.bin_dir, name)

    def start(self):
        peers = [n.peer for n in self.nodes]
        for n in self.nodes:
            n.write_config(peers)
            n.start()

    def connect_string(self, nodes=None):
        return ",".join("127.0.0.1:%d" % n.zk_port for n in (nodes or self.nodes))

    def pids(self):
        return [n.pid for n in self.nodes if n.pid]

    def check_alive(self):
        for n in self.nodes:
            if n.proc and not n.proc.alive():
                raise RuntimeError("conclave node %d exited with %s (log: %s)" % (
                    n.id, n.proc.popen.returncode, os.path.join(n.dir, "node.out")))

    def role(self, node):
        st = node.status()
        return (st or {}).get("role", "?")

    def leader(self):
        for n in self.nodes:
            if n.proc and self.role(n) == "leader":
                return n
        return None

    def wait_ready(self, timeout_s=60, nodes=None):
        """A leader every running node agrees on, and every ZooKeeper port
        answers a read."""
        nodes = [n for n in (nodes or self.nodes) if n.proc]

        def ready():
            self.check_alive()
            leaders = set()
            for n in nodes:
                st = n.status()
                if not st:
                    return False
                leaders.add(int(st.get("leaderId", 0) or 0))
            return len(leaders) == 1 and 0 not in leaders
        wait_until("a Conclave leader", ready, timeout_s)
        for n in nodes:
            wait_until("Conclave node %d's ZooKeeper port" % n.id,
                       lambda: self.check_alive() or serves_read(n.zk_port), timeout_s)

    def stop_node(self, node):
        return node.stop()

    def start_node(self, node):
        node.start()

    def close(self):
        return {n.id: n.stop() for n in self.nodes}

    def version(self):
        return None  # the summary records the git commit instead

    def znode_count(self):
        """Znodes in the leader's tree (/status), built-ins included."""
        leader = self.leader()
        st = leader.status() if leader else None
        return int(st["znodeCount"]) if st and "znodeCount" in st else None


def serves_read(port, path="/", timeout_s=3.0):
    """True if a ZooKeeper session on 127.0.0.1:port can read `path`."""
    try:
        zk = kazoo_client("127.0.0.1:%d" % port, timeout_s=timeout_s)
    except Exception:  # kazoo raises its own timeout types
        return False
    try:
        return zk.exists(path) is not None
    except Exception:
        return False
    finally:
        try:
            zk.stop()
            zk.close()
        except Exception:
            pass
