#!/usr/bin/python3
"""Opcodes kazoo 2.8 does not send, spoken raw (Python's struct, nothing of
Conclave's): getEphemerals, getAllChildrenNumber, addWatch (persistent
recursive) with its notifications, checkWatches, removeWatches, multiRead,
whoAmI (before and after an auth), deleteContainer (refused, as ZooKeeper
refuses it from clients); and a handshake from a client that has seen a zxid
from the future.
Passes against Apache ZooKeeper 3.8 too.

    raw_compat.py --host HOST:PORT [--conclave]

--conclave adds what only Conclave promises: an unknown opcode is answered
Unimplemented (-6) and the connection stays usable.
"""
import argparse
import socket
import struct
import sys
import uuid

FAILED = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILED.append(what)


def ustr(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


class Conn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        req = struct.pack(">iqiq", 0, 0, 10000, 0) + struct.pack(">i", 16) \
            + b"\0" * 16 + b"\0"
        self.send_frame(req)
        body = self.recv_frame()
        _, self.timeout, self.session = struct.unpack(">iiq", body[:16])
        self.xid = 0
        self.events = []

    def send_frame(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise EOFError("connection closed")
            out += chunk
        return out

    def recv_frame(self):
        (n,) = struct.unpack(">i", self.recv_exact(4))
        return self.recv_exact(n)

    def call(self, op, body=b""):
        """Sends a request; returns (err, body) of its reply, collecting
        notifications (xid -1) that arrive before it."""
        self.xid += 1
        self.send_frame(struct.pack(">ii", self.xid, op) + body)
        while True:
            frame = self.recv_frame()
            xid, zxid, err = struct.unpack(">iqi", frame[:16])
            if xid == -1:
                etype, state = struct.unpack(">ii", frame[16:24])
                (plen,) = struct.unpack(">i", frame[24:28])
                self.events.append((etype, frame[28:28 + plen].decode()))
                continue
            assert xid == self.xid, (xid, self.xid)
            return err, frame[16:]


def create(conn, path, data=b"", flags=0):
    acl = struct.pack(">i", 1) + struct.pack(">i", 31) + ustr("world") \
        + ustr("anyone")
    return conn.call(1, ustr(path) + struct.pack(">i", len(data)) + data
                     + acl + struct.pack(">i", flags))


def strings(body, offset=0):
    (n,) = struct.unpack(">i", body[offset:offset + 4])
    offset += 4
    out = []
    for _ in range(n):
        (k,) = struct.unpack(">i", body[offset:offset + 4])
        out.append(body[offset + 4:offset + 4 + k].decode())
        offset += 4 + k
    return out, offset


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--conclave", action="store_true")
    args = parser.parse_args()
    host, port = args.host.rsplit(":", 1)
    c = Conn(host, int(port))
    root = "/raw-" + uuid.uuid4().hex[:10]
    check(create(c, root)[0] == 0, "create root")
    check(create(c, root + "/a")[0] == 0, "create child")
    check(create(c, root + "/a/b")[0] == 0, "create grandchild")
    check(create(c, root + "/e", flags=1)[0] == 0, "create ephemeral")

    err, body = c.call(104, ustr(root))  # getAllChildrenNumber
    check(err == 0 and struct.unpack(">i", body[:4])[0] == 3,
          "getAllChildrenNumber counts all descendants")
    err, body = c.call(103, ustr(root))  # getEphemerals
    check(err == 0 and strings(body)[0] == [root + "/e"],
          "getEphemerals lists the session's ephemeral nodes")

    err, _ = c.call(106, ustr(root) + struct.pack(">i", 1))  # addWatch
    check(err == 0, "addWatch persistent recursive")
    # WatcherType Any (3): ZooKeeper 3.8 knows no persistent types (4, 5)
    # for checkWatches/removeWatches; 3.9 and Conclave do.
    err, _ = c.call(17, ustr(root) + struct.pack(">i", 3))  # checkWatches
    check(err == 0, "checkWatches finds the recursive watch")
    err, _ = c.call(17, ustr(root + "/a") + struct.pack(">i", 2))
    check(err == -121, "checkWatches answers NoWatcher for a data watch "
          "that is not there")
    # setData on a descendant: the notification comes before the reply to a
    # later read of it.
    c.call(5, ustr(root + "/a/b") + struct.pack(">i", 1) + b"x"
           + struct.pack(">i", -1))
    c.call(4, ustr(root + "/a/b") + b"\0")
    check((3, root + "/a/b") in c.events,
          "the recursive watch reports a change below it")
    err, _ = c.call(18, ustr(root) + struct.pack(">i", 3))  # removeWatches
    check(err == 0, "removeWatches removes it")
    err, _ = c.call(17, ustr(root) + struct.pack(">i", 3))
    check(err == -121, "and checkWatches no longer finds it")

    # multiRead: getChildren, getData and a missing node, one answer each.
    ops = (struct.pack(">i?i", 8, False, -1) + ustr(root) + b"\0"
           + struct.pack(">i?i", 4, False, -1) + ustr(root + "/a/b") + b"\0"
           + struct.pack(">i?i", 4, False, -1) + ustr(root + "/nope") + b"\0"
           + struct.pack(">i?i", -1, True, -1))
    err, body = c.call(22, ops)
    ok = err == 0
    if ok:
        t, done, e = struct.unpack(">i?i", body[:9])
        kids, off = strings(body, 9)
        ok = t == 8 and not done and e == 0 and sorted(kids) == ["a", "e"]
        t, done, e = struct.unpack(">i?i", body[off:off + 9])
        (n,) = struct.unpack(">i", body[off + 9:off + 13])
        ok = ok and t == 4 and e == 0 and body[off + 13:off + 13 + n] == b"x"
        off += 13 + n + 68
        t, done, e = struct.unpack(">i?i", body[off:off + 9])
        ok = ok and t == -1 and e == -101
    check(ok, "multiRead answers each read on its own")

    def who_am_i():
        err, body = c.call(107)
        if err != 0:
            return None
        (n,) = struct.unpack(">i", body[:4])
        flat, _ = strings(struct.pack(">i", 2 * n) + body[4:])
        return list(zip(flat[0::2], flat[1::2]))

    check(who_am_i() == [("ip", "127.0.0.1")],
          "whoAmI names the client's address")
    # An auth packet (xid -4, as clients send it): digest alice:pw.
    auth = struct.pack(">i", 0) + ustr("digest") + ustr("alice:pw")
    c.send_frame(struct.pack(">ii", -4, 100) + auth)
    xid, _, err = struct.unpack(">iqi", c.recv_frame()[:16])
    check(xid == -4 and err == 0, "auth digest is accepted")
    check(who_am_i() == [("ip", "127.0.0.1"), ("digest", "alice")],
          "whoAmI then names the digest user too")

    # deleteContainer (20), payload the bare path, is ZooKeeper's internal
    # request: a client gets BadArguments, and the container stays.
    container = root + "/container"
    acl = struct.pack(">i", 1) + struct.pack(">i", 31) + ustr("world") \
        + ustr("anyone")
    err, _ = c.call(19, ustr(container) + struct.pack(">i", 0) + acl
                    + struct.pack(">i", 4))
    check(err == 0, "createContainer")
    err, _ = c.call(20, container.encode())
    check(err == -8, "deleteContainer from a client: BadArguments")
    err, _ = c.call(3, ustr(container) + b"\0")
    check(err == 0, "and the container stays")

    # A read pipelined right behind a write of the same session sees it.
    acl = struct.pack(">i", 1) + struct.pack(">i", 31) + ustr("world") \
        + ustr("anyone")
    p1 = root + "/pipelined"
    create_body = ustr(p1) + struct.pack(">i", 1) + b"v" + acl \
        + struct.pack(">i", 0)
    get_body = ustr(p1) + b"\0"
    c.sock.sendall(
        struct.pack(">i", 8 + len(create_body))
        + struct.pack(">ii", c.xid + 1, 1) + create_body
        + struct.pack(">i", 8 + len(get_body))
        + struct.pack(">ii", c.xid + 2, 4) + get_body)
    answers = []
    while len(answers) < 2:
        frame = c.recv_frame()
        xid, _, err = struct.unpack(">iqi", frame[:16])
        if xid != -1:
            answers.append((xid, err, frame[16:]))
    c.xid += 2
    check(answers[1][1] == 0 and answers[1][2][4:5] == b"v",
          "a read pipelined behind a create sees the created node")

    # A multi whose second op the server refuses before applying (an empty
    # ACL): err 0 in the header, an error result per op.
    bad_create = ustr(root + "/m2") + struct.pack(">i", 0) \
        + struct.pack(">i", 0) + struct.pack(">i", 0)  # no ACL entries
    ops = (struct.pack(">i?i", 1, False, -1) + ustr(root + "/m1")
           + struct.pack(">i", 0) + acl + struct.pack(">i", 0)
           + struct.pack(">i?i", 1, False, -1) + bad_create
           + struct.pack(">i?i", -1, True, -1))
    err, body = c.call(14, ops)
    results = []
    off = 0
    while err == 0 and off + 9 <= len(body):
        t, done, e = struct.unpack(">i?i", body[off:off + 9])
        off += 9
        if done:
            break
        results.append((t, e))
        off += 4  # ErrorResponse{int err}
    check(err == 0 and results == [(-1, 0), (-1, -114)],
          "a multi refused for an invalid ACL reports each op's error")
    err, _ = c.call(3, ustr(root + "/m1") + b"\0")
    check(err == -101, "and applied nothing")

    # Pipelining: 3000 requests sent before reading any answer come back
    # complete and in order (the server may push back, never drop or
    # reorder).
    burst = b"".join(struct.pack(">i", 8 + len(ustr(root)) + 1)
                     + struct.pack(">ii", c.xid + 1 + i, 3) + ustr(root) + b"\0"
                     for i in range(3000))
    c.sock.sendall(burst)
    xids = []
    for _ in range(3000):
        frame = c.recv_frame()
        xid, _, err = struct.unpack(">iqi", frame[:16])
        if xid != -1:
            xids.append((xid, err))
    c.xid += 3000
    check(xids == [(c.xid - 3000 + 1 + i, 0) for i in range(3000)],
          "3000 pipelined requests are answered in order")

    # Large answers pipelined faster than the client reads them: 64 reads of
    # a 256 KiB node (16 MiB) sent before reading anything. The server may
    # stop reading and hold requests back while answers wait to be sent,
    # but every answer comes, whole and in order.
    big = root + "/big"
    err, _ = create(c, big, b"b" * (256 * 1024))
    check(err == 0, "create a 256 KiB node")
    get_big = ustr(big) + b"\0"
    burst = b"".join(struct.pack(">i", 8 + len(get_big))
                     + struct.pack(">ii", c.xid + 1 + i, 4) + get_big
                     for i in range(64))
    c.sock.sendall(burst)
    sizes = []
    for _ in range(64):
        frame = c.recv_frame()
        xid, _, err = struct.unpack(">iqi", frame[:16])
        if xid != -1:
            (n,) = struct.unpack(">i", frame[16:20])
            sizes.append((xid, err, n))
    c.xid += 64
    check(sizes == [(c.xid - 64 + 1 + i, 0, 256 * 1024) for i in range(64)],
          "64 pipelined 256 KiB reads are answered whole and in order")

    # A client that has seen a zxid this server has not reached is refused
    # (the connection closes without an answer); it would go back in time.
    s2 = socket.create_connection((host, int(port)), timeout=10)
    future = struct.pack(">iqiq", 0, 0x7fffffffffff, 10000, 0) \
        + struct.pack(">i", 16) + b"\0" * 16 + b"\0"
    s2.sendall(struct.pack(">i", len(future)) + future)
    try:
        refused = s2.recv(4) == b""
    except (ConnectionResetError, socket.timeout):
        refused = False
    s2.close()
    check(refused, "a client that has seen a future zxid is refused")

    if args.conclave:
        err, _ = c.call(999)
        check(err == -6, "an unknown opcode is answered Unimplemented")
        err, _ = c.call(3, ustr(root) + b"\0")
        check(err == 0, "and the connection stays usable")

    c.call(-11)  # closeSession
    if FAILED:
        print("FAILED:", len(FAILED))
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
