# aioserving: a drop-in for the tensorflow/serving image.
#
#   docker build -t aioserving .
#   docker run -p 8500:8500 -p 8501:8501 -v "$PWD/models/m:/models/m" aioserving \
#       --model_name=m --model_base_path=/models/m
#   docker run -e MODEL_NAME=m -v "$PWD/models/m:/models/m" aioserving   # as tensorflow/serving
#
# Four stages, so that a change to the code rebuilds one small layer, not the ~2 GB one:
# `requirements` extracts setup.cfg's install_requires; `dependencies` installs them into
# a virtualenv (it depends on that list alone, so the build cache keeps it across code
# and test-extra changes); `build` installs this package on top, checks it, and keeps the
# package's own files apart in /opt/aioserving-package;
# `runtime` copies the dependencies' virtualenv and then the package's files into its
# site-packages onto a fresh slim base, as two layers, so pip, build caches and the source
# tree stay out of the served image.
#
# It needs neither BuildKit nor a frontend image (no `# syntax=` line, no RUN --mount,
# no COPY --chmod), so the classic builder of a machine without a registry builds it too;
# deploy/ci-docker.sh does that on our CI machines.

ARG PYTHON_VERSION=3.11

# setup.cfg's install_requires alone: its test extras, version or comments changing leave
# the next stage's cache as it was.
FROM python:${PYTHON_VERSION}-slim-bookworm AS requirements
WORKDIR /src
COPY setup.cfg deploy/docker/requirements_from_setup_cfg.py ./
RUN python3 requirements_from_setup_cfg.py setup.cfg > /requirements.txt

FROM python:${PYTHON_VERSION}-slim-bookworm AS dependencies
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/aioserving
# The building machine's pip settings (index, CA certificates), when it has any to give:
# deploy/ci-docker.sh writes them here at build time; the folder is otherwise empty. Only
# the two build stages see them.
COPY deploy/docker/build-settings/ /etc/aioserving-build/
WORKDIR /src
COPY --from=requirements /requirements.txt /tmp/requirements.txt
# The `tensorflow` wheel is CPU-only on Linux unless its `and-cuda` extra pulls the CUDA
# libraries, which nothing here asks for; `xgboost-cpu` is xgboost without NCCL. Then what
# a server never runs goes: pip itself, TensorFlow's C++ headers and static libraries. The
# bytecode stays: the root filesystem may be read-only, and compiling TensorFlow's modules
# at every start would slow it.
RUN if [ -f /etc/aioserving-build/pip.conf ]; then export PIP_CONFIG_FILE=/etc/aioserving-build/pip.conf; fi \
    && /opt/aioserving/bin/pip install -r /tmp/requirements.txt \
    && /opt/aioserving/bin/pip uninstall -y -q pip \
    && rm -rf /opt/aioserving/lib/python*/site-packages/tensorflow/include \
    && find /opt/aioserving -name '*.a' -delete

FROM dependencies AS build
COPY setup.cfg pyproject.toml README.md server.py ./
COPY actors/ actors/
COPY app/ app/
COPY config/ config/
COPY dataplane/ dataplane/
COPY examples/ examples/
COPY frontends/ frontends/
COPY protocol/ protocol/
COPY servables/ servables/
# pip comes back into this stage's virtualenv only (`runtime` copies the one of
# `dependencies`). --no-deps: `dependencies` installed them. --target puts the package's
# modules, bytecode and dist-info in a folder of their own, which is copied into
# site-packages here to check the whole: the import check runs with -P, so that it imports
# the installed package, not /src, and `pip check` sees the package's requirements met.
RUN if [ -f /etc/aioserving-build/pip.conf ]; then export PIP_CONFIG_FILE=/etc/aioserving-build/pip.conf; fi \
    && /opt/aioserving/bin/python -m ensurepip --default-pip \
    && /opt/aioserving/bin/pip install --no-deps --target /opt/aioserving-package . \
    && cp -a /opt/aioserving-package/. "$(/opt/aioserving/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && /opt/aioserving/bin/python -P -c "import server, actors, app, config, dataplane, frontends, protocol, servables" \
    && /opt/aioserving/bin/pip check

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG PYTHON_VERSION
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
COPY --from=dependencies /opt/aioserving /opt/aioserving
# Both are mode 0755 in git; COPY keeps the mode.
COPY deploy/docker/entrypoint.sh /usr/local/bin/aioserving-entrypoint
COPY deploy/docker/healthcheck.py /usr/local/bin/aioserving-healthcheck
# Last, as the one layer a change to the code rebuilds.
COPY --from=build /opt/aioserving-package/ /opt/aioserving/lib/python${PYTHON_VERSION}/site-packages/
USER 1000:1000
WORKDIR /home/aioserving
EXPOSE 8500 8501
# start-period covers importing TensorFlow and loading the first versions: the ports open
# only once they are loaded, as in TF Serving.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["aioserving-healthcheck"]
ENTRYPOINT ["aioserving-entrypoint"]
