"""Unit tests of the chaos harness's own judgement (tools/chaos/chaos,
nemesis.py): how kill bounds widen past faults, which kills count as
observed after their bound, what failover time is measured, which faults
are parsed, and that a seed draws the same fault sequence whatever the
cluster answers. Needs no root and no cluster.

  python3 -m unittest -v chaos_harness_test     (from tests/)
"""

import importlib.machinery
import importlib.util
import json
import os
import random
import sys
import tempfile
import unittest
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHAOS_DIR = os.path.join(ROOT, "tools", "chaos")
sys.path.insert(0, CHAOS_DIR)

import nemesis  # noqa: E402

_loader = importlib.machinery.SourceFileLoader("chaos_main", os.path.join(CHAOS_DIR, "chaos"))
_spec = importlib.util.spec_from_loader("chaos_main", _loader)
chaos = importlib.util.module_from_spec(_spec)
_loader.exec_module(chaos)

S = 10**9  # ns per second


def write_lines(path, records):
    with open(path, "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def kill(t, bound, key="/kz/eph/h1"):
    return {"type": "event", "f": "kill", "key": key, "session": "7",
            "time_ns": str(t), "timeout_ns": str(bound)}


class WidenSessionBounds(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.history = os.path.join(self.dir.name, "history.jsonl")
        self.out = os.path.join(self.dir.name, "checked.jsonl")

    def tearDown(self):
        self.dir.cleanup()

    def widen(self, records, faults):
        write_lines(self.history, records)
        counts = chaos.widen_session_bounds(self.history, faults, self.out)
        return counts, read_lines(self.out)

    def test_a_fault_outside_the_bound_changes_nothing(self):
        (kills, widened), out = self.widen([kill(100 * S, 25 * S)], [(10 * S, 20 * S)])
        self.assertEqual((kills, widened), (1, 0))
        self.assertEqual(int(out[0]["timeout_ns"]), 25 * S)

    def test_an_overlapping_fault_extends_the_bound_past_its_heal(self):
        (_, widened), out = self.widen([kill(100 * S, 25 * S)], [(110 * S, 118 * S)])
        self.assertEqual(widened, 1)
        # A whole bound after the heal: 118 + 25 - 100.
        self.assertEqual(int(out[0]["timeout_ns"]), 43 * S)

    def test_widening_chains_through_later_faults(self):
        # The second fault starts inside the widened bound only.
        faults = [(110 * S, 118 * S), (140 * S, 145 * S)]
        _, out = self.widen([kill(100 * S, 25 * S)], faults)
        self.assertEqual(int(out[0]["timeout_ns"]), 70 * S)  # 145 + 25 - 100

    def test_a_fault_that_healed_before_the_kill_does_not_count(self):
        _, out = self.widen([kill(100 * S, 25 * S)], [(90 * S, 99 * S)])
        self.assertEqual(int(out[0]["timeout_ns"]), 25 * S)

    def test_a_fault_still_active_at_the_kill_counts(self):
        _, out = self.widen([kill(100 * S, 25 * S)], [(90 * S, 105 * S)])
        self.assertEqual(int(out[0]["timeout_ns"]), 30 * S)

    def test_kills_without_a_bound_and_other_records_are_copied_unchanged(self):
        unbounded = {"type": "event", "f": "kill", "key": "/k", "time_ns": "5"}
        op = {"type": "ok", "f": "exists", "process": "3", "key": "/k", "found": False}
        (kills, widened), out = self.widen([unbounded, op], [(0, 100 * S)])
        self.assertEqual((kills, widened), (0, 0))
        self.assertEqual(out, [unbounded, op])


class FaultIntervals(unittest.TestCase):
    def test_only_faults_that_touched_the_leader_from_their_first_action(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "nemesis.jsonl")
            write_lines(log, [
                {"op": "start", "kind": "pause", "begin_ns": 5, "time_ns": 7,
                 "leader_affected": True},
                {"op": "heal", "kind": "pause", "time_ns": 20},
                {"op": "start", "kind": "slow-disk", "begin_ns": 30, "time_ns": 31,
                 "leader_affected": False},
                {"op": "heal", "kind": "slow-disk", "time_ns": 40},
                {"op": "heal", "kind": "start", "node": 2, "time_ns": 50},
            ])
            self.assertEqual(chaos.fault_intervals(log), [(5, 20)])


class ObservedKillBounds(unittest.TestCase):
    def test_counts_synced_exists_invoked_after_the_bound(self):
        key = "/kz/eph/h1"
        records = [
            kill(100, 50, key),
            # Invoked before the bound ended: does not count.
            {"type": "invoke", "f": "exists", "process": "1", "key": key, "time_ns": "120"},
            {"type": "ok", "f": "exists", "process": "1", "key": key, "found": False,
             "time_ns": "160"},
            # A plain (unsynced) exists after the bound: does not count.
            {"type": "invoke", "f": "exists", "process": "2", "key": key, "time_ns": "170"},
            {"type": "ok", "f": "exists", "process": "2", "key": key, "found": False,
             "plain": True, "time_ns": "171"},
        ]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "h.jsonl")
            write_lines(path, records)
            self.assertEqual(chaos.observed_kill_bounds(path), 0)
            records += [
                {"type": "invoke", "f": "exists", "process": "3", "key": key, "time_ns": "180"},
                {"type": "ok", "f": "exists", "process": "3", "key": key, "found": False,
                 "time_ns": "181"},
            ]
            write_lines(path, records)
            self.assertEqual(chaos.observed_kill_bounds(path), 1)


class FailoverTimes(unittest.TestCase):
    def test_first_write_invoked_after_the_kill(self):
        records = [
            # In flight at the kill (invoked at 90): left out.
            {"type": "invoke", "f": "write", "process": "1", "time_ns": "90"},
            {"type": "ok", "f": "write", "process": "1", "time_ns": "150"},
            # A read after the kill: not a write.
            {"type": "invoke", "f": "read", "process": "2", "time_ns": "105"},
            {"type": "ok", "f": "read", "process": "2", "time_ns": "110"},
            {"type": "invoke", "f": "cas", "process": "2", "time_ns": "120"},
            {"type": "ok", "f": "cas", "process": "2", "time_ns": "1100100"},
        ]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "h.jsonl")
            write_lines(path, records)
            self.assertEqual(chaos.failover_times(path, [100, 2000000]), [1.1, None])


class Parsing(unittest.TestCase):
    def test_nemesis_and_workload_lists(self):
        # `all` keeps meaning the twelve kinds that existed before the
        # opt-in membership nemesis: earlier campaigns' seeds replay.
        self.assertEqual(nemesis.parse_kinds("all"), nemesis.ALL)
        self.assertEqual(len(nemesis.ALL), 12)
        self.assertNotIn("membership", nemesis.parse_kinds("all"))
        self.assertEqual(nemesis.parse_kinds("all,membership"), nemesis.KINDS)
        self.assertEqual(nemesis.parse_kinds("membership"), ["membership"])
        self.assertEqual(nemesis.parse_kinds("kill,all,kill")[0], "kill")
        self.assertEqual(len(nemesis.parse_kinds("kill,all,kill")), 12)
        self.assertEqual(nemesis.parse_kinds("kill, pause"), ["kill", "pause"])
        with self.assertRaises(ValueError):
            nemesis.parse_kinds("kill,earthquake")
        self.assertEqual(chaos.parse_workloads("all"), list(chaos.WORKLOADS))
        with self.assertRaises(ValueError):
            chaos.parse_workloads("")

    def test_percentile(self):
        values = list(range(1, 101))
        self.assertEqual(chaos.percentile(values, 50), 50)
        self.assertEqual(chaos.percentile(values, 99), 99)
        self.assertEqual(chaos.percentile([7], 99), 7)
        self.assertIsNone(chaos.percentile([], 99))


class FakeNode:
    def __init__(self, i):
        self.id = i
        self.raft_id = i
        self.running = True
        self.paused = False
        self.delay = 0
        self.incarnation = 0
        self.ip = "10.0.0.%d" % (10 + i)
        self.peer_address = self.ip + ":4281"
        self.zk_address = self.ip + ":2181"
        self.peers = None

    def kill(self):
        self.running = False

    def start(self):
        self.running = True

    def stop(self):
        self.running = False
        return 0

    def pause(self):
        self.paused = True

    def resume(self):
        self.paused = False

    def slow_disk(self, ms):
        self.delay = ms

    def lose_unsynced(self):
        return {"removed": 0, "rolled_back": 0, "created": 0, "killed": 0}

    def reincarnate(self, raft_id, peers):
        assert not self.running
        self.raft_id = raft_id
        self.incarnation += 1
        self.peers = [p for p in peers if p[0] != raft_id] + [(raft_id, self.ip)]


class FakeNet:
    def __init__(self):
        self.cuts = []

    def partition(self, groups):
        self.cuts.append(("partition", groups))

    def block(self, pairs):
        self.cuts.append(("block", sorted(pairs)))

    def heal(self):
        pass


class FakeCluster:
    """Answers `leader()` from a list, as a cluster in the middle of
    elections would: sometimes nobody leads. Keeps a membership that
    `conclavectl members` changes; with `flaky` (a random.Random), a change
    answers ConnectionLoss (exit 1) half of the time, having happened or not
    (a leader change cut it short)."""

    def __init__(self, leaders, flaky=None, spares=1):
        self.size = 3
        self.net = FakeNet()
        self.nodes = {i: FakeNode(i) for i in (1, 2, 3)}
        self.spares = {i: FakeNode(i) for i in range(4, 4 + spares)}
        for n in self.spares.values():
            n.running = False
        self.leaders = list(leaders)
        self.config = {i: "voter" for i in self.nodes}
        self.flaky = flaky
        self.commands = []

    def all_nodes(self):
        return list(self.nodes.values()) + list(self.spares.values())

    def leader(self):
        return self.leaders.pop(0) if self.leaders else None

    def members(self, servers=None, timeout_ms=3000):
        return ({i: {"id": i, "role": r} for i, r in self.config.items()},
                {"commit_index": 1, "committed": True})

    def ctl(self, args, servers=None, timeout_ms=1000, json_out=False, deadline_s=20):
        self.commands.append(list(args))
        if args[0] != "members":
            return 0, ""
        happens = self.flaky is None or self.flaky.random() < 0.5
        answers = self.flaky is None or self.flaky.random() < 0.5
        if happens:
            if args[1] == "remove":
                self.config.pop(int(args[2]), None)
            elif args[1] == "promote":
                self.config[int(args[2])] = "voter"
            elif args[1] == "add":
                rid = int(args[2].split("@")[0])
                self.config[rid] = "learner" if "--learner" in args else "voter"
        return (0, "") if happens and answers else (1, "ConnectionLoss")

    def server(self, i):
        return "n%d" % i


def no_sleep():
    return mock.patch.object(nemesis.time, "sleep", lambda _s: None)


class SeededSchedule(unittest.TestCase):
    def run_schedule(self, leaders, log, flaky=None, kinds=None):
        with no_sleep():  # _in_flight, membership retries
            return self._run_schedule(leaders, log, flaky, kinds or list(nemesis.KINDS))

    def _run_schedule(self, leaders, log, flaky, kinds):
        cluster = FakeCluster(leaders, flaky)
        nem = nemesis.Nemesis(cluster, random.Random(42), kinds, log)
        draws = []
        for _ in range(40):
            kind = nem.rng.choice(nem.kinds)
            nem.start(kind)
            nem.heal()
            for n in cluster.nodes.values():
                n.running = True
            draws.append((kind, nem.rng.random()))
        nem.close()
        return draws

    def test_the_same_seed_draws_the_same_faults_whoever_leads(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "nemesis.jsonl")
            steady = self.run_schedule([1] * 40, log)
            chaotic = self.run_schedule([None, 2, None, 3] * 10, log)
            self.assertEqual(steady, chaotic)

    def test_membership_draws_do_not_depend_on_how_changes_answer(self):
        with tempfile.TemporaryDirectory() as d:
            log = os.path.join(d, "nemesis.jsonl")
            kinds = ["membership", "kill"]
            calm = self.run_schedule([1] * 40, log, kinds=kinds)
            flaky = self.run_schedule([None, 2, 3] * 14, log, flaky=random.Random(7),
                                      kinds=kinds)
            self.assertEqual(calm, flaky)
            self.assertIn("membership", [k for k, _ in calm])


class MembershipNemesis(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.log = os.path.join(self.dir.name, "nemesis.jsonl")
        self.sleep = no_sleep()
        self.sleep.start()

    def tearDown(self):
        self.sleep.stop()
        self.dir.cleanup()

    def nemesis(self, cluster, seed=1):
        nem = nemesis.Nemesis(cluster, random.Random(seed), ["membership"], self.log)
        self.addCleanup(nem.close)
        return nem

    def records(self):
        return read_lines(self.log)

    def fault(self, nem, expect_action):
        """Starts membership faults until one of `expect_action` (the
        action depends on the seed's draws only)."""
        for _ in range(50):
            nem.start("membership")
            rec = [r for r in self.records() if r["op"] == "start"][-1]
            if rec["action"] == expect_action:
                return rec
            nem.heal()
        self.fail("no %s drawn" % expect_action)

    def test_replace_removes_stops_then_joins_a_fresh_node_with_a_new_id(self):
        cluster = FakeCluster([2] * 100)
        nem = self.nemesis(cluster)
        rec = self.fault(nem, "replace")
        host, old, new = rec["node"], rec["old_id"], rec["new_id"]
        node = cluster.nodes[host]
        # Held: removed from the membership, stopped, a voter less.
        self.assertTrue(rec["removed"])
        self.assertNotIn(old, cluster.config)
        self.assertFalse(node.running)
        self.assertEqual(len(cluster.config), 2)
        self.assertEqual(rec["leader"], host == 2)
        self.assertEqual(rec["leader_affected"], host == 2)
        nem.heal()
        # Healed: the same host runs a fresh member with the new id, added
        # as a voter, started with the cluster and itself as peers.
        self.assertGreater(new, 4)  # after the hosts' and the spare's ids
        self.assertEqual(node.raft_id, new)
        self.assertTrue(node.running)
        self.assertEqual(cluster.config.get(new), "voter")
        self.assertEqual(sorted(cluster.config), sorted(n.raft_id for n in cluster.nodes.values()))
        self.assertIn((new, node.ip), node.peers)
        self.assertEqual(len(node.peers), 3)
        add = [c for c in cluster.commands if c[:2] == ["members", "add"]][-1]
        self.assertEqual(add[2], "%d@%s" % (new, node.peer_address))
        self.assertNotIn("--learner", add)
        self.assertEqual(add[add.index("--client") + 1], node.zk_address)
        heal = [r for r in self.records() if r["op"] == "heal"][-1]
        self.assertTrue(heal["added"])

    def test_ids_are_never_reused(self):
        cluster = FakeCluster([1] * 400)
        nem = self.nemesis(cluster, seed=3)
        ids = set()
        for _ in range(12):
            nem.start("membership")
            nem.heal()
        for r in self.records():
            if r["op"] == "start":
                self.assertNotIn(r["new_id"], ids)
                ids.add(r["new_id"])
        self.assertEqual(len(ids), 12)
        self.assertEqual(len(cluster.config), 3)

    def test_learner_is_added_on_the_spare_host_and_removed_at_heal(self):
        cluster = FakeCluster([1] * 100)
        nem = self.nemesis(cluster)
        rec = self.fault(nem, "learner")
        spare = cluster.spares[4]
        self.assertEqual(rec["node"], 4)
        self.assertFalse(rec["leader_affected"])
        self.assertTrue(spare.running)
        self.assertEqual(cluster.config.get(rec["new_id"]), "learner")
        add = [c for c in cluster.commands if c[:2] == ["members", "add"]][-1]
        self.assertIn("--learner", add)
        self.assertEqual(rec["learner_read"], 0)
        nem.heal()
        self.assertFalse(spare.running)
        self.assertNotIn(rec["new_id"], cluster.config)
        self.assertEqual(sorted(cluster.config.values()), ["voter"] * 3)

    def test_an_ambiguous_change_is_looked_at_and_retried(self):
        cluster = FakeCluster([1] * 100, flaky=random.Random(11))
        nem = self.nemesis(cluster, seed=5)
        for _ in range(10):
            nem.start("membership")
            nem.heal()
        nem.heal_all()
        self.assertEqual(sorted(cluster.config),
                         sorted(n.raft_id for n in cluster.nodes.values()))
        self.assertEqual(set(cluster.config.values()), {"voter"})
        self.assertFalse(cluster.spares[4].running)
        self.assertEqual(nem.problems, [])

    def test_heal_all_repairs_a_join_that_never_happened(self):
        cluster = FakeCluster([1] * 100)
        nem = self.nemesis(cluster)
        self.fault(nem, "replace")
        # The cluster refuses every change from now on: the heal cannot add.
        real = cluster.ctl
        cluster.ctl = lambda args, **kw: (1, "NewConfigNoQuorum")
        nem.heal()
        self.assertTrue(nem.problems)
        self.assertEqual(len(cluster.config), 2)
        cluster.ctl = real
        nem.problems = []
        nem.heal_all()
        self.assertEqual(sorted(cluster.config),
                         sorted(n.raft_id for n in cluster.nodes.values()))
        self.assertEqual(set(cluster.config.values()), {"voter"})
        self.assertEqual(nem.problems, [])
        self.assertEqual(self.records()[-1]["kind"], "membership-reconcile")


if __name__ == "__main__":
    unittest.main()
