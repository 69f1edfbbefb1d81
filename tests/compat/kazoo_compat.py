#!/usr/bin/python3
"""ZooKeeper compatibility suite, written against kazoo (Debian's
python3-kazoo), not against Conclave: it must pass against Apache ZooKeeper
too, which is what proves it tests ZooKeeper's behaviour.

    kazoo_compat.py --hosts HOST:PORT[,HOST:PORT...] [--four-letter]

--four-letter also checks the four-letter words (the server must answer
ruok, srvr and mntr). Every test works below its own random root, so the
suite can run again against the same server. Exit code 0 = all passed.
"""
import argparse
import socket
import sys
import threading
import time
import unittest
import uuid

from kazoo.client import KazooClient
from kazoo.exceptions import (BadVersionError, NoNodeError, NodeExistsError,
                              NotEmptyError, RolledBackError)
from kazoo.security import OPEN_ACL_UNSAFE

HOSTS = None
FOUR_LETTER = False


def wait_for(pred, timeout=10.0):
    """Polls pred until it holds or the timeout passes; returns pred()."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


class Compat(unittest.TestCase):
    def client(self):
        zk = KazooClient(hosts=HOSTS, timeout=10)
        zk.start(timeout=20)
        self.addCleanup(zk.close)
        self.addCleanup(zk.stop)
        return zk

    def setUp(self):
        self.zk = self.client()
        self.root = "/compat-" + uuid.uuid4().hex[:12]
        self.zk.create(self.root)

    def p(self, name):
        return self.root + "/" + name

    # -- znodes ---------------------------------------------------------------

    def test_create_get_set_delete(self):
        path = self.zk.create(self.p("a"), b"v1")
        self.assertEqual(path, self.p("a"))
        data, stat = self.zk.get(path)
        self.assertEqual(data, b"v1")
        self.assertEqual(stat.version, 0)
        self.assertEqual(stat.dataLength, 2)
        stat = self.zk.set(path, b"v22")
        self.assertEqual(stat.version, 1)
        self.assertEqual(stat.dataLength, 3)
        self.assertGreater(stat.mzxid, stat.czxid)
        self.zk.delete(path)
        self.assertIsNone(self.zk.exists(path))

    def test_errors(self):
        self.zk.create(self.p("e"), b"x")
        self.zk.create(self.p("e/child"), b"")
        with self.assertRaises(NodeExistsError):
            self.zk.create(self.p("e"), b"y")
        with self.assertRaises(NoNodeError):
            self.zk.get(self.p("missing"))
        with self.assertRaises(NoNodeError):
            self.zk.create(self.p("missing/child"), b"")
        with self.assertRaises(BadVersionError):
            self.zk.set(self.p("e"), b"z", version=7)
        with self.assertRaises(BadVersionError):
            self.zk.delete(self.p("e/child"), version=3)
        with self.assertRaises(NotEmptyError):
            self.zk.delete(self.p("e"))

    def test_children_and_stat(self):
        for name in ("b", "a", "c"):
            self.zk.create(self.p("kids/" + name), b"", makepath=True)
        self.assertEqual(sorted(self.zk.get_children(self.p("kids"))),
                         ["a", "b", "c"])
        kids, stat = self.zk.get_children(self.p("kids"), include_data=True)
        self.assertEqual(stat.numChildren, 3)
        self.assertEqual(stat.cversion, 3)
        self.zk.delete(self.p("kids/b"))
        stat = self.zk.exists(self.p("kids"))
        self.assertEqual(stat.numChildren, 2)
        self.assertEqual(stat.cversion, 4)  # creates and deletes both count

    def test_sequential(self):
        first = self.zk.create(self.p("job-"), b"", sequence=True)
        second = self.zk.create(self.p("job-"), b"", sequence=True)
        self.assertEqual(first, self.p("job-0000000000"))
        self.assertEqual(second, self.p("job-0000000001"))

    def test_ephemeral_vanishes_for_other_clients(self):
        other = self.client()
        other.create(self.p("eph"), b"", ephemeral=True)
        self.zk.sync(self.root)  # the clients may use different servers
        stat = self.zk.exists(self.p("eph"))
        self.assertIsNotNone(stat)
        self.assertEqual(stat.ephemeralOwner, other.client_id[0])
        other.stop()  # closes the session
        self.zk.sync(self.root)
        self.assertTrue(wait_for(lambda: self.zk.exists(self.p("eph")) is None))

    def test_session_expiry(self):
        states = []
        victim = self.client()
        victim.add_listener(states.append)
        victim.create(self.p("mine"), b"", ephemeral=True)
        # ZooKeeper's own test trick: a second client resumes the session
        # with its id and password and closes it; the first one learns that
        # its session expired, and its ephemeral node is gone.
        sid, passwd = victim.client_id
        thief = KazooClient(hosts=HOSTS, client_id=(sid, passwd), timeout=10)
        thief.start(timeout=20)
        thief.stop()
        thief.close()
        self.assertTrue(wait_for(lambda: "LOST" in states, 30))
        self.zk.sync(self.root)
        self.assertIsNone(self.zk.exists(self.p("mine")))

    def test_large_data(self):
        blob = bytes(range(256)) * 2048  # 512 KiB
        self.zk.create(self.p("big"), blob)
        self.assertEqual(self.zk.get(self.p("big"))[0], blob)

    def test_acl_reads_as_open(self):
        self.zk.create(self.p("acl"), b"")
        acl, stat = self.zk.get_acls(self.p("acl"))
        self.assertEqual(list(acl), list(OPEN_ACL_UNSAFE))
        self.assertEqual(stat.version, 0)

    def test_sync(self):
        self.zk.create(self.p("s"), b"1")
        self.zk.sync(self.p("s"))
        self.assertEqual(self.zk.get(self.p("s"))[0], b"1")

    # -- transactions ---------------------------------------------------------

    def test_transaction(self):
        self.zk.create(self.p("t"), b"0")
        tx = self.zk.transaction()
        tx.create(self.p("t/a"), b"a")
        tx.set_data(self.p("t"), b"1")
        tx.check(self.p("t"), 1)
        tx.delete(self.p("t/a"))
        results = tx.commit()
        self.assertEqual(results[0], self.p("t/a"))
        self.assertEqual(results[1].version, 1)
        self.assertEqual(results[2:], [True, True])
        self.assertEqual(self.zk.get(self.p("t"))[0], b"1")

    def test_failed_transaction_changes_nothing(self):
        self.zk.create(self.p("f"), b"0")
        tx = self.zk.transaction()
        tx.create(self.p("f/new"), b"")
        tx.check(self.p("f"), 5)  # wrong version
        tx.set_data(self.p("f"), b"never")
        results = tx.commit()
        self.assertIsInstance(results[0], RolledBackError)
        self.assertIsInstance(results[1], BadVersionError)
        self.assertIsNone(self.zk.exists(self.p("f/new")))
        self.assertEqual(self.zk.get(self.p("f"))[0], b"0")

    # -- watches --------------------------------------------------------------

    def test_data_watch(self):
        seen = []
        self.zk.DataWatch(self.p("w"),
                          lambda data, stat: seen.append(data))
        self.assertTrue(wait_for(lambda: seen == [None]))
        # One change at a time: DataWatch re-reads the node after each event,
        # so changes made faster than that may legitimately coalesce.
        self.zk.create(self.p("w"), b"1")
        self.assertTrue(wait_for(lambda: seen[-1:] == [b"1"]))
        self.zk.set(self.p("w"), b"2")
        self.assertTrue(wait_for(lambda: seen[-1:] == [b"2"]))
        self.zk.delete(self.p("w"))
        self.assertTrue(wait_for(lambda: seen[-1:] == [None]))
        self.assertEqual(seen, [None, b"1", b"2", None])

    def test_children_watch(self):
        self.zk.create(self.p("cw"), b"")
        seen = []
        self.zk.ChildrenWatch(self.p("cw"),
                              lambda kids: seen.append(sorted(kids)))
        self.zk.create(self.p("cw/x"), b"")
        self.assertTrue(wait_for(lambda: ["x"] in seen))
        self.zk.create(self.p("cw/y"), b"")
        self.assertTrue(wait_for(lambda: ["x", "y"] in seen))

    def test_one_shot_watch_fires_once_in_order(self):
        self.zk.create(self.p("o"), b"0")
        events = []
        self.zk.get(self.p("o"), watch=events.append)
        other = self.client()
        other.set(self.p("o"), b"1")
        other.set(self.p("o"), b"2")
        self.assertTrue(wait_for(lambda: len(events) == 1))
        # A marker watch fired after the changes: kazoo runs watch callbacks
        # in order, so a second event for /o would have come before it.
        marker = []
        self.zk.exists(self.p("marker"), watch=marker.append)
        other.create(self.p("marker"), b"")
        self.assertTrue(wait_for(lambda: len(marker) == 1))
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0].type, "CHANGED")

    def test_exists_watch_on_missing_node(self):
        events = []
        self.assertIsNone(self.zk.exists(self.p("later"), watch=events.append))
        self.zk.create(self.p("later"), b"")
        self.assertTrue(wait_for(lambda: len(events) == 1))
        self.assertEqual(events[0].type, "CREATED")

    # -- recipes --------------------------------------------------------------

    def test_lock(self):
        other = self.client()
        order = []
        lock_a = self.zk.Lock(self.p("lock"), "a")
        lock_b = other.Lock(self.p("lock"), "b")
        lock_a.acquire()
        done = threading.Event()

        def contender():
            with lock_b:
                order.append("b")
            done.set()

        thread = threading.Thread(target=contender)
        thread.start()
        self.assertTrue(wait_for(lambda: len(lock_a.contenders()) == 2))
        order.append("a")
        lock_a.release()
        self.assertTrue(done.wait(10))
        thread.join()
        self.assertEqual(order, ["a", "b"])

    def test_election(self):
        other = self.client()
        won = threading.Event()
        election = other.Election(self.p("election"), "other")
        thread = threading.Thread(target=election.run, args=(won.set,))
        thread.start()
        self.assertTrue(won.wait(10))
        thread.join()
        # Another client may be connected to a server that has not applied
        # the winner's exit yet (sequential consistency): sync first.
        self.zk.sync(self.p("election"))
        self.assertEqual(self.zk.Election(self.p("election")).contenders(), [])

    def test_counter(self):
        counter = self.zk.Counter(self.p("counter"))
        counter += 5
        counter -= 2
        self.assertEqual(counter.value, 3)

    def test_barrier(self):
        barrier = self.zk.Barrier(self.p("barrier"))
        barrier.create()
        passed = threading.Event()
        other = self.client()
        thread = threading.Thread(
            target=lambda: other.Barrier(self.p("barrier")).wait(10)
            and passed.set())
        thread.start()
        self.assertFalse(passed.wait(0.3))
        barrier.remove()
        self.assertTrue(passed.wait(10))
        thread.join()

    def test_queue(self):
        queue = self.zk.Queue(self.p("queue"))
        for item in (b"one", b"two", b"three"):
            queue.put(item)
        self.assertEqual(len(queue), 3)
        self.assertEqual([queue.get(), queue.get(), queue.get()],
                         [b"one", b"two", b"three"])

    # -- four-letter words ----------------------------------------------------

    def test_four_letter_words(self):
        if not FOUR_LETTER:
            self.skipTest("run with --four-letter")
        host, port = HOSTS.split(",")[0].rsplit(":", 1)

        def ask(word):
            with socket.create_connection((host, int(port)), timeout=10) as s:
                s.sendall(word.encode())
                out = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        return out.decode()
                    out += chunk

        self.assertEqual(ask("ruok"), "imok")
        self.assertIn("Mode: ", ask("srvr"))
        mntr = ask("mntr")
        for key in ("zk_version", "zk_server_state", "zk_znode_count",
                    "zk_watch_count", "zk_ephemerals_count",
                    "zk_approximate_data_size", "zk_outstanding_requests",
                    "zk_avg_latency"):
            self.assertIn(key + "\t", mntr)
        figures = dict(line.split("\t", 1) for line in mntr.splitlines()
                       if "\t" in line)
        # This suite's own clients are connected and have sent requests
        # (to some server of the list: count only if it is this one).
        self.assertGreaterEqual(int(figures["zk_packets_received"]), 0)
        self.assertGreaterEqual(int(figures["zk_znode_count"]), 2)
        self.assertIn(figures["zk_server_state"],
                      ("leader", "follower", "standalone"))
        own = socket.create_connection((host, int(port)), timeout=10)
        try:
            cons = ask("cons")
            self.assertIn("/127.0.0.1:", cons)
        finally:
            own.close()


def main():
    global HOSTS, FOUR_LETTER
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", required=True)
    parser.add_argument("--four-letter", action="store_true")
    args, rest = parser.parse_known_args()
    HOSTS = args.hosts
    FOUR_LETTER = args.four_letter
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
