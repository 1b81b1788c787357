#!/bin/sh
# The image's entry point: runs aioserving the way tensorflow/serving's entry point runs
# tensorflow_model_server.
#
#   --port=8500 --rest_api_port=8501
#   --model_name=$MODEL_NAME --model_base_path=$MODEL_BASE_PATH/$MODEL_NAME
#   then the container's arguments, which win over the flags above (the last value of a
#   flag counts), so `docker run IMAGE --model_name=m --model_base_path=/models/m` works.
#
# Two differences, both so that TF Serving's command lines keep working:
# - with --model_config_file (or its alias --config) among the arguments the two model
#   flags are left out: TF Serving ignores them then, aioserving refuses both at once;
# - --port_file=$AIOSERVING_PORT_FILE (default /tmp/aioserving/ports.json) comes first,
#   so that the HEALTHCHECK (aioserving-healthcheck) finds the REST port even when
#   --rest_api_port is changed.
# - --drain_seconds=$AIOSERVING_DRAIN_SECONDS (default 2) and
#   --grace_seconds=$AIOSERVING_GRACE_SECONDS (default 6) come first too: 2 + 6 s plus
#   the unload fit in `docker stop`'s default 10 s (the server's own defaults, 5 + 10,
#   do not). Raise them together with `docker stop -t` / `docker run --stop-timeout`, or
#   a pod's terminationGracePeriodSeconds (see deploy/NOTES-for-docs.md).
# A first argument that is not a flag is run as a command (`docker run IMAGE bash`).
set -eu

case "${1:-}" in
    -*|"") ;;
    *) exec "$@" ;;
esac

PORT_FILE="${AIOSERVING_PORT_FILE:-/tmp/aioserving/ports.json}"
mkdir -p "$(dirname "$PORT_FILE")"
rm -f "$PORT_FILE"

model_flags=yes
for argument in "$@"; do
    case "$argument" in
        --model_config_file|--model_config_file=*|--config|--config=*) model_flags=no ;;
    esac
done

MODEL_NAME="${MODEL_NAME:-model}"
MODEL_BASE_PATH="${MODEL_BASE_PATH:-/models}"
if [ "$model_flags" = yes ]; then
    set -- "--model_name=$MODEL_NAME" "--model_base_path=$MODEL_BASE_PATH/$MODEL_NAME" "$@"
fi
exec python -m server --port_file="$PORT_FILE" --port=8500 --rest_api_port=8501 \
    --drain_seconds="${AIOSERVING_DRAIN_SECONDS:-2}" \
    --grace_seconds="${AIOSERVING_GRACE_SECONDS:-6}" "$@"
