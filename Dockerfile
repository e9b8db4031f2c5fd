# Bitcoin Analyzer: the Telegram bot, run as a non-root user, data kept in a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY core ./core
COPY storage ./storage
RUN pip install . \
    && useradd --create-home --uid 10001 analyzer \
    && mkdir -p /data && chown analyzer /data

USER analyzer
VOLUME ["/data"]
ENTRYPOINT ["bitcoin-analyzer"]
CMD ["run"]
