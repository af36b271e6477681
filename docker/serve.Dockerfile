# syntax=docker/dockerfile:1
# Serving image: xorlab's `serve` and `fast` extras only (Flask, gunicorn and its C parser,
# onnxruntime, numpy; no torch), every version from constraints.txt, run as an unprivileged user.
# The model repository is not in the image: mount it read-only and point XORLAB_MODELS at it
# (docker-compose.yml does both).
#
#   docker build -f docker/serve.Dockerfile -t xorlab-serve .
#   docker run --rm -p 8000:8000 -v xorlab_models:/var/lib/xorlab:ro xorlab-serve

ARG PYTHON_VERSION=3.11

# --- build: a virtual environment in /opt/venv; the source tree, pip, setuptools and the C
# compiler stay here ---
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
# gunicorn's C HTTP parser (the `fast` extra, gunicorn_h1c) is published as source only: it is
# compiled here, and only the built module reaches the serving stage. The image's Python brings
# its own headers. Debian stable's gcc only ever gets fixes, and the archive keeps just the newest
# build, so an exact pin would stop the build at the next update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
WORKDIR /src
# setup.py generates the gRPC modules from xorlab/serve/proto/*.proto while the wheel is built
# (grpcio-tools, a build requirement, is fetched for that step only).
COPY constraints.txt pyproject.toml setup.py README.md ./
# The package's top level: its __init__.py and the report's wording, which serving shares with training.
COPY xorlab/__init__.py xorlab/outcome_words.py xorlab/percentages.py xorlab/
COPY xorlab/modelrepo/ xorlab/modelrepo/
COPY xorlab/serve/ xorlab/serve/
# pip and setuptools are only needed to install: they leave with this stage's venv copy.
RUN pip install -c constraints.txt ".[serve,fast]" \
    && pip check \
    && pip freeze --all > /opt/venv/installed.txt \
    && python -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('torch') is not None)" \
    && pip uninstall --yes pip setuptools

# --- serve: the runtime image ---
FROM python:${PYTHON_VERSION}-slim-bookworm AS serve
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    XORLAB_MODELS=/var/lib/xorlab/models \
    XORLAB_BIND=0.0.0.0:8000 \
    XORLAB_GRPC_BIND=0.0.0.0:8001
# The training image's uid: the repository folder it publishes may be readable by its owner only.
# The working directory is an empty folder nobody can write to: nothing the server resolves against
# it (onnxruntime resolves a model's external data there; xorlab refuses such models) can find a file.
# Made here, not left to WORKDIR: buildah's WORKDIR does not create it, and a container with a
# read-only root filesystem (the Kubernetes Deployment's) cannot start in a folder that is not there.
RUN useradd --system --no-log-init --uid 10001 --user-group --no-create-home \
        --shell /usr/sbin/nologin xorlab \
    && install -d -m 0555 /var/empty
COPY --from=build /opt/venv /opt/venv
WORKDIR /var/empty
USER 10001:10001
EXPOSE 8000 8001
# Ready means every model in the repository loaded and verified (503 until then). Slim images have
# no curl: Python's urllib asks, on the port XORLAB_BIND names, so the check follows a changed bind.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('XORLAB_BIND', '0.0.0.0:8000').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/v2/health/ready', timeout=2)"]
ENTRYPOINT ["xorlab-serve"]
