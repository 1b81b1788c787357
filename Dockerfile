# aioserving: a drop-in for the tensorflow/serving image.
#
#   docker build -t aioserving .
#   docker run -p 8500:8500 -p 8501:8501 -v "$PWD/models/m:/models/m" aioserving \
#       --model_name=m --model_base_path=/models/m
#   docker run -e MODEL_NAME=m -v "$PWD/models/m:/models/m" aioserving   # as tensorflow/serving
#
# Two stages: `build` installs the package and its dependencies into a virtualenv;
# `runtime` copies only that virtualenv onto a fresh slim base, so pip, build caches and
# the source tree stay out of the served image.
#
# It needs neither BuildKit nor a frontend image (no `# syntax=` line, no RUN --mount,
# no COPY --chmod), so the classic builder of a machine without a registry builds it too;
# deploy/ci-docker.sh does that on our CI machines.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/aioserving
# The building machine's pip settings (index, CA certificates), when it has any to give:
# deploy/ci-docker.sh writes them here at build time; the folder is otherwise empty. Only
# this stage sees them.
COPY deploy/docker/build-settings/ /etc/aioserving-build/
WORKDIR /src
# The dependencies first, from setup.cfg alone, so that a change to the code reuses this
# (large) layer from the cache.
COPY setup.cfg deploy/docker/requirements_from_setup_cfg.py ./
RUN if [ -f /etc/aioserving-build/pip.conf ]; then export PIP_CONFIG_FILE=/etc/aioserving-build/pip.conf; fi \
    && python3 requirements_from_setup_cfg.py setup.cfg > /tmp/requirements.txt \
    && /opt/aioserving/bin/pip install -r /tmp/requirements.txt
COPY pyproject.toml README.md server.py ./
COPY actors/ actors/
COPY app/ app/
COPY config/ config/
COPY dataplane/ dataplane/
COPY examples/ examples/
COPY frontends/ frontends/
COPY protocol/ protocol/
COPY servables/ servables/
# The `tensorflow` wheel is CPU-only on Linux unless its `and-cuda` extra pulls the CUDA
# libraries, which nothing here asks for; `xgboost-cpu` is xgboost without NCCL.
# --no-deps: the layer above installed them. The import check runs with -P, so that it
# imports the installed package, not /src. Then what a server never runs goes: pip itself,
# TensorFlow's C++ headers and static libraries. The bytecode stays: the root filesystem
# may be read-only, and compiling TensorFlow's modules at every start would slow it.
RUN if [ -f /etc/aioserving-build/pip.conf ]; then export PIP_CONFIG_FILE=/etc/aioserving-build/pip.conf; fi \
    && /opt/aioserving/bin/pip install --no-deps . \
    && /opt/aioserving/bin/python -P -c "import server, actors, app, config, dataplane, frontends, protocol, servables" \
    && /opt/aioserving/bin/pip check \
    && /opt/aioserving/bin/pip uninstall -y -q pip \
    && site=/opt/aioserving/lib/python3.11/site-packages \
    && rm -rf "$site"/tensorflow/include \
    && find /opt/aioserving -name '*.a' -delete

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
# TF Serving's image reads these two (see deploy/docker/entrypoint.sh).
ENV MODEL_NAME=model \
    MODEL_BASE_PATH=/models \
    PATH=/opt/aioserving/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/aioserving
RUN groupadd --system --gid 1000 aioserving \
    && useradd --system --uid 1000 --gid aioserving --home-dir /home/aioserving \
        --create-home --shell /usr/sbin/nologin aioserving \
    && mkdir -p /models \
    && chown aioserving:aioserving /models
COPY --from=build /opt/aioserving /opt/aioserving
# Both are mode 0755 in git; COPY keeps the mode.
COPY deploy/docker/entrypoint.sh /usr/local/bin/aioserving-entrypoint
COPY deploy/docker/healthcheck.py /usr/local/bin/aioserving-healthcheck
USER 1000:1000
WORKDIR /home/aioserving
EXPOSE 8500 8501
# start-period covers importing TensorFlow and loading the first versions: the ports open
# only once they are loaded, as in TF Serving.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["aioserving-healthcheck"]
ENTRYPOINT ["aioserving-entrypoint"]
