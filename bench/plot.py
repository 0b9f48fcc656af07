#!/usr/bin/env python3
"""Plots the warm probe latency distributions that `make bench` measured.

usage: plot.py SAMPLES.json OUT.png   (SAMPLES.json: target/bench/samples.json)
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SERIES = [
    ("direct", "straight to blackbox", "#444444"),
    ("ours", "lambda-blackbox (Function URL)", "#d62728"),
    ("trivial", "sandbox overhead (trivial bootstrap)", "#aaaaaa"),
    ("adapter", "Web Adapter + blackbox", "#1f77b4"),
    ("sleep", "bash + curl + sleep 100 ms baseline", "#2ca02c"),
    ("ours_frozen", "lambda-blackbox, sandbox freezing", "#ff9896"),
]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    samples = json.load(open(sys.argv[1]))["warm_probe_ms"]
    fig, (ecdf, box) = plt.subplots(1, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [3, 2]})
    labels, data = [], []
    for key, label, color in SERIES:
        values = sorted(samples.get(key) or [])
        if not values:
            continue
        n = len(values)
        p50 = values[n // 2]
        ecdf.step(values, [(i + 1) / n for i in range(n)], where="post", color=color,
                  label=f"{label}: p50 {p50:.2f} ms")
        labels.append(label.split(" (")[0])
        data.append(values)
    ecdf.set_xscale("log")
    ecdf.set_xlabel("latency per probe, ms (log scale)")
    ecdf.set_ylabel("fraction of probes at or below")
    ecdf.set_title(f"Warm probes of a local target, {len(data[0]) if data else 0} per series, interleaved")
    ecdf.grid(True, which="both", alpha=0.3)
    ecdf.legend(fontsize=8, loc="lower right")
    try:  # matplotlib >= 3.10
        box.boxplot(data, orientation="horizontal", whis=(1, 99), showfliers=False)
    except TypeError:
        box.boxplot(data, vert=False, whis=(1, 99), showfliers=False)
    box.set_yticks(range(1, len(labels) + 1), labels, fontsize=8)
    box.set_xscale("log")
    box.set_xlabel("ms (log); box: quartiles, whiskers: p1–p99")
    box.grid(True, which="both", axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)
    print(f"plot.py: wrote {sys.argv[2]}")


if __name__ == "__main__":
    main()
