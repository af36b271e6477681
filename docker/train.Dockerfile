# syntax=docker/dockerfile:1
# Training image: PyTorch and xorlab's `train` extra, every version from constraints.txt.
# Its entrypoint, xorlab-train, trains the models and publishes the model repository atomically
# into --out (in docker-compose.yml: the `models` volume, mounted at /var/lib/xorlab).
#
#   docker build -f docker/train.Dockerfile -t xorlab-train .                     # see TORCH_INDEX_URL
#   docker build -f docker/train.Dockerfile --build-arg TORCH_INDEX_URL=... .     # a chosen torch build
#
# TORCH_INDEX_URL is the package index torch alone is installed from; docs/deploying.md says what
# to pass. No index address is written into this repository on purpose: where wheels come from is
# the builder's choice (PyTorch's own indexes, a mirror, a proxy), given at build time.
#   - PyTorch's CPU wheel index: torch 2.13.0+cpu, a CPU-only image (about 1.2 GB).
#   - Empty: torch comes from pip's ordinary index like everything else. On PyPI, torch for Linux
#     x86_64 is the CUDA build, which carries the CUDA runtime as nvidia-* wheels that torch's
#     metadata pins to exact versions, as constraints.txt does (/opt/venv/installed.txt lists them). It trains on CPU as well, and on an NVIDIA GPU when the container is
#     given one (docker-compose.yml's `gpu` profile), at several GB more.
# The GPU variant needs no NVIDIA CUDA base image: the wheels hold the CUDA libraries, the NVIDIA
# Container Toolkit mounts the host's driver in, and Python stays the 3.11 the pins were tested on.

ARG PYTHON_VERSION=3.11

# --- build: a virtual environment in /opt/venv; the source tree and build files stay here ---
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ARG TORCH_INDEX_URL=
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
COPY constraints.txt ./
# torch first and alone (--no-deps) from TORCH_INDEX_URL when one is given, so that nothing else
# is fetched from that index; the next step resolves torch's dependencies from the ordinary index.
# torch==2.13.0 in constraints.txt matches 2.13.0+cpu too (a local version label).
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
        pip install --no-deps --index-url "$TORCH_INDEX_URL" -c constraints.txt "torch==2.13.0"; \
    fi
COPY pyproject.toml README.md ./
COPY xorlab/ xorlab/
RUN pip install -c constraints.txt ".[train]" \
    && pip check \
    && pip freeze --all > /opt/venv/installed.txt \
    && python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"

# --- train: the runtime image ---
FROM python:${PYTHON_VERSION}-slim-bookworm AS train
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib
COPY --from=build /opt/venv /opt/venv
# An unprivileged user owning /var/lib/xorlab: an empty named volume mounted there takes this
# folder's owner, so training can publish into it without root.
RUN useradd --system --no-log-init --uid 10001 --user-group --no-create-home \
        --shell /usr/sbin/nologin xorlab \
    && install -d -o xorlab -g xorlab /var/lib/xorlab
USER 10001:10001
WORKDIR /var/lib/xorlab
ENTRYPOINT ["xorlab-train"]
CMD ["--out", "/var/lib/xorlab/models"]
