#!/usr/bin/env python3
"""Tests of the chaos harness's disk fault injection: libconclave-lossyfs.so
(tools/chaos/lossyfs.cpp) and tools/chaos/lossyfs.py.

ModelTest runs conclave-lossyfs-writer (tests/lossyfs_writer.cpp, a scripted
sequence of file operations) under LD_PRELOAD, kills it with SIGKILL,
restores the data directory to its durable image and checks what survived.
NodeTest does the same to a real conclave-node: every znode it acknowledged
must survive kill -9 + restore + restart.

  python3 tests/lossyfs_test.py --lib build/bin/libconclave-lossyfs.so \\
      --writer build/bin/conclave-lossyfs-writer --bin-dir build/bin \\
      [unittest arguments, e.g. ModelTest or -k rename]

(or the environment variables LOSSYFS_LIB, LOSSYFS_WRITER, CONCLAVE_BIN_DIR).
Standard library only.
"""

import argparse
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(SOURCE_DIR, "tools", "chaos"))
import lossyfs  # noqa: E402

CONF = {
    "lib": os.environ.get("LOSSYFS_LIB"),
    "writer": os.environ.get("LOSSYFS_WRITER"),
    "bin_dir": os.environ.get("CONCLAVE_BIN_DIR"),
}

ENV_KEYS = ("LD_PRELOAD", "CONCLAVE_LOSSYFS_DATA", "CONCLAVE_LOSSYFS_STATE",
            "CONCLAVE_LOSSYFS_CTL", "CONCLAVE_LOSSYFS_IGNORE",
            "CONCLAVE_LOSSYFS_INITIALIZED")


# Producers (the thread reading a node's output, background writers) call
# progress() after every change; waiters re-check their condition then.
_progress = threading.Condition()


def progress():
    with _progress:
        _progress.notify_all()


def wait_for(cond, timeout, what):
    """Waits until cond() is true, re-checking it whenever a producer calls
    progress(); fails after `timeout` seconds."""
    with _progress:
        if not _progress.wait_for(cond, timeout):
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


def retry_until(attempt, timeout, what):
    """Calls attempt() (a blocking command with its own timeout) until it
    succeeds; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not attempt():
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))


def wait_exit(pid, timeout):
    """Waits until process `pid` (not necessarily our child) has exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        if not select.select([fd], [], [], timeout)[0]:
            raise AssertionError("process %d still running after %.0f s" % (pid, timeout))
    finally:
        os.close(fd)


def pid_running(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 1:].split()[0] not in (b"Z", b"X")


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="lossyfs-test-")
        self.data = os.path.join(self.tmp, "data")
        self.state = os.path.join(self.tmp, "state")
        self.ctl = os.path.join(self.tmp, "fsync-delay-ms")
        os.makedirs(self.data)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def p(self, *parts):
        """A path in the data directory."""
        return os.path.join(self.data, *parts)

    def env(self, data=True, state=True, ctl=False, **extra):
        env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS}
        env["LD_PRELOAD"] = CONF["lib"]
        if data:
            env["CONCLAVE_LOSSYFS_DATA"] = self.data
        if state:
            env["CONCLAVE_LOSSYFS_STATE"] = self.state
        if ctl:
            env["CONCLAVE_LOSSYFS_CTL"] = self.ctl
        env.update(extra)
        return env

    def writer(self, *ops, env=None, killed=True):
        """Runs the writer script; by default it must end in SIGKILL."""
        proc = subprocess.run([CONF["writer"], *ops], env=env or self.env(),
                              capture_output=True, timeout=120)
        want = -signal.SIGKILL if killed else 0
        self.assertEqual(proc.returncode, want,
                         "writer %s: stderr %s" % (ops, proc.stderr.decode()))
        return proc.stdout.decode()

    def restore(self):
        return lossyfs.restore(self.state, self.data)

    def write(self, rel, content):
        path = self.p(rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content.encode())

    def tree(self):
        """{relative path: content} of every file, {relative path: None} of
        every directory, under the data directory."""
        out = {}
        for root, dirs, files in os.walk(self.data):
            rel = os.path.relpath(root, self.data)
            for d in dirs:
                out[os.path.normpath(os.path.join(rel, d))] = None
            for f in files:
                with open(os.path.join(root, f), "rb") as fh:
                    out[os.path.normpath(os.path.join(rel, f))] = fh.read().decode()
        return out


class ModelTest(Base):
    """The durable-image model, with the writer program."""

    # (a)
    def test_append_after_fdatasync_is_lost(self):
        f = self.p("f")
        self.writer("open", "0", f, "write", "0", "A", "fdatasync", "0",
                    "syncdir", self.data, "write", "0", "B", "kill")
        with open(f) as fh:
            self.assertEqual(fh.read(), "AB")  # a process crash loses nothing
        report = self.restore()
        self.assertEqual(self.tree(), {"f": "A"})
        self.assertEqual(report["rolled_back"], ["f"])
        self.assertFalse(os.path.exists(self.state))

    def test_pwrite_in_the_middle_after_sync_is_lost(self):
        f = self.p("seg")
        self.writer("open", "0", f, "pwrite", "0", "0", "header-record1",
                    "fdatasync", "0", "syncdir", self.data,
                    "pwrite", "0", "7", "XXXXXXX", "pwrite", "0", "14", "-record2",
                    "kill")
        self.restore()
        self.assertEqual(self.tree(), {"seg": "header-record1"})

    # (b)
    def test_rename_without_directory_fsync_is_undone(self):
        self.write("target", "old")
        tmp, target = self.p("target.tmp"), self.p("target")
        self.writer("open", "0", tmp, "write", "0", "new", "fsync", "0", "close", "0",
                    "rename", tmp, target, "kill")
        self.assertEqual(self.tree(), {"target": "new"})
        self.restore()
        self.assertEqual(self.tree(), {"target": "old"})

    def test_rename_with_directory_fsync_survives(self):
        self.write("target", "old")
        tmp, target = self.p("target.tmp"), self.p("target")
        self.writer("open", "0", tmp, "write", "0", "new", "fsync", "0", "close", "0",
                    "rename", tmp, target, "syncdir", self.data, "kill")
        self.restore()
        self.assertEqual(self.tree(), {"target": "new"})

    def test_tmp_name_made_durable_before_rename_comes_back(self):
        # The directory was fsynced while the tmp file existed, the rename
        # never was: after a power loss both names are there.
        self.write("target", "old")
        tmp, target = self.p("target.tmp"), self.p("target")
        self.writer("open", "0", tmp, "write", "0", "new", "fsync", "0", "close", "0",
                    "syncdir", self.data, "rename", tmp, target, "kill")
        self.restore()
        self.assertEqual(self.tree(), {"target": "old", "target.tmp": "new"})

    # (c)
    def test_file_fsynced_without_directory_fsync_vanishes(self):
        self.writer("open", "0", self.p("new"), "write", "0", "data", "fsync", "0", "kill")
        self.restore()
        self.assertEqual(self.tree(), {})

    def test_durable_name_without_durable_content_is_empty(self):
        self.writer("open", "0", self.p("new"), "write", "0", "data",
                    "syncdir", self.data, "kill")
        self.restore()
        self.assertEqual(self.tree(), {"new": ""})

    # (d)
    def test_truncate_after_sync_then_append_and_sync(self):
        f = self.p("seg")
        self.writer("open", "0", f, "write", "0", "AAAA", "fdatasync", "0",
                    "syncdir", self.data, "truncate", "0", "1",
                    "pwrite", "0", "1", "BB", "fdatasync", "0", "kill")
        self.restore()
        self.assertEqual(self.tree(), {"seg": "ABB"})

    def test_unsynced_truncate_is_undone(self):
        self.write("seg", "AAAA")
        self.writer("open", "0", self.p("seg"), "truncate", "0", "1", "kill")
        self.restore()
        self.assertEqual(self.tree(), {"seg": "AAAA"})

    def test_synced_truncate_then_unsynced_append(self):
        self.write("seg", "AAAA")
        self.writer("open", "0", self.p("seg"), "truncate", "0", "1", "fdatasync", "0",
                    "pwrite", "0", "1", "CC", "kill")
        self.restore()
        self.assertEqual(self.tree(), {"seg": "A"})

    def test_unlink_needs_directory_fsync(self):
        self.write("a", "1")
        self.write("b", "2")
        self.writer("unlink", self.p("a"), "unlink", self.p("b"), "syncdir", self.data,
                    "open", "0", self.p("c"), "write", "0", "3", "fsync", "0", "kill")
        self.restore()
        self.assertEqual(self.tree(), {})

        self.write("a", "1")
        self.writer("unlink", self.p("a"), "kill")
        self.restore()
        self.assertEqual(self.tree(), {"a": "1"})

    def test_inode_reuse_does_not_mix_contents(self):
        # Unlink durable files and create new ones (likely reusing the inode
        # numbers): the durable image keeps the old contents under the old
        # names.
        ops = []
        for i in range(20):
            self.write("old%d" % i, "old content %d" % i)
        for i in range(20):
            ops += ["unlink", self.p("old%d" % i)]
        for i in range(20):
            ops += ["open", "0", self.p("new%d" % i), "write", "0", "new %d" % i,
                    "fsync", "0", "close", "0"]
        self.writer(*ops, "kill")
        self.restore()
        self.assertEqual(self.tree(), {"old%d" % i: "old content %d" % i for i in range(20)})

    # (f)
    def test_tree_present_at_load_is_durable(self):
        self.write("raft-state", "hs")
        self.write("log/0001.log", "entries")
        self.write("snapshots/s1.snap", "snap")
        os.makedirs(self.p("empty"))
        before = self.tree()
        self.writer("open", "0", self.p("log", "0001.log"), "write", "0", "more",
                    "unlink", self.p("snapshots", "s1.snap"),
                    "open", "1", self.p("log", "0002.log"), "write", "1", "x",
                    "rename", self.p("raft-state"), self.p("raft-state.old"),
                    "mkdir", self.p("newdir"), "open", "2", self.p("newdir", "f"),
                    "write", "2", "y", "fsync", "2", "kill")
        report = self.restore()
        # A directory is durable once it exists, but no name in it was
        # ever made durable.
        self.assertEqual(self.tree(), dict(before, newdir=None))
        self.assertIn("log/0001.log", report["rolled_back"])
        self.assertIn("snapshots/s1.snap", report["created"])

    def test_new_subdirectory(self):
        sub = self.p("log")
        self.writer("mkdir", sub, "syncdir", self.data,
                    "open", "0", os.path.join(sub, "kept"), "write", "0", "k",
                    "fdatasync", "0", "syncdir", sub,
                    "open", "1", os.path.join(sub, "lost"), "write", "1", "l",
                    "fdatasync", "1", "kill")
        self.restore()
        self.assertEqual(self.tree(), {"log": None, "log/kept": "k"})

    def test_data_directory_created_after_load(self):
        os.rmdir(self.data)
        self.writer("mkdir", self.data, "open", "0", self.p("synced"), "write", "0", "s",
                    "fsync", "0", "syncdir", self.data,
                    "open", "1", self.p("unsynced"), "write", "1", "u", "fsync", "1",
                    "kill")
        self.restore()
        self.assertEqual(self.tree(), {"synced": "s"})

    def test_files_outside_the_data_directory_are_not_tracked(self):
        outside = os.path.join(self.tmp, "outside")
        self.writer("open", "0", outside, "write", "0", "x", "fsync", "0",
                    "syncdir", self.tmp, "kill")
        self.assertEqual(os.listdir(os.path.join(self.state, "files")), [])
        dirs = os.path.join(self.state, "dirs")
        listings = []
        for name in os.listdir(dirs):
            with open(os.path.join(dirs, name)) as f:
                listings.append(f.read())
        self.assertEqual(listings, ["dir .\n"])  # the data directory at load
        self.restore()
        with open(outside) as f:
            self.assertEqual(f.read(), "x")

    def test_snapshot_committed_in_a_forked_child(self):
        # Conclave's snapshot writer: begin() in the parent, the child
        # writes, fsyncs, renames and fsyncs the directory.
        snaps = self.p("snapshots")
        os.makedirs(snaps)
        tmp, final = os.path.join(snaps, "s.snap.tmp"), os.path.join(snaps, "s.snap")
        self.writer("open", "0", self.p("seg"), "write", "0", "e1", "fdatasync", "0",
                    "syncdir", self.data,
                    "open", "1", tmp,
                    "fork", "write", "1", "snapshot", "fsync", "1", "close", "1",
                    "rename", tmp, final, "syncdir", snaps, "join",
                    "write", "0", "e2", "kill")
        self.restore()
        self.assertEqual(self.tree(), {"seg": "e1", "snapshots": None,
                                       "snapshots/s.snap": "snapshot"})

    def test_concurrent_fdatasyncs_from_threads(self):
        self.writer("threads", "4", "40", self.data, "kill")
        self.restore()
        expected = {"t%d" % i: "".join("t%d r%d\n" % (i, j) for j in range(40))
                    for i in range(4)}
        self.assertEqual(self.tree(), expected)

    def test_restore_kills_a_child_that_outlived_the_node(self):
        gate = os.path.join(self.tmp, "never")
        out = self.writer("spawn", "open", "0", self.p("late"), "waitfile", gate,
                          "join", "kill")
        pid = int(out.split()[1])
        try:
            self.assertTrue(pid_running(pid))
            report = self.restore()
            self.assertIn(pid, report["killed"])
            wait_exit(pid, 10)
        finally:
            if pid_running(pid):
                os.kill(pid, signal.SIGKILL)
        self.assertEqual(self.tree(), {})

    def test_text_log_is_left_alone(self):
        self.write("conclave.log", "line 1\n")
        self.writer("open", "0", self.p("conclave.log"), "pwrite", "0", "7", "line 2\n",
                    "open", "1", self.p("conclave.log.1"), "write", "1", "rotated",
                    "open", "2", self.p("raft-state"), "write", "2", "x", "kill")
        self.restore()
        self.assertEqual(self.tree(), {"conclave.log": "line 1\nline 2\n",
                                       "conclave.log.1": "rotated"})

    def test_ignore_patterns_from_the_environment(self):
        self.write("keep.txt", "a")
        self.write("x", "b")
        self.writer("open", "0", self.p("keep.txt"), "write", "0", "a2",
                    "open", "1", self.p("x"), "write", "1", "b2", "kill",
                    env=self.env(CONCLAVE_LOSSYFS_IGNORE="*.txt"))
        self.restore()
        self.assertEqual(self.tree(), {"keep.txt": "a2", "x": "b"})

    def test_clean_exit_is_a_power_loss_too(self):
        self.writer("open", "0", self.p("f"), "write", "0", "A", "fsync", "0",
                    "syncdir", self.data, "write", "0", "B", killed=False)
        self.restore()
        self.assertEqual(self.tree(), {"f": "A"})

    def test_each_start_records_afresh(self):
        self.writer("open", "0", self.p("f"), "write", "0", "A", "fsync", "0",
                    "syncdir", self.data, "write", "0", "B", "kill")
        self.restore()
        self.assertEqual(self.tree(), {"f": "A"})
        # The second start: its tree at load is durable; its own unsynced
        # writes are not.
        self.writer("open", "0", self.p("f"), "write", "0", "C",
                    "open", "1", self.p("g"), "write", "1", "G", "fsync", "1",
                    "syncdir", self.data, "kill")
        self.restore()
        self.assertEqual(self.tree(), {"f": "A", "g": "G"})

    def test_exec_joins_the_state_of_the_process_that_loaded_it(self):
        # sh loads the library (recording the tree), writes a file without
        # syncing it, then execs the writer: the writer must not record the
        # tree again (the file would wrongly count as durable).
        script = 'echo unsynced > "$1"; exec "$2" kill'
        proc = subprocess.run(["sh", "-c", script, "sh", self.p("new"), CONF["writer"]],
                              env=self.env(), capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, -signal.SIGKILL, proc.stderr.decode())
        self.restore()
        self.assertEqual(self.tree(), {})

    def test_restore_without_state_changes_nothing(self):
        self.write("f", "x")
        report = self.restore()
        self.assertEqual(self.tree(), {"f": "x"})
        self.assertEqual(report["removed"] + report["rolled_back"] + report["created"], [])

    def test_script_restore(self):
        self.writer("open", "0", self.p("f"), "write", "0", "A", "kill")
        proc = subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "tools", "chaos",
                                                            "lossyfs.py"),
                               "restore", self.state, self.data],
                              capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertIn('"removed": ["f"]', proc.stdout.decode())
        self.assertEqual(self.tree(), {})

    # (g)
    def test_nothing_is_tracked_without_data_dir(self):
        self.write("f", "A")
        self.writer("open", "0", self.p("f"), "write", "0", "B", "fsync", "0",
                    "syncdir", self.data, "write", "0", "C", "kill",
                    env=self.env(data=False))
        self.assertFalse(os.path.exists(self.state))
        self.restore()
        self.assertEqual(self.tree(), {"f": "BC"})

    def test_nothing_is_tracked_without_state_dir(self):
        self.writer("open", "0", self.p("f"), "write", "0", "B", "fsync", "0",
                    "write", "0", "C", "kill", env=self.env(state=False))
        self.assertEqual(self.tree(), {"f": "BC"})

    def test_refuses_to_wipe_a_foreign_state_directory(self):
        os.makedirs(self.state)
        precious = os.path.join(self.state, "precious")
        with open(precious, "w") as f:
            f.write("keep me")
        proc = subprocess.run([CONF["writer"], "echo", "ran"], env=self.env(),
                              capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, -signal.SIGABRT)
        self.assertIn("refusing to wipe", proc.stderr.decode())
        self.assertEqual(proc.stdout, b"")
        with open(precious) as f:
            self.assertEqual(f.read(), "keep me")

    def test_refuses_a_state_directory_inside_the_data_directory(self):
        proc = subprocess.run([CONF["writer"], "echo", "ran"],
                              env=self.env(CONCLAVE_LOSSYFS_STATE=self.p("state")),
                              capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, -signal.SIGABRT)
        self.assertIn("must not contain each other", proc.stderr.decode())
        self.assertEqual(os.listdir(self.data), [])  # nothing created there

    def test_a_failure_to_record_aborts_loudly(self):
        go = os.path.join(self.tmp, "go")
        proc = subprocess.Popen([CONF["writer"], "open", "0", self.p("f"), "write", "0", "x",
                                 "echo", "loaded", "waitfile", go, "fsync", "0"],
                                env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.assertEqual(proc.stdout.readline(), b"loaded\n")
            shutil.rmtree(os.path.join(self.state, "files"))  # the state is broken
            open(go, "w").close()
            _, err = proc.communicate(timeout=60)
            self.assertEqual(proc.returncode, -signal.SIGABRT)
            self.assertIn(b"conclave-lossyfs: ", err)
            self.assertIn(b"the durable image would be wrong", err)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()

    def test_restore_refuses_another_data_directory(self):
        self.writer("kill")
        other = os.path.join(self.tmp, "other")
        os.makedirs(other)
        with self.assertRaises(ValueError):
            lossyfs.restore(self.state, other)

    # (e)
    def test_fsync_delay(self):
        lossyfs.write_control(self.ctl, 300)
        out = self.writer("open", "0", self.p("f"), "write", "0", "x",
                          "timed", "fsync", "0", "timed", "fdatasync", "0",
                          "timed", "syncdir", self.data, "kill", env=self.env(ctl=True))
        times = [int(line.split()[1]) for line in out.splitlines()]
        self.assertEqual(len(times), 3)
        for ms in times:
            self.assertGreaterEqual(ms, 290)

    def test_fsync_delay_is_read_on_every_call(self):
        lossyfs.write_control(self.ctl, 0)
        go = os.path.join(self.tmp, "go")
        proc = subprocess.Popen([CONF["writer"], "open", "0", self.p("f"),
                                 "timed", "fsync", "0", "waitfile", go,
                                 "timed", "fsync", "0"],
                                env=self.env(ctl=True), stdout=subprocess.PIPE)
        try:
            first = proc.stdout.readline()
            self.assertTrue(first.startswith(b"elapsed_ms "), first)
            lossyfs.write_control(self.ctl, 400)
            open(go, "w").close()
            second = proc.stdout.readline()
            self.assertGreaterEqual(int(second.split()[1]), 390)
            self.assertEqual(proc.wait(timeout=60), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()

    def test_fsync_delay_without_tracking(self):
        # Without CONCLAVE_LOSSYFS_DATA every fsync is delayed.
        lossyfs.write_control(self.ctl, 250)
        other = os.path.join(self.tmp, "elsewhere")
        out = self.writer("open", "0", other, "timed", "fsync", "0",
                          env=self.env(data=False, state=False, ctl=True), killed=False)
        self.assertGreaterEqual(int(out.split()[1]), 240)

    def test_control_file(self):
        lossyfs.write_control(self.ctl, 25)
        with open(self.ctl) as f:
            self.assertEqual(f.read().strip(), "25")
        self.assertEqual(lossyfs.read_control(self.ctl), 25)
        for garbage in ("", "abc", "-5", "12ms"):
            with open(self.ctl, "w") as f:
                f.write(garbage)
            self.assertEqual(lossyfs.read_control(self.ctl), 0)
        self.assertEqual(lossyfs.read_control(os.path.join(self.tmp, "missing")), 0)
        with self.assertRaises(ValueError):
            lossyfs.write_control(self.ctl, -1)
        proc = subprocess.run([sys.executable, os.path.join(SOURCE_DIR, "tools", "chaos",
                                                            "lossyfs.py"),
                               "delay", self.ctl, "7"], capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertEqual(lossyfs.read_control(self.ctl), 7)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One conclave-node under the library, in its own process group (so
    that a kill also takes down a snapshot writer child)."""

    def __init__(self, test):
        self.test = test
        self.client_port = free_port()
        self.zk_port = free_port()
        self.peer_port = free_port()
        self.proc = None
        self.lines = []
        self.starts = 0

    def start(self):
        bin_dir = CONF["bin_dir"]
        argv = [
            os.path.join(bin_dir, "conclave-node"),
            "--config-file=" + os.path.join(SOURCE_DIR, "configs", "single.conf"),
            "--conclave.data-dir=" + self.test.data,
            "--conclave.bind-address=127.0.0.1",
            "--conclave.client-port=%d" % self.client_port,
            "--conclave.zk-port=%d" % self.zk_port,
            "--conclave.admin-port=0",
            "--conclave.peer-port=%d" % self.peer_port,
            '--conclave.peers=["1@127.0.0.1:%d"]' % self.peer_port,
            "--conclave.tick-ms=20",
            "--conclave.election-timeout-ms=300",
            "--conclave.heartbeat-interval-ms=40",
            # Snapshots (written by a fork()ed child) every few entries, and
            # small log segments.
            "--conclave.snapshot-entries=6",
            "--conclave.log-segment-bytes=65536",
        ]
        self.starts += 1
        err = open(os.path.join(self.test.tmp, "node.err.%d" % self.starts), "wb")
        self.proc = subprocess.Popen(argv, env=self.test.env(ctl=True), stdout=subprocess.PIPE,
                                     stderr=err, start_new_session=True)
        err.close()
        self.lines = []
        self.eof = False
        reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        reader.start()
        wait_for(lambda: self.eof or any("conclave-node ready" in line for line in self.lines),
                 30, "conclave-node ready")
        if self.eof and self.proc.wait(timeout=30) is not None:
            raise AssertionError("conclave-node exited with %s: %s"
                                 % (self.proc.returncode, self.stderr()))

    def _read(self, proc):
        for line in proc.stdout:
            self.lines.append(line.decode(errors="replace"))
            progress()
        if proc is self.proc:
            self.eof = True  # end of output: the node exited
        progress()

    def stderr(self):
        with open(os.path.join(self.test.tmp, "node.err.%d" % self.starts), "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def kill(self):
        """kill -9 of the node and every process of its group."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc = None

    def ctl(self, *args, timeout_ms=3000):
        return subprocess.run(
            [os.path.join(CONF["bin_dir"], "conclavectl"), "--timeout", str(timeout_ms),
             "--server", "127.0.0.1:%d" % self.client_port, *args],
            capture_output=True, timeout=60)


class NodeTest(Base):
    """End to end: a real conclave-node under the library."""

    def create_until_acked(self, node, path, data, timeout=30):
        """Retries until the create is acknowledged (NodeExists after a retry
        means an earlier attempt was applied)."""
        def attempt():
            r = node.ctl("create", path, data)
            return r.returncode == 0 or (b"NodeExists" in r.stdout + r.stderr)
        retry_until(attempt, timeout, "create %s" % path)

    def check_acked(self, node, acked):
        def first_get():
            name, data = next(iter(acked.items()))
            return node.ctl("get", name).returncode == 0
        retry_until(first_get, 30, "the restarted node to serve reads")
        missing = {}
        for name, data in sorted(acked.items()):
            r = node.ctl("get", name)
            got = r.stdout.decode().strip()
            if r.returncode != 0 or got != data:
                missing[name] = (data, r.returncode, got, r.stderr.decode().strip())
        self.assertEqual(missing, {}, "acknowledged znodes lost or changed")

    def test_acknowledged_writes_survive_crash_and_restore(self):
        node = Node(self)
        acked = {}
        try:
            for round_ in range(2):
                lossyfs.write_control(self.ctl, 0)
                node.start()
                # Acknowledged one by one; part of them on a slow disk.
                for i in range(8):
                    if i == 4:
                        lossyfs.write_control(self.ctl, 15)
                    name, data = "/r%d-a%d" % (round_, i), "value-%d-%d" % (round_, i)
                    self.create_until_acked(node, name, data)
                    acked[name] = data
                lossyfs.write_control(self.ctl, 0)
                # A writer still running when the node is killed: only what
                # it saw acknowledged must survive.
                stop = threading.Event()
                background = {}

                def write_loop(round_=round_, background=background, stop=stop):
                    i = 0
                    while not stop.is_set():
                        name, data = "/r%d-b%d" % (round_, i), "bg-%d" % i
                        if node.ctl("create", name, data, timeout_ms=2000).returncode == 0:
                            background[name] = data
                            progress()
                        i += 1

                t = threading.Thread(target=write_loop)
                t.start()
                try:
                    wait_for(lambda: len(background) >= 6, 60, "background writes")
                finally:
                    node.kill()
                    stop.set()
                    t.join(timeout=120)
                acked.update(background)
                self.assertTrue(os.path.isfile(os.path.join(self.state, "format")))
                report = lossyfs.restore(self.state, self.data)
                self.assertFalse(os.path.exists(self.state))
                self.assertTrue(os.path.isfile(self.p("raft-state")), report)
                node.start()
                self.check_acked(node, acked)
                # The snapshot writer (a fork()ed child) ran under the library
                # and its snapshots are part of the durable image.
                snaps = [n for n in os.listdir(self.p("snapshots")) if n.endswith(".snap")]
                self.assertTrue(snaps, "no snapshot was taken")
                node.kill()
                # Nothing acknowledged is lost by a restore right after a
                # clean check either.
                lossyfs.restore(self.state, self.data)
        finally:
            node.kill()
        node.start()
        try:
            self.check_acked(node, acked)
        finally:
            node.kill()


def main():
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--lib")
    ap.add_argument("--writer")
    ap.add_argument("--bin-dir")
    args, rest = ap.parse_known_args()
    CONF["lib"] = args.lib or CONF["lib"]
    CONF["writer"] = args.writer or CONF["writer"]
    CONF["bin_dir"] = args.bin_dir or CONF["bin_dir"] or os.path.join(SOURCE_DIR, "build", "bin")
    if not CONF["lib"]:
        CONF["lib"] = os.path.join(CONF["bin_dir"], "libconclave-lossyfs.so")
    if not CONF["writer"]:
        CONF["writer"] = os.path.join(CONF["bin_dir"], "conclave-lossyfs-writer")
    for key in ("lib", "writer"):
        CONF[key] = os.path.abspath(CONF[key])
        if not os.path.exists(CONF[key]):
            sys.exit("lossyfs_test: %s not found: %s" % (key, CONF[key]))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
