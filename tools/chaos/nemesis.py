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
  membership        runtime membership changes (conclavectl members), one
                    of: `replace` (70%): `members remove` of a voter (the
                    leader 40% of the time: it hands over), graceful stop;
                    held with one voter less; at heal its data directory is
                    moved aside and a fresh node with a NEW Raft id starts on
                    the same host (initial-cluster-state=existing) and is
                    `members add`ed (learner, catch-up, promotion) -- or
                    `learner` (30%): a fresh node with a new id on the spare
                    host is `members add --learner`ed, held, then `members
                    remove`d and stopped at heal. Not in `all` (opt-in:
                    `--nemesis all,membership`), so that the seeds of earlier
                    `all` campaigns still draw the same faults.

A membership change interrupted by a leader change may or may not have
happened (ConnectionLoss): the nemesis looks (`members list`) and retries
until the membership is what it wants or a deadline passes. At the end of
the schedule `heal_all` reconciles: every host runs a member of the
membership, the voters are exactly the hosts' current ids (the run's voter
count) and no learner is left.
"""

import json
import time

KINDS = ["partition-halves", "partition-one", "partition-leader", "partition-bridge", "kill",
         "pause", "restart", "transfer", "actor", "slow-disk", "lose-unsynced", "power-loss",
         "membership"]

# What `all` means: every kind but the opt-in ones (their seeds replay as
# before the opt-in kinds existed).
OPT_IN = ["membership"]
ALL = [k for k in KINDS if k not in OPT_IN]

# membership: the chance of `replace` (else `learner`, if there is a spare
# host) and of choosing the leader as the voter to replace.
REPLACE_SHARE = 0.7
REPLACE_LEADER = 0.4
# How long one membership step may take (its retries included), and the
# per-command timeout (conclavectl --timeout: catch-up and commit).
MEMBERSHIP_STEP_S = 60
MEMBERSHIP_CMD_MS = 30000

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
        # Raft ids of the membership nemesis's fresh members: after every id
        # the cluster started with (hosts and spares), one per change drawn,
        # whatever the cluster answered.
        self.next_id = len(cluster.nodes) + len(getattr(cluster, "spares", {})) + 1

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
        fields = heal() or {}
        self._record(op="heal", kind=kind, **fields)

    def heal_all(self):
        """Whatever state the run is in: network whole, every node running
        and resumed, disks fast (and, after membership changes, the
        membership whole again)."""
        self.net.heal()
        for n in self.cluster.nodes.values():
            n.slow_disk(0)
            if n.paused:
                n.resume()
                self._record(op="heal", kind="resume", node=n.id)
            if not n.running and not getattr(n, "retired", False):
                n.start()
                self._record(op="heal", kind="start", node=n.id)
        if "membership" in self.kinds:
            self._reconcile_membership()

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
        # transfer-leader takes a Raft id: the host's current member.
        rid = getattr(self.cluster.nodes[target], "raft_id", target) if target else 0
        args = ["transfer-leader"] + ([str(rid)] if target else [])
        code, out = self.cluster.ctl(args, timeout_ms=3000)
        self._start("transfer", code == 0, target=target, raft_id=rid, exit_code=code,
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

    # -- membership --------------------------------------------------------------
    def _peers(self):
        """[(raft id, ip)] of the members as the harness believes them (the
        joining node's conclave.peers: the cluster and itself)."""
        return [(n.raft_id, n.ip) for n in self.cluster.all_nodes()
                if n.running and not getattr(n, "retired", False)]

    def _servers(self, exclude=()):
        """conclavectl --server: the running voter hosts but `exclude`."""
        return ",".join(self.cluster.server(i) for i, n in self.cluster.nodes.items()
                        if n.running and not n.paused and i not in exclude) or None

    def _change(self, want, step, exclude=(), deadline_s=MEMBERSHIP_STEP_S):
        """Runs membership commands until want(members) holds: step(members)
        gives the next `members ...` arguments. A change cut short by a
        leader change may or may not have happened, so every attempt starts
        by looking. Returns (done, [(args, exit code, output)])."""
        attempts = []
        end = time.monotonic() + deadline_s
        while True:
            members, reply = self.cluster.members(servers=self._servers(exclude))
            if members is not None and want(members):
                return True, attempts
            if time.monotonic() >= end or len(attempts) >= 8:
                return False, attempts
            if members is None:
                attempts.append({"args": "list", "exit_code": None, "output": str(reply)[-160:]})
                time.sleep(0.5)
                continue
            args = ["members"] + step(members)
            code, out = self.cluster.ctl(args, servers=self._servers(exclude),
                                         timeout_ms=MEMBERSHIP_CMD_MS,
                                         deadline_s=MEMBERSHIP_CMD_MS / 1000 + 15)
            attempts.append({"args": " ".join(args[1:]), "exit_code": code,
                             "output": out.strip()[-160:],
                             "stderr": getattr(self.cluster, "last_stderr", "").strip()[-200:]})
            if code != 0:
                time.sleep(0.5)

    def _remove(self, raft_id, exclude=()):
        return self._change(lambda m: raft_id not in m,
                            lambda m: ["remove", str(raft_id)], exclude)

    def _add(self, node, learner, exclude=()):
        """members add (or promote, when an earlier attempt left it a
        learner) until `node` is a voter (a learner with `learner`)."""
        rid = node.raft_id
        role = "learner" if learner else "voter"

        def step(m):
            if rid in m:
                return ["promote", str(rid)]
            return (["add", "%d@%s" % (rid, node.peer_address)]
                    + (["--learner"] if learner else []) + ["--client", node.zk_address])
        return self._change(lambda m: rid in m and m[rid].get("role") == role, step,
                            exclude + (node.id,))

    def _retire(self, node):
        """members remove, then a graceful stop: the host's member is gone.
        Returns the fields to record."""
        old = node.raft_id
        removed, attempts = self._remove(old)
        fields = {"removed": removed, "remove_attempts": attempts}
        if not removed:
            # Still a member: stopping it would leave the cluster a voter
            # short for good. Leave it running; heal_all tries again.
            self.problems.append("membership: node %d (host %d) could not be removed: %s"
                                 % (old, node.id, attempts[-3:]))
            return fields
        code = node.stop()
        node.retired = True
        fields["stop_exit_code"] = code
        if code != 0:
            self.problems.append("removed node %d (host %d) exited with %s on a graceful stop"
                                 % (old, node.id, code))
        return fields

    def _join(self, node, raft_id, learner):
        """A fresh member with `raft_id` on the host of `node` (stopped):
        data moved aside, initial-cluster-state=existing, started, added."""
        node.reincarnate(raft_id, self._peers())
        node.retired = False
        t = time.monotonic()
        node.start()
        added, attempts = self._add(node, learner)
        took = round(time.monotonic() - t, 3)
        if not added:
            self.problems.append("membership: node %d (host %d) could not join as %s: %s"
                                 % (raft_id, node.id, "learner" if learner else "voter",
                                    attempts[-3:]))
        return {"added": added, "add_attempts": attempts, "join_s": took}

    def _membership(self):
        # Every draw first, the same ones whatever the cluster answers.
        hosts = list(self.cluster.nodes)
        spares = sorted(getattr(self.cluster, "spares", {}))
        replace = not spares or self.rng.random() < REPLACE_SHARE
        want_leader = self.rng.random() < REPLACE_LEADER
        other = self.rng.choice(hosts)
        new_id = self.next_id
        self.next_id += 1
        if replace:
            host = self.leader if want_leader and self.leader is not None else other
            node = self.cluster.nodes[host]
            old = node.raft_id
            is_leader = host == self.leader
            if not node.running or getattr(node, "retired", False):
                # An earlier change could not finish: heal_all repairs it.
                self._start("membership", False, action="replace", node=host, old_id=old,
                            new_id=new_id, skipped="host not running")
                self.active = ("membership", lambda: None)
                return
            fields = self._retire(node)
            self._start("membership", is_leader, action="replace", node=host, old_id=old,
                        new_id=new_id, leader=is_leader, **fields)

            def heal():
                if not getattr(node, "retired", False):
                    return {"skipped": "not removed"}
                return dict(self._join(node, new_id, learner=False), node=host,
                            new_id=new_id)
            self.active = ("membership", heal)
            return
        node = self.cluster.spares[spares[0]]
        if node.running:  # a learner left over from a change that failed
            self._retire(node)
        fields = self._join(node, new_id, learner=True)
        fields["learner_read"] = self._learner_read(node) if fields["added"] else None
        if fields["learner_read"] not in (0, None):
            self.problems.append("learner %d (host %d) did not serve a read: exit %s"
                                 % (new_id, node.id, fields["learner_read"]))
        self._start("membership", False, action="learner", node=node.id, new_id=new_id,
                    **fields)

        def heal():
            return dict(self._retire(node), node=node.id, old_id=new_id)
        self.active = ("membership", heal)

    def _learner_read(self, node):
        """A read served by the learner (conclavectl get /, exit code)."""
        code, _ = self.cluster.ctl(["get", "/"], servers=self.cluster.server(node.id),
                                   timeout_ms=3000)
        return code

    def _reconcile_membership(self):
        """After the schedule: no learner, every voter host running a voter
        of the membership, no other member. A host whose member is not in
        the membership at all (a removal that went through after all, a
        join that never did) gets a fresh member with a new id: a removed
        node is never added back. Records what it did."""
        did = []
        for node in self.cluster.spares.values():
            if node.running:
                did.append({"host": node.id, "retire": self._retire(node)})
        # The last heal may have restarted every node (power-loss): wait for
        # a leader to answer instead of judging the first attempt.
        deadline = time.monotonic() + 60
        while True:
            members, reply = self.cluster.members(servers=self._servers())
            if members is not None or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        if members is None:
            self.problems.append("membership: members list failed after healing: %s" % reply)
            return
        for node in self.cluster.nodes.values():
            if node.raft_id not in members and not getattr(node, "retired", False):
                did.append({"host": node.id, "not_a_member": node.raft_id,
                            "stop_exit_code": node.stop()})
                node.retired = True
            if getattr(node, "retired", False):
                new_id = self.next_id
                self.next_id += 1
                did.append({"host": node.id, "new_id": new_id,
                            "join": self._join(node, new_id, learner=False)})
        hosts = {n.raft_id: n for n in self.cluster.nodes.values()}
        members, _ = self.cluster.members(servers=self._servers())
        for rid in sorted(members or {}):
            if rid not in hosts:
                did.append({"remove_stray": rid, "result": self._remove(rid)})
            elif members[rid].get("role") != "voter":
                did.append({"promote": rid, "result": self._add(hosts[rid], learner=False)})
        if did:
            self._record(op="heal", kind="membership-reconcile", actions=did)


def parse_kinds(text):
    """'all' (every kind but the opt-in ones: membership), a comma-separated
    subset of KINDS, or both ('all,membership'); raises ValueError."""
    kinds = []
    for k in (k.strip() for k in text.split(",")):
        for kk in (ALL if k == "all" else [k] if k else []):
            if kk not in kinds:
                kinds.append(kk)
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise ValueError("unknown nemesis %s (choose from: all, %s)" % (", ".join(bad) or "''",
                                                                      ", ".join(KINDS)))
    return kinds

