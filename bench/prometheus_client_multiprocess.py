#!/usr/bin/env python3
"""prometheus_client's multiprocess mode under the registry of bench_file's scrape benchmark:
1,000 counter + 100 histogram series written by 8 live processes, scraped with
MultiProcessCollector; then 1,000 more processes come and go and the scrape is timed again.
Its figures sit beside MultiProcessFileBackend's in docs/performance.md (same machine).

    python3 bench/prometheus_client_multiprocess.py   # Debian: python3-prometheus-client
"""
import os
import statistics
import sys
import tempfile
import time

directory = tempfile.mkdtemp(prefix="pcm-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest  # noqa: E402
from prometheus_client import multiprocess  # noqa: E402

counter = Counter("bench_requests", "x", ["series"])
histogram = Histogram("bench_seconds", "x", ["series"])


def work(all_series):
    for i in range(1000 if all_series else 2):
        counter.labels(str(i)).inc()
    for i in range(100 if all_series else 1):
        histogram.labels(str(i)).observe(0.3)


def run_children(n, all_series):
    pids = []
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            work(all_series)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)


def scrape_ms(reps=20):
    times = []
    for _ in range(reps):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        start = time.perf_counter()
        generate_latest(registry)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


run_children(8, True)
before = scrape_ms()
files_before = len(os.listdir(directory))
for _ in range(10):
    run_children(100, False)
after = scrape_ms()
files_after = len(os.listdir(directory))
print(f"8 processes: scrape {before:.2f} ms, {files_before} files")
print(f"after 1,000 more came and went: scrape {after:.2f} ms, {files_after} files, "
      f"{after / before:.1f}x")
sys.exit(0)
