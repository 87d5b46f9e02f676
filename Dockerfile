# syntax=docker/dockerfile:1
# llmlab serve on an NVIDIA GPU: the OpenAI-compatible server over a Hugging Face model directory.
#
#   docker build -t llmlab-serve .
#   docker run --gpus all -p 8000:8000 -v /path/to/model:/models/model:ro llmlab-serve
#   docker compose up            # the same, with the GPU reserved in compose.yaml
#
# The model is a volume, never baked in; set LLMLAB_API_KEY to require a Bearer key. docs/serve.md has more.
#
# Build arguments, for builds without a registry (`python deploy/container_test.py --gpu` uses them):
#   BASE_IMAGE       an apt-based image for both stages (default the CUDA runtime below)
#   TORCH_INDEX_URL  where the torch wheel comes from (default PyPI, whose Linux wheels bring CUDA's libraries)
#   TORCH_WHEELS     a folder in the build context holding that wheel (its dependencies still come from PyPI)
ARG BASE_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04

FROM ${BASE_IMAGE} AS build
ARG TORCH_INDEX_URL=https://pypi.org/simple
ARG TORCH_WHEELS=
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
# PyPI's Linux torch wheels carry their own CUDA libraries; the pins in constraints.txt keep builds repeatable.
# torch first, from the index or the folder; "$torch" is pinned from constraints.txt, which hadolint cannot see
# hadolint ignore=DL3013
RUN --mount=type=bind,target=/context \
    torch="torch==$(grep -E '^torch==' constraints.txt | cut -d= -f3)" \
    && if [ -n "$TORCH_WHEELS" ]; then \
           pip install --no-cache-dir --find-links "/context/$TORCH_WHEELS" "$torch"; \
       else \
           pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" "$torch"; \
       fi \
    && pip install --no-cache-dir -c constraints.txt ".[serve]"

FROM ${BASE_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin llmlab \
    && mkdir -p /models && chown llmlab /models
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 LLMLAB_RUNS=/home/llmlab/runs
USER 10001
WORKDIR /home/llmlab
VOLUME ["/models"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
# SIGTERM: uvicorn stops accepting, lets requests in flight finish (30 s), then the engine frees its blocks
STOPSIGNAL SIGTERM
ENTRYPOINT ["llmlab", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD ["--model", "/models/model"]
