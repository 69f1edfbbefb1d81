#!/usr/bin/python3
"""ZooKeeper compatibility suite, written against kazoo (Debian's
python3-kazoo), not against Conclave: it must pass against Apache ZooKeeper
too, which is what proves it tests ZooKeeper's behaviour.

    kazoo_compat.py --hosts HOST:PORT[,HOST:PORT...] [--four-letter]

--four-letter also checks the four-letter words (the server must answer
ruok, srvr and mntr). Every test works below its own random root, so the
suite can run again against the same server. Exit code 0 = all passed.

The ACL and auth tests expect the stock providers only (digest and ip; no
superDigest, no skipACL) and clients connecting over IPv4. The container and
TTL tests need TTL nodes enabled and a short reaping interval; against
ZooKeeper (3.8), start the server with

    SERVER_JVMFLAGS="-Dzookeeper.extendedTypesEnabled=true
                     -Dznode.container.checkIntervalMs=1000"

(without the first flag createTTL answers UNIMPLEMENTED; without the second
ZooKeeper reaps only once a minute). The reaping tests poll up to
REAP_TIMEOUT (20) s each; with a 1 s interval they take 1-3 s.
"""
import argparse
import collections
import socket
import struct
import sys
import threading
import time
import unittest
import uuid

from kazoo.client import KazooClient
from kazoo.exceptions import (AuthFailedError, BadArgumentsError,
                              BadVersionError, InvalidACLError, NoAuthError,
                              NoNodeError, NodeExistsError, NotEmptyError,
                              RolledBackError, RuntimeInconsistency,
                              UnimplementedError)
from kazoo.protocol.serialization import Auth, Connect, Create2, long_struct
from kazoo.security import (ACL, ANYONE_ID_UNSAFE, OPEN_ACL_UNSAFE,
                            READ_ACL_UNSAFE, Id, Permissions, make_digest_acl,
                            make_digest_acl_credential)

HOSTS = None
FOUR_LETTER = False
REAP_TIMEOUT = 20.0  # seconds a container/TTL reaping test may poll

READ, WRITE, CREATE, DELETE, ADMIN, ALL = (
    Permissions.READ, Permissions.WRITE, Permissions.CREATE,
    Permissions.DELETE, Permissions.ADMIN, Permissions.ALL)


def wait_for(pred, timeout=10.0):
    """Polls pred until it holds or the timeout passes; returns pred()."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


# kazoo 2.8 has no API for container and TTL nodes; these requests speak the
# wire protocol (opcodes 19 and 21, answered like create2: path and stat).
class CreateContainer(Create2):
    type = 19


class CreateTTL(collections.namedtuple("CreateTTL",
                                       "path data acl flags ttl")):
    type = 21

    def serialize(self):
        return (Create2(self.path, self.data, self.acl, self.flags)
                .serialize() + long_struct.pack(self.ttl))

    deserialize = Create2.deserialize


CONTAINER = 4            # CreateMode flags
PERSISTENT_WITH_TTL = 5
PERSISTENT_SEQUENTIAL_WITH_TTL = 6


def call(zk, request):
    """Sends a raw request through kazoo's connection; returns the reply."""
    result = zk.handler.async_result()
    zk._call(request, result)
    return result.get()


def raise_if_error(result):
    """A transaction result is a value or an exception instance."""
    if isinstance(result, Exception):
        raise result
    return result


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

    # -- ACLs and auth --------------------------------------------------------

    def authed(self, user, password="pw"):
        zk = self.client()
        zk.add_auth("digest", "%s:%s" % (user, password))
        return zk

    def test_digest_acl(self):
        alice = self.authed("alice")
        node = self.p("secret")
        mine = [make_digest_acl("alice", "pw", all=True)]
        alice.create(node, b"x", acl=mine)
        alice.create(node + "/kid", b"k")  # open ACL
        for zk in (self.client(), self.authed("alice", "wrong")):
            # exists (and sync) are never checked against ACLs.
            self.assertEqual(zk.exists(node).dataLength, 1)
            zk.sync(node)
            with self.assertRaises(NoAuthError):
                zk.get(node)
            with self.assertRaises(NoAuthError):
                zk.set(node, b"y")
            with self.assertRaises(NoAuthError):
                zk.get_children(node)
            with self.assertRaises(NoAuthError):
                zk.get_children(node, include_data=True)
            with self.assertRaises(NoAuthError):  # needs READ or ADMIN
                zk.get_acls(node)
            with self.assertRaises(NoAuthError):
                zk.set_acls(node, OPEN_ACL_UNSAFE)
            with self.assertRaises(NoAuthError):
                zk.create(node + "/new", b"")
            with self.assertRaises(NoAuthError):  # needs DELETE on the parent
                zk.delete(node + "/kid")
            # The child has its own, open, ACL.
            self.assertEqual(zk.get(node + "/kid")[0], b"k")
        # Another session that authenticates as alice may do everything.
        again = self.authed("alice")
        self.assertEqual(again.get(node)[0], b"x")
        self.assertEqual(again.set(node, b"y").version, 1)
        again.create(node + "/new", b"")
        self.assertEqual(sorted(again.get_children(node)), ["kid", "new"])
        again.delete(node + "/kid")
        self.assertEqual(again.get_acls(node)[0], mine)
        self.assertEqual(again.set_acls(node, mine).aversion, 1)
        # A node's own ACL does not guard its deletion: delete checks only
        # the parent's ACL for DELETE (PrepRequestProcessor, OpCode.delete).
        alice.create(self.p("leaf"), b"", acl=mine)
        self.zk.delete(self.p("leaf"))
        self.assertIsNone(self.zk.exists(self.p("leaf")))

    def test_auth_scheme_expands_to_the_authenticated_ids(self):
        alice_id = Id("digest", make_digest_acl_credential("alice", "pw"))
        bob_id = Id("digest", make_digest_acl_credential("bob", "pw"))
        self.assertEqual(alice_id.id, "alice:V55/p2T0OpjQ+low3NVAH4aLvm0=")
        zk = self.authed("alice")
        zk.create(self.p("mine"), b"", acl=[ACL(ALL, Id("auth", ""))])
        self.assertEqual(zk.get_acls(self.p("mine"))[0], [ACL(ALL, alice_id)])
        # The id of an "auth" entry is ignored.
        zk.create(self.p("any"), b"",
                  acl=[ACL(READ | ADMIN, Id("auth", "whoever"))])
        self.assertEqual(zk.get_acls(self.p("any"))[0],
                         [ACL(READ | ADMIN, alice_id)])
        # One entry per authenticated id (in no particular order); ip ids
        # do not count, their provider is not an "authenticated" one
        # (PrepRequestProcessor.fixupACL, isAuthenticated()).
        zk.add_auth("digest", "bob:pw")
        zk.add_auth("ip", "127.0.0.1")
        zk.create(self.p("ours"), b"", acl=[ACL(READ | ADMIN, Id("auth", "")),
                                            ACL(READ, ANYONE_ID_UNSAFE)])
        self.assertEqual(sorted(zk.get_acls(self.p("ours"))[0]),
                         sorted([ACL(READ | ADMIN, alice_id),
                                 ACL(READ | ADMIN, bob_id),
                                 ACL(READ, ANYONE_ID_UNSAFE)]))
        # setACL expands it the same way.
        zk.set_acls(self.p("any"), [ACL(ALL, Id("auth", ""))])
        self.assertEqual(sorted(zk.get_acls(self.p("any"))[0]),
                         sorted([ACL(ALL, alice_id), ACL(ALL, bob_id)]))
        # Without an authenticated id there is nothing to expand to.
        anon = self.client()
        with self.assertRaises(InvalidACLError):
            anon.create(self.p("nobody"), b"", acl=[ACL(ALL, Id("auth", ""))])
        with self.assertRaises(InvalidACLError):
            anon.set_acls(self.root, [ACL(ALL, Id("auth", ""))])
        self.assertIsNone(self.zk.exists(self.p("nobody")))

    def test_world_read_only(self):
        node = self.p("ro")
        self.zk.create(node, b"r", acl=READ_ACL_UNSAFE)
        self.assertEqual(self.zk.get(node)[0], b"r")
        self.assertEqual(self.zk.get_children(node), [])
        self.assertEqual(self.zk.get_acls(node)[0], READ_ACL_UNSAFE)
        with self.assertRaises(NoAuthError):
            self.zk.set(node, b"w")
        with self.assertRaises(NoAuthError):
            self.zk.create(node + "/kid", b"")
        with self.assertRaises(NoAuthError):
            self.zk.set_acls(node, OPEN_ACL_UNSAFE)
        self.assertEqual(self.zk.get(node)[1].version, 0)
        self.zk.delete(node)  # the (open) parent allows it

    def test_ip_acl(self):
        # kazoo does not tell its local address; its socket does.
        local = self.zk._connection._socket.getsockname()[0]
        try:
            socket.inet_pton(socket.AF_INET, local)
        except OSError:
            self.skipTest("not connected over IPv4: " + local)
        here = [ACL(ALL, Id("ip", local))]
        self.zk.create(self.p("here"), b"v", acl=here)
        self.assertEqual(self.zk.get(self.p("here"))[0], b"v")
        self.zk.set(self.p("here"), b"w")
        self.zk.create(self.p("here/kid"), b"")
        self.assertEqual(self.zk.get_acls(self.p("here"))[0], here)
        # A network: the address bits past the mask are ignored, and the id
        # is stored as given.
        net = [ACL(ALL, Id("ip", local + "/8"))]
        self.zk.create(self.p("net"), b"n", acl=net)
        self.assertEqual(self.zk.get(self.p("net"))[0], b"n")
        self.assertEqual(self.zk.get_acls(self.p("net"))[0], net)
        away = self.p("away")  # TEST-NET-1: nobody connects from there
        self.zk.create(away, b"a", acl=[ACL(ALL, Id("ip", "192.0.2.0/24"))])
        self.assertIsNotNone(self.zk.exists(away))
        with self.assertRaises(NoAuthError):
            self.zk.get(away)
        with self.assertRaises(NoAuthError):
            self.zk.set(away, b"b")
        with self.assertRaises(NoAuthError):
            self.zk.create(away + "/kid", b"")

    def test_invalid_acls(self):
        self.zk.create(self.p("ok"), b"")
        for ident in (Id("world", "someone"), Id("ip", "300.1.1.1"),
                      Id("ip", "10.0.0.0/33"), Id("ip", "localhost"),
                      Id("digest", "nocolon"), Id("digest", "a:b:c"),
                      Id("nosuchscheme", "x"), Id("super", "x")):
            with self.subTest(id=ident):
                with self.assertRaises(InvalidACLError):
                    self.zk.create(self.p("bad"), b"", acl=[ACL(ALL, ident)])
                # One bad entry spoils the list.
                with self.assertRaises(InvalidACLError):
                    self.zk.create(self.p("bad"), b"",
                                   acl=OPEN_ACL_UNSAFE + [ACL(READ, ident)])
                with self.assertRaises(InvalidACLError):
                    self.zk.set_acls(self.p("ok"), [ACL(ALL, ident)])
        self.assertIsNone(self.zk.exists(self.p("bad")))
        self.assertEqual(self.zk.get_acls(self.p("ok"))[0], OPEN_ACL_UNSAFE)
        # An empty list (create_async: create() would send kazoo's default).
        with self.assertRaises(InvalidACLError):
            self.zk.create_async(self.p("bad"), b"", acl=[]).get()
        with self.assertRaises(InvalidACLError):
            self.zk.set_acls(self.p("ok"), [])
        # The ACL is checked before the parent is looked up.
        with self.assertRaises(InvalidACLError):
            self.zk.create(self.p("missing/kid"), b"",
                           acl=[ACL(ALL, Id("world", "someone"))])
        # Permissions are not validated: an ACL granting nothing is valid.
        self.zk.create(self.p("nothing"), b"", acl=[ACL(0, ANYONE_ID_UNSAFE)])
        with self.assertRaises(NoAuthError):
            self.zk.get_acls(self.p("nothing"))
        # Duplicate entries are dropped (ZOOKEEPER-1877), order kept.
        self.zk.create(self.p("dups"), b"", acl=[
            ACL(READ, ANYONE_ID_UNSAFE), ACL(ALL, ANYONE_ID_UNSAFE),
            ACL(READ, ANYONE_ID_UNSAFE)])
        self.assertEqual(self.zk.get_acls(self.p("dups"))[0],
                         [ACL(READ, ANYONE_ID_UNSAFE),
                          ACL(ALL, ANYONE_ID_UNSAFE)])

    def test_each_permission_alone(self):
        zk = self.zk

        def check(node):  # the check op of a transaction
            tx = zk.transaction()
            tx.check(node, 0)
            return raise_if_error(tx.commit()[0])

        needs = [  # operation, the permissions any one of which allows it
            ("get", READ, lambda n: zk.get(n)),
            ("get_children", READ, lambda n: zk.get_children(n)),
            ("check", READ, check),
            ("get_acls", READ | ADMIN, lambda n: zk.get_acls(n)),
            ("set", WRITE, lambda n: zk.set(n, b"w", version=0)),
            ("create", CREATE, lambda n: zk.create(n + "/new", b"")),
            ("delete", DELETE, lambda n: zk.delete(n + "/kid")),
            # Last: it opens the node up.
            ("set_acls", ADMIN, lambda n: zk.set_acls(n, OPEN_ACL_UNSAFE)),
        ]
        for name, perm in (("READ", READ), ("WRITE", WRITE),
                           ("CREATE", CREATE), ("DELETE", DELETE),
                           ("ADMIN", ADMIN), ("none", 0)):
            node = self.p(name)
            zk.create(node, b"d")
            zk.create(node + "/kid", b"")
            zk.set_acls(node, [ACL(perm, ANYONE_ID_UNSAFE)])
            self.assertIsNotNone(zk.exists(node))  # never checked
            zk.sync(node)
            for op, allowed_by, do in needs:
                with self.subTest(perm=name, op=op):
                    if perm & allowed_by:
                        do(node)
                    else:
                        with self.assertRaises(NoAuthError):
                            do(node)
            # What went through did its work.
            self.assertEqual(zk.exists(node).version, int(perm == WRITE))
            self.assertEqual(zk.exists(node).aversion, 1 + (perm == ADMIN))
            self.assertEqual(zk.exists(node + "/new") is not None,
                             perm == CREATE)
            self.assertEqual(zk.exists(node + "/kid") is None, perm == DELETE)

    def test_acl_checked_before_other_errors(self):
        node = self.p("locked")
        self.zk.create(node, b"")
        self.zk.create(node + "/kid", b"")
        self.zk.set_acls(node, [ACL(0, ANYONE_ID_UNSAFE)])
        # PrepRequestProcessor checks the ACL before the node's existence,
        # its version or its children.
        with self.assertRaises(NoAuthError):
            self.zk.delete(node + "/missing")  # not NoNode
        with self.assertRaises(NoAuthError):
            self.zk.create(node + "/kid", b"")  # not NodeExists
        with self.assertRaises(NoAuthError):
            self.zk.set(node, b"", version=9)  # not BadVersion
        with self.assertRaises(NoAuthError):
            self.zk.set_acls(node, OPEN_ACL_UNSAFE, version=9)
        tx = self.zk.transaction()
        tx.check(node, 9)
        self.assertIsInstance(tx.commit()[0], NoAuthError)
        # ... but only after the new ACL itself is validated.
        with self.assertRaises(InvalidACLError):
            self.zk.set_acls(node, [ACL(ALL, Id("world", "someone"))])
        with self.assertRaises(InvalidACLError):
            self.zk.create(node + "/x", b"",
                           acl=[ACL(ALL, Id("world", "someone"))])
        # A missing parent is NoNode: there is no ACL to check.
        with self.assertRaises(NoNodeError):
            self.zk.create(node + "/missing/x", b"")
        # Reads check the node's own ACL, not its parent's.
        with self.assertRaises(NoNodeError):
            self.zk.get(node + "/missing")
        self.assertEqual(self.zk.get(node + "/kid")[0], b"")
        with self.assertRaises(NotEmptyError):  # the root is open
            self.zk.delete(node)

    def test_set_acls(self):
        node = self.p("s")
        self.zk.create(node, b"d")
        self.zk.set(node, b"e")
        before = self.zk.exists(node)
        acl = [ACL(READ, ANYONE_ID_UNSAFE), ACL(ADMIN, ANYONE_ID_UNSAFE)]
        stat = self.zk.set_acls(node, acl, version=0)
        self.assertEqual(stat.aversion, 1)
        # Only aversion changes; the data version and mzxid stay.
        self.assertEqual(
            stat._replace(aversion=0), before._replace(aversion=0))
        with self.assertRaises(BadVersionError):
            self.zk.set_acls(node, OPEN_ACL_UNSAFE, version=0)
        with self.assertRaises(BadVersionError):
            self.zk.set_acls(node, OPEN_ACL_UNSAFE, version=5)
        got, stat = self.zk.get_acls(node)
        self.assertEqual(got, acl)
        self.assertEqual(stat.aversion, 1)
        self.assertEqual(stat.version, 1)
        # The new ACL applies at once.
        with self.assertRaises(NoAuthError):
            self.zk.set(node, b"f")
        with self.assertRaises(InvalidACLError):
            self.zk.set_acls(node, [])
        stat = self.zk.set_acls(node, OPEN_ACL_UNSAFE, version=1)
        self.assertEqual(stat.aversion, 2)
        self.assertEqual(self.zk.set(node, b"f").version, 2)
        self.assertEqual(self.zk.set_acls(node, OPEN_ACL_UNSAFE).aversion, 3)
        with self.assertRaises(NoNodeError):
            self.zk.set_acls(self.p("missing"), OPEN_ACL_UNSAFE)
        with self.assertRaises(NoNodeError):
            self.zk.get_acls(self.p("missing"))

    def test_get_acls_redacts_digests_without_admin(self):
        alice_read = make_digest_acl("alice", "pw", read=True)
        bob_all = make_digest_acl("bob", "pw", all=True)
        others = [ACL(READ, ANYONE_ID_UNSAFE), ACL(ALL, Id("ip", "10.1.2.3"))]
        node = self.p("r")
        self.zk.create(node, b"", acl=[alice_read, bob_all] + others)
        # FinalRequestProcessor (getACL): without ADMIN, every digest id
        # becomes "user:x" (id.replaceAll(":.*", ":x")); other schemes and
        # the perms are untouched. READ alone is enough to ask.
        redacted = [ACL(READ, Id("digest", "alice:x")),
                    ACL(ALL, Id("digest", "bob:x"))] + others
        full = [alice_read, bob_all] + others
        for zk in (self.zk, self.authed("alice")):
            got, stat = zk.get_acls(node)
            self.assertEqual(got, redacted)
            self.assertEqual(stat.czxid, self.zk.exists(node).czxid)
        self.assertEqual(self.authed("bob").get_acls(node)[0], full)
        # ADMIN from any entry is enough, even world's.
        node2 = self.p("r2")
        self.zk.create(node2, b"", acl=[alice_read,
                                        ACL(ADMIN, ANYONE_ID_UNSAFE)])
        self.assertEqual(self.zk.get_acls(node2)[0],
                         [alice_read, ACL(ADMIN, ANYONE_ID_UNSAFE)])

    def recv_exactly(self, sock, size):
        data = b""
        while len(data) < size:
            try:
                chunk = sock.recv(size - len(data))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return data
            data += chunk
        return data

    def test_auth_with_unknown_scheme(self):
        # Wire level: the server answers AUTHFAILED (-115) to the auth packet
        # (xid -4) and closes the connection, but not the session
        # (ZooKeeperServer.processPacket: sendResponse, closeConn,
        # disableRecv).
        host, port = HOSTS.split(",")[0].rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=10)
        self.addCleanup(sock.close)

        def send(payload):
            sock.sendall(struct.pack("!i", len(payload)) + bytes(payload))

        def receive():
            size, = struct.unpack("!i", self.recv_exactly(sock, 4))
            return self.recv_exactly(sock, size)

        send(Connect(0, 0, 10000, 0, b"\0" * 16, False).serialize())
        reply, _ = Connect.deserialize(receive(), 0)
        sid, passwd = reply.session_id, reply.passwd
        self.assertNotEqual(sid, 0)
        send(struct.pack("!ii", -4, Auth.type) +
             Auth(0, "nosuchscheme", "x").serialize())
        xid, _, err = struct.unpack_from("!iqi", receive())
        self.assertEqual((xid, err), (-4, AuthFailedError.code))
        self.assertEqual(self.recv_exactly(sock, 1), b"")  # closed
        resumed = KazooClient(hosts=HOSTS, client_id=(sid, passwd),
                              timeout=10)
        resumed.start(timeout=20)
        self.addCleanup(resumed.close)
        self.addCleanup(resumed.stop)
        self.assertEqual(resumed.client_id[0], sid)  # the session lives on
        # Through kazoo: AuthFailedError, and the session's ephemeral node
        # stays (until the session expires: nobody can close it now).
        victim = self.client()
        victim.create(self.p("eph"), b"", ephemeral=True)
        with self.assertRaises(AuthFailedError):
            victim.add_auth("nosuchscheme", "x")
        self.zk.sync(self.root)
        self.assertIsNotNone(self.zk.exists(self.p("eph")))

    def test_add_auth_odd_credentials(self):
        zk = self.client()
        # The ip provider ignores the credential and adds the connection's
        # address; it never fails, and it is no id for the "auth" scheme.
        self.assertTrue(zk.add_auth("ip", "whatever"))
        self.assertIsNotNone(zk.exists(self.root))
        with self.assertRaises(InvalidACLError):
            zk.create(self.p("x"), b"", acl=[ACL(ALL, Id("auth", ""))])
        # Digest takes anything: the id is the text up to the first colon
        # and the hash is of the whole credential.
        self.assertTrue(zk.add_auth("digest", "nocolon"))
        zk.create(self.p("nc"), b"", acl=[ACL(ALL, Id("auth", ""))])
        self.assertEqual(zk.get_acls(self.p("nc"))[0], [ACL(ALL, Id(
            "digest", "nocolon:Ra+cHr2ZoHvBjtNArFGNGlVie4g="))])
        self.assertEqual(zk.get(self.p("nc"))[0], b"")

    def test_acl_in_transaction(self):
        self.zk.create(self.p("m"), b"0")
        self.zk.create(self.p("ro"), b"r", acl=READ_ACL_UNSAFE)
        tx = self.zk.transaction()
        tx.create(self.p("m/a"), b"")
        tx.set_data(self.p("ro"), b"x")
        tx.set_data(self.p("m"), b"1")
        results = tx.commit()
        self.assertIsInstance(results[0], RolledBackError)
        self.assertIsInstance(results[1], NoAuthError)
        # The ops after the failed one are not even tried:
        # PrepRequestProcessor marks them RUNTIMEINCONSISTENCY (-2).
        self.assertIsInstance(results[2], RuntimeInconsistency)
        self.assertIsNone(self.zk.exists(self.p("m/a")))
        self.assertEqual(self.zk.get(self.p("m"))[0], b"0")
        self.assertEqual(self.zk.get(self.p("ro"))[0], b"r")
        # Each op is checked with the caller's ids.
        alice = self.authed("alice")
        alice.create(self.p("hers"), b"", acl=[
            make_digest_acl("alice", "pw", all=True)])
        for zk, ok in ((self.zk, False), (alice, True)):
            tx = zk.transaction()
            tx.check(self.p("m"), 0)
            tx.create(self.p("hers/kid"), b"")
            results = tx.commit()
            if ok:
                self.assertEqual(results, [True, self.p("hers/kid")])
            else:
                self.assertIsInstance(results[0], RolledBackError)
                self.assertIsInstance(results[1], NoAuthError)

    # -- containers and TTL nodes ---------------------------------------------

    def create_container(self, path, zk=None):
        return call(zk or self.zk,
                    CreateContainer(path, b"", OPEN_ACL_UNSAFE, CONTAINER))

    def create_ttl(self, path, ttl, flags=PERSISTENT_WITH_TTL, zk=None):
        try:
            return call(zk or self.zk,
                        CreateTTL(path, b"", OPEN_ACL_UNSAFE, flags, ttl))
        except UnimplementedError:
            self.fail("TTL nodes disabled (ZooKeeper: start it with "
                      "-Dzookeeper.extendedTypesEnabled=true)")

    def assert_reaped(self, path):
        self.assertTrue(
            wait_for(lambda: self.zk.exists(path) is None, REAP_TIMEOUT),
            "%s not reaped within %d s (ZooKeeper: start it with "
            "-Dznode.container.checkIntervalMs=1000)" % (path, REAP_TIMEOUT))

    def reaping_passes(self, ttl=None):
        """Returns after two reaping passes, each seen to reap a node made
        for it (a TTL node with this ttl, else a used container); so any
        node that was due when the probes were made is gone by then."""
        for _ in range(2):
            probe = self.p("probe-" + uuid.uuid4().hex[:8])
            if ttl:
                self.create_ttl(probe, ttl)
            else:
                self.create_container(probe)
                self.zk.create(probe + "/kid", b"")
                self.zk.delete(probe + "/kid")
            self.assert_reaped(probe)

    def test_container_reaped_after_its_last_child(self):
        path, stat = self.create_container(self.p("c"))
        self.assertEqual(path, self.p("c"))
        self.assertEqual(stat.ephemeralOwner, 0)  # the marker is not shown
        self.assertEqual(stat.version, 0)
        self.zk.create(self.p("c/kid"), b"")
        with self.assertRaises(NodeExistsError):
            self.create_container(self.p("c"))
        self.zk.delete(self.p("c/kid"))
        self.assert_reaped(self.p("c"))

    def test_container_reaped_when_ephemeral_child_goes(self):
        self.create_container(self.p("locks"))
        other = self.client()
        other.create(self.p("locks/lock-"), b"", ephemeral=True,
                     sequence=True)
        other.stop()
        self.assert_reaped(self.p("locks"))

    def test_container_kept_until_used_and_emptied(self):
        # ContainerManager.getCandidates: only containers with cversion > 0
        # and no children (znode.container.maxNeverUsedIntervalMs, off by
        # default, would reap never-used ones too).
        self.create_container(self.p("never"))
        self.create_container(self.p("busy"))
        self.zk.create(self.p("busy/kid"), b"")
        self.reaping_passes()
        self.assertEqual(self.zk.exists(self.p("never")).cversion, 0)
        self.assertEqual(self.zk.exists(self.p("busy")).numChildren, 1)

    def test_ttl_node_expires(self):
        path, stat = self.create_ttl(self.p("t"), 500)
        self.assertEqual(path, self.p("t"))
        self.assertEqual(stat.ephemeralOwner, 0)
        seq, _ = self.create_ttl(self.p("s-"), 500,
                                 PERSISTENT_SEQUENTIAL_WITH_TTL)
        self.assertEqual(seq, self.p("s-0000000001"))
        self.assert_reaped(self.p("t"))
        self.assert_reaped(seq)

    def test_ttl_node_kept_while_it_has_children(self):
        self.create_ttl(self.p("t"), 300)
        self.zk.create(self.p("t/kid"), b"")
        # Probes with the same TTL, made later, expire later.
        self.reaping_passes(ttl=300)
        self.assertIsNotNone(self.zk.exists(self.p("t")))
        # Once empty it goes: its TTL runs from its mtime, long past.
        self.zk.delete(self.p("t/kid"))
        self.assert_reaped(self.p("t"))

    def test_ttl_counts_from_last_modification(self):
        self.create_ttl(self.p("touched"), 1000)
        self.create_ttl(self.p("left"), 1000)

        def touch_until_left_reaped():
            self.zk.set(self.p("touched"), b"")
            return self.zk.exists(self.p("left")) is None

        self.assertTrue(wait_for(touch_until_left_reaped, REAP_TIMEOUT))
        self.assertIsNotNone(self.zk.exists(self.p("touched")))
        self.assert_reaped(self.p("touched"))

    def test_ttl_invalid_arguments(self):
        # EphemeralType.validateTTL: 0 < ttl <= 2^40 - 1, and createTTL only
        # with a TTL mode; a TTL mode through plain create has no TTL.
        for ttl in (0, -1, 1 << 40):
            with self.subTest(ttl=ttl):
                with self.assertRaises(BadArgumentsError):
                    self.create_ttl(self.p("bad"), ttl)
        for flags in (0, 1, 2, CONTAINER):
            with self.subTest(flags=flags):
                with self.assertRaises(BadArgumentsError):
                    self.create_ttl(self.p("bad"), 1000, flags)
        with self.assertRaises(BadArgumentsError):
            call(self.zk, Create2(self.p("bad"), b"", OPEN_ACL_UNSAFE,
                                  PERSISTENT_WITH_TTL))
        self.assertIsNone(self.zk.exists(self.p("bad")))
        self.create_ttl(self.p("longest"), (1 << 40) - 1)

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
