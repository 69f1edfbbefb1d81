#!/usr/bin/python3
"""ZooKeeper's dynamic reconfiguration against a Conclave cluster, driven by
real clients: kazoo (Debian's python3-kazoo) and, with --zkcli, zkCli.sh
(Debian's zookeeper package).

    reconfig_compat.py --bin BIN_DIR --source SOURCE_DIR [--zkcli]

It starts three conclave-node processes (a new cluster) and a fourth one
with conclave.initial-cluster-state = "existing", on free loopback ports in a
temporary directory, and stops them all at the end. Then:
- /zookeeper/config (kazoo has no get_config: it is getData of that node)
  lists the three participants and a version;
- reconfig(joining="server.4=...:participant;...") succeeds, its answer
  lists server.4, and a data watch on /zookeeper/config fires;
- a wrong from_config is BadVersion, bad specs are BadArguments;
- reconfig(leaving="4") removes it again.
With --zkcli, the same through zkCli.sh's `config` and `reconfig -add` /
`reconfig -remove`. Exit code 0 = passed, 77 = skipped (kazoo or zkCli.sh
not installed), anything else = failed. Nothing sleeps: every wait polls a
condition until a deadline.
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
DEADLINE_S = 60


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    def __init__(self, args, node_id, peers, ports, data, existing):
        self.id = node_id
        self.peer, self.client, self.zk = ports
        self.log_path = os.path.join(data, "node%d.out" % node_id)
        argv = [
            os.path.join(args.bin, "conclave-node"),
            "--config-file=" + os.path.join(args.source, "configs", "local",
                                            "node1.conf"),
            "--conclave.id=%d" % node_id,
            "--conclave.client-port=%d" % self.client,
            "--conclave.zk-port=%d" % self.zk,
            "--conclave.admin-port=0",
            "--conclave.peer-port=%d" % self.peer,
            "--conclave.peers=[" + ",".join(
                '"%d@127.0.0.1:%d"' % p for p in peers) + "]",
            "--conclave.data-dir=" + os.path.join(data, "node%d" % node_id),
            "--conclave.tick-ms=20",
            "--conclave.election-timeout-ms=300",
            "--conclave.heartbeat-interval-ms=40",
        ]
        if existing:
            argv.append("--conclave.initial-cluster-state=existing")
        self.out = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.out,
                                     stderr=subprocess.STDOUT)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if "conclave-node ready" in self.output():
                return
            if self.proc.poll() is not None:
                break
            wait_for_output_change(self)
        raise RuntimeError("node %d did not start:\n%s" %
                           (self.id, self.output()[-4000:]))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=20)
        self.out.close()


def wait_for_output_change(node):
    """Blocks until the node's output file grows or the process exits, at
    most 100 ms (a bounded wait on a condition, not a fixed sleep)."""
    size = os.path.getsize(node.log_path)
    try:
        node.proc.wait(timeout=0.1)
    except subprocess.TimeoutExpired:
        pass
    return os.path.getsize(node.log_path) != size


class Cluster:
    def __init__(self, args):
        self.dir = tempfile.mkdtemp(prefix="conclave-reconfig-")
        self.ports = {i: (free_port(), free_port(), free_port())
                      for i in range(1, 5)}
        three = [(i, self.ports[i][0]) for i in range(1, 4)]
        four = three + [(4, self.ports[4][0])]
        self.nodes = []
        try:
            for i in range(1, 4):
                self.nodes.append(Node(args, i, three, self.ports[i],
                                       self.dir, False))
            self.nodes.append(Node(args, 4, four, self.ports[4], self.dir,
                                   True))
            for n in self.nodes:
                n.wait_ready()
        except Exception:
            self.close()
            raise

    def zk_hosts(self, ids=(1, 2, 3)):
        return ",".join("127.0.0.1:%d" % self.ports[i][2] for i in ids)

    def node4_spec(self):
        peer, _, zk = self.ports[4]
        return "server.4=127.0.0.1:%d:%d:participant;127.0.0.1:%d" % (
            peer, peer, zk)

    def dump(self):
        for n in self.nodes:
            sys.stderr.write("---- node %d ----\n%s\n" %
                             (n.id, n.output()[-6000:]))

    def close(self):
        for n in self.nodes:
            n.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def servers_of(data):
    """{id: spec} of /zookeeper/config's text, and its version."""
    servers, version = {}, None
    for line in data.decode().splitlines():
        key, _, value = line.partition("=")
        if key.startswith("server."):
            servers[int(key[len("server."):])] = value
        elif key == "version":
            version = int(value, 16)
    return servers, version


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def start_client(hosts):
    from kazoo.client import KazooClient
    from kazoo.retry import KazooRetry
    client = KazooClient(hosts=hosts, timeout=10,
                         connection_retry=KazooRetry(max_tries=-1,
                                                     max_delay=0.5))
    client.start(timeout=DEADLINE_S)
    return client


def kazoo_checks(cluster):
    from kazoo.exceptions import BadArgumentsError, BadVersionError
    client = start_client(cluster.zk_hosts())
    try:
        data, stat = client.get("/zookeeper/config")
        servers, version = servers_of(data)
        check(sorted(servers) == [1, 2, 3], "three servers: %r" % data)
        check(all(v.split(";")[0].endswith(":participant")
                  for v in servers.values()), "participants: %r" % data)
        check(version is not None, "a version line: %r" % data)

        fired = threading.Event()
        events = []

        def watch(event):
            events.append(event)
            fired.set()

        client.get("/zookeeper/config", watch=watch)

        for bad in ["server.x=127.0.0.1:1:1", "server.5=127.0.0.1",
                    "server.5=127.0.0.1:1:1:leader", "nonsense"]:
            try:
                client.reconfig(joining=bad, leaving=None, new_members=None)
                raise AssertionError("accepted bad spec " + bad)
            except BadArgumentsError:
                pass
        try:
            client.reconfig(joining=None, leaving="9", new_members=None)
            raise AssertionError("removed a non-member")
        except BadArgumentsError:
            pass
        try:
            client.reconfig(joining=cluster.node4_spec(), leaving=None,
                            new_members=None, from_config=version + 1000)
            raise AssertionError("accepted a wrong from_config")
        except BadVersionError:
            pass
        check(not fired.is_set(), "no change yet")

        data, stat = client.reconfig(joining=cluster.node4_spec(),
                                     leaving=None, new_members=None,
                                     from_config=version)
        servers, new_version = servers_of(data)
        check(sorted(servers) == [1, 2, 3, 4], "server.4 joined: %r" % data)
        check(servers[4] == cluster.node4_spec().split("=", 1)[1],
              "server.4 as given: %r" % data)
        check(new_version > version, "a newer version: %r" % data)
        check(stat.mzxid == new_version, "mzxid = version: %r" % (stat,))
        check(fired.wait(DEADLINE_S), "the config watch fired")
        check(events[0].type == "CHANGED"
              and events[0].path == "/zookeeper/config",
              "NodeDataChanged on /zookeeper/config: %r" % events)
        again, _ = client.get("/zookeeper/config")
        check(again == data, "getData shows the new config")

        # Node 4 serves clients now (it got the log or a snapshot).
        four = start_client(cluster.zk_hosts((4,)))
        try:
            seen, _ = four.get("/zookeeper/config")
            four.sync("/")
            seen, _ = four.get("/zookeeper/config")
            check(servers_of(seen)[0].keys() == servers.keys(),
                  "node 4 shows the membership: %r" % seen)
        finally:
            four.stop()
            four.close()

        data, _ = client.reconfig(joining=None, leaving="4",
                                  new_members=None)
        servers, _ = servers_of(data)
        check(sorted(servers) == [1, 2, 3], "server.4 left: %r" % data)
    finally:
        client.stop()
        client.close()


def zkcli(cluster, script):
    r = subprocess.run(["/bin/bash", "-c", "printf '%s' | %s -server %s" %
                        (script, ZKCLI, cluster.zk_hosts())],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=180)
    return r.stdout.decode("utf-8", "replace")


def zkcli_checks(cluster):
    out = zkcli(cluster, "config\\nquit\\n")
    check("server.1=" in out and "server.3=" in out and "version=" in out,
          "zkCli config:\n" + out)
    out = zkcli(cluster, "reconfig -add %s\\nconfig\\nquit\\n" %
                cluster.node4_spec())
    check("Committed new configuration" in out and "server.4=" in out,
          "zkCli reconfig -add:\n" + out)
    out = zkcli(cluster, "reconfig -remove 4\\nquit\\n")
    check("Committed new configuration" in out, "zkCli reconfig -remove:\n"
          + out)
    tail = out[out.index("Committed new configuration"):]
    check("server.4=" not in tail, "server.4 removed:\n" + out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("--zkcli", action="store_true")
    args = parser.parse_args()
    try:
        import kazoo  # noqa: F401
    except ImportError:
        print("python3-kazoo is not installed: skipped")
        return SKIP
    if args.zkcli and (not os.access(ZKCLI, os.X_OK)
                       or shutil.which("java") is None):
        print(ZKCLI + " (Debian's zookeeper) is not installed: skipped")
        return SKIP
    cluster = Cluster(args)
    try:
        if args.zkcli:
            zkcli_checks(cluster)
        else:
            kazoo_checks(cluster)
    except Exception as e:
        cluster.dump()
        print("FAILED: %s" % e)
        import traceback
        traceback.print_exc()
        return 1
    finally:
        cluster.close()
    print("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
