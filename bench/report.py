#!/usr/bin/env python3
"""Turns Google Benchmark JSON output into the table of medians and ratios that
docs/performance.md quotes, and plots contended-counter throughput against threads.

Usage: report.py results/*.json --markdown report.md --plot throughput.png
"""
import argparse
import json
import platform
import re
import sys

# (label, ours, reference, target, how): ratio = ours / reference; "time" compares median
# times (lower is better), "throughput" compares items_per_second (ours / theirs, higher is
# better).
TARGETS = [
    ("Counter::inc(), default SingleProcessBackend vs raw mutex+double",
     "BM_CounterInc_Default", "BM_RawMutexDouble", "<= 1.25", "time"),
    ("Counter::inc(), AtomicBackend vs prometheus-cpp Counter::Increment",
     "BM_CounterInc_Atomic", "BM_PromCpp_CounterIncrement", "<= 1.0", "time"),
    ("one counter, 2 threads: ShardedBackend throughput vs prometheus-cpp",
     "BM_CounterIncContended_Sharded/real_time/threads:2",
     "BM_PromCpp_CounterIncrementContended/real_time/threads:2", ">= 4", "throughput"),
    ("Histogram::observe(), default backend vs prometheus-cpp Histogram::Observe",
     "BM_HistogramObserve_Default", "BM_PromCpp_HistogramObserve", "<= 1.0", "time"),
    ("labels({...}).inc() on an existing child vs prometheus-cpp Family::Add+Increment",
     "BM_LabelsInc_Existing", "BM_PromCpp_FamilyAddIncrement", "<= 0.25", "time"),
    ("the same on AtomicBackend (one CAS per inc(), like prometheus-cpp's Counter)",
     "BM_LabelsInc_Existing_Atomic", "BM_PromCpp_FamilyAddIncrement", "<= 0.25", "time"),
    ("generate_metrics(), 1,000 counter + 100 histogram series vs Collect+TextSerializer",
     "BM_GenerateMetrics", "BM_PromCpp_CollectSerialize", "<= 0.4", "time"),
    ("write-through inc() rate vs raw hiredis INCRBYFLOAT round trips",
     "BM_Redis_WriteThroughInc/real_time", "BM_Redis_RawIncrbyfloat/real_time", ">= 0.9",
     "throughput"),
]


def load(paths):
    runs, context = {}, {}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        context = data.get("context", context)
        for b in data["benchmarks"]:
            if b.get("aggregate_name") not in (None, "median"):
                continue
            name = b.get("run_name", b["name"])
            runs[name] = b
    return runs, context


def per_item_ns(b):
    unit = {"ns": 1, "us": 1e3, "ms": 1e6, "s": 1e9}[b.get("time_unit", "ns")]
    return b["real_time"] * unit


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} us"
    return f"{ns:.1f} ns"


def fmt_rate(per_second):
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f} M/s"
    return f"{per_second / 1e3:.1f} k/s"


def met(ratio, target):
    op, value = target.split()
    value = float(value)
    return ratio <= value if op == "<=" else ratio >= value


def counter(runs, name, key):
    b = runs.get(name)
    return None if b is None or key not in b else b[key]


def row(label, ours, reference, ratio, target, ok):
    met_s = "" if ok is None else ("yes" if ok else "NO")
    return f"| {label} | {ours} | {reference} | {ratio} | {target} | {met_s} |"


def absolute_rows(runs):
    """The targets that are not a ratio of two times: memory, and the Redis backend's round
    trips, rate and exactness."""
    out = []
    for kind in ("counter", "histogram"):
        key = f"{kind}_series_bytes"
        ours = counter(runs, "BM_MemoryPerSeries/iterations:1", key)
        ref = counter(runs, "BM_PromCpp_MemoryPerSeries/iterations:1", key)
        label = f"heap bytes per labelled {kind} series vs prometheus-cpp"
        if ours is None or ref is None:
            out.append(row(label, "not run", "", "", "<= 1.0", None))
        else:
            out.append(row(label, f"{ours:.0f} B", f"{ref:.0f} B", f"{ours / ref:.2f}x",
                           "<= 1.0", ours <= ref))
    for label, name in (("write-through inc(): round trips per operation",
                         "BM_Redis_WriteThroughInc/real_time"),
                        ("write-through Histogram::observe(): round trips per operation",
                         "BM_Redis_WriteThroughObserve/real_time"),
                        ("generate_metrics() on Redis (registry above): round trips per scrape",
                         "BM_Redis_GenerateMetrics/real_time")):
        trips = counter(runs, name, "redis_round_trips_per_op")
        commands = counter(runs, name, "redis_commands_per_op")
        if trips is None:
            out.append(row(label, "not run", "", "", "1", None))
        else:
            out.append(row(label, f"{trips:.2f} ({commands:.1f} commands)", "", "", "1",
                           round(trips) == 1))
    rate = counter(runs, "BM_Redis_WriteBehindInc/real_time/threads:1", "items_per_second")
    out.append(row("write-behind inc(), 1 thread: operations per second",
                   "not run" if rate is None else f"{rate / 1e6:.1f} M/s", "", "",
                   ">= 10 M/s", None if rate is None else rate >= 10e6))
    incs = counter(runs, "BM_Redis_WriteBehindExact/real_time", "incs")
    stored = counter(runs, "BM_Redis_WriteBehindExact/real_time", "in_redis")
    out.append(row("write-behind inc(): total in Redis after flush() / incs made",
                   "not run" if incs is None else f"{stored:.0f} / {incs:.0f}", "", "",
                   "equal", None if incs is None else stored == incs))
    scrape = runs.get("BM_Redis_GenerateMetrics/real_time")
    out.append(row("generate_metrics() on Redis (registry above): median",
                   "not run" if scrape is None else fmt_ns(per_item_ns(scrape)), "", "",
                   "<= 10 ms", None if scrape is None else per_item_ns(scrape) <= 10e6))
    return out


def markdown(runs, context):
    lines = []
    cpu = f"{context.get('num_cpus', '?')} x {context.get('mhz_per_cpu', '?')} MHz"
    lines.append(f"Machine: {platform.node()}, {cpu}, {platform.system()} {platform.release()}; "
                 f"run {context.get('date', '?')}; medians of "
                 f"{context.get('repetitions', '?') if 'repetitions' in context else 'the'} "
                 "repetitions.\n")
    lines.append("| operation | ours | reference | ratio | target | met |")
    lines.append("|---|---|---|---|---|---|")
    for label, ours, ref, target, how in TARGETS:
        if ours not in runs or ref not in runs:
            lines.append(f"| {label} | not run | | | {target} | |")
            continue
        a, b = runs[ours], runs[ref]
        if how == "time":
            ratio = per_item_ns(a) / per_item_ns(b)
            ours_s, ref_s = fmt_ns(per_item_ns(a)), fmt_ns(per_item_ns(b))
        else:
            ratio = a["items_per_second"] / b["items_per_second"]
            ours_s, ref_s = fmt_rate(a["items_per_second"]), fmt_rate(b["items_per_second"])
        lines.append(f"| {label} | {ours_s} | {ref_s} | {ratio:.2f}x | {target} | "
                     f"{'yes' if met(ratio, target) else 'NO'} |")
    lines.extend(absolute_rows(runs))
    lines.append("")
    lines.append("Other figures:\n")
    lines.append("| benchmark | median | counters |")
    lines.append("|---|---|---|")
    for name, b in sorted(runs.items()):
        counters = {k: v for k, v in b.items()
                    if k not in ("name", "run_name", "run_type", "repetitions", "repetition_index",
                                 "threads", "iterations", "real_time", "cpu_time", "time_unit",
                                 "aggregate_name", "aggregate_unit", "family_index",
                                 "per_family_instance_index")
                    and isinstance(v, (int, float))}
        extra = ", ".join(f"{k}={v:.4g}" for k, v in counters.items())
        lines.append(f"| {name} | {fmt_ns(per_item_ns(b))} | {extra} |")
    return "\n".join(lines) + "\n"


def plot(runs, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = {}
    for name, b in runs.items():
        m = re.match(r"(BM_\w*Contended\w*)/real_time/threads:(\d+)$", name)
        if m and "items_per_second" in b:
            series.setdefault(m.group(1), []).append((int(m.group(2)), b["items_per_second"] / 1e6))
    if not series:
        print("no contended benchmarks to plot", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = {
        "BM_CounterIncContended_Sharded": "pytheus-cpp ShardedBackend",
        "BM_CounterIncContended_Atomic": "pytheus-cpp AtomicBackend",
        "BM_CounterIncContended_Default": "pytheus-cpp SingleProcessBackend (default)",
        "BM_PromCpp_CounterIncrementContended": "prometheus-cpp Counter",
    }
    for key, points in sorted(series.items()):
        points.sort()
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o",
                label=names.get(key, key))
    ax.set_xlabel("threads incrementing one counter")
    ax.set_ylabel("increments per second (millions, all threads)")
    ax.set_title("Contended Counter::inc() throughput")
    ax.set_xticks(sorted({p[0] for pts in series.values() for p in pts}))
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("json", nargs="+")
    parser.add_argument("--markdown")
    parser.add_argument("--plot")
    args = parser.parse_args()
    runs, context = load(args.json)
    text = markdown(runs, context)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    print(text)
    if args.plot:
        plot(runs, args.plot)


if __name__ == "__main__":
    main()
