# Bitcoin Analyzer: the Telegram bot, in two stages. The first installs the locked, hash-checked
# dependencies and the bot into a virtual environment; the second copies that environment alone
# onto a clean slim image (no compiler, no build files), run as a non-root user.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY storage ./storage
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/pip uninstall --yes pip


FROM ${PYTHON_IMAGE}

# METRICS_PORT starts the /healthz and /metrics listener that HEALTHCHECK asks; the SQLite file
# (used when DATABASE_URL is empty) lives in the /data volume.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    DATA_DIR=/data \
    METRICS_PORT=9100

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /home/analyzer analyzer \
    && mkdir -p /data \
    && chown analyzer:analyzer /data
COPY --from=build /opt/venv /opt/venv

USER analyzer
WORKDIR /home/analyzer
VOLUME ["/data"]

# Healthy while the bot receives updates and its database answers (bot/health.py).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['METRICS_PORT'] + '/healthz', timeout=4)"]

ENTRYPOINT ["bitcoin-analyzer"]
CMD ["run"]
