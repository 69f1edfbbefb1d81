#!/usr/bin/python3
"""Unit tests of the kazoo workloads' pure helpers (tools/chaos/
kazoo_workload.py, tools/chaos/history_writer.py). No cluster needed:

  /usr/bin/python3 -m unittest tests/kazoo_workload_test.py -v

The format test also feeds a small history to conclave-check when it is
built (build/bin/conclave-check, or $CONCLAVE_CHECK).
"""

import json
import os
import subprocess
import sys
import tempfile
import threading
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "chaos"))

import history_writer as hw  # noqa: E402

try:
    import kazoo_workload as kw  # noqa: E402
    from kazoo.exceptions import (BadVersionError, ConnectionLoss,  # noqa
                                  NoNodeError, SessionExpiredError)
    from kazoo.handlers.threading import KazooTimeoutError  # noqa: E402
except ImportError:   # no kazoo: only the writer's tests run
    kw = None


class MakeRecordTest(unittest.TestCase):
    def test_defaults_are_omitted_and_int64_are_strings(self):
        rec = hw.make_record(7, "ok", "write", "/r", version=0, zxid=0,
                             session=0, plain=False, values=[], error="")
        self.assertEqual(rec, {"process": "7", "type": "ok", "f": "write",
                               "key": "/r", "version": "0"})

    def test_optional_fields_keep_their_defaults(self):
        rec = hw.make_record(1, "ok", "exists", "/e", found=False, value="",
                             token=0)
        self.assertEqual(rec["found"], False)
        self.assertEqual(rec["value"], "")
        self.assertEqual(rec["token"], "0")

    def test_unset_is_none(self):
        rec = hw.make_record(1, "ok", "read", "/r", value=None, version=None)
        self.assertNotIn("value", rec)
        self.assertNotIn("version", rec)

    def test_large_session_ids_survive(self):
        s = 2**62 + 12345
        line = hw.encode(hw.make_record(1, "ok", "write", "/a", session=s))
        self.assertEqual(int(json.loads(line)["session"]), s)

    def test_field_order_and_one_line(self):
        line = hw.encode(hw.make_record(3, "invoke", "cas", "/r", value="x",
                                        expected="y", version=4))
        self.assertTrue(line.endswith(b"\n"))
        self.assertEqual(line.count(b"\n"), 1)
        self.assertEqual(list(json.loads(line)),
                         ["process", "type", "f", "key", "value", "expected",
                          "version"])

    def test_rejects_bad_records(self):
        with self.assertRaises(ValueError):
            hw.make_record(1, "done", "read")
        with self.assertRaises(ValueError):
            hw.make_record(1, "ok", "")
        with self.assertRaises(ValueError):
            hw.make_record(1, "ok", "read", "/r", colour="red")


class WriterTest(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp(suffix=".jsonl")
        os.close(fd)

    def tearDown(self):
        os.unlink(self.path)

    def lines(self):
        with open(self.path) as f:
            return [json.loads(line) for line in f]

    def test_threads_write_whole_lines_in_time_order(self):
        w = hw.HistoryWriter(self.path)
        other = hw.HistoryWriter(self.path)   # a second writer, same file

        def run(p, writer):
            for i in range(200):
                writer.invoke(p, "add", "/s", value="e-%d-%d" % (p, i))
                writer.complete(p, "ok", "add", "/s", zxid=i + 1)
        threads = [threading.Thread(target=run, args=(p, w if p % 2 else
                                                      other))
                   for p in range(1, 9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        w.close()
        other.close()
        recs = self.lines()
        self.assertEqual(len(recs), 8 * 400)
        for p in range(1, 9):
            mine = [r for r in recs if r["process"] == str(p)]
            self.assertEqual([r["type"] for r in mine], ["invoke", "ok"] * 200)
            times = [int(r["time_ns"]) for r in mine]
            self.assertEqual(times, sorted(times))

    def test_tally(self):
        w = hw.HistoryWriter(self.path)
        w.invoke(10, "read", "/r")
        w.complete(10, "ok", "read", "/r")
        w.invoke(10, "write", "/r", value="a")
        w.complete(10, "fail", "write", "/r")
        w.invoke(11, "write", "/r", value="b")      # never completed
        w.invoke(12, "write", "/r", value="c")
        w.complete(12, "info", "write", "/r")
        w.invoke(99, "write", "/r", value="d")      # not ours
        w.event(10, "kill", "/e", session=5)
        w.close()
        with open(self.path, "a") as f:
            f.write('{"process":"10","type":"ok"')  # a torn line
        self.assertEqual(hw.tally(self.path, {10, 11, 12}),
                         {"ops": 4, "ok": 1, "fail": 1, "info": 2})


@unittest.skipIf(kw is None, "kazoo is not installed")
class HelpersTest(unittest.TestCase):
    def test_outcomes(self):
        self.assertEqual(kw.outcome_of(BadVersionError()), "fail")
        self.assertEqual(kw.outcome_of(NoNodeError()), "fail")
        self.assertEqual(kw.outcome_of(ConnectionLoss()), "info")
        self.assertEqual(kw.outcome_of(SessionExpiredError()), "info")
        self.assertEqual(kw.outcome_of(KazooTimeoutError()), "info")
        self.assertEqual(kw.outcome_of(RuntimeError()), "info")
        self.assertEqual(kw.error_name(BadVersionError()), "BadVersion")
        self.assertEqual(kw.error_name(KazooTimeoutError()), "Timeout")
        self.assertEqual(kw.error_name(ConnectionLoss()), "ConnectionLoss")

    def test_lowest_contender(self):
        children = ["b__lock__0000000012", "a__lock__0000000003",
                    "c__lock__0000000007", "junk"]
        self.assertEqual(kw.lowest_contender(children),
                         "a__lock__0000000003")
        self.assertIsNone(kw.lowest_contender(["junk"]))
        self.assertIsNone(kw.lowest_contender([]))

    def test_ids(self):
        ids = kw.Ids(100)
        self.assertEqual(ids.one(), 100)
        self.assertEqual(ids.take(3), [101, 102, 103])
        self.assertEqual(ids.given, {100, 101, 102, 103})


class FakeConn(object):
    def __init__(self):
        self.gen = 0
        self.lost = 0

    def snapshot(self):
        return self.gen, self.lost


@unittest.skipIf(kw is None, "kazoo is not installed")
class ProcAndOpTest(unittest.TestCase):
    def setUp(self):
        fd, self.path = tempfile.mkstemp(suffix=".jsonl")
        os.close(fd)
        self.hist = hw.HistoryWriter(self.path)
        self.conn = FakeConn()
        self.proc = kw.Proc(kw.Ids(1).one, self.conn)

    def tearDown(self):
        self.hist.close()
        os.unlink(self.path)

    def test_info_renews_the_process(self):
        with kw.Op(self.hist, self.proc, "write", "/r", value="a") as op:
            op.done("info", error="ConnectionLoss")
        self.assertEqual(self.proc.pid, 2)
        with kw.Op(self.hist, self.proc, "write", "/r", value="b") as op:
            op.failed(BadVersionError())
        self.assertEqual(self.proc.pid, 2)
        self.assertEqual(op.outcome, "fail")

    def test_lost_session_renews_the_process(self):
        self.conn.lost += 1
        self.proc.refresh()
        self.assertEqual(self.proc.pid, 2)
        self.proc.refresh()
        self.assertEqual(self.proc.pid, 2)

    def test_a_hold_defers_renewal_until_released(self):
        self.proc.hold()
        with kw.Op(self.hist, self.proc, "fenced_write", "/l",
                   token=5) as op:
            op.done("info", error="ConnectionLoss")
        self.assertEqual(self.proc.pid, 1)    # the release pairs with it
        self.proc.unhold()
        self.assertEqual(self.proc.pid, 2)

    def test_an_exception_completes_the_operation_as_info(self):
        with self.assertRaises(ZeroDivisionError):
            with kw.Op(self.hist, self.proc, "read", "/r"):
                1 / 0
        self.hist.close()
        with open(self.path) as f:
            recs = [json.loads(line) for line in f]
        self.assertEqual([r["type"] for r in recs], ["invoke", "info"])
        self.assertTrue(recs[1]["error"].startswith("Internal"))
        self.assertEqual(self.proc.pid, 2)


def find_checker():
    path = os.environ.get("CONCLAVE_CHECK",
                          os.path.join(ROOT, "build", "bin", "conclave-check"))
    return path if os.access(path, os.X_OK) else None


@unittest.skipIf(find_checker() is None, "conclave-check is not built")
class CheckerAcceptsTheFormatTest(unittest.TestCase):
    def run_check(self, write):
        fd, path = tempfile.mkstemp(suffix=".jsonl")
        os.close(fd)
        try:
            w = hw.HistoryWriter(path)
            write(w)
            w.close()
            return subprocess.run([find_checker(), path],
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=60)
        finally:
            os.unlink(path)

    def test_a_good_history_passes_and_a_bad_one_fails(self):
        def good(w, final=("a", "b")):
            w.invoke(1, "write", "/r", value="x")
            w.complete(1, "ok", "write", "/r", version=0, zxid=10)
            w.invoke(1, "read", "/r")
            w.complete(1, "ok", "read", "/r", value="x", version=0, zxid=10)
            w.invoke(2, "cas", "/r", value="y", expected="x", version=0)
            w.complete(2, "ok", "cas", "/r", zxid=11)
            w.invoke(2, "exists", "/e")
            w.complete(2, "ok", "exists", "/e", found=False)
            for i, v in enumerate(["a", "b"]):
                w.invoke(3, "add", "/s", value=v)
                w.complete(3, "ok", "add", "/s", zxid=20 + i)
            w.invoke(3, "read_set", "/s")
            w.complete(3, "ok", "read_set", "/s", values=list(final))
        res = self.run_check(good)
        self.assertEqual(res.returncode, 0, res.stdout.decode())
        res = self.run_check(lambda w: good(w, final=("a",)))
        self.assertEqual(res.returncode, 1, res.stdout.decode())


if __name__ == "__main__":
    unittest.main()
