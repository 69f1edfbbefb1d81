"""Appends chaos-history records (tools/chaos/history.proto) to a shared
JSON-lines file, from Python workloads.

Several processes append to the same file at once, so every record is one
os.write of a complete line to a descriptor opened with O_APPEND (the kernel
keeps such writes whole and in order). Line order is real-time order: a
writer takes the time and writes the line under one lock, and callers write
an invoke before they send the request and its completion after the reply.

Fields follow history.proto's JSON mapping: snake_case names, enums by name,
int64 fields as strings (session ids do not fit a double), fields at their
default omitted except the `optional` ones (value, expected, version, found,
token), which are written whenever they are set (None = not set). No writer
sets `index`: with several writers it could not increase strictly.
"""

import json
import os
import threading
import time

# Field order of history.proto, for readable lines.
FIELDS = ("index", "process", "type", "f", "key", "value", "expected",
          "version", "zxid", "time_ns", "session", "plain", "values", "found",
          "path", "event_type", "token", "timeout_ns", "recursive", "error")
INT64 = frozenset(("index", "process", "version", "zxid", "time_ns", "session",
                   "token", "timeout_ns"))
# proto3 `optional`: "set to the default" differs from "not set".
OPTIONAL = frozenset(("value", "expected", "version", "found", "token"))
TYPES = frozenset(("invoke", "ok", "fail", "info", "event"))


def make_record(process, type_, f, key="", **fields):
    """The JSON object of one record, with defaults omitted.

    `fields` uses history.proto's names; None means "not set".
    """
    if type_ not in TYPES:
        raise ValueError("unknown record type %r" % (type_,))
    if not f:
        raise ValueError("a record needs f")
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError("unknown fields %s" % sorted(unknown))
    values = dict(fields)
    values.update(process=process, type=type_, f=f, key=key)
    rec = {}
    for name in FIELDS:
        v = values.get(name)
        if v is None:
            continue
        if name in INT64:
            v = int(v)
            if v == 0 and name not in OPTIONAL:
                continue
            rec[name] = str(v)
        elif name in ("plain", "recursive"):
            if v:
                rec[name] = True
        elif name == "found":
            rec[name] = bool(v)
        elif name == "values":
            if v:
                rec[name] = [str(x) for x in v]
        else:
            v = str(v)
            if v == "" and name not in OPTIONAL:
                continue
            rec[name] = v
    return rec


def encode(rec):
    """One line, newline included, as bytes."""
    return (json.dumps(rec, separators=(",", ":"), ensure_ascii=True)
            + "\n").encode("ascii")


class HistoryWriter(object):
    """Appends records to FILE; safe across the threads of a process."""

    def __init__(self, path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._lock = threading.Lock()

    def write(self, process, type_, f, key="", **fields):
        """Stamps time_ns (CLOCK_MONOTONIC) and appends the record."""
        with self._lock:
            fields["time_ns"] = time.monotonic_ns()
            data = encode(make_record(process, type_, f, key, **fields))
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]

    def invoke(self, process, f, key="", **fields):
        self.write(process, "invoke", f, key, **fields)

    def complete(self, process, type_, f, key="", **fields):
        if type_ not in ("ok", "fail", "info"):
            raise ValueError("a completion is ok, fail or info, not %r"
                             % (type_,))
        self.write(process, type_, f, key, **fields)

    def event(self, process, f, key="", **fields):
        self.write(process, "event", f, key, **fields)

    def close(self):
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def tally(path, processes):
    """Counts the operations of `processes` in the history at `path`:
    {"ops", "ok", "fail", "info"}; an invoke never completed counts as info.
    Unparseable lines (another writer's line being appended) are skipped."""
    counts = {"ops": 0, "ok": 0, "fail": 0, "info": 0}
    pending = set()
    try:
        f = open(path, "rb")
    except OSError:
        return counts
    with f:
        for line in f:
            try:
                rec = json.loads(line)
                p = int(rec.get("process", 0))
            except (ValueError, TypeError, AttributeError):
                continue
            if p not in processes:
                continue
            t = rec.get("type")
            if t == "invoke":
                counts["ops"] += 1
                if p in pending:
                    counts["info"] += 1
                pending.add(p)
            elif t in ("ok", "fail", "info") and p in pending:
                counts[t] += 1
                pending.discard(p)
    counts["info"] += len(pending)
    return counts
