#!/usr/bin/env python3
"""Parses an exposition with prometheus_client and prints what it read as JSON, for a C++
test to compare with the values it recorded.

    parse_to_json.py text FILE          the text format, prometheus_client's text parser
    parse_to_json.py openmetrics FILE   OpenMetrics, the strict OpenMetrics parser

Prints {"families": [{"name", "type", "samples": [{"name", "labels", "value"}]}]}. Values
are Python's repr of the float ("1.5", "inf"), and the bounds in `le` and `quantile` labels
are made canonical the same way ("1" and "1.0" both become "1.0"), so that both formats
compare alike. A parser's error exits 1 with its message.
"""
import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text


def main():
    fmt, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    parse = parse_om if fmt == "openmetrics" else parse_text
    try:
        families = list(parse(text))
    except Exception as e:  # the parser's own error, whatever its type
        print(f"{fmt} parser refused {path}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    out = []
    for fam in families:
        samples = []
        for s in fam.samples:
            labels = dict(s.labels)
            for bound in ("le", "quantile"):
                if bound in labels:
                    labels[bound] = repr(float(labels[bound]))
            samples.append({"name": s.name, "labels": labels, "value": repr(float(s.value))})
        out.append({"name": fam.name, "type": fam.type, "samples": samples})
    json.dump({"families": out}, sys.stdout, ensure_ascii=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
