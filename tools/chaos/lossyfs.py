#!/usr/bin/env python3
"""lossyfs: the Python half of the chaos harness's disk fault injection.

libconclave-lossyfs.so (tools/chaos/lossyfs.cpp, whose header comment
describes the model and the state directory format) runs inside the node
under LD_PRELOAD and keeps, in a state directory, the image of the node's
data directory that a power loss would leave: file contents as of their last
fsync/fdatasync, directory listings as of their last directory fsync. This
module

  restore(state_dir, data_dir)        after the node was killed (SIGKILL),
                                      makes data_dir exactly that durable
                                      image and deletes the state, so the
                                      next start of the node records afresh;
  write_control(ctl_path, delay_ms)   sets the slow-disk knob: every fsync
                                      of the node's files sleeps this long.

As a script:

  python3 tools/chaos/lossyfs.py restore STATE DATA [--no-kill]
  python3 tools/chaos/lossyfs.py delay CTL MS

The node is started with:

  LD_PRELOAD=<build>/bin/libconclave-lossyfs.so
  CONCLAVE_LOSSYFS_DATA=<data dir>  CONCLAVE_LOSSYFS_STATE=<state dir>
  CONCLAVE_LOSSYFS_CTL=<control file>

Python 3.11, standard library only.
"""

import argparse
import fnmatch
import json
import os
import shutil
import signal
import sys
import time
import urllib.parse

__all__ = ["restore", "write_control", "read_control", "FORMAT_MAGIC"]

FORMAT_MAGIC = b"conclave-lossyfs 1"


def write_control(ctl_path, fsync_delay_ms):
    """Sets the fsync delay (milliseconds, 0 = off). Atomic (write + rename):
    the library re-reads the file on every fsync and never sees half of it."""
    ms = int(fsync_delay_ms)
    if ms < 0:
        raise ValueError("fsync delay must be >= 0, not %d" % ms)
    ctl_path = os.path.abspath(ctl_path)
    tmp = "%s.tmp.%d" % (ctl_path, os.getpid())
    with open(tmp, "w") as f:
        f.write("%d\n" % ms)
    os.replace(tmp, ctl_path)


def read_control(ctl_path):
    """The delay the library would apply now (its parsing: missing, empty or
    garbage = 0)."""
    try:
        with open(ctl_path, "rb") as f:
            text = f.read(31).strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


def _unpct(b):
    return urllib.parse.unquote_to_bytes(b)


def _join(*parts):
    return os.path.join(*[p for p in parts if p])


def _proc_start(pid):
    """(state, start time) of a running process, or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 1:].split()
    return fields[0], int(fields[19])


def _alive(pid, start):
    info = _proc_start(pid)
    return info is not None and info[1] == start and info[0] not in (b"Z", b"X")


def _stop_processes(state, kill, report, timeout=10.0):
    """A power loss stops every process of the node: SIGKILL those still
    running (a snapshot writer the node fork()ed survives its parent's
    SIGKILL and would go on writing into the data directory)."""
    procs = os.path.join(state, b"procs")
    if not os.path.isdir(procs):
        return
    running = []
    for name in os.listdir(procs):
        if name.startswith(b"."):
            continue
        try:
            with open(os.path.join(procs, name), "rb") as f:
                pid, start = (int(x) for x in f.read().split())
        except (OSError, ValueError):
            continue
        if pid != os.getpid() and _alive(pid, start):
            running.append((pid, start))
    if running and not kill:
        raise RuntimeError("processes of the node are still running: %s"
                           % ", ".join(str(p) for p, _ in running))
    for pid, _ in running:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        report["killed"].append(pid)
    deadline = time.monotonic() + timeout
    while any(_alive(p, s) for p, s in running):
        if time.monotonic() > deadline:
            raise RuntimeError("processes of the node did not die: %s"
                               % ", ".join(str(p) for p, s in running if _alive(p, s)))
        time.sleep(0.01)


def _read_state(state):
    with open(os.path.join(state, b"format"), "rb") as f:
        lines = f.read().splitlines()
    if not lines or lines[0] != FORMAT_MAGIC:
        raise ValueError("%s: not a lossyfs state (format %r)"
                         % (os.fsdecode(state), lines[:1]))
    data = None
    ignore = []
    for line in lines[1:]:
        word, _, value = line.partition(b" ")
        if word == b"data":
            data = _unpct(value)
        elif word == b"ignore":
            ignore.append(_unpct(value))
    dirs = {}
    dirs_path = os.path.join(state, b"dirs")
    for name in os.listdir(dirs_path):
        with open(os.path.join(dirs_path, name), "rb") as f:
            lines = f.read().splitlines()
        if not lines or not lines[0].startswith(b"dir "):
            raise ValueError("%s: bad listing" % os.fsdecode(name))
        rel = _unpct(lines[0][4:])
        if rel == b".":
            rel = b""
        entries = {}
        for line in lines[1:]:
            kind, key, pname = line.split(b" ")
            entries[_unpct(pname)] = (kind, key)
        dirs[rel] = entries
    return data, ignore, dirs


def _same_content(src, path):
    """Byte for byte (not filecmp: its cache keys on size and mtime)."""
    if src is None:
        return os.path.getsize(path) == 0
    if os.path.getsize(src) != os.path.getsize(path):
        return False
    with open(src, "rb") as a, open(path, "rb") as b:
        while True:
            x = a.read(1 << 20)
            if x != b.read(1 << 20):
                return False
            if not x:
                return True


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _restore_dir(state, data, rel, ignore, dirs, report):
    path = _join(data, rel)
    if os.path.lexists(path) and not (os.path.isdir(path) and not os.path.islink(path)):
        os.unlink(path)
        report["removed"].append(os.fsdecode(rel))
    os.makedirs(path, exist_ok=True)
    durable = dirs.get(rel, {})  # never listed: no name in it is durable
    files = os.path.join(state, b"files")

    def ignored(name):
        return any(fnmatch.fnmatchcase(name, p) for p in ignore)

    subdirs = set()
    with os.scandir(path) as it:
        existing = list(it)
    for e in existing:
        if ignored(e.name):
            continue
        want = durable.get(e.name)
        rel_name = os.fsdecode(_join(rel, e.name))
        if e.is_dir(follow_symlinks=False):
            if want is None or want[0] == b"d":
                subdirs.add(e.name)  # directories are durable once they exist
            else:
                shutil.rmtree(e.path)
                report["removed"].append(rel_name)
        elif want is None:
            if e.is_file(follow_symlinks=False):
                os.unlink(e.path)
                report["removed"].append(rel_name)
            # other types (symlinks, sockets, ...) are not tracked: left alone
        elif want[0] == b"d":
            os.unlink(e.path)
            report["removed"].append(rel_name)
    for name, (kind, key) in durable.items():
        if ignored(name):
            continue
        target = os.path.join(path, name)
        rel_name = os.fsdecode(_join(rel, name))
        if kind == b"d":
            subdirs.add(name)
            continue
        src = os.path.join(files, key)
        if not os.path.exists(src):
            src = None  # the name is durable, its content never was
        if os.path.lexists(target):
            if (os.path.isfile(target) and not os.path.islink(target)
                    and _same_content(src, target)):
                continue
            _remove(target)
            report["rolled_back"].append(rel_name)
        else:
            report["created"].append(rel_name)
        if src is None:
            open(target, "wb").close()
        else:
            shutil.copyfile(src, target)
    for name in sorted(subdirs):
        _restore_dir(state, data, _join(rel, name), ignore, dirs, report)


def restore(state_dir, data_dir, kill=True):
    """Makes data_dir the durable image kept in state_dir (what a power loss
    at the moment the node was killed would have left), then deletes
    state_dir. Call it after the node was killed; processes of the node still
    running (a fork()ed snapshot writer) are SIGKILLed first (kill=False:
    raise RuntimeError instead). Files matching the library's ignore patterns
    (by default the node's text log, conclave.log*) are left as they are.

    A missing state_dir (the node never ran with the library) leaves data_dir
    alone; so does an incomplete one (the node died while the library was
    still recording the tree at load, before main()). Returns what changed:
    {"removed": [...], "rolled_back": [...], "created": [...], "killed":
    [pids]}, paths relative to data_dir."""
    report = {"removed": [], "rolled_back": [], "created": [], "killed": []}
    state = os.fsencode(os.path.abspath(state_dir))
    data = os.fsencode(os.path.abspath(data_dir))
    if not os.path.isdir(state):
        return report
    _stop_processes(state, kill, report)
    if not os.path.exists(os.path.join(state, b"format")):
        shutil.rmtree(state)
        return report
    recorded, ignore, dirs = _read_state(state)
    if recorded is not None and os.path.realpath(recorded) != os.path.realpath(data):
        raise ValueError("%s holds the durable image of %s, not of %s"
                         % (os.fsdecode(state), os.fsdecode(recorded), os.fsdecode(data)))
    _restore_dir(state, data, b"", ignore, dirs, report)
    shutil.rmtree(state)
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="lossyfs.py",
        description="Durable-image restore and slow-disk control for "
                    "libconclave-lossyfs.so.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("restore", help="make DATA its durable image, delete STATE")
    r.add_argument("state")
    r.add_argument("data")
    r.add_argument("--no-kill", action="store_true",
                   help="fail instead of killing processes of the node still running")
    d = sub.add_parser("delay", help="set the fsync delay in milliseconds (0 = off)")
    d.add_argument("ctl")
    d.add_argument("ms", type=int)
    args = ap.parse_args(argv)
    if args.cmd == "restore":
        report = restore(args.state, args.data, kill=not args.no_kill)
        json.dump(report, sys.stdout)
        sys.stdout.write("\n")
    else:
        write_control(args.ctl, args.ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
