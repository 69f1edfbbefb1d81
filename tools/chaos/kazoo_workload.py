#!/usr/bin/python3
"""Kazoo workloads for the chaos harness: real ZooKeeper clients (kazoo, as
Debian ships it) drive a Conclave cluster and record every operation into a
shared history file (tools/chaos/history.proto) that conclave-check judges.

  kazoo_workload.py --hosts HOST:PORT[,...] --history FILE
      --workload registers|set|sequential|sessions|locks --seed N
      --process-base N [--clients N] [--keys N] [--session-timeout-ms MS]
      [--op-timeout-ms MS] [--session-slack-ms MS] [--final-timeout-s S]
      [--root PATH]

Runs until SIGTERM or SIGINT, then finishes the operations in flight, runs
the workload's final phase (retried until it succeeds or --final-timeout-s
passes), prints {"workload", "ops", "ok", "fail", "info", "ready", "final"}
as one JSON line and exits 0. Usage errors exit 2; cluster errors never end the program.

Recording rules (the checker's assumptions, tools/chaos/checks.hpp):
- One line per record, written with one os.write to an O_APPEND descriptor;
  an invoke is written before its request is sent and its completion after
  the reply, so line order is real-time order across all writers.
- ok: it happened; fail: it definitely did not (BadVersion, NoNode,
  NodeExists, ... or a request never sent); info: anything in doubt
  (ConnectionLoss, timeouts, SessionExpired, ...). Mutations are sent once:
  no kazoo command retry.
- Process ids are process-base, process-base + 1, ... in the order they are
  handed out. A process whose operation ended `info`, or whose ZooKeeper
  session was lost (kazoo forgets the last zxid it saw then, so plain reads
  may legitimately go back), continues under a fresh id. Exception (locks):
  the release of a lock is recorded by the process that acquired it, since
  the lock check pairs them by process; the holder renews its id after the
  release.

Workloads (each of --clients threads has its own KazooClient on all hosts):
- registers: keys ROOT/r0..r<keys-1>; synced reads (sync, then get; recorded
  plain if the connection changed in between, since only a read on the
  server that did the sync is linearizable), plain reads, writes (set -1,
  create if missing), cas (set with the version this thread last saw).
  Final phase: a synced read of every key.
- set: unique creates ROOT/set/e-<process>-<n> (add); every ~3 s per thread
  a synced read_set (until the set has 20000 elements: each read lists it
  all); final phase: a synced read_set.
- sequential: ephemeral sequential creates ROOT/seq/job-; each thread keeps
  its latest 50 and deletes older ones (recorded as delete).
- sessions: --keys holder subprocesses (this file, subcommand _holder), each
  one session: create_ephemeral ROOT/eph/h<process>-<run>, then a register
  write every 0.2-0.5 s to ROOT/alive/h<process>-<run> recorded with its
  session (a write is the only sound proof of life: the leader refuses writes
  of a closed session). The main process SIGKILLs a random holder every 3-8
  s, records `kill` (timeout_ns = negotiated session timeout + slack) and
  starts a replacement; --clients observer threads record synced `exists` of
  the holders' nodes. Holders delete (recorded) their node before they close
  their session; a holder whose session is lost records it and is replaced.
  Final phase: stop the holders, then one synced exists of each killed
  holder's node after its bound.
- locks: kazoo's Lock recipe on ROOT/lock. After the recipe reports the lock
  held, the grant is confirmed with a sync, get_children and exists of our
  node (the recipe lists children unsynced, and after a session loss kazoo
  may reconnect to a lagging server); token = our node's czxid, session = its
  ephemeralOwner. Fenced writes to ROOT/lock-resource (data = highest token
  written): read it; lower token -> fail; else multi(check(our lock node),
  set(resource, token, version)) -> ok / fail. The check makes the write
  conditional on still holding the lock, which is what lets the checker
  reject any accepted write older than a newer grant. A lost connection
  while holding (SUSPENDED/LOST) ends the hold: the release is recorded as
  begun at once and no further fenced write is made.

Process ids used: registers, set, sequential, locks: one per thread plus one
per info outcome or lost session; sessions: 8 per holder started (one per
kill or lost session) plus one for the kills: space process bases widely.

The kill bound counts from the kill, but a leader change or a stalled leader
gives every session a fresh timeout (Conclave, like ZooKeeper): under faults
that touch the leader while a killed session is pending, --session-slack-ms
must cover those outages, or correct runs are flagged.

ROOT is --root (default /kz). If registers or set data from an earlier run is
there (the checker's models start from empty), ROOT/run-<tag> is used
instead, and a note goes to stderr.
"""

import argparse
import collections
import json
import logging
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from history_writer import HistoryWriter, tally  # noqa: E402

from kazoo.client import KazooClient, KazooState  # noqa: E402
from kazoo.exceptions import (  # noqa: E402
    BadArgumentsError, BadVersionError, InvalidACLError,
    NoChildrenForEphemeralsError, NoAuthError, NodeExistsError, NoNodeError,
    NotEmptyError, RolledBackError, UnimplementedError)
from kazoo.handlers.threading import KazooTimeoutError  # noqa: E402

WORKLOADS = ("registers", "set", "sequential", "sessions", "locks")
HOLDER_IDS = 8          # process ids handed to a holder subprocess
SEQ_KEEP = 50           # sequential nodes a thread keeps before deleting
SET_READ_MAX = 20000    # no in-run read_set once the set is this large
LOCK_RE = re.compile(r"__lock__(-?\d{10})$")

# Errors after which the request definitely did not take effect.
DEFINITE = (BadVersionError, NoNodeError, NodeExistsError, NotEmptyError,
            NoChildrenForEphemeralsError, BadArgumentsError, InvalidACLError,
            NoAuthError, UnimplementedError, RolledBackError)

# Set by the signal handler, and only there.
_STOPPING = False


def _on_signal(signum, frame):
    global _STOPPING
    _STOPPING = True


def stopping():
    return _STOPPING


def log(msg):
    sys.stderr.write("kazoo_workload[%d]: %s\n" % (os.getpid(), msg))
    sys.stderr.flush()


# -- helpers -------------------------------------------------------------------

def error_name(exc):
    """"BadVersion", "ConnectionLoss", "Timeout", ... for the record."""
    if isinstance(exc, KazooTimeoutError):
        return "Timeout"
    name = type(exc).__name__
    if name.endswith("Error") and len(name) > 5:
        name = name[:-5]
    return name


def outcome_of(exc):
    """fail for definite errors, info for anything in doubt."""
    return "fail" if isinstance(exc, DEFINITE) else "info"


def lowest_contender(children):
    """The lock node with the lowest sequence number, as kazoo's recipe
    orders contenders, or None."""
    best = None
    for child in children:
        m = LOCK_RE.search(child)
        if m and (best is None or int(m.group(1)) < best[0]):
            best = (int(m.group(1)), child)
    return best[1] if best else None


class Deadline(object):
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.001, self.end - time.monotonic())

    def passed(self):
        return time.monotonic() >= self.end


def wait(async_result, deadline):
    """The result of a kazoo async call, waiting at most until deadline."""
    return async_result.get(timeout=deadline.left())


def sleep_unless(pred, seconds):
    """Sleeps up to `seconds`, waking early once pred() holds."""
    end = time.monotonic() + seconds
    while not pred():
        left = end - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(0.05, left))
    return True


class Conn(object):
    """A KazooClient plus the connection history the recording needs: `gen`
    counts connection state changes (a read on the server that did the sync
    is linearizable; after any change it may be on another one), `lost`
    counts lost sessions."""

    def __init__(self, hosts, session_timeout_ms, capture_negotiated=False):
        self.zk = KazooClient(
            hosts=hosts, timeout=session_timeout_ms / 1000.0,
            connection_retry=dict(max_tries=-1, delay=0.05, backoff=1.5,
                                  max_delay=1.0, max_jitter=0.1))
        self._mu = threading.Lock()
        self.gen = 0
        self.lost = 0
        self.negotiated_ms = 0
        if capture_negotiated:
            # kazoo keeps the negotiated session timeout to itself; its
            # _connect returns read_timeout = 2/3 of it (in ms).
            inner = self.zk._connection._connect

            def _connect(*a, **kw):
                res = inner(*a, **kw)
                self.negotiated_ms = int(round(res[0] * 1.5))
                return res
            self.zk._connection._connect = _connect
        self.zk.add_listener(self._listener)
        self.zk.start_async()

    def _listener(self, state):
        with self._mu:
            self.gen += 1
            if state == KazooState.LOST:
                self.lost += 1
        return False

    def snapshot(self):
        with self._mu:
            return self.gen, self.lost

    def connected(self):
        return self.zk.state == KazooState.CONNECTED

    def wait_connected(self, timeout, stop=stopping):
        end = time.monotonic() + timeout
        while not self.connected():
            if stop() or time.monotonic() >= end:
                return False
            time.sleep(0.02)
        return True

    def session(self):
        cid = self.zk.client_id
        return cid[0] if cid else 0

    def close_async(self):
        """Closes the session in a daemon thread; returns the thread."""
        def run():
            try:
                self.zk.stop()
            except Exception:
                pass
            try:
                self.zk.close()
            except Exception:
                pass
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t


def close_all(conns, timeout):
    threads = [c.close_async() for c in conns]
    end = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))


class Ids(object):
    """Process ids: process-base, process-base + 1, ... (thread-safe)."""

    def __init__(self, base):
        self._next = base
        self._mu = threading.Lock()
        self.given = set()

    def take(self, n=1):
        with self._mu:
            ids = list(range(self._next, self._next + n))
            self._next += n
            self.given.update(ids)
            return ids

    def one(self):
        return self.take(1)[0]


class Proc(object):
    """A logical client process: its id changes after an info outcome (at
    once, or after the lock hold ends) and after a lost session."""

    def __init__(self, new_id, conn):
        self._new_id = new_id
        self.conn = conn
        self.pid = new_id()
        self.lost = conn.snapshot()[1]
        self._holding = False
        self._renew_pending = False

    def renew(self):
        if self._holding:
            self._renew_pending = True
            return
        self.pid = self._new_id()
        self.lost = self.conn.snapshot()[1]
        self._renew_pending = False

    def refresh(self):
        """A fresh id if the session was lost since this id began."""
        if self.conn.snapshot()[1] != self.lost:
            self.renew()

    def hold(self):
        self._holding = True

    def unhold(self):
        self._holding = False
        if self._renew_pending:
            self.renew()
        else:
            self.refresh()


class Op(object):
    """One operation: writes the invoke now and exactly one completion (info
    if the body raised before completing it)."""

    def __init__(self, hist, proc, f, key, **fields):
        self.hist = hist
        self.proc = proc
        self.pid = proc.pid
        self.f = f
        self.key = key
        self.outcome = None
        hist.invoke(self.pid, f, key, **fields)

    def done(self, type_, **fields):
        if self.outcome is not None:
            raise RuntimeError("operation completed twice")
        self.outcome = type_
        self.hist.complete(self.pid, type_, self.f, self.key, **fields)
        if type_ == "info":
            self.proc.renew()
        return type_

    def failed(self, exc, **fields):
        return self.done(outcome_of(exc), error=error_name(exc), **fields)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if self.outcome is None:
            self.done("info", error="Internal: %s" % (
                error_name(ev) if ev is not None else "no completion"))
        return False


class Ctx(object):
    def __init__(self, args, hist, ids):
        self.args = args
        self.hist = hist
        self.ids = ids
        self.stop = threading.Event()   # set once stopping() is noticed
        self.root = args.root
        self.op_s = args.op_timeout_ms / 1000.0
        self.conns = []
        self._mu = threading.Lock()

    def conn(self, capture_negotiated=False):
        c = Conn(self.args.hosts, self.args.session_timeout_ms,
                 capture_negotiated)
        with self._mu:
            self.conns.append(c)
        return c

    def stopped(self):
        return self.stop.is_set() or stopping()


# -- common operations ---------------------------------------------------------

def write_register(conn, key, value, deadline):
    """setData(-1); a missing node is created. Returns the stat. Each attempt
    that fails definitely leaves nothing behind, so a definite error is
    raised only if all did."""
    data = value.encode()
    for _ in range(3):
        try:
            return wait(conn.zk.set_async(key, data, -1), deadline)
        except NoNodeError:
            pass
        try:
            return wait(conn.zk.create_async(key, data, include_data=True),
                        deadline)[1]
        except NodeExistsError:
            pass
    raise NodeExistsError()


def record_write(ctx, conn, proc, key, value, session=None):
    """A recorded register write. session: the session to record as proven
    alive (only if the write certainly ran in it). Returns (outcome, stat)."""
    with Op(ctx.hist, proc, "write", key, value=value) as op:
        _, lost0 = conn.snapshot()
        try:
            stat = write_register(conn, key, value, Deadline(ctx.op_s))
        except Exception as e:
            return op.failed(e), None
        _, lost1 = conn.snapshot()
        proof = None
        if session and lost0 == lost1 and conn.session() == session:
            proof = session
        op.done("ok", version=stat.version, zxid=stat.mzxid, session=proof)
        return "ok", stat


def synced_exists(ctx, conn, proc, path, sync_path):
    """A recorded exists after a sync; plain if the connection changed in
    between. Returns (outcome, found, plain)."""
    with Op(ctx.hist, proc, "exists", path) as op:
        g0, l0 = conn.snapshot()
        dl = Deadline(ctx.op_s)
        try:
            wait(conn.zk.sync_async(sync_path), dl)
            stat = wait(conn.zk.exists_async(path), dl)
        except Exception as e:
            op.done("info", error=error_name(e))
            return "info", None, None
        g1, l1 = conn.snapshot()
        if l1 != l0:
            op.done("info", error="SessionLost")
            return "info", None, None
        plain = g1 != g0
        op.done("ok", found=stat is not None, plain=plain)
        return "ok", stat is not None, plain


def ensure_paths(conn, paths, deadline):
    for p in paths:
        try:
            wait(conn.zk.ensure_path_async(p), deadline)
        except NodeExistsError:
            pass


# -- workloads -----------------------------------------------------------------

class Workload(object):
    name = ""

    def __init__(self, ctx):
        self.ctx = ctx
        self.args = ctx.args
        self.hist = ctx.hist
        self.rng = random.Random(ctx.args.seed)

    def rng_for(self, k):
        return random.Random(self.args.seed * 1000003 + k)

    def pick_root(self, conn, deadline):
        """Moves to a fresh root if an earlier run's data is in the way."""
        stale = self.stale(conn, deadline)
        if stale:
            fresh = "%s/run-%d-%d" % (self.ctx.root.rstrip("/"), os.getpid(),
                                      time.time_ns() // 1000000)
            log("%s exists from an earlier run: using %s instead of %s"
                % (stale, fresh, self.ctx.root))
            self.ctx.root = fresh

    def stale(self, conn, deadline):
        return None

    def setup(self, conn):
        pass

    def worker(self, k):
        raise NotImplementedError

    def supervise(self):
        while not stopping():
            time.sleep(0.1)

    def after_workers(self):
        pass

    def final(self, conn, deadline):
        pass

    def loop(self, k, conn, body):
        """Runs body(proc, rng) until stopping, gating on a connection."""
        proc = Proc(self.ctx.ids.one, conn)
        rng = self.rng_for(k)
        while not self.ctx.stopped():
            if not conn.wait_connected(0.5, self.ctx.stopped):
                continue
            proc.refresh()
            try:
                body(proc, rng)
            except Exception as e:  # a bug: keep going, but say so
                log("worker %d: %s: %s" % (k, type(e).__name__, e))
                time.sleep(0.1)


class Registers(Workload):
    name = "registers"

    def keys(self):
        return ["%s/r%d" % (self.ctx.root.rstrip("/"), i)
                for i in range(self.args.keys)]

    def stale(self, conn, deadline):
        for key in self.keys():
            if wait(conn.zk.exists_async(key), deadline) is not None:
                return key
        return None

    def setup(self, conn):
        ensure_paths(conn, [self.ctx.root], Deadline(self.ctx.op_s))
        proc = Proc(self.ctx.ids.one, conn)   # process-base + 0
        for key in self.keys():
            attempt = 0
            while not stopping():
                if not conn.wait_connected(1.0):
                    continue
                value = "init-%d-%d" % (proc.pid, attempt)
                attempt += 1
                if record_write(self.ctx, conn, proc, key, value)[0] == "ok":
                    break
                time.sleep(0.1)

    def worker(self, k):
        conn = self.ctx.conn()
        keys = self.keys()
        known = {}            # key -> (version, value) this thread last saw
        counter = [0]

        def body(proc, rng):
            key = rng.choice(keys)
            r = rng.random()
            if r < 0.3:
                self.read(conn, proc, key, True, known)
            elif r < 0.45:
                self.read(conn, proc, key, False, known)
            elif r < 0.7 or key not in known:
                counter[0] += 1
                value = "%d-%d" % (proc.pid, counter[0])
                out, stat = record_write(self.ctx, conn, proc, key, value)
                if out == "ok":
                    known[key] = (stat.version, value)
                else:
                    known.pop(key, None)
            else:
                counter[0] += 1
                self.cas(conn, proc, key, "%d-%d" % (proc.pid, counter[0]),
                         known)
        self.loop(k, conn, body)

    def read(self, conn, proc, key, synced, known):
        """A recorded read: "ok" if linearizable (synced on one
        connection), "plain" if ok but plain, else fail / info."""
        with Op(self.hist, proc, "read", key,
                plain=True if not synced else None) as op:
            g0, l0 = conn.snapshot()
            dl = Deadline(self.ctx.op_s)
            try:
                if synced:
                    wait(conn.zk.sync_async(self.ctx.root), dl)
                try:
                    data, stat = wait(conn.zk.get_async(key), dl)
                except NoNodeError:
                    data, stat = None, None
            except Exception as e:
                return op.done("info", error=error_name(e))
            g1, l1 = conn.snapshot()
            if l1 != l0:
                # A new session starts with no last zxid: the reply may come
                # from a server behind what this process saw.
                return op.done("info", error="SessionLost")
            fields = {}
            if synced and g1 != g0:
                fields["plain"] = True
            if stat is not None:
                value = data.decode("utf-8", "replace")
                fields.update(value=value, version=stat.version,
                              zxid=stat.mzxid)
                known[key] = (stat.version, value)
            op.done("ok", **fields)
            return "ok" if synced and g1 == g0 else "plain"

    def cas(self, conn, proc, key, value, known):
        version, expected = known[key]
        with Op(self.hist, proc, "cas", key, value=value, expected=expected,
                version=version) as op:
            try:
                stat = wait(conn.zk.set_async(key, value.encode(), version),
                            Deadline(self.ctx.op_s))
            except Exception as e:
                known.pop(key, None)
                return op.failed(e)
            known[key] = (stat.version, value)
            return op.done("ok", zxid=stat.mzxid)

    def final(self, conn, deadline):
        proc = Proc(self.ctx.ids.one, conn)
        for key in self.keys():
            while not deadline.passed():
                if not conn.wait_connected(min(1.0, deadline.left()),
                                           lambda: False):
                    continue
                if self.read(conn, proc, key, True, {}) == "ok":
                    break
                time.sleep(0.1)


class SetWorkload(Workload):
    name = "set"
    last_size = 0

    def key(self):
        return self.ctx.root.rstrip("/") + "/set"

    def stale(self, conn, deadline):
        try:
            if wait(conn.zk.get_children_async(self.key()), deadline):
                return self.key() + "/*"
        except NoNodeError:
            pass
        return None

    def setup(self, conn):
        ensure_paths(conn, [self.key()], Deadline(self.ctx.op_s))

    def worker(self, k):
        conn = self.ctx.conn()
        key = self.key()
        counter = [0]
        next_read = [time.monotonic() + 3.0]

        def body(proc, rng):
            # In-run reads every ~3 s while the set is small: each lists
            # the whole set.
            if (time.monotonic() >= next_read[0]
                    and self.last_size < SET_READ_MAX):
                next_read[0] = time.monotonic() + rng.uniform(2.0, 4.0)
                self.read_set(conn, proc)
                return
            counter[0] += 1
            name = "e-%d-%d" % (proc.pid, counter[0])
            with Op(self.hist, proc, "add", key, value=name) as op:
                try:
                    _, stat = wait(conn.zk.create_async(
                        key + "/" + name, b"", include_data=True),
                        Deadline(self.ctx.op_s))
                except Exception as e:
                    return op.failed(e)
                op.done("ok", zxid=stat.czxid)
        self.loop(k, conn, body)

    def read_set(self, conn, proc):
        """A synced get_children; ok only if sync and read used one
        connection (a lagging server could miss acknowledged adds)."""
        key = self.key()
        with Op(self.hist, proc, "read_set", key) as op:
            g0, l0 = conn.snapshot()
            dl = Deadline(self.ctx.op_s)
            try:
                wait(conn.zk.sync_async(key), dl)
                children = wait(conn.zk.get_children_async(key), dl)
            except Exception as e:
                return op.done("info", error=error_name(e))
            if conn.snapshot() != (g0, l0):
                return op.done("info", error="Reconnected")
            self.last_size = len(children)
            return op.done("ok", values=sorted(children))

    def final(self, conn, deadline):
        proc = Proc(self.ctx.ids.one, conn)
        while not deadline.passed():
            if not conn.wait_connected(min(1.0, deadline.left()),
                                       lambda: False):
                continue
            if self.read_set(conn, proc) == "ok":
                return
            time.sleep(0.2)
        log("set: no final read within --final-timeout-s")


class Sequential(Workload):
    name = "sequential"

    def prefix(self):
        return self.ctx.root.rstrip("/") + "/seq/job-"

    def setup(self, conn):
        ensure_paths(conn, [self.ctx.root.rstrip("/") + "/seq"],
                     Deadline(self.ctx.op_s))

    def worker(self, k):
        conn = self.ctx.conn()
        prefix = self.prefix()
        mine = collections.deque()

        def body(proc, rng):
            if len(mine) > SEQ_KEEP:
                path = mine.popleft()
                with Op(self.hist, proc, "delete", path) as op:
                    try:
                        wait(conn.zk.delete_async(path),
                             Deadline(self.ctx.op_s))
                    except Exception as e:
                        return op.failed(e)
                    op.done("ok")
                return
            with Op(self.hist, proc, "create_seq", prefix) as op:
                try:
                    path, stat = wait(conn.zk.create_async(
                        prefix, b"", ephemeral=True, sequence=True,
                        include_data=True), Deadline(self.ctx.op_s))
                except Exception as e:
                    return op.failed(e)
                op.done("ok", value=path, zxid=stat.czxid)
                mine.append(path)
        self.loop(k, conn, body)


class Holder(object):
    """The main process's view of one holder subprocess."""

    def __init__(self, slot, ids, eph, alive, popen):
        self.slot = slot
        self.ids = ids
        self.eph = eph
        self.alive_key = alive
        self.popen = popen
        self.session = 0
        self.negotiated_ms = 0
        self.created = False
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.popen.stdout:
            words = raw.decode("ascii", "replace").split()
            if len(words) == 3 and words[0] == "session":
                self.negotiated_ms = int(words[2])
                self.session = int(words[1])
            elif words == ["created"]:
                self.created = True

    def running(self):
        return self.popen.poll() is None


class Sessions(Workload):
    name = "sessions"

    def __init__(self, ctx):
        Workload.__init__(self, ctx)
        self.tag = "%x" % (time.time_ns() // 1000000)
        self.holders = []
        self.killed = []        # dicts: eph, session, kill_ns, bound_ns, seen
        self.mu = threading.Lock()
        self.nemesis = None

    def dirs(self):
        root = self.ctx.root.rstrip("/")
        return root + "/eph", root + "/alive"

    def setup(self, conn):
        ensure_paths(conn, list(self.dirs()), Deadline(self.ctx.op_s))
        if self.nemesis is None:
            self.nemesis = self.ctx.ids.one()

    def spawn(self, slot):
        ids = self.ctx.ids.take(HOLDER_IDS)
        eph_dir, alive_dir = self.dirs()
        name = "h%d-%s" % (ids[0], self.tag)
        a = self.args
        cmd = [sys.executable, os.path.abspath(__file__), "_holder",
               "--hosts", a.hosts, "--history", a.history,
               "--ids", ",".join(str(i) for i in ids),
               "--eph", eph_dir + "/" + name,
               "--alive", alive_dir + "/" + name,
               "--session-timeout-ms", str(a.session_timeout_ms),
               "--op-timeout-ms", str(a.op_timeout_ms),
               "--seed", str(a.seed * 7919 + ids[0])]
        popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, close_fds=True)
        h = Holder(slot, ids, eph_dir + "/" + name, alive_dir + "/" + name,
                   popen)
        with self.mu:
            self.holders[slot] = h
        return h

    def kill(self, h):
        """SIGKILLs a holder and records it once it is reaped."""
        try:
            h.popen.kill()
        except OSError:
            pass
        try:
            h.popen.wait(10)
        except subprocess.TimeoutExpired:
            log("holder %d did not die within 10 s of SIGKILL" % h.ids[0])
        if not h.session:
            return
        bound_ms = (max(self.args.session_timeout_ms, h.negotiated_ms)
                    + self.args.session_slack_ms)
        self.hist.event(self.nemesis, "kill", h.eph, session=h.session,
                        timeout_ns=bound_ms * 1000000)
        with self.mu:
            self.killed.append(dict(eph=h.eph, session=h.session,
                                    kill_ns=time.monotonic_ns(),
                                    bound_ns=bound_ms * 1000000, seen=False))

    def supervise(self):
        self.holders = [None] * self.args.keys
        for slot in range(self.args.keys):
            self.spawn(slot)
        next_kill = time.monotonic() + self.rng.uniform(3, 8)
        while not stopping():
            time.sleep(0.1)
            for slot, h in enumerate(list(self.holders)):
                if not h.running() and not stopping():
                    self.spawn(slot)     # its session ended: a new one
            if time.monotonic() < next_kill:
                continue
            victims = [h for h in self.holders
                       if h.running() and h.session and h.negotiated_ms
                       and h.created]
            if victims:
                h = self.rng.choice(victims)
                self.kill(h)
                if not stopping():
                    self.spawn(h.slot)
            next_kill = time.monotonic() + self.rng.uniform(3, 8)

    def targets(self):
        """Paths worth observing: live holders' nodes, and killed ones'
        until a while after their bound."""
        now = time.monotonic_ns()
        with self.mu:
            out = [h.eph for h in self.holders
                   if h is not None and h.created and h.running()]
            for k in self.killed:
                if now < k["kill_ns"] + k["bound_ns"] + 15 * 10**9:
                    out.append(k["eph"])
        return out

    def note_seen(self, path, invoked_ns):
        with self.mu:
            for k in self.killed:
                if (k["eph"] == path
                        and invoked_ns > k["kill_ns"] + k["bound_ns"]):
                    k["seen"] = True

    def worker(self, k):
        conn = self.ctx.conn()
        eph_dir = self.dirs()[0]

        def body(proc, rng):
            targets = self.targets()
            if not targets:
                time.sleep(0.1)
                return
            path = rng.choice(targets)
            t0 = time.monotonic_ns()
            out, _, plain = synced_exists(self.ctx, conn, proc, path, eph_dir)
            if out == "ok" and not plain:
                self.note_seen(path, t0)
            time.sleep(rng.uniform(0.02, 0.1))
        self.loop(k, conn, body)

    def after_workers(self):
        # Stop the holders: each records the delete of its node, then
        # closes its session.
        live = [h for h in self.holders if h is not None and h.running()]
        for h in live:
            try:
                h.popen.terminate()
            except OSError:
                pass
        end = time.monotonic() + 2 * self.ctx.op_s + 10
        for h in live:
            try:
                h.popen.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                log("holder %d ignored SIGTERM: killing it" % h.ids[0])
                self.kill(h)

    def final(self, conn, deadline):
        """One synced exists of every killed holder's node after its bound,
        also of those already observed during the run: the harness widens
        bounds past faults that restart session clocks, and keeps the
        cluster quiet for a bound before stopping the workloads, so these
        are the observations that check the widened bounds."""
        proc = Proc(self.ctx.ids.one, conn)
        eph_dir = self.dirs()[0]
        with self.mu:
            pending = list(self.killed)
        pending.sort(key=lambda k: k["kill_ns"] + k["bound_ns"])
        for k in pending:
            due = (k["kill_ns"] + k["bound_ns"]) / 1e9 + 0.5
            if due > deadline.end:
                log("sessions: bound of the kill of session %d ends after"
                    " --final-timeout-s: not observed" % k["session"])
                continue
            time.sleep(max(0.0, due - time.monotonic()))
            while not deadline.passed():
                if not conn.wait_connected(min(1.0, deadline.left()),
                                           lambda: False):
                    continue
                out, _, plain = synced_exists(self.ctx, conn, proc, k["eph"],
                                              eph_dir)
                if out == "ok" and not plain:
                    break
                time.sleep(0.1)


class Locks(Workload):
    name = "locks"

    def paths(self):
        root = self.ctx.root.rstrip("/")
        return root + "/lock", root + "/lock-resource"

    def setup(self, conn):
        lock_path, resource = self.paths()
        dl = Deadline(self.ctx.op_s)
        ensure_paths(conn, [lock_path], dl)
        try:
            wait(conn.zk.create_async(resource, b"0"), dl)
        except NodeExistsError:
            pass   # tokens are zxids of this cluster: an old one is lower

    def worker(self, k):
        conn = self.ctx.conn()
        zombies = []   # lock nodes that may linger: (Lock, thread or None)

        def body(proc, rng):
            if zombies and not self.cleanup(conn, zombies):
                time.sleep(0.2)
                return
            self.round(conn, proc, rng, zombies)
            time.sleep(rng.uniform(0, 0.02))
        self.loop(k, conn, body)

    def cleanup(self, conn, zombies):
        """Deletes lock nodes of acquires that ended in doubt (not recorded:
        no grant was recorded for them, or their release was). True when
        none is left."""
        lock_path = self.paths()[0]
        keep = []
        for lock, thread in zombies:
            if thread is not None and thread.is_alive():
                keep.append((lock, thread))
                continue
            try:
                dl = Deadline(self.ctx.op_s)
                for child in wait(conn.zk.get_children_async(lock_path), dl):
                    if child.startswith(lock.prefix):
                        try:
                            wait(conn.zk.delete_async(lock_path + "/" + child),
                                 dl)
                        except NoNodeError:
                            pass
            except Exception:
                keep.append((lock, None))
        zombies[:] = keep
        return not keep

    def round(self, conn, proc, rng, zombies):
        lock_path, _ = self.paths()
        lock = conn.zk.Lock(lock_path, "p%d" % proc.pid)
        granted = False
        t = None
        try:
            with Op(self.hist, proc, "acquire", lock_path) as op:
                box = {}

                def run():
                    try:
                        box["got"] = lock.acquire(timeout=self.ctx.op_s)
                    except BaseException as e:
                        box["error"] = e
                t = threading.Thread(target=run, daemon=True)
                t.start()
                t.join(2 * self.ctx.op_s + 1)
                if t.is_alive():
                    lock.cancel()
                    return op.done("info", error="Timeout")
                if "error" in box or not box.get("got"):
                    err = box.get("error")
                    return op.done("info", error=error_name(err) if err
                                   else "LockTimeout")
                # The recipe holds the lock in its view; confirm with a
                # linearizable view that our node exists and is the lowest.
                node = lock_path + "/" + lock.node
                g0, l0 = conn.snapshot()
                dl = Deadline(self.ctx.op_s)
                try:
                    wait(conn.zk.sync_async(lock_path), dl)
                    children = wait(conn.zk.get_children_async(lock_path), dl)
                    stat = wait(conn.zk.exists_async(node), dl)
                except Exception as e:
                    return op.done("info", error=error_name(e))
                if conn.snapshot() != (g0, l0):
                    return op.done("info", error="Reconnected")
                if stat is None or lowest_contender(children) != lock.node:
                    log("locks: kazoo reported %s held, but a synced view %s"
                        % (lock.node, "lacks it" if stat is None
                           else "has a lower contender"))
                    return op.done("info", error="NotHeld")
                token, owner = stat.czxid, stat.ephemeralOwner
                op.done("ok", token=token, session=owner)
                granted = True
        finally:
            if not granted:
                # Our node may linger (or the recipe may still get it).
                zombies.append((lock, t if t is not None and t.is_alive()
                                else None))
        hold_gen = g0
        proc.hold()
        try:
            for _ in range(rng.randint(1, 3)):
                if stopping() or conn.snapshot()[0] != hold_gen:
                    break   # SUSPENDED / LOST: stop using the lock
                if self.fenced_write(conn, proc, token, owner, node,
                                     stat.version) == "info":
                    break
        finally:
            # Always recorded after a grant: an unreleased hold would make
            # later proofs of life of this session look like two holders.
            try:
                self.release(conn, proc, lock, token, owner, node, zombies)
            finally:
                proc.unhold()

    def fenced_write(self, conn, proc, token, owner, node, node_version):
        lock_path, resource = self.paths()
        with Op(self.hist, proc, "fenced_write", lock_path, token=token) as op:
            dl = Deadline(self.ctx.op_s)
            try:
                data, rstat = wait(conn.zk.get_async(resource), dl)
            except Exception as e:
                # Nothing was written.
                return op.done("fail", error=error_name(e) + " (read)")
            try:
                stored = int(data.decode() or "0")
            except ValueError:
                stored = 0
            if token < stored:
                return op.done("fail", error="Fenced")
            tx = conn.zk.transaction()
            tx.check(node, node_version)
            tx.set_data(resource, str(token).encode(), rstat.version)
            try:
                results = wait(tx.commit_async(), dl)
            except Exception as e:
                return op.failed(e)
            errors = [r for r in results if isinstance(r, Exception)]
            if errors:
                first = [e for e in errors
                         if not isinstance(e, RolledBackError)] or errors
                return op.done("fail", error=error_name(first[0]))
            # Our lock node existed when the write committed: its session
            # was alive then.
            return op.done("ok", session=owner)

    def release(self, conn, proc, lock, token, owner, node, zombies):
        lock_path, _ = self.paths()
        with Op(self.hist, proc, "release", lock_path, token=token) as op:
            try:
                wait(conn.zk.delete_async(node), Deadline(self.ctx.op_s))
            except NoNodeError as e:
                return op.failed(e)
            except Exception as e:
                zombies.append((lock, None))
                return op.failed(e)
            lock.is_acquired = False
            return op.done("ok", session=owner)


# -- the holder subprocess -----------------------------------------------------

def holder_main(argv):
    p = argparse.ArgumentParser(prog="kazoo_workload.py _holder")
    p.add_argument("--hosts", required=True)
    p.add_argument("--history", required=True)
    p.add_argument("--ids", required=True)
    p.add_argument("--eph", required=True)
    p.add_argument("--alive", required=True)
    p.add_argument("--session-timeout-ms", type=int, required=True)
    p.add_argument("--op-timeout-ms", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    parent = os.getppid()
    ids = collections.deque(int(x) for x in a.ids.split(","))
    hist = HistoryWriter(a.history)
    rng = random.Random(a.seed)
    op_s = a.op_timeout_ms / 1000.0

    def report(line):
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            pass

    def done():
        return stopping() or os.getppid() != parent

    class Exhausted(Exception):
        pass

    exhausted = []

    def new_id():
        if not ids:
            exhausted.append(True)
            raise Exhausted()
        return ids.popleft()

    class HolderCtx(object):
        pass
    ctx = HolderCtx()
    ctx.hist, ctx.op_s = hist, op_s

    conn = Conn(a.hosts, a.session_timeout_ms, capture_negotiated=True)
    while not conn.wait_connected(0.5, done):
        if done():
            conn.close_async().join(5)
            os._exit(0)
    session = conn.session()
    lost0 = conn.snapshot()[1]
    report("session %d %d" % (session, conn.negotiated_ms))
    proc = Proc(new_id, conn)
    code = 3   # replace me

    def goodbye(delete):
        # Out of ids, the last operation's process cannot go on: the node
        # goes with the session (no proof of life can follow a close).
        if delete and not exhausted:
            try:
                with Op(hist, proc, "delete", a.eph, session=session) as op:
                    try:
                        wait(conn.zk.delete_async(a.eph), Deadline(op_s))
                    except Exception as e:
                        op.failed(e)
                    else:
                        op.done("ok")
            except Exhausted:
                pass
        conn.close_async().join(op_s + 5)
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)

    try:
        with Op(hist, proc, "create_ephemeral", a.eph, session=session) as op:
            try:
                _, stat = wait(conn.zk.create_async(
                    a.eph, b"", ephemeral=True, include_data=True),
                    Deadline(op_s))
            except Exception as e:
                if op.failed(e) == "info":
                    goodbye(True)   # it may exist: delete it, recorded
                goodbye(False)
            op.done("ok", zxid=stat.czxid, session=stat.ephemeralOwner)
        report("created")
        n = 0
        while not done():
            sleep_unless(done, rng.uniform(0.2, 0.5))
            if done():
                break
            if conn.snapshot()[1] != lost0:
                hist.event(proc.pid, "session_expired", a.eph,
                           session=session)
                goodbye(False)
            if not conn.connected():
                continue
            n += 1
            record_write(ctx, conn, proc, a.alive,
                         "hb-%d-%d" % (proc.pid, n), session=session)
        code = 0
    except Exhausted:
        code = 3   # out of process ids: end this session, get replaced
    if conn.snapshot()[1] != lost0:
        goodbye(False)
    goodbye(True)


# -- main ----------------------------------------------------------------------

CLASSES = {"registers": Registers, "set": SetWorkload,
           "sequential": Sequential, "sessions": Sessions, "locks": Locks}


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="kazoo_workload.py",
        description="Kazoo chaos workloads recording a history for "
                    "conclave-check.")
    p.add_argument("--hosts", required=True, help="HOST:PORT[,HOST:PORT...]")
    p.add_argument("--history", required=True, help="history file (appended)")
    p.add_argument("--workload", required=True, choices=WORKLOADS)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--process-base", type=int, required=True)
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--keys", type=int, default=5)
    p.add_argument("--session-timeout-ms", type=int, default=10000)
    p.add_argument("--op-timeout-ms", type=int, default=5000)
    p.add_argument("--session-slack-ms", type=int, default=15000)
    p.add_argument("--final-timeout-s", type=float, default=60.0)
    p.add_argument("--root", default="/kz",
                   help="znode under which the workload works (/kz)")
    a = p.parse_args(argv)
    hosts = [h for h in a.hosts.split(",") if h.strip()]
    if not hosts or any(":" not in h for h in hosts):
        p.error("--hosts needs HOST:PORT[,HOST:PORT...]")
    for name in ("clients", "keys", "session_timeout_ms", "op_timeout_ms"):
        if getattr(a, name) < 1:
            p.error("--%s must be positive" % name.replace("_", "-"))
    if a.session_slack_ms < 0 or a.final_timeout_s < 0:
        p.error("--session-slack-ms and --final-timeout-s must be >= 0")
    if a.process_base < 0:
        p.error("--process-base must be >= 0")
    if not a.root.startswith("/") or (a.root != "/" and a.root.endswith("/")):
        p.error("--root must be an absolute znode path")
    return a


def main(argv):
    if argv and argv[0] == "_holder":
        holder_main(argv[1:])
        return 0
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("kazoo").setLevel(logging.CRITICAL)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        hist = HistoryWriter(args.history)
    except OSError as e:
        sys.stderr.write("kazoo_workload: %s: %s\n" % (args.history, e))
        return 2
    ctx = Ctx(args, hist, Ids(args.process_base))
    wl = CLASSES[args.workload](ctx)
    conn = ctx.conn()

    # Setup, retried until it succeeds or we are told to stop.
    ready = False
    while not stopping():
        if not conn.wait_connected(1.0):
            continue
        try:
            wl.pick_root(conn, Deadline(ctx.op_s))
            wl.setup(conn)
            ready = not stopping()
            break
        except Exception as e:
            log("setup: %s; retrying" % error_name(e))
            time.sleep(0.5)

    threads = []
    if ready:
        for k in range(args.clients):
            t = threading.Thread(target=wl.worker, args=(k,), daemon=True)
            t.start()
            threads.append(t)
        wl.supervise()
    ctx.stop.set()
    end = time.monotonic() + 3 * ctx.op_s + 10
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
        if t.is_alive():
            log("a worker is still busy after its operations' bound")
    final_done = False
    if ready:
        wl.after_workers()
        deadline = Deadline(args.final_timeout_s)
        try:
            wl.final(conn, deadline)
            final_done = not deadline.passed()
        except Exception as e:
            log("final phase: %s: %s" % (type(e).__name__, e))
    close_all(list(ctx.conns), 10)
    counts = tally(args.history, ctx.ids.given)
    # ready / final: whether setup and the final phase completed (a run
    # whose workload never got going, or never read its final state, has
    # checked nothing and must not pass).
    summary = dict(workload=args.workload, ops=counts["ops"], ok=counts["ok"],
                   fail=counts["fail"], info=counts["info"], ready=ready,
                   final=final_done)
    sys.stdout.write(json.dumps(summary) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
