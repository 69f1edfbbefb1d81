"""cluster: the conclave-node processes of one chaos run.

Node i runs in namespace cv<slot>-n<i> (see netns.py) from a config file the
harness writes into the run directory, with fault injection on, under the
lossyfs LD_PRELOAD layer (tools/chaos/lossyfs.cpp) so that its disk can be
slowed down and its un-fsynced writes dropped at a crash. Stdout/stderr of
every start go to n<i>/node.out. The harness tells its own stops (kill,
pause, restart) apart from crashes: a node that exits without being told
to is a finding.

Hosts and ids: node i of the harness is a *host* (namespace cv<slot>-n<i>,
its address, its directory n<i>/), keyed by i in `Cluster.nodes`, and runs
one Raft member at a time, `Node.raft_id` (i at the start). The membership
nemesis retires a host's member (members remove, stop), moves its data
directory aside and starts a fresh member there with a new Raft id and
`initial-cluster-state = "existing"` (`Node.reincarnate`). `status()` and
`leader()` answer in hosts, so the other nemeses never see Raft ids.
Spare hosts (`Cluster.spares`, never in `nodes`) carry learners.
"""

import json
import os
import shutil
import signal
import subprocess
import time

import lossyfs
import netns

CLIENT_PORT = 4181
ZK_PORT = 2181
PEER_PORT = 4281
ADMIN_PORT = 9181

CONFIG = """# Written by tools/chaos/chaos for one run; see docs/chaos.md.
conclave {{
  id = {id}
  data-dir = "{data}"
  bind-address = "{ip}"
  client-port = {client_port}
  zk-port = {zk_port}
  admin-port = {admin_port}
  peer-port = {peer_port}
  peers = [{peers}]
  initial-cluster-state = "{initial_state}"
  log-level = "info"
  tick-ms = 50
  election-timeout-ms = {election_timeout_ms}
  heartbeat-interval-ms = 100
  min-session-timeout-ms = 2000
  max-session-timeout-ms = 40000
  snapshot-entries = {snapshot_entries}
  log-segment-bytes = 1048576
  fault-injection = "on"
}}
caf {{
  scheduler {{
    policy = "sharing"
  }}
  middleman {{
    workers = 0
  }}
}}
"""


class Node:
    def __init__(self, cluster, i):
        self.cluster = cluster
        self.id = i  # the host
        self.raft_id = i
        self.incarnation = 0  # how many times the host got a fresh member
        self.dir = os.path.join(cluster.run_dir, "n%d" % i)
        self.data = os.path.join(self.dir, "data")
        self.state = os.path.join(self.dir, "lossyfs-state")
        self.ctl = os.path.join(self.dir, "fsync-delay-ms")
        self.config = os.path.join(self.dir, "node.conf")
        self.proc = None
        self.paused = False
        self.expected_exit = False
        self.starts = 0
        os.makedirs(self.data, exist_ok=True)
        lossyfs.write_control(self.ctl, 0)
        net = cluster.net
        # The bootstrap membership: hosts 1..size with ids 1..size.
        self.write_config([(j, net.ip(j)) for j in range(1, cluster.size + 1)], "new")

    @property
    def ip(self):
        return self.cluster.net.ip(self.id)

    @property
    def peer_address(self):
        return "%s:%d" % (self.ip, PEER_PORT)

    @property
    def zk_address(self):
        return "%s:%d" % (self.ip, ZK_PORT)

    def write_config(self, peers, initial_state):
        """peers: [(raft id, ip)]."""
        text = ", ".join('"%d@%s:%d"' % (rid, ip, PEER_PORT) for rid, ip in peers)
        with open(self.config, "w") as f:
            f.write(CONFIG.format(id=self.raft_id, data=self.data, ip=self.ip,
                                  client_port=CLIENT_PORT, zk_port=ZK_PORT,
                                  admin_port=ADMIN_PORT, peer_port=PEER_PORT, peers=text,
                                  initial_state=initial_state,
                                  election_timeout_ms=self.cluster.election_timeout_ms,
                                  snapshot_entries=self.cluster.snapshot_entries))

    def reincarnate(self, raft_id, peers):
        """The host gets a fresh member: the stopped node's data directory
        is moved aside (n<i>/data-id<old id>, for post-mortems), its
        durable image dropped, and the config names the new id, the
        current members plus itself (`peers`: [(raft id, ip)]) and
        `initial-cluster-state = "existing"`: it waits for the leader."""
        assert self.proc is None
        retired = os.path.join(self.dir, "data-id%d" % self.raft_id)
        shutil.rmtree(retired, ignore_errors=True)
        if os.path.exists(self.data):
            os.rename(self.data, retired)
        shutil.rmtree(self.state, ignore_errors=True)
        os.makedirs(self.data)
        lossyfs.write_control(self.ctl, 0)
        self.raft_id = raft_id
        self.incarnation += 1
        me = (raft_id, self.ip)
        self.write_config([p for p in peers if p[0] != raft_id] + [me], "existing")

    def start(self):
        assert self.proc is None
        env = dict(os.environ)
        env["LD_PRELOAD"] = self.cluster.lossyfs_lib
        env["CONCLAVE_LOSSYFS_DATA"] = self.data
        env["CONCLAVE_LOSSYFS_STATE"] = self.state
        env["CONCLAVE_LOSSYFS_CTL"] = self.ctl
        out = open(os.path.join(self.dir, "node.out"), "ab")
        out.write(("\n=== start %d (raft id %d) at %.3f ===\n"
                   % (self.starts, self.raft_id, time.monotonic())).encode())
        out.flush()
        self.proc = subprocess.Popen(
            self.cluster.net.exec_prefix(self.id)
            + [self.cluster.bin("conclave-node"), "--config-file=" + self.config],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=self.dir,
            start_new_session=True, preexec_fn=netns.die_with_parent)
        out.close()
        self.starts += 1
        self.paused = False
        self.expected_exit = False

    @property
    def running(self):
        return self.proc is not None

    def signal(self, sig):
        """Signals the node's process group (start() gives the node a session
        of its own; `ip netns exec` execs it in place): a snapshot writer it
        forked must share a crash or a pause (an orphan would go on
        writing)."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        """SIGKILL: a crash. Returns the exit code."""
        self.expected_exit = True
        self.signal(signal.SIGKILL)
        return self._reap(30)

    def stop(self, timeout=30):
        """SIGTERM (a graceful stop: the node hands leadership over); SIGKILL
        after `timeout` seconds. Returns the exit code."""
        self.expected_exit = True
        if self.paused:
            self.resume()
        self.signal(signal.SIGTERM)
        try:
            return self._reap(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            return self._reap(30)

    def pause(self):
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self):
        self.signal(signal.SIGCONT)
        self.paused = False

    def _reap(self, timeout):
        code = self.proc.wait(timeout=timeout)
        self.proc = None
        self.paused = False
        return code

    def lose_unsynced(self):
        """After a kill: the data directory becomes what a power loss would
        have left, the last fsynced state (lossyfs keeps the node's own log
        file, conclave.log*, out of it). Returns how many files it removed,
        rolled back and created again, and leftover processes it killed."""
        assert self.proc is None
        report = lossyfs.restore(self.state, self.data)
        return {k: len(v) for k, v in report.items()}

    def slow_disk(self, delay_ms):
        lossyfs.write_control(self.ctl, delay_ms)

    def crashed(self):
        """The exit code if the node exited without being told to, else
        None (the process is reaped)."""
        if self.proc is None or self.expected_exit:
            return None
        code = self.proc.poll()
        if code is None:
            return None
        self.proc = None
        return code


class Cluster:
    def __init__(self, net, run_dir, bin_dir, lossyfs_lib, election_timeout_ms=1000,
                 snapshot_entries=2000):
        self.net = net
        self.run_dir = run_dir
        self.bin_dir = bin_dir
        self.lossyfs_lib = lossyfs_lib
        self.size = net.nodes
        self.election_timeout_ms = election_timeout_ms
        self.snapshot_entries = snapshot_entries
        self.nodes = {i: Node(self, i) for i in range(1, self.size + 1)}
        # Spare hosts for learners: not started, not in `nodes` (the other
        # nemeses and the clients never see them).
        self.spares = {i: Node(self, i)
                       for i in range(self.size + 1, self.size + getattr(net, "spares", 0) + 1)}

    def all_nodes(self):
        return list(self.nodes.values()) + list(self.spares.values())

    def host_of(self, raft_id):
        """The host currently running Raft id `raft_id` (None if none)."""
        for n in self.all_nodes():
            if n.raft_id == raft_id:
                return n.id
        return None

    def bin(self, name):
        return os.path.join(self.bin_dir, name)

    def client_servers(self):
        return ",".join("%s:%d" % (self.net.ip(i), CLIENT_PORT) for i in self.nodes)

    def zk_hosts(self):
        return ",".join("%s:%d" % (self.net.ip(i), ZK_PORT) for i in self.nodes)

    def server(self, i):
        return "%s:%d" % (self.net.ip(i), CLIENT_PORT)

    def ctl(self, args, servers=None, timeout_ms=1000, json_out=False, deadline_s=20):
        """Runs conclavectl from the client namespace; returns
        (exit code, stdout)."""
        cmd = self.net.exec_prefix("cl") + [self.bin("conclavectl"), "--server",
                                            servers or self.client_servers(),
                                            "--timeout", str(timeout_ms)]
        if json_out:
            cmd.append("--json")
        try:
            res = subprocess.run(cmd + args, capture_output=True, text=True,
                                 timeout=deadline_s)
        except subprocess.TimeoutExpired:
            self.last_stderr = "timed out after %d s" % deadline_s
            return 124, ""
        self.last_stderr = res.stderr
        return res.returncode, res.stdout

    def status(self):
        """{host: status dict} of the voter hosts' nodes that answered;
        `leader` is translated into a host too (-1: a Raft id no host runs)."""
        live = [i for i, n in self.nodes.items() if n.running and not n.paused]
        if not live:
            return {}
        code, out = self.ctl(["status"], servers=",".join(self.server(i) for i in live),
                             json_out=True)
        result = {}
        try:
            for row in json.loads(out)["nodes"]:
                if "error" in row:
                    continue
                host = self.host_of(int(row["id"]))
                if host not in self.nodes:
                    continue
                row = dict(row)
                row["raft_id"] = int(row["id"])
                leader = int(row.get("leader", 0))
                row["leader"] = 0 if leader == 0 else (self.host_of(leader) or -1)
                result[host] = row
        except (ValueError, KeyError, TypeError):
            pass
        return result

    def members(self, servers=None, timeout_ms=3000):
        """`members list --json` ({raft id: member dict}, the reply) or
        (None, exit code and output) when it failed."""
        code, out = self.ctl(["members", "list"], servers=servers, timeout_ms=timeout_ms,
                             json_out=True)
        try:
            reply = json.loads(out)
            return {int(m["id"]): m for m in reply["members"]}, reply
        except (ValueError, KeyError, TypeError):
            return None, "exit %s: %s" % (code, out.strip()[:200])

    def leader(self):
        """The leader that a majority of the answering nodes agree on and
        that says it leads, else None."""
        st = self.status()
        for i, row in st.items():
            if row.get("role") == "leader":
                agree = sum(1 for r in st.values() if int(r.get("leader", 0)) == i)
                if agree * 2 > self.size:
                    return i
        return None

    def wait_for_leader(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            leader = self.leader()
            if leader is not None:
                return leader
            time.sleep(0.2)
        return None

    def start_all(self):
        for n in self.nodes.values():
            n.start()

    def stop_all(self):
        """Graceful stop of every running node, spares included:
        {host: exit code}."""
        codes = {}
        for n in self.all_nodes():
            if n.running:
                codes[n.id] = n.stop()
        return codes
