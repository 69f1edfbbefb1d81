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
        self.assertEqual(nemesis.parse_kinds("all"), nemesis.KINDS)
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
        self.running = True
        self.paused = False
        self.delay = 0

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
    elections would: sometimes nobody leads."""

    def __init__(self, leaders):
        self.size = 3
        self.net = FakeNet()
        self.nodes = {i: FakeNode(i) for i in (1, 2, 3)}
        self.leaders = list(leaders)

    def leader(self):
        return self.leaders.pop(0) if self.leaders else None

    def ctl(self, args, servers=None, timeout_ms=1000):
        return 0, ""

    def server(self, i):
        return "n%d" % i


class SeededSchedule(unittest.TestCase):
    def run_schedule(self, leaders, log):
        with mock.patch.object(nemesis.time, "sleep", lambda _s: None):  # _in_flight
            return self._run_schedule(leaders, log)

    def _run_schedule(self, leaders, log):
        cluster = FakeCluster(leaders)
        nem = nemesis.Nemesis(cluster, random.Random(42), list(nemesis.KINDS), log)
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


if __name__ == "__main__":
    unittest.main()
