#!/usr/bin/python3
"""Sequential request latency through the ZooKeeper protocol, with kazoo.

    tools/bench/kazoo_latency.py HOST:PORT [COUNT]

Times COUNT (default 2000) sequential exists, create (100-byte data), get
and set calls after 200 warm-up calls each, one client, and prints p50 and
p99 per operation. Runs unchanged against Conclave's zk-port and against
Apache ZooKeeper, for a first side-by-side look (issue 9 has the real
benchmark). Leaves /bench behind.
"""
import sys
import time

from kazoo.client import KazooClient


def main():
    hosts = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    zk = KazooClient(hosts)
    zk.start()
    zk.ensure_path("/bench")
    base = int(time.time() * 1000) * 10  # fresh node names per run
    ops = (
        ("exists", lambda i: zk.exists("/bench")),
        ("create", lambda i: zk.create("/bench/n%d" % (base + i), b"x" * 100)),
        ("get", lambda i: zk.get("/bench/n%d" % (base + i))),
        ("set", lambda i: zk.set("/bench/n%d" % (base + i), b"y" * 100)),
    )
    for label, op in ops:
        for i in range(200):
            op(count + i)  # warm-up
        lat = []
        for i in range(count):
            t = time.perf_counter()
            op(i)
            lat.append(time.perf_counter() - t)
        lat.sort()
        print("%-7s p50 %6.0f us  p99 %6.0f us" %
              (label, lat[count // 2] * 1e6, lat[count * 99 // 100] * 1e6))
    zk.stop()


if __name__ == "__main__":
    main()
