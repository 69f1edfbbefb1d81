"""A three-node Apache ZooKeeper ensemble on loopback, for compare.py.

    from zk_cluster import ZooKeeperCluster, find_zookeeper
    install = find_zookeeper()          # None if Java or the jars are missing
    z = ZooKeeperCluster(install, root="/tmp/x/zookeeper")
    z.start(); z.wait_ready()           # every member is leader or follower
    z.connect_string()                  # "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3"
    z.stop_node(n); z.start_node(n)     # restart one member with its data
    z.close()

How it is launched. Debian's package (`zookeeper`, 3.8.0) starts the server
from /usr/share/zookeeper/bin/zkServer.sh, which sources
/etc/zookeeper/conf/environment and runs

    java -Dzookeeper.log.dir=... -Dzookeeper.log.file=...
         -XX:+HeapDumpOnOutOfMemoryError -XX:OnOutOfMemoryError='kill -9 %p'
         -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar $JVMFLAGS
         -Dcom.sun.management.jmxremote ...
         org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg

(zookeeper.jar's manifest names its dependencies in /usr/share/java; it sets
no heap size, so the JVM would take a quarter of the machine's memory). We
run the same main class directly, so that the PID we hold is the JVM's (for
RSS and for stopping it), with:

- JVM_FLAGS: an explicit heap, -Xms512m -Xmx2g. 2 GiB is ample for the
  largest test (one million znodes of 100 bytes need roughly 0.3-0.5 GiB of
  live heap in ZooKeeper) so that garbage collection is never the limit;
  the heap is not pinned at 2 GiB (-Xms512m) so that the RSS the memory
  test reports is what the JVM grew to for the load, not the pin. The
  same flags in every phase, the memory test included. G1 (the default),
  no GC logging (-Xlog:disable, then warnings only to stderr), no JMX.
- logging: log4j 1.2 through slf4j-log4j12 with Debian's
  /etc/zookeeper/conf/log4j.properties, root logger WARN to the console
  (the node's log file in its directory).
- zoo.cfg (render_config(), unit-tested): tickTime 2000, initLimit 10,
  syncLimit 5, its own dataDir, clientPortAddress 127.0.0.1, forceSync=yes
  (ZooKeeper's default: the transaction log is fsynced before a proposal is
  acknowledged, as Conclave does), maxClientCnxns=0 (no per-address limit),
  admin.enableServer=false, 4lw.commands.whitelist=*, quorum and election
  ports on 127.0.0.1. Everything else (snapCount 100000,
  globalOutstandingLimit 1000, preAllocSize 64 MiB) keeps its default.
"""

import glob
import os
import re
import shutil
import subprocess

from conclave_cluster import Proc, four_letter, free_port, serves_read, wait_until

JVM_FLAGS = ["-Xms512m", "-Xmx2g", "-Xlog:disable", "-Xlog:all=warning:stderr"]

ZOO_CFG = """# Written by tools/bench/zk_cluster.py (compare.py).
tickTime=2000
initLimit=10
syncLimit=5
dataDir={data}
clientPort={client_port}
clientPortAddress=127.0.0.1
forceSync=yes
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
autopurge.purgeInterval=0
{servers}
"""


def render_config(data_dir, client_port, servers):
    """zoo.cfg of one member; servers: [(id, quorum_port, election_port)]
    (pure: unit-tested)."""
    lines = "\n".join("server.%d=127.0.0.1:%d:%d" % s for s in servers)
    return ZOO_CFG.format(data=data_dir, client_port=client_port, servers=lines)


def find_zookeeper():
    """{"java", "classpath", "log4j"} of the installed ZooKeeper, or None if
    Java or the server jar is missing."""
    java = shutil.which("java") or ("/usr/bin/java" if os.path.exists("/usr/bin/java") else None)
    jar = None
    for pattern in ("/usr/share/java/zookeeper.jar", "/usr/share/zookeeper/zookeeper-*.jar",
                    "/usr/share/zookeeper/lib/zookeeper-3*.jar"):
        hits = sorted(glob.glob(pattern))
        if hits:
            jar = hits[0]
            break
    if not java or not jar:
        return None
    cp = [jar]
    # An slf4j binding and log4j 1.2 (the jar's manifest brings slf4j-api only).
    for extra in ("/usr/share/java/slf4j-log4j12.jar", "/usr/share/java/log4j-1.2.jar"):
        if os.path.exists(extra):
            cp.append(extra)
    log4j = "/etc/zookeeper/conf/log4j.properties"
    return {"java": java, "classpath": ":".join(cp),
            "log4j": log4j if os.path.exists(log4j) else None}


def parse_mntr(text):
    """{"zk_key": value} of `mntr` output (numbers as float where possible)."""
    out = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 2:
            continue
        try:
            out[parts[0]] = float(parts[1])
        except ValueError:
            out[parts[0]] = parts[1]
    return out


def parse_srvr(text):
    """{"mode", "zxid", "version", "node_count"} of `srvr` output."""
    out = {}
    m = re.search(r"^Mode: (\S+)", text, re.M)
    out["mode"] = m.group(1) if m else None
    m = re.search(r"^Zxid: (0x[0-9a-fA-F]+)", text, re.M)
    out["zxid"] = int(m.group(1), 16) if m else None
    m = re.search(r"^Zookeeper version: ([^,\n]+)", text, re.M)
    # Debian's build leaves "3.8.0-${mvngit.commit.id}": keep the version.
    out["version"] = re.sub(r"-\$\{[^}]*\}$", "", m.group(1).strip()) if m else None
    m = re.search(r"^Node count: (\d+)", text, re.M)
    out["node_count"] = int(m.group(1)) if m else None
    return out


class ZooKeeperNode:
    def __init__(self, cluster, node_id):
        self.cluster = cluster
        self.id = node_id
        self.client_port = free_port()
        self.quorum_port = free_port()
        self.election_port = free_port()
        self.dir = os.path.join(cluster.root, "n%d" % node_id)
        self.data = os.path.join(self.dir, "data")
        self.cfg = os.path.join(self.dir, "zoo.cfg")
        self.proc = None

    zk_port = property(lambda self: self.client_port)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def write_config(self, servers):
        os.makedirs(self.data, exist_ok=True)
        with open(os.path.join(self.data, "myid"), "w") as f:
            f.write("%d\n" % self.id)
        with open(self.cfg, "w") as f:
            f.write(render_config(self.data, self.client_port, servers))

    def argv(self):
        inst = self.cluster.install
        argv = [inst["java"]] + JVM_FLAGS + [
            "-Dzookeeper.log.dir=" + self.dir,
            "-Dzookeeper.root.logger=WARN,CONSOLE",
            "-XX:+HeapDumpOnOutOfMemoryError", "-XX:HeapDumpPath=" + self.dir,
            "-XX:OnOutOfMemoryError=kill -9 %p"]
        if inst.get("log4j"):
            argv.append("-Dlog4j.configuration=file:" + inst["log4j"])
        return argv + ["-cp", inst["classpath"],
                       "org.apache.zookeeper.server.quorum.QuorumPeerMain", self.cfg]

    def start(self):
        self.proc = Proc(self.argv(), os.path.join(self.dir, "node.out"), cwd=self.dir)

    def stop(self):
        if self.proc is None:
            return None
        code = self.proc.stop()
        self.proc = None
        return code

    def srvr(self):
        return parse_srvr(four_letter(self.client_port, "srvr"))

    def mntr(self):
        return parse_mntr(four_letter(self.client_port, "mntr"))


class ZooKeeperCluster:
    name = "zookeeper"
    label = "ZooKeeper"

    def __init__(self, install, root, size=3):
        self.install = install
        self.root = root
        self.nodes = [ZooKeeperNode(self, i) for i in range(1, size + 1)]

    def start(self):
        servers = [(n.id, n.quorum_port, n.election_port) for n in self.nodes]
        for n in self.nodes:
            n.write_config(servers)
            n.start()

    def connect_string(self, nodes=None):
        return ",".join("127.0.0.1:%d" % n.client_port for n in (nodes or self.nodes))

    def pids(self):
        return [n.pid for n in self.nodes if n.pid]

    def check_alive(self):
        for n in self.nodes:
            if n.proc and not n.proc.alive():
                raise RuntimeError("ZooKeeper node %d exited with %s (log: %s)" % (
                    n.id, n.proc.popen.returncode, os.path.join(n.dir, "node.out")))

    def role(self, node):
        return node.srvr().get("mode") or "?"

    def leader(self):
        for n in self.nodes:
            if n.proc and self.role(n) == "leader":
                return n
        return None

    def wait_ready(self, timeout_s=120, nodes=None):
        """Every running member reports leader or follower (`srvr`) and
        answers a read."""
        nodes = [n for n in (nodes or self.nodes) if n.proc]

        def ready():
            self.check_alive()
            # A follower exists only once it has synced with a leader.
            return all(self.role(n) in ("leader", "follower") for n in nodes)
        wait_until("a ZooKeeper quorum (srvr: leader/follower)", ready, timeout_s, 0.2)
        for n in nodes:
            wait_until("ZooKeeper node %d to serve" % n.id,
                       lambda: self.check_alive() or serves_read(n.client_port), timeout_s)

    def stop_node(self, node):
        return node.stop()

    def start_node(self, node):
        node.start()

    def close(self):
        return {n.id: n.stop() for n in self.nodes}

    def version(self):
        for n in self.nodes:
            v = n.srvr().get("version") if n.proc else None
            if v:
                return v
        return None

    def znode_count(self):
        """Znodes in the leader's tree (srvr), built-ins included."""
        leader = self.leader()
        return leader.srvr().get("node_count") if leader else None


def jvm_heap_used_kb(pid, full_gc=True):
    """Java heap in use (KiB) after a full GC, through jcmd; None if jcmd is
    missing or fails. Only for the memory report: it changes the heap."""
    jcmd = shutil.which("jcmd")
    if not jcmd:
        return None
    try:
        if full_gc:
            subprocess.run([jcmd, str(pid), "GC.run"], capture_output=True, timeout=60)
        out = subprocess.run([jcmd, str(pid), "GC.heap_info"], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"used (\d+)K", out)
    return int(m.group(1)) if m else None
