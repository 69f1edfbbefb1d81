#!/usr/bin/python3
"""A kazoo client that rides out the loss of its server.

    failover_client.py --hosts FIRST,OTHER[,...]

Connects to the first host, creates an ephemeral node and a DataWatch, and
prints READY. The test then kills that server. The client must move to
another host with the same session (its ephemeral node intact) and print
RESUMED; the test then changes /failover/data, and the DataWatch must
report it (WATCHED <data>). Exits 0 when all of that happened, 1 if not
within 60 s.
"""
import argparse
import sys
import threading

from kazoo.client import KazooClient, KazooState


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", required=True)
    args = parser.parse_args()
    zk = KazooClient(hosts=args.hosts, randomize_hosts=False, timeout=4)
    reconnected = threading.Event()
    lost = threading.Event()

    def on_state(state):
        if state == KazooState.SUSPENDED:
            lost.set()
        elif state == KazooState.CONNECTED and lost.is_set():
            reconnected.set()

    zk.add_listener(on_state)
    zk.start(timeout=20)
    session = zk.client_id[0]
    zk.ensure_path("/failover")
    zk.create("/failover/eph", b"", ephemeral=True)
    zk.create("/failover/data", b"before")
    seen = []
    changed = threading.Event()

    def on_data(data, stat):
        seen.append(data)
        if data == b"after":
            changed.set()

    zk.DataWatch("/failover/data", on_data)
    print("READY", flush=True)
    if not reconnected.wait(60):
        print("never reconnected", flush=True)
        return 1
    if zk.client_id[0] != session:
        print("new session", hex(zk.client_id[0]), flush=True)
        return 1
    stat = zk.exists("/failover/eph")
    if stat is None or stat.ephemeralOwner != session:
        print("ephemeral lost", flush=True)
        return 1
    print("RESUMED", hex(session), flush=True)
    if not changed.wait(60):
        print("watch lost; saw", seen, flush=True)
        return 1
    print("WATCHED", changed.is_set(), flush=True)
    zk.stop()
    zk.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
