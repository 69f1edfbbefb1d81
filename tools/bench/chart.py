#!/usr/bin/python3
"""SVG chart of a ZooKeeper vs Conclave comparison (pure Python, no matplotlib).

    tools/bench/chart.py SUMMARY.json [OUT.svg]     (default: chart.svg beside it)

    from chart import render_svg
    svg = render_svg(rows, title="...", subtitle="...")

rows: [{"label": "create", "sublabel": "32 clients",
        "zookeeper": {"ops_per_s": .., "p50_us": .., "p99_us": .., "p999_us": ..} or None,
        "conclave":  {...} or None}]
(compare.py writes them as summary.json's "chart_rows").

Two panels, one group per row:
  1. throughput: one bar per server (ops/s), value printed above the bar,
     and the ratio Conclave / ZooKeeper under the group;
  2. latency: p50, p99 and p99.9 per server (three shades of the server's
     colour), microseconds or milliseconds on the axis.
A panel switches to a logarithmic axis (decades) when its largest value is
more than 25 times its smallest, which is the usual case (reads are an
order of magnitude faster than fsynced writes). The SVG is self-contained
(no fonts, scripts or external references), with labelled axes and a
legend; each bar is a <rect class="bar ..."> carrying data-server,
data-metric, data-row and data-value, so tests and scripts can read it back.
"""

import json
import math
import os
import sys
from xml.sax.saxutils import escape

SERVERS = (("zookeeper", "ZooKeeper"), ("conclave", "Conclave"))
# Per server: base colour (throughput) and shades for p50 / p99 / p99.9.
COLOURS = {
    "zookeeper": ("#d9822b", ("#f3c99b", "#d9822b", "#8a4a0e")),
    "conclave": ("#2b6cb0", ("#a9c8ec", "#2b6cb0", "#123a66")),
}
LATENCIES = (("p50_us", "p50"), ("p99_us", "p99"), ("p999_us", "p99.9"))
LOG_THRESHOLD = 25.0

WIDTH_MIN = 720
LEFT, RIGHT = 78, 24
PANEL_H = 250
TOP = 64


def _fmt_num(v):
    """Compact number: 1234 -> 1.2k, 1234567 -> 1.2M."""
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1e6:
        return "%.3gM" % (v / 1e6)
    if a >= 1e4:
        return "%.0fk" % (v / 1e3)
    if a >= 1e3:
        return "%.1fk" % (v / 1e3)
    if a >= 10 or v == int(v):
        return "%.0f" % v
    return "%.2g" % v


def _fmt_us(v):
    """A duration in microseconds as text: 850 us, 1.2 ms, 35 ms, 1.5 s."""
    if v >= 1e6:
        return "%.3g s" % (v / 1e6)
    if v >= 1e3:
        return "%.3g ms" % (v / 1e3)
    return "%.3g us" % v


def nice_step(span, target_ticks=5):
    """A 1/2/5 x 10^k step that cuts `span` into about target_ticks parts."""
    if span <= 0:
        return 1.0
    raw = span / target_ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


class Axis:
    """Maps values to a vertical pixel range [y0 (bottom), y1 (top)]."""

    def __init__(self, values, y0, y1, fmt):
        values = [v for v in values if v is not None and v > 0]
        self.y0, self.y1, self.fmt = y0, y1, fmt
        lo, hi = (min(values), max(values)) if values else (1.0, 10.0)
        self.log = hi / lo > LOG_THRESHOLD
        if self.log:
            self.lo = 10 ** math.floor(math.log10(lo))
            self.hi = 10 ** math.ceil(math.log10(hi))
            if self.hi <= self.lo:
                self.hi = self.lo * 10
            self.ticks = [10 ** e for e in range(int(round(math.log10(self.lo))),
                                                 int(round(math.log10(self.hi))) + 1)]
        else:
            step = nice_step(hi)
            self.lo = 0.0
            self.hi = math.ceil(hi * 1.08 / step) * step or step
            n = int(round(self.hi / step))
            self.ticks = [i * step for i in range(n + 1)]

    def y(self, v):
        if self.log:
            v = max(v, self.lo)
            f = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            f = (v - self.lo) / (self.hi - self.lo)
        return self.y0 - f * (self.y0 - self.y1)


def _text(x, y, s, size=11, anchor="middle", weight=None, fill="#222", extra=""):
    """A <text> element (s is escaped)."""
    w = ' font-weight="%s"' % weight if weight else ""
    return ('<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" fill="%s"%s%s>%s</text>'
            % (x, y, size, anchor, fill, w, extra, escape(str(s))))


def _axis_svg(axis, x0, x1, label):
    out = []
    for t in axis.ticks:
        y = axis.y(t)
        out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e2e2e2"/>'
                   % (x0, y, x1, y))
        out.append(_text(x0 - 6, y + 4, axis.fmt(t), size=10, anchor="end"))
    out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555"/>'
               % (x0, axis.y0, x0, axis.y1))
    out.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555"/>'
               % (x0, axis.y0, x1, axis.y0))
    ym = (axis.y0 + axis.y1) / 2
    scale = " (log scale)" if axis.log else ""
    out.append(_text(18, ym, label + scale, size=11,
                     extra=' transform="rotate(-90 18 %.1f)"' % ym))
    return out


def _bar(x, w, axis, value, cls, server, metric, row, fill, title):
    y = axis.y(value)
    h = max(axis.y0 - y, 0.5)
    return ('<rect class="bar %s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" '
            'data-server="%s" data-metric="%s" data-row="%s" data-value="%s">'
            '<title>%s</title></rect>'
            % (cls, x, axis.y0 - h, w, h, fill, server, metric, escape(row, {'"': "&quot;"}),
               "%g" % value, escape(title)))


def render_svg(rows, title="ZooKeeper vs Conclave", subtitle=""):
    """The chart as an SVG document (str)."""
    servers = [s for s in SERVERS if any(r.get(s[0]) for r in rows)]
    nserv = max(len(servers), 1)
    group_w = max(40 * nserv, 20 * 3 * nserv) + 22
    width = max(WIDTH_MIN, LEFT + RIGHT + group_w * max(len(rows), 1))
    p1_top = TOP
    p1_bottom = p1_top + PANEL_H
    p2_top = p1_bottom + 90
    p2_bottom = p2_top + PANEL_H
    height = p2_bottom + 76
    x_end = width - RIGHT

    tput = [r[s]["ops_per_s"] for r in rows for s, _ in servers if r.get(s)]
    lats = [r[s][k] for r in rows for s, _ in servers if r.get(s) for k, _ in LATENCIES]
    ax1 = Axis(tput, p1_bottom, p1_top + 14, _fmt_num)
    ax2 = Axis(lats, p2_bottom, p2_top + 14, _fmt_us)

    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="sans-serif">' % (width, height, width, height),
           '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (width, height),
           _text(width / 2, 22, title, size=16, weight="bold")]
    if subtitle:
        out.append(_text(width / 2, 40, subtitle, size=11, fill="#555"))
    out.append(_text(LEFT, p1_top + 4, "Throughput (higher is better)", size=12,
                     anchor="start", weight="bold"))
    out.append(_text(LEFT, p2_top + 4, "Latency p50 / p99 / p99.9 (lower is better)", size=12,
                     anchor="start", weight="bold"))
    out += _axis_svg(ax1, LEFT, x_end, "operations / s")
    out += _axis_svg(ax2, LEFT, x_end, "latency")

    for i, r in enumerate(rows):
        gx = LEFT + 11 + i * group_w
        row_name = r["label"] + ((" " + r["sublabel"]) if r.get("sublabel") else "")
        # panel 1
        bw = (group_w - 22) / nserv
        for j, (s, sname) in enumerate(servers):
            m = r.get(s)
            if not m or m.get("ops_per_s") is None:
                continue
            x = gx + j * bw
            v = m["ops_per_s"]
            out.append(_bar(x, bw - 2, ax1, v, "tput " + s, s, "ops_per_s", row_name,
                            COLOURS[s][0], "%s %s: %.0f ops/s" % (sname, row_name, v)))
            out.append(_text(x + (bw - 2) / 2, ax1.y(v) - 3, _fmt_num(v), size=9))
        # panel 2
        lw = (group_w - 22) / (3 * nserv)
        for j, (s, sname) in enumerate(servers):
            m = r.get(s)
            if not m:
                continue
            for k, (key, kname) in enumerate(LATENCIES):
                v = m.get(key)
                if v is None:
                    continue
                x = gx + (j * 3 + k) * lw
                out.append(_bar(x, lw - 1, ax2, max(v, 1e-9), "lat " + s, s, key, row_name,
                                COLOURS[s][1][k],
                                "%s %s %s: %s" % (sname, row_name, kname, _fmt_us(v))))
        # group labels under both panels
        cx = gx + (group_w - 22) / 2
        for base in (p1_bottom, p2_bottom):
            out.append(_text(cx, base + 14, r["label"], size=10))
            if r.get("sublabel"):
                out.append(_text(cx, base + 26, r["sublabel"], size=9, fill="#555"))
        zk, cc = r.get("zookeeper"), r.get("conclave")
        if zk and cc and zk.get("ops_per_s") and cc.get("ops_per_s") is not None:
            out.append(_text(cx, p1_bottom + 38, "C/ZK %.2fx" % (cc["ops_per_s"] / zk["ops_per_s"]),
                             size=9, fill="#333", extra=' class="ratio"'))
    # legend
    lx, ly = LEFT, height - 22
    for s, sname in servers:
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                   % (lx, ly - 10, COLOURS[s][0]))
        out.append(_text(lx + 16, ly, sname, size=11, anchor="start"))
        lx += 16 + 8 * len(sname) + 14
        for k, (_, kname) in enumerate(LATENCIES):
            out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                       % (lx, ly - 10, COLOURS[s][1][k]))
            out.append(_text(lx + 15, ly, kname, size=10, anchor="start", fill="#555"))
            lx += 15 + 7 * len(kname) + 10
        lx += 20
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 2
    with open(argv[1]) as f:
        summary = json.load(f)
    out = argv[2] if len(argv) > 2 else os.path.join(os.path.dirname(argv[1]), "chart.svg")
    with open(out, "w") as f:
        f.write(render_svg(summary["chart_rows"],
                           summary.get("chart_title", "ZooKeeper vs Conclave"),
                           summary.get("chart_subtitle", "")))
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
