"""nemesis: the faults a chaos run injects, scheduled from the run's seed.

One fault at a time: the schedule alternates a quiet spell (1-4 s) with a
fault held for 2-8 s (some are instantaneous), then heals it (restarts
killed nodes, resumes paused ones, removes partitions; it does not wait
for them to rejoin). Every start and heal is a line in nemesis.jsonl with
CLOCK_MONOTONIC times (the clock the workloads' histories use): `begin_ns`
when the fault's first action began, `time_ns` when it was in place, and
`leader_affected` when it may have stopped, cut off or replaced the leader
(such faults restart session clocks: see widen_session_bounds in chaos).

Every random choice of a fault is drawn before the cluster is asked who
leads, and the same number of draws is made whatever it answers, so a
seed always gives the same sequence of kinds, holds and victims.

Kinds (--nemesis):
  partition-halves  random halves (minority | majority)
  partition-one     one random node isolated
  partition-leader  the leader isolated
  partition-bridge  two sides that cannot see each other and one node that
                    sees both (it can be elected by either side)
  kill              SIGKILL of a node (the leader half the time), restarted
                    at heal
  pause             SIGSTOP of a node (the leader half the time), SIGCONT at
                    heal
  restart           graceful stop (SIGTERM) and start of a node
  transfer          conclavectl transfer-leader (to a random node or to the
                    best follower)
  actor             conclavectl fault: a random actor of a random node
                    throws, exits or blocks
  slow-disk         every fsync of a node (or of all) waits 50-500 ms
  lose-unsynced     SIGKILL of a node while its fsyncs are slowed down (so
                    that written data is waiting for one), then its data
                    directory loses every write not yet fsynced (lossyfs),
                    then restart
  power-loss        the same for every node at once (the whole cluster loses
                    power): every acknowledged write must have been fsynced
                    by a majority
"""

import json
import time

KINDS = ["partition-halves", "partition-one", "partition-leader", "partition-bridge", "kill",
         "pause", "restart", "transfer", "actor", "slow-disk", "lose-unsynced", "power-loss"]

ACTORS = ["registry", "storage", "log", "election", "session", "zk", "admin"]


class Nemesis:
    def __init__(self, cluster, rng, kinds, log_path):
        self.cluster = cluster
        self.net = cluster.net
        self.rng = rng
        self.kinds = kinds
        self.log = open(log_path, "a")
        self.active = None  # (kind, heal closure)
        self.counts = {}
        self.failovers = []  # kill of the leader: monotonic ns of the kill
        self.problems = []  # findings (a graceful stop that failed, ...)
        self.interrupted = False

    def close(self):
        self.log.close()

    def _record(self, **fields):
        fields["time_ns"] = time.monotonic_ns()
        self.log.write(json.dumps(fields) + "\n")
        self.log.flush()

    def _start(self, kind, leader_affected, **fields):
        self._record(op="start", kind=kind, begin_ns=self.begin_ns,
                     leader_affected=bool(leader_affected), **fields)

    def _target(self, prefer_leader=0.5):
        """(node, whether it leads): the leader with probability
        `prefer_leader` (if there is one), else a random running node."""
        running = [i for i, n in self.cluster.nodes.items() if n.running]
        want_leader = self.rng.random() < prefer_leader
        other = self.rng.choice(running)
        victim = self.leader if want_leader and self.leader is not None else other
        return victim, victim == self.leader

    # -- schedule -------------------------------------------------------------
    def run(self, seconds, stop_flag):
        """Injects faults until `seconds` have passed (or stop_flag() is
        true), then heals everything."""
        end = time.monotonic() + seconds
        try:
            while time.monotonic() < end and not stop_flag():
                self._sleep_until(min(end, time.monotonic() + self.rng.uniform(1, 4)), stop_flag)
                if time.monotonic() >= end or stop_flag():
                    break
                kind = self.rng.choice(self.kinds)
                hold = self.rng.uniform(2, 8)
                self.start(kind)
                self._sleep_until(min(end, time.monotonic() + hold), stop_flag)
                self.heal()
        finally:
            if not self.interrupted:
                self.heal()
                self.heal_all()

    def _sleep_until(self, t, stop_flag):
        while time.monotonic() < t and not stop_flag():
            time.sleep(min(0.1, max(0.0, t - time.monotonic())))

    # -- faults -----------------------------------------------------------------
    def start(self, kind):
        self.leader = self.cluster.leader()
        self.begin_ns = time.monotonic_ns()
        getattr(self, "_" + kind.replace("-", "_"))()
        self.counts[kind] = self.counts.get(kind, 0) + 1

    def heal(self):
        if self.active is None:
            return
        kind, heal = self.active
        self.active = None
        heal()
        self._record(op="heal", kind=kind)

    def heal_all(self):
        """Whatever state the run is in: network whole, every node running
        and resumed, disks fast."""
        self.net.heal()
        for n in self.cluster.nodes.values():
            n.slow_disk(0)
            if n.paused:
                n.resume()
                self._record(op="heal", kind="resume", node=n.id)
            if not n.running:
                n.start()
                self._record(op="heal", kind="start", node=n.id)

    def _partition(self, kind, groups):
        self.net.partition(groups)
        # Cut off from a majority, the leader steps down; with a minority
        # cut off (the leader elsewhere), sessions there still go quiet.
        majority = [g for g in groups if len(g) * 2 > self.cluster.size]
        affected = self.leader is None or not majority or self.leader not in majority[0]
        self._start(kind, affected, groups=groups, leader=self.leader)
        self.active = (kind, self.net.heal)

    def _partition_halves(self):
        ids = list(self.cluster.nodes)
        self.rng.shuffle(ids)
        k = len(ids) // 2
        self._partition("partition-halves", [ids[:k], ids[k:]])

    def _partition_one(self):
        ids = list(self.cluster.nodes)
        victim = self.rng.choice(ids)
        self._partition("partition-one", [[victim], [i for i in ids if i != victim]])

    def _partition_leader(self):
        ids = list(self.cluster.nodes)
        other = self.rng.choice(ids)
        victim = self.leader if self.leader is not None else other
        self._partition("partition-leader", [[victim], [i for i in ids if i != victim]])

    def _partition_bridge(self):
        ids = list(self.cluster.nodes)
        self.rng.shuffle(ids)
        bridge = ids[0]
        rest = ids[1:]
        half = len(rest) // 2
        left, right = rest[:half], rest[half:]
        # Nodes on the left never hear the right; the bridge hears both.
        self.net.block({(a, b) for a in left for b in right})
        self._start("partition-bridge", True, bridge=bridge, left=left, right=right,
                    leader=self.leader)
        self.active = ("partition-bridge", self.net.heal)

    def _in_flight(self, nodes):
        """Slows the nodes' fsyncs for a moment, so that a crash finds
        written but not yet synced data (without it the window between a
        write and its fsync is too short to hit)."""
        delay = self.rng.randint(100, 400)
        for node in nodes:
            node.slow_disk(delay)
        time.sleep(self.rng.uniform(0.3, 1.5))
        return delay

    def _kill(self, lose=False):
        kind = "lose-unsynced" if lose else "kill"
        victim, is_leader = self._target()
        node = self.cluster.nodes[victim]
        if lose:
            self._in_flight([node])
        t = time.monotonic_ns()
        node.kill()
        if is_leader and not lose:
            self.failovers.append(t)
        lost = node.lose_unsynced() if lose else None
        node.slow_disk(0)
        self._start(kind, is_leader, node=victim, leader=is_leader, kill_ns=t, lost=lost)

        def heal():
            if not node.running:
                node.start()
        self.active = (kind, heal)

    def _lose_unsynced(self):
        self._kill(lose=True)

    def _power_loss(self):
        nodes = [n for n in self.cluster.nodes.values() if n.running]
        self._in_flight(nodes)
        for node in nodes:
            node.kill()
        lost = {node.id: node.lose_unsynced() for node in nodes}
        for node in nodes:
            node.slow_disk(0)
        self._start("power-loss", True, nodes=[n.id for n in nodes], lost=lost)

        def heal():
            for node in nodes:
                if not node.running:
                    node.start()
        self.active = ("power-loss", heal)

    def _pause(self):
        victim, is_leader = self._target()
        node = self.cluster.nodes[victim]
        node.pause()
        self._start("pause", is_leader, node=victim, leader=is_leader)
        self.active = ("pause", node.resume)

    def _restart(self):
        victim, is_leader = self._target()
        node = self.cluster.nodes[victim]
        code = node.stop()
        if code != 0:
            self.problems.append("node %d exited with %s on a graceful stop" % (victim, code))
        self._start("restart", is_leader, node=victim, leader=is_leader, exit_code=code)
        node.start()
        self.active = ("restart", lambda: None)

    def _transfer(self):
        ids = list(self.cluster.nodes)
        target = self.rng.choice([0] + ids)
        args = ["transfer-leader"] + ([str(target)] if target else [])
        code, out = self.cluster.ctl(args, timeout_ms=3000)
        self._start("transfer", code == 0, target=target, exit_code=code,
                    output=out.strip()[:200])
        self.active = ("transfer", lambda: None)

    def _actor(self):
        victim, is_leader = self._target()
        actor = self.rng.choice(ACTORS)
        how = self.rng.choice(["throw", "exit", "block:%d" % self.rng.randint(200, 3000)])
        code, out = self.cluster.ctl(["fault", actor, how],
                                     servers=self.cluster.server(victim), timeout_ms=3000)
        self._start("actor", is_leader, node=victim, leader=is_leader, actor=actor, fault=how,
                    exit_code=code)
        self.active = ("actor", lambda: None)

    def _slow_disk(self):
        delay = self.rng.randint(50, 500)
        everyone = self.rng.random() < 0.5
        one, _ = self._target()
        victims = list(self.cluster.nodes) if everyone else [one]
        for v in victims:
            self.cluster.nodes[v].slow_disk(delay)
        self._start("slow-disk", self.leader is None or self.leader in victims, nodes=victims,
                    delay_ms=delay)

        def heal():
            for v in victims:
                self.cluster.nodes[v].slow_disk(0)
        self.active = ("slow-disk", heal)


def parse_kinds(text):
    """'all' or a comma-separated subset of KINDS; raises ValueError."""
    if text == "all":
        return list(KINDS)
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError("unknown nemesis %s (choose from: all, %s)" % (", ".join(bad) or "''",
                                                                      ", ".join(KINDS)))
    return kinds

