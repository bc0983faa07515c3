# tiktok-analyzer: the service in a container (docs/container.md).
#
# Layers go from the least to the most often changed, so that a code change rebuilds only
# the last ones: base -> Debian packages -> Python dependencies (read from pyproject.toml
# alone) -> the project. A GPU host keeps the default base: PyPI's torch wheels bring their
# own CUDA libraries, and the NVIDIA container toolkit brings the driver.
#   docker build -t tiktok-analyzer .                                 # CUDA torch from PyPI
#   docker build --build-arg TORCH_SPEC=torch==2.13.0 --build-arg EXTRAS=ray -t ... .
# Few instructions on purpose: a storage driver without copy-on-write (vfs) stores every
# layer as a full copy.

ARG BASE_IMAGE=debian:bookworm-slim

# --- runtime: the Debian packages and the user, shared by every stage --------------------
FROM ${BASE_IMAGE} AS runtime
# What the stages use at run time: the Makefile's STAGE_PACKAGES (Tesseract and its English
# data; fpcalc for audio fingerprints), python3 for the venv, tini as PID 1 (forwards
# SIGTERM, reaps orphans), ca-certificates for HTTPS links and callbacks. No fonts: no stage
# draws text.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 ca-certificates tini \
      tesseract-ocr tesseract-ocr-eng libchromaprint-tools \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /srv/tiktok-analyzer \
      --shell /usr/sbin/nologin tiktok-analyzer \
 && install -d -o tiktok-analyzer -g tiktok-analyzer \
      /srv/tiktok-analyzer/data /srv/tiktok-analyzer/logs /srv/tiktok-analyzer/cache

# --- requirements: the dependencies alone, so that other edits keep them cached ---------
FROM runtime AS requirements
# Extras of the project to add (e.g. "ray" for compose's Ray profile); empty: none.
ARG EXTRAS=""
COPY pyproject.toml /src/pyproject.toml
RUN python3 -c "import os, tomllib; \
p = tomllib.load(open('/src/pyproject.toml', 'rb'))['project']; \
extras = os.environ.get('EXTRAS', '').replace(',', ' ').split(); \
print('\\n'.join(p['dependencies'] + [r for e in extras for r in p['optional-dependencies'][e]]))" \
  > /requirements.txt

# --- the image ------------------------------------------------------------------------
# The venv is made here rather than in a stage of its own: copying a 2 GB venv from one
# stage to the next costs a second 2 GB layer (minutes on a cold build).
FROM runtime
ARG TORCH_SPEC=torch
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TIKTOK_ANALYZER_HOST=0.0.0.0 \
    TIKTOK_ANALYZER_PORT=8003 \
    TIKTOK_ANALYZER_DATA_DIR=/srv/tiktok-analyzer/data \
    TIKTOK_ANALYZER_LOG_DIR=/srv/tiktok-analyzer/logs \
    HF_HOME=/srv/tiktok-analyzer/cache/huggingface \
    XDG_CACHE_HOME=/srv/tiktok-analyzer/cache
WORKDIR /srv/tiktok-analyzer
VOLUME ["/srv/tiktok-analyzer/data", "/srv/tiktok-analyzer/logs", "/srv/tiktok-analyzer/cache"]
EXPOSE 8003
# Liveness only: /health (readiness) is 503 while the model loads, which is no fault.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('TIKTOK_ANALYZER_PORT', '8003'), timeout=4)"]
# SIGTERM drains (running jobs get TIKTOK_ANALYZER_DRAIN_TIMEOUT_S) and exits 0: give
# `docker stop -t` / compose's stop_grace_period more than that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--"]
CMD ["tiktok-analyzer", "serve"]
# The dependencies, then the project: a code change rebuilds only the last two layers.
COPY --from=requirements /requirements.txt /tmp/requirements.txt
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/venv/bin/pip install --no-cache-dir "${TORCH_SPEC}" \
 && /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt "setuptools>=68" \
 && rm /tmp/requirements.txt
# .dockerignore lets only the packages, pyproject.toml and README.md into the context.
COPY . /tmp/src
RUN pip install --no-cache-dir --no-deps --no-build-isolation /tmp/src && rm -rf /tmp/src
USER tiktok-analyzer
