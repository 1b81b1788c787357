# syntax=docker/dockerfile:1
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

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/aioserving
WORKDIR /src
COPY pyproject.toml setup.cfg README.md server.py ./
COPY actors/ actors/
COPY config/ config/
COPY protocol/ protocol/
COPY examples/ examples/
# The `tensorflow` wheel is CPU-only on Linux unless its `and-cuda` extra pulls the CUDA
# libraries, which nothing here asks for.
RUN /opt/aioserving/bin/pip install . \
    && /opt/aioserving/bin/python -c "import server, actors, config, protocol"

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
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/aioserving-entrypoint
COPY --chmod=0755 deploy/docker/healthcheck.py /usr/local/bin/aioserving-healthcheck
USER 1000:1000
WORKDIR /home/aioserving
EXPOSE 8500 8501
# start-period covers importing TensorFlow and loading the first versions: the ports open
# only once they are loaded, as in TF Serving.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["aioserving-healthcheck"]
ENTRYPOINT ["aioserving-entrypoint"]
