"""netns: the chaos harness's private network.

Every node of a run lives in a network namespace of its own, the clients in
one more, and all of them hang off a bridge that itself sits in a namespace:
nothing is added to the machine's own network stack, and the traffic of a
run never leaves its namespaces.

    cv<slot>-net   bridge br0, one veth end per host (n1..nN, cl)
    cv<slot>-n<i>  eth0 = 10.<200+slot>.0.<10+i>/24, lo       (host i)
    cv<slot>-cl    eth0 = 10.<200+slot>.0.100/24, lo          (clients)

Partitions are real packet drops: iptables DROP rules in the nodes'
namespaces (INPUT from and OUTPUT to the peers that must not be reached),
so TCP connections stall and time out exactly as on a broken network.
Clients keep reaching every node (a client on the minority side talks to a
node that cannot reach the leader: the interesting case).

A host is a place (namespace, address), not a Raft id: the membership
nemesis replaces the node on host i by a fresh one with a new id, and may
start learners on spare hosts (nodes+1 ..).

`cleanup(slot)` removes everything a slot may have left behind, including
after the harness itself was killed: it kills every process still inside
the slot's namespaces and deletes them (veth pairs and the bridge go with
their namespaces).
"""

import os
import signal
import subprocess
import time

NET = "net"
CLIENT = "cl"


def run(cmd, check=True, timeout=30):
    """Runs a command, returns its CompletedProcess; raises with its output
    on failure when `check`."""
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        if check:
            raise
        return subprocess.CompletedProcess(cmd, 124, "", "timed out")
    if check and res.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), res.returncode,
                                                   (res.stderr or res.stdout).strip()))
    return res


class Network:
    """The namespaces, bridge and addresses of one slot."""

    def __init__(self, slot, nodes, spares=0):
        if not 0 <= slot <= 50:
            raise ValueError("slot must be in 0..50")
        self.slot = slot
        # Hosts 1..nodes run the cluster's voters; hosts nodes+1..nodes+spares
        # are spare (the membership nemesis starts learners there).
        self.nodes = nodes
        self.spares = spares
        self.prefix = "cv%d-" % slot
        self.subnet = "10.%d.0" % (200 + slot)
        self.blocked = set()  # (i, j) pairs, i != j: i drops traffic with j

    # -- names and addresses ------------------------------------------------
    def ns(self, host):
        """Namespace name of node i (1-based) or of 'cl' / 'net'."""
        return self.prefix + (host if isinstance(host, str) else "n%d" % host)

    def ip(self, host):
        if host == CLIENT:
            return self.subnet + ".100"
        return "%s.%d" % (self.subnet, 10 + host)

    def exec_prefix(self, host):
        return ["ip", "netns", "exec", self.ns(host)]

    # -- lifetime -----------------------------------------------------------
    def create(self):
        cleanup(self.slot)
        netns = self.ns(NET)
        run(["ip", "netns", "add", netns])
        self._ip(netns, "link", "set", "lo", "up")
        self._ip(netns, "link", "add", "br0", "type", "bridge")
        self._ip(netns, "link", "set", "br0", "up")
        hosts = list(range(1, self.nodes + self.spares + 1)) + [CLIENT]
        for host in hosts:
            name = self.ns(host)
            end = host if isinstance(host, str) else "n%d" % host
            run(["ip", "netns", "add", name])
            # Create the pair inside the bridge's namespace, then move the
            # host's end into the host's namespace.
            self._ip(netns, "link", "add", end, "type", "veth", "peer", "name", "eth0",
                     "netns", name)
            self._ip(netns, "link", "set", end, "master", "br0")
            self._ip(netns, "link", "set", end, "up")
            self._ip(name, "link", "set", "lo", "up")
            self._ip(name, "addr", "add", self.ip(host) + "/24", "dev", "eth0")
            self._ip(name, "link", "set", "eth0", "up")
        self.blocked.clear()

    def destroy(self):
        cleanup(self.slot)

    def _ip(self, ns, *args):
        run(["ip", "-n", ns] + list(args))

    # -- partitions ---------------------------------------------------------
    def partition(self, groups):
        """Cuts every link between nodes of different groups (a list of
        lists of node ids); nodes in no group keep all their links."""
        where = {}
        for g, members in enumerate(groups):
            for n in members:
                where[n] = g
        pairs = set()
        for a in where:
            for b in where:
                if a != b and where[a] != where[b]:
                    pairs.add((a, b))
        self.block(pairs)

    def block(self, pairs):
        """Drops all traffic between each (a, b), in both directions, at
        both ends."""
        for a, b in pairs:
            for x, y in ((a, b), (b, a)):
                if (x, y) in self.blocked:
                    continue
                pre = self.exec_prefix(x)
                run(pre + ["iptables", "-w", "-A", "INPUT", "-s", self.ip(y), "-j", "DROP"])
                run(pre + ["iptables", "-w", "-A", "OUTPUT", "-d", self.ip(y), "-j", "DROP"])
                self.blocked.add((x, y))

    def heal(self):
        for n in range(1, self.nodes + self.spares + 1):
            run(self.exec_prefix(n) + ["iptables", "-w", "-F"], check=False)
        self.blocked.clear()


_libc = None


def die_with_parent():
    """preexec_fn for the processes a run starts: SIGKILL when the harness
    dies, even by SIGKILL (prctl PR_SET_PDEATHSIG survives `ip netns exec`,
    which execs in place)."""
    global _libc
    if _libc is None:
        import ctypes
        _libc = ctypes.CDLL(None, use_errno=True)
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)


def _namespaces():
    res = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in res.stdout.splitlines() if line.strip()]


def cleanup(slot):
    """Kills every process in slot's namespaces and deletes them."""
    prefix = "cv%d-" % slot
    mine = [ns for ns in _namespaces() if ns.startswith(prefix)]
    pids = []
    for attempt in range(100):
        pids = []
        for ns in mine:
            res = run(["ip", "netns", "pids", ns], check=False)
            pids += [int(p) for p in res.stdout.split()]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    if pids:
        # Deleting the names would hide these processes for good.
        raise RuntimeError("processes %s in %s survive SIGKILL; namespaces kept"
                           % (pids, ", ".join(mine)))
    for ns in mine:
        run(["ip", "netns", "del", ns], check=False)


def check_prerequisites():
    """None if this machine can run the harness, else what is missing."""
    if os.geteuid() != 0:
        return "the chaos harness creates network namespaces: run it as root"
    for tool in ("ip", "iptables"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            return "%s is missing: run scripts/deps.sh" % tool
    return None
