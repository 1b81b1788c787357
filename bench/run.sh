#!/usr/bin/env bash
# The bench's one entry point: `bench/run.sh [--quick] [options]` (see `bench/run.sh --help`).
# Needs only the project's Python and taskset; wrk and h2load are used when on the PATH
# (`apt-get install wrk nghttp2-client`, see bench/tools/external.py). PYTHON overrides the
# interpreter (default: the repository's .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v taskset >/dev/null; then
    echo "taskset (util-linux) is required" >&2
    exit 1
fi
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export BENCH_COMMAND="bench/run.sh${*:+ $*}"
exec "${PYTHON:-.venv/bin/python}" -m bench.run "$@"
