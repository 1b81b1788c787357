"""Micro-benchmark: the cost of TF Serving's float text in REST responses (issue 12, item 12).

Times ``encode_predict_response`` for a 1-example and a 100-example response of a model with
one float32 output of 10 values per example (plus a 1000-value one), in both
``--rest_float_format`` modes, and ``parse_predict_body`` on a normal body (the deep-JSON
fallback must cost it nothing). Run: ``python -m bench.rest_float_format``; results are
appended by hand to ``bench/RESULTS.md`` with the commit and the machine.
"""

from __future__ import annotations

import json
import platform
import timeit

import numpy as np
from protocol.rest_codec import FloatFormat, encode_predict_response, parse_predict_body


def _best_micros(statement: object, number: int) -> float:
    runs = timeit.repeat(statement, number=number, repeat=5)  # type: ignore[arg-type]
    return min(runs) / number * 1e6


def main() -> None:
    rng = np.random.default_rng(0)
    print(
        f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}"
    )
    for examples, width in ((1, 10), (100, 10), (1, 1000)):
        outputs = {"y": rng.standard_normal((examples, width)).astype(np.float32)}
        times = {
            fmt: _best_micros(
                lambda fmt=fmt, outputs=outputs: encode_predict_response(outputs, True, fmt), 200
            )
            for fmt in FloatFormat
        }
        print(
            f"encode {examples:>3} x {width:<4} float32: "
            + ", ".join(f"{fmt.value} {t:8.1f} us" for fmt, t in times.items())
            + f"  (x{times[FloatFormat.TF_SERVING] / times[FloatFormat.SHORTEST]:.1f})"
        )
    body = json.dumps({"instances": rng.standard_normal((100, 10)).tolist()}).encode()
    print(f"parse 100 x 10 body: {_best_micros(lambda: parse_predict_body(body), 200):8.1f} us")


if __name__ == "__main__":
    main()
