#!/usr/bin/env bash
# Installs Debian's Go toolchain when `go` is missing, for the generated-client tests.
set -euo pipefail
if ! command -v go >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq golang-go >/dev/null
fi
go version
