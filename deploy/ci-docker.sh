#!/usr/bin/env bash
# A private Docker daemon for building and testing the image on a CI or developer machine
# that has no Docker service and no registry, as our CI machines are.
#
#   deploy/ci-docker.sh start   # packages, daemon, base image; prints DOCKER_HOST= and DOCKERD_PID=
#   deploy/ci-docker.sh build TAG   # builds the Dockerfile as TAG (prints the seconds it took)
#   deploy/ci-docker.sh stop    # stops the daemon that `start` started, by its PID
#
# - Needs root. Installs docker.io and debootstrap with apt-get only when missing.
# - The daemon runs with --iptables=false --bridge=none and no service; containers use
#   --network host or --network none. Its state (and so the layer cache) lives in
#   $AIOSERVING_DOCKER_STATE (default /var/lib/aioserving-ci-docker) and survives between
#   runs on one machine; only the daemon process is stopped.
# - No registry is reachable, so the Dockerfile's base (python:3.11-slim-bookworm) is made
#   here once: a minimal Debian bookworm from the mirror this machine's apt already uses
#   (read from /etc/apt/sources.list*), with Python 3.11 as `python`/`python3` in
#   /usr/local/bin as in the official image, trimmed as the slim image is, then
#   `docker import`ed under that name. Where a registry is reachable, plain `docker build`
#   pulls the official image instead and none of this is needed.
# - pip inside the build gets this machine's index settings and CA certificates, read now
#   from pip's own configuration (`pip config list`, PIP_* variables) and the system
#   certificate store, written to deploy/docker/build-settings/ (git-ignored, copied only
#   into the build stage, never into the served image). file:// indexes and local
#   find-links folders cannot be seen from inside a build and are left out (named on stderr).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
STATE="${AIOSERVING_DOCKER_STATE:-/var/lib/aioserving-ci-docker}"
RUN_DIR="${AIOSERVING_DOCKER_RUN:-/run/aioserving-ci-docker}"
SOCK="$RUN_DIR/docker.sock"
PIDFILE="$RUN_DIR/dockerd.pid"
BASE_IMAGE="python:3.11-slim-bookworm"
export DOCKER_HOST="unix://$SOCK"
# The classic builder: BuildKit needs a frontend image (no registry) or the buildx plugin.
export DOCKER_BUILDKIT=0

say() { echo "ci-docker: $*" >&2; }

need_packages() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ]; then
        say "needs root to install ${missing[*]}"
        return 1
    fi
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

daemon_pid() {
    [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && cat "$PIDFILE"
}

start_daemon() {
    if daemon_pid >/dev/null && docker version >/dev/null 2>&1; then
        return 0
    fi
    mkdir -p "$STATE/data" "$RUN_DIR/exec"
    say "starting dockerd (state in $STATE)"
    setsid dockerd --iptables=false --ip-masq=false --bridge=none \
        --data-root "$STATE/data" --exec-root "$RUN_DIR/exec" \
        --host "unix://$SOCK" --pidfile "$PIDFILE" \
        >"$RUN_DIR/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 60); do
        docker version >/dev/null 2>&1 && return 0
        sleep 1
    done
    say "dockerd did not answer within 60 s; its log:"
    tail -20 "$RUN_DIR/dockerd.log" >&2
    return 1
}

# The first http(s) Debian mirror this machine's apt uses for bookworm.
debian_mirror() {
    local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
    local file
    for file in "${files[@]}"; do
        [ -f "$file" ] || continue
        case "$file" in
            *.sources)
                awk '/^URIs:/ {print $2} /^$/ {}' "$file" ;;
            *)
                awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; break}}' "$file" ;;
        esac
    done | grep -v -e security -e updates | head -1
}

make_base_image() {
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        return 0
    fi
    local mirror root
    mirror="$(debian_mirror)"
    if [ -z "$mirror" ]; then
        say "no Debian mirror found in /etc/apt/sources.list*"
        return 1
    fi
    root="$STATE/base-rootfs"
    rm -rf "$root"
    say "debootstrap bookworm from $mirror"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$root" "$mirror" >"$STATE/debootstrap.log" 2>&1 \
        || { tail -20 "$STATE/debootstrap.log" >&2; return 1; }
    # As the official slim image: python at /usr/local/bin, no docs, locales or apt lists.
    ln -sf /usr/bin/python3.11 "$root/usr/local/bin/python3"
    ln -sf /usr/bin/python3.11 "$root/usr/local/bin/python"
    rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
        "$root"/usr/share/locale/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
        "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log
    find "$root/usr/lib/python3.11" -name __pycache__ -prune -exec rm -rf {} +
    tar -C "$root" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$root"
    say "imported $BASE_IMAGE"
}

# pip's settings for the build, from this machine's own configuration.
write_build_settings() {
    local out="$ROOT/deploy/docker/build-settings"
    local pip_cmd="${PIP:-pip3}"
    command -v "$pip_cmd" >/dev/null || pip_cmd="python3 -m pip"
    # Written beside the files as *.new (outside the build context, .dockerignore) and
    # renamed over them only when they changed: a build reading its context meanwhile
    # sees the old file or the new one, never a file being rewritten.
    mkdir -p "$out"
    rm -f "$out/pip.conf.new" "$out/ca-certificates.crt.new"
    local cert="" index="" extra="" timeout="" key value
    while IFS='=' read -r key value; do
        value="${value#\'}"; value="${value%\'}"
        case "$key" in
            *.cert) cert="$value" ;;
            *.index-url) index="$value" ;;
            *.extra-index-url) extra="$extra $value" ;;
            *.default-timeout|*.timeout) timeout="$value" ;;
        esac
    done < <($pip_cmd config list 2>/dev/null || true)
    cert="${PIP_CERT:-$cert}"
    index="${PIP_INDEX_URL:-$index}"
    extra="${PIP_EXTRA_INDEX_URL:-$extra}"
    timeout="${PIP_DEFAULT_TIMEOUT:-$timeout}"
    [ -n "$cert" ] || for candidate in /etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt; do
        [ -f "$candidate" ] && cert="$candidate" && break
    done
    {
        echo "[global]"
        [ -n "$timeout" ] && echo "timeout = $timeout"
        if [ -n "$cert" ] && [ -f "$cert" ]; then
            cp "$cert" "$out/ca-certificates.crt.new"
            echo "cert = /etc/aioserving-build/ca-certificates.crt"
        fi
        local url http_extra=""
        for url in $extra; do
            case "$url" in
                http://*|https://*) http_extra="$http_extra $url" ;;
                *) say "leaving out index $url: a build cannot read this machine's files" ;;
            esac
        done
        case "$index" in
            http://*|https://*) echo "index-url = $index" ;;
            "") ;;
            *) say "leaving out index $index: a build cannot read this machine's files" ;;
        esac
        [ -n "$http_extra" ] && echo "extra-index-url =$http_extra"
        true
    } >"$out/pip.conf.new"
    local file
    for file in pip.conf ca-certificates.crt; do
        if [ ! -f "$out/$file.new" ]; then
            rm -f "$out/$file"
        elif cmp -s "$out/$file.new" "$out/$file"; then
            rm -f "$out/$file.new"
        else
            mv -f "$out/$file.new" "$out/$file"
        fi
    done
}

build_image() {
    local tag="$1" started elapsed
    write_build_settings
    started=$(date +%s)
    # The build stage gets a tag of its own (one per TAG, so that trees building side by
    # side keep theirs), so that its layers (the dependencies' above all) stay as the
    # cache for the next build when the prune below runs.
    docker build --network host --target build -t "aioserving-build-cache:${tag//[^A-Za-z0-9_.-]/-}" "$ROOT" >&2
    docker build --network host -t "$tag" "$ROOT" >&2
    elapsed=$(( $(date +%s) - started ))
    # Earlier builds' images, untagged once the tags moved on: each code change leaves
    # one holding a copy of the virtualenv.
    # Another build's prune may be running (the daemon allows one at a time): the images
    # are left for the next one, and the build still counts.
    docker image prune --force >/dev/null 2>&1 || say "image prune skipped (another is running)"
    echo "BUILD_SECONDS=$elapsed"
}

case "${1:-}" in
    start)
        need_packages
        start_daemon
        make_base_image
        echo "DOCKER_HOST=$DOCKER_HOST"
        echo "DOCKERD_PID=$(daemon_pid)"
        ;;
    build)
        [ -n "${2:-}" ] || { say "usage: $0 build TAG"; exit 2; }
        build_image "$2"
        ;;
    stop)
        if pid="$(daemon_pid)"; then
            kill "$pid"
            for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 1; done
            say "dockerd $pid did not stop within 30 s"
            exit 1
        fi
        ;;
    *)
        say "usage: $0 start | build TAG | stop"
        exit 2
        ;;
esac
