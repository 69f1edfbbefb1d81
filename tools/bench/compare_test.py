#!/usr/bin/python3
"""Unit tests of the pure parts of the ZooKeeper comparison (no servers).

    /usr/bin/python3 tools/bench/compare_test.py [-v]

Covers compare.py (row plan, medians and ratios, the text and Markdown
tables, fsyncs per write, the floor paragraph), chart.py (a well-formed SVG
with one bar per server and metric, the right values, a log axis when the
range is wide, missing servers left out) and the config rendering of
zk_cluster.py and conclave_cluster.py (and their parsers of srvr, mntr and
Prometheus text). Registered in CTest as bench_compare_units
(tools/bench/compare.cmake).
"""

import contextlib
import io
import os
import sys
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chart  # noqa: E402
import compare  # noqa: E402
import conclave_cluster  # noqa: E402
import zk_cluster  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"


def run(server, workload, clients, rep, ops, p50, p99, p999, errors=0, **extra):
    r = {"server": server, "workload": workload, "clients": clients, "outstanding": 1,
         "rep": rep, "ops_per_s": ops, "ops": int(ops * 10), "p50_us": p50, "p90_us": p50 * 2,
         "p99_us": p99, "p999_us": p999, "max_us": p999 * 2, "mean_us": p50, "errors": errors,
         "errors_by_code": {"-110": errors} if errors else {}, "server_rss_kb": [1000, 2000, 1500]}
    r.update(extra)
    return r


class PlanTest(unittest.TestCase):
    def test_default_plan(self):
        rows = compare.plan_rows(list(compare.WORKLOADS))
        self.assertEqual(rows[:3], [("create", 1), ("create", 32), ("create", 256)])
        self.assertIn(("get", 256), rows)
        self.assertIn(("watch", 32), rows)
        self.assertEqual(len(rows), 16)

    def test_quick_and_explicit(self):
        quick = compare.plan_rows(list(compare.WORKLOADS), quick=True)
        self.assertEqual(len(quick), 12)
        self.assertNotIn(("create", 256), quick)
        self.assertEqual(compare.plan_rows(["get", "set"], clients=[4, 8]),
                         [("get", 4), ("get", 8), ("set", 4), ("set", 8)])

    def test_args(self):
        a = compare.parse_args(["--smoke", "--out", "/tmp/x"])
        self.assertEqual((a.reps, a.duration_s, a.workloads, a.clients, a.memory_znodes),
                         (1, 2, ["create", "get"], [8], 1000))
        a = compare.parse_args(["--quick", "--out", "/tmp/x", "--reps", "3"])
        self.assertEqual((a.reps, a.memory_znodes), (3, 100000))
        with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
            compare.parse_args(["--workloads", "create,bogus"])
        self.assertEqual(compare.fmt_secs(2.0), "2")
        self.assertEqual(compare.fmt_secs(0.5), "0.5")


class SummaryTest(unittest.TestCase):
    def setUp(self):
        self.runs = [
            run("zookeeper", "create", 1, 1, 1000, 900, 2000, 5000),
            run("conclave", "create", 1, 1, 1200, 800, 3000, 6000),
            run("zookeeper", "create", 1, 2, 1100, 1000, 2200, 5200),
            run("conclave", "create", 1, 2, 1400, 700, 2800, 6400, errors=2),
            run("zookeeper", "get", 32, 1, 40000, 500, 4000, 9000),
            {"server": "conclave", "workload": "get", "clients": 32, "rep": 1, "failed": True},
        ]
        self.plan = [("create", 1), ("get", 32)]

    def test_medians_and_ratios(self):
        rows = compare.summarize(self.runs, self.plan)
        self.assertEqual([(r["workload"], r["clients"]) for r in rows], self.plan)
        create = rows[0]
        self.assertEqual(create["zookeeper"]["ops_per_s"], 1050)
        self.assertEqual(create["conclave"]["ops_per_s"], 1300)
        self.assertEqual(create["conclave"]["p99_us"], 2900)
        self.assertEqual(create["conclave"]["errors"], 2)
        self.assertEqual(create["conclave"]["errors_by_code"], {"-110": 2})
        self.assertEqual(create["conclave"]["max_server_rss_kb"], 2000)
        self.assertAlmostEqual(create["ratio_ops"], 1300 / 1050)
        self.assertAlmostEqual(create["ratio_p99"], 2900 / 2100)
        get = rows[1]
        self.assertEqual(get["conclave"]["failed"], 1)
        self.assertNotIn("ops_per_s", get["conclave"])
        self.assertIsNone(get["ratio_ops"])

    def test_tables(self):
        rows = compare.summarize(self.runs, self.plan)
        text = compare.format_table(rows)
        lines = text.splitlines()
        self.assertTrue(lines[0].startswith("workload"))
        self.assertIn("C/ZK", lines[0])
        self.assertRegex(lines[2], r"^create\s+1\s+1\s+1050\s+1300\s+1\.24\s+")
        self.assertIn("0.95 / 2.10 / 5.10", lines[2])  # ZooKeeper p50/p99/p99.9 in ms
        self.assertIn("(1 failed)", lines[3])
        md = compare.markdown_table(rows).splitlines()
        self.assertEqual(md[0].count("|"), len(compare.TABLE_HEAD) + 1)
        self.assertTrue(md[1].startswith("|---|"))
        self.assertIn("| create | 1 | 1 | 1050 | 1300 | 1.24 |", md[2])

    def test_chart_rows(self):
        rows = compare.chart_rows(compare.summarize(self.runs, self.plan))
        self.assertEqual(rows[0]["sublabel"], "1 client")
        self.assertEqual(rows[1]["sublabel"], "32 clients")
        self.assertIsNone(rows[1]["conclave"])
        self.assertEqual(rows[0]["zookeeper"]["ops_per_s"], 1050)

    def test_fsync_figures(self):
        before = {"committed": 100, "leader": 1, "fsyncs": {1: 10, 2: 20, 3: 30}}
        after = {"committed": 1100, "leader": 1, "fsyncs": {1: 510, 2: 1020, 3: 830}}
        f = compare.fsync_figures(before, after)
        self.assertEqual(f["committed"], 1000)
        self.assertAlmostEqual(f["leader_fsyncs_per_write"], 0.5)
        self.assertAlmostEqual(f["follower_fsyncs_per_write"], 0.9)
        self.assertIsNone(compare.fsync_figures(before, dict(after, leader=2)))
        self.assertEqual(compare.fsync_figures(before, before), {"committed": 0})
        self.assertEqual(compare.conclave_fsync_metric({"conclave_persist_total": 1}),
                         "conclave_persist_total")
        self.assertEqual(compare.conclave_fsync_metric(
            {"conclave_persist_total": 1, "conclave_storage_fsyncs_total": 2}),
            "conclave_storage_fsyncs_total")

    def test_floor_text(self):
        rows = compare.summarize(self.runs, self.plan)
        text = compare.floor_text({"fdatasync_p50_us": 900, "fdatasync_p99_us": 3000,
                                   "rtt_p50_us": 40, "rtt_p99_us": 100,
                                   "best_write_us": 980}, rows)
        self.assertIn("p50 900 us", text)
        self.assertIn("980 us", text)
        self.assertIn("create with 1 client, p50: ZooKeeper 950 us, Conclave 750 us", text)
        self.assertIn("not measured", compare.floor_text({"error": "boom"}, rows))


class ChartTest(unittest.TestCase):
    rows = [
        {"label": "create", "sublabel": "1 client",
         "zookeeper": {"ops_per_s": 700, "p50_us": 1300, "p99_us": 3000, "p999_us": 9000},
         "conclave": {"ops_per_s": 900, "p50_us": 1000, "p99_us": 2500, "p999_us": 12000}},
        {"label": "get", "sublabel": "32 clients",
         "zookeeper": {"ops_per_s": 40000, "p50_us": 600, "p99_us": 3000, "p999_us": 9000},
         "conclave": {"ops_per_s": 30000, "p50_us": 800, "p99_us": 4500, "p999_us": 22000}},
        {"label": "set", "sublabel": "32 clients",
         "zookeeper": {"ops_per_s": 4000, "p50_us": 6000, "p99_us": 30000, "p999_us": 90000},
         "conclave": None},
    ]

    def bars(self, root, cls):
        return [e for e in root.iter(SVG + "rect") if cls in (e.get("class") or "").split()]

    def test_valid_svg_with_expected_bars(self):
        svg = chart.render_svg(self.rows, "t <&>", "sub")
        root = ET.fromstring(svg.encode())  # well-formed, title escaped
        self.assertEqual(root.tag, SVG + "svg")
        tput = self.bars(root, "tput")
        self.assertEqual(len(tput), 5)  # 2 + 2 + 1 (no Conclave for set)
        lat = self.bars(root, "lat")
        self.assertEqual(len(lat), 15)  # 3 per server and row
        values = {(e.get("data-server"), e.get("data-row")): float(e.get("data-value"))
                  for e in tput}
        self.assertEqual(values[("conclave", "get 32 clients")], 30000)
        self.assertEqual(values[("zookeeper", "set 32 clients")], 4000)
        self.assertNotIn(("conclave", "set 32 clients"), values)
        metrics = sorted({e.get("data-metric") for e in lat})
        self.assertEqual(metrics, ["p50_us", "p999_us", "p99_us"])
        # taller bar for the larger value (same panel)
        h = {(e.get("data-server"), e.get("data-row")): float(e.get("height")) for e in tput}
        self.assertGreater(h[("zookeeper", "get 32 clients")], h[("conclave", "get 32 clients")])
        self.assertGreater(h[("conclave", "get 32 clients")], h[("zookeeper", "set 32 clients")])
        text = "".join(t.text or "" for t in root.iter(SVG + "text"))
        for needle in ("ZooKeeper", "Conclave", "p99.9", "operations / s", "latency",
                       "log scale", "C/ZK 1.29x"):
            self.assertIn(needle, text)

    def test_axes(self):
        ax = chart.Axis([700, 40000], 300, 100, chart._fmt_num)
        self.assertTrue(ax.log)
        self.assertEqual(ax.ticks, [100, 1000, 10000, 100000])
        self.assertAlmostEqual(ax.y(100), 300)
        self.assertAlmostEqual(ax.y(100000), 100)
        lin = chart.Axis([700, 900], 300, 100, chart._fmt_num)
        self.assertFalse(lin.log)
        self.assertEqual(lin.ticks[0], 0)
        self.assertGreaterEqual(lin.ticks[-1], 900)
        self.assertEqual(chart.nice_step(1000), 200)
        self.assertEqual(chart._fmt_us(1500), "1.5 ms")
        self.assertEqual(chart._fmt_num(1234567), "1.23M")

    def test_one_server_only(self):
        rows = [{"label": "get", "sublabel": "", "zookeeper": None,
                 "conclave": {"ops_per_s": 5, "p50_us": 1, "p99_us": 2, "p999_us": 3}}]
        root = ET.fromstring(chart.render_svg(rows).encode())
        self.assertEqual(len(self.bars(root, "tput")), 1)
        self.assertEqual(len(self.bars(root, "zookeeper")), 0)


class ConfigTest(unittest.TestCase):
    def test_conclave_config(self):
        text = conclave_cluster.render_config(
            2, "/tmp/d/n2/data", 1001, 1002, 1003, 1004,
            ["1@127.0.0.1:2001", "2@127.0.0.1:1004", "3@127.0.0.1:2003"])
        for needle in ('id = 2', 'data-dir = "/tmp/d/n2/data"', 'bind-address = "127.0.0.1"',
                       'client-port = 1001', 'zk-port = 1002', 'admin-port = 1003',
                       'peer-port = 1004', 'log-level = "warning"',
                       'peers = ["1@127.0.0.1:2001", "2@127.0.0.1:1004", "3@127.0.0.1:2003"]',
                       'zk-max-connections-per-address = 1000000', 'policy = "sharing"',
                       'workers = 0'):
            self.assertIn(needle, text)
        self.assertEqual(text.count("{"), text.count("}"))
        self.assertNotIn("0.0.0.0", text)

    def test_zookeeper_config(self):
        text = zk_cluster.render_config("/tmp/z/n1/data", 3001,
                                        [(1, 3101, 3201), (2, 3102, 3202), (3, 3103, 3203)])
        lines = dict(line.split("=", 1) for line in text.splitlines()
                     if line and not line.startswith("#"))
        self.assertEqual(lines["dataDir"], "/tmp/z/n1/data")
        self.assertEqual(lines["clientPort"], "3001")
        self.assertEqual(lines["clientPortAddress"], "127.0.0.1")
        self.assertEqual(lines["forceSync"], "yes")
        self.assertEqual(lines["maxClientCnxns"], "0")
        self.assertEqual(lines["admin.enableServer"], "false")
        self.assertEqual(lines["4lw.commands.whitelist"], "*")
        self.assertEqual(lines["tickTime"], "2000")
        self.assertEqual(lines["server.3"], "127.0.0.1:3103:3203")
        self.assertIn("-Xmx2g", zk_cluster.JVM_FLAGS)

    def test_parsers(self):
        srvr = zk_cluster.parse_srvr("Zookeeper version: 3.8.0-${mvngit.commit.id}, built on x\n"
                                     "Zxid: 0x100000010\nMode: follower\nNode count: 7\n")
        self.assertEqual(srvr, {"mode": "follower", "zxid": 0x100000010, "version": "3.8.0",
                                "node_count": 7})
        mntr = zk_cluster.parse_mntr("zk_version\t3.8.0\nzk_cnt_fsynctime\t42\n")
        self.assertEqual(mntr["zk_cnt_fsynctime"], 42.0)
        self.assertEqual(mntr["zk_version"], "3.8.0")
        prom = conclave_cluster.parse_prometheus(
            "# HELP conclave_persist_total x\n# TYPE conclave_persist_total counter\n"
            "conclave_persist_total 15\nconclave_raft_peer_lag_entries{peer=\"2\"} 3\n")
        self.assertEqual(prom["conclave_persist_total"], 15.0)
        self.assertEqual(prom['conclave_raft_peer_lag_entries{peer="2"}'], 3.0)


if __name__ == "__main__":
    unittest.main()
