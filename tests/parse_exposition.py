#!/usr/bin/env python3
"""Runs an exposition program in both formats and parses what it prints with both of
prometheus_client's parsers: the text format with the text parser, OpenMetrics with the
strict OpenMetrics parser. Checks that both hold the same series (nothing merged or lost)
and that OpenMetrics has `_created` samples and no negative sum.

    parse_exposition.py PROGRAM [ARGS...]
"""
import subprocess
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text


def run(args):
    return subprocess.run(args, check=True, capture_output=True).stdout.decode("utf-8")


def series(families, skip=("_created",)):
    out = set()
    for f in families:
        for s in f.samples:
            if s.name.endswith(skip):
                continue
            labels = dict(s.labels)
            # Bounds are canonical floats in OpenMetrics ("1.0"), bare in the text format.
            if f.type == "histogram" and "le" in labels:
                labels["le"] = float(labels["le"])
            if f.type == "summary" and "quantile" in labels:
                labels["quantile"] = float(labels["quantile"])
            out.add((s.name, tuple(sorted(labels.items()))))
    return out


def main():
    program = sys.argv[1:]
    text = run(program)
    om = run(program + ["--openmetrics"])
    text_families = list(parse_text(text))
    om_families = list(parse_om(om))
    # The text parser names counter samples as written; OpenMetrics appends _total.
    text_series = series(text_families, skip=("_created", "_sum", "_count"))
    om_series = series(om_families, skip=("_created", "_sum", "_count"))
    if text_series != om_series:
        print("series differ between formats:", file=sys.stderr)
        print("  text only:", sorted(text_series - om_series), file=sys.stderr)
        print("  openmetrics only:", sorted(om_series - text_series), file=sys.stderr)
        return 1
    created = [s for f in om_families for s in f.samples if s.name.endswith("_created")]
    if not created:
        print("no _created samples in OpenMetrics", file=sys.stderr)
        return 1
    negative = [s for f in om_families for s in f.samples if s.name.endswith("_sum") and s.value < 0]
    if negative:
        print("negative sums in OpenMetrics:", negative, file=sys.stderr)
        return 1
    # Exemplars, when the program writes any, come back from the OpenMetrics parser.
    written = om.count(" # {")
    parsed = [s for f in om_families for s in f.samples if s.exemplar is not None]
    if written != len(parsed):
        print(f"{written} exemplars written, {len(parsed)} parsed", file=sys.stderr)
        return 1
    print(f"ok: {len(text_series)} series, {len(created)} _created samples, "
          f"{len(parsed)} exemplars, both parsers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
