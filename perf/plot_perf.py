#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Plots of perf/dataplane_bench.py results, as one SVG: rate vs frame size (the matrix) and
rate vs number of peers (--peers), measured beside the ceiling, so the gap shows without tables.

    perf/plot_perf.py perf/dataplane/issue14-plot.json -o docs/perf-rate.svg
    perf/plot_perf.py A.json B.json -o out.svg      # the matrix of one file, the peers of another

Input: the JSON of `dataplane_bench.py --json-out` (a list of matrix rows, or {"matrix": [...],
"site": [...], "peers": [...]}); several files are merged. Per frame size and direction (one
worker, one suite: --suite): dvped's Mpps, the ceiling 1 / (t_io + t_crypto) of testpmd and
aead_bench, and the in-run ceiling (1 / the rx + AEAD + tx cycles of the worker's stage clocks in
the same dvped run), labelled with the in-run ratio (rx + AEAD + tx) / all cycles: under load the
measured rate also loses the time the worker was preempted, which the stage clocks leave out. Per number of peers (64 B encrypt): round-robin and flow-local Mpps beside
the in-run ceiling of each case, the N = 1 baseline, and the 64 B encrypt ceiling of the matrix
when the files hold one.

Writes SVG by hand: python3's standard library only (matplotlib is not installed here).
"""
import argparse
import json
import math
import sys
from xml.sax.saxutils import escape

COLORS = {"measured": "#1f77b4", "ceiling": "#bbbbbb", "inrun": "#ff7f0e", "flow": "#2ca02c", "shuffled": "#9467bd"}
SIZE_ORDER = ["64", "128", "256", "512", "1024", "1420", "imix"]


def load(paths):
    matrix, peers = [], []
    for p in paths:
        with open(p) as f:
            d = json.load(f)
        if isinstance(d, list):
            matrix += d
        else:
            matrix += d.get("matrix", [])
            peers += d.get("peers", [])
    return matrix, peers


class Svg:
    def __init__(self, w, h):
        self.w, self.h, self.parts = w, h, []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, anchor="start", weight="normal", rotate=None, color="#222"):
        tr = ' transform="rotate(%d %.1f %.1f)"' % (rotate, x, y) if rotate else ""
        self.add('<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" font-weight="%s" fill="%s"%s>%s</text>'
                 % (x, y, size, anchor, weight, color, tr, escape(s)))

    def rect(self, x, y, w, h, color, title=None):
        t = "<title>%s</title>" % escape(title) if title else ""
        self.add('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s">%s</rect>' % (x, y, w, h, color, t))

    def line(self, x1, y1, x2, y2, color="#888", width=1, dash=None):
        d = ' stroke-dasharray="%s"' % dash if dash else ""
        self.add('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%s"%s/>'
                 % (x1, y1, x2, y2, color, width, d))

    def str(self):
        return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
                'font-family="DejaVu Sans, Arial, sans-serif">\n<rect width="100%%" height="100%%" fill="white"/>\n%s\n</svg>\n'
                % (self.w, self.h, self.w, self.h, "\n".join(self.parts)))


def nice_max(v):
    if v <= 0 or v != v:
        return 1.0
    e = 10 ** math.floor(math.log10(v))
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * e >= v:
            return m * e
    return 10 * e


def bar_panel(svg, x0, y0, w, h, title, groups, series, ylabel, note=None, hline=None):
    """groups: [label]; series: [(name, color, [value or None per group], [label or None])];
    hline: (value, label) drawn across the panel."""
    svg.text(x0 + w / 2, y0, title, size=14, anchor="middle", weight="bold")
    vals = [v for _, _, vs, _ in series for v in vs if v is not None and v == v]
    if hline:
        vals.append(hline[0])
    top = nice_max(max(vals) * 1.08 if vals else 1)
    px, py, pw, ph = x0 + 50, y0 + 34, w - 60, h - 74  # title and legend above, labels below
    for i in range(6):
        v = top * i / 5
        y = py + ph - ph * v / top
        svg.line(px, y, px + pw, y, "#e5e5e5")
        svg.text(px - 6, y + 4, ("%.0f" if top >= 10 else "%.1f") % v, size=11, anchor="end")
    svg.line(px, py + ph, px + pw, py + ph, "#444")
    svg.line(px, py, px, py + ph, "#444")
    svg.text(x0 + 12, py + ph / 2, ylabel, size=12, anchor="middle", rotate=-90)
    gw = pw / max(len(groups), 1)
    bw = gw * 0.8 / max(len(series), 1)
    for gi, g in enumerate(groups):
        gx = px + gi * gw + gw * 0.1
        svg.text(px + gi * gw + gw / 2, py + ph + 16, g, size=11, anchor="middle")
        for si, (name, color, vs, labels) in enumerate(series):
            v = vs[gi]
            if v is None or v != v:
                continue
            bh = ph * v / top
            svg.rect(gx + si * bw, py + ph - bh, bw * 0.92, bh, color, "%s %s: %.2f" % (name, g, v))
            lab = labels[gi] if labels else None
            if lab:
                svg.text(gx + si * bw + bw * 0.46, py + ph - bh - 3, lab, size=9, anchor="middle", color="#333")
    if hline:
        y = py + ph - ph * hline[0] / top
        svg.line(px, y, px + pw, y, "#d62728", 1.5, "6,4")
        svg.text(px + pw - 4, y - 4, hline[1], size=10, anchor="end", color="#d62728")
    lx = px
    for name, color, _, _ in series:
        svg.rect(lx, y0 + 10, 10, 10, color)
        svg.text(lx + 14, y0 + 19, name, size=10)
        lx += 22 + 5.6 * len(name)
    if note:
        svg.text(px, py + ph + 34, note, size=10, color="#555")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("json", nargs="+", help="dataplane_bench.py --json-out files")
    ap.add_argument("-o", "--out", required=True, help="the SVG to write")
    ap.add_argument("--suite", default="aes256-gcm")
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    matrix, peers = load(args.json)
    matrix = [r for r in matrix if r.get("suite") == args.suite and r.get("workers", 1) == 1]
    peers = [r for r in peers if r.get("suite") == args.suite]
    dirs = [d for d in ("encrypt", "decrypt") if any(r["direction"] == d for r in matrix)]
    panels = len(dirs) + (1 if peers else 0)
    if panels == 0:
        sys.exit("plot_perf: no %s rows in %s" % (args.suite, ", ".join(args.json)))
    pw, ph = 560, 330
    cols = min(panels, 2)
    rows_n = (panels + cols - 1) // cols
    svg = Svg(cols * pw + 20, rows_n * (ph + 40) + 50)
    svg.text(svg.w / 2, 22, args.title or "dvped, one worker, %s: measured rate beside the ceiling" % args.suite,
             size=15, anchor="middle", weight="bold")
    slot = 0

    def place():
        nonlocal slot
        x, y = 10 + (slot % cols) * pw, 50 + (slot // cols) * (ph + 40)
        slot += 1
        return x, y

    for d in dirs:
        by = {r["size"]: r for r in matrix if r["direction"] == d}
        sizes = [s for s in SIZE_ORDER if s in by]
        groups = [s + " B" if s != "imix" else "IMIX" for s in sizes]
        meas = [by[s]["mpps"] for s in sizes]
        ceil = [by[s]["ceiling_mpps"] for s in sizes]
        inrun = [by[s].get("inrun_ceiling_mpps") for s in sizes]
        labels = ["%.2f" % (m / c) if c else None for m, c in zip(meas, ceil)]
        inlab = ["%.2f" % by[s]["inrun_ratio"] if by[s].get("inrun_ratio") == by[s].get("inrun_ratio") and
                 by[s].get("inrun_ratio") is not None else None for s in sizes]
        x, y = place()
        bar_panel(svg, x, y, pw - 20, ph, "%s: Mpps vs frame size" % d, groups,
                  [("ceiling (testpmd + aead_bench)", COLORS["ceiling"], ceil, None),
                   ("in-run ceiling (stage clocks)", COLORS["inrun"], inrun, inlab),
                   ("dvped measured", COLORS["measured"], meas, labels)],
                  "Mpps", note="on blue: measured / grey ceiling; on orange: in-run ratio (the worker's stage clocks, "
                               "preempted iterations left out)")
    if peers:
        base = [r for r in peers if r["case"] == "baseline"]
        cases = [r for r in peers if r["case"] == "peers"]
        ns = sorted({r["peers"] for r in cases} | ({1} if base else set()))
        rr = {r["peers"]: r for r in cases if r["mix"] == "rr"}
        fl = {r["peers"]: r for r in cases if r["mix"] == "local"}
        sh = {r["peers"]: r for r in cases if r["mix"] == "shuffled"}
        b = base[0] if base else None

        def val(tab, n, k):
            if n == 1 and b is not None:
                return b.get(k)
            return tab[n].get(k) if n in tab else None

        meas_rr = [val(rr, n, "mpps") for n in ns]
        meas_fl = [val(fl, n, "mpps") for n in ns]
        inrun_rr = [val(rr, n, "inrun_ceiling_mpps") for n in ns]
        lab_rr = [("%.2f" % val(rr, n, "ratio")) if val(rr, n, "ratio") is not None else None for n in ns]
        lab_fl = [("%.2f" % val(fl, n, "ratio")) if n != 1 and val(fl, n, "ratio") is not None else None for n in ns]
        meas_sh = [val(sh, n, "mpps") for n in ns]
        lab_sh = [("%.2f" % val(sh, n, "ratio")) if n != 1 and val(sh, n, "ratio") is not None else None for n in ns]
        ext = [r for r in matrix if r["direction"] == "encrypt" and r["size"] == "64"]
        hline = (ext[0]["ceiling_mpps"], "64 B encrypt ceiling (testpmd + aead_bench) %.1f" % ext[0]["ceiling_mpps"]) if ext else None
        x, y = place()
        bar_panel(svg, x, y, pw - 20, ph, "64 B encrypt: Mpps vs number of peers", ["N = %d" % n for n in ns],
                  [("in-run ceiling, round-robin", COLORS["inrun"], inrun_rr, None),
                   ("round-robin", COLORS["measured"], meas_rr, lab_rr)] +
                  ([("round-robin, shuffled peers", COLORS["shuffled"], meas_sh, lab_sh)] if sh else []) +
                  ([("flow-local (runs of 32)", COLORS["flow"], meas_fl, lab_fl)] if fl else []),
                  "Mpps", note="labels: ratio to N = 1 of the same run", hline=hline)
    with open(args.out, "w") as f:
        f.write(svg.str())
    print("wrote %s (%d panels)" % (args.out, panels))


if __name__ == "__main__":
    main()
