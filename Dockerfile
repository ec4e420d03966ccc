# The Queuehall server. Without QUEUEHALL_DATABASE_URL it keeps the embedded SQLite store in the
# /data volume:   docker build -t queuehall . && docker run -p 8000:8000 -v queuehall-data:/data queuehall
# docker-compose.yml runs the same image on PostgreSQL 16.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/queuehall
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
# Installed in place (-e): the migrations are read from this folder, next to the app package.
RUN pip install -e .

RUN useradd --system --uid 10001 --no-create-home --home-dir /data queuehall \
    && mkdir -p /data \
    && chown queuehall:queuehall /data
USER queuehall
ENV QUEUEHALL_DATABASE_URL=sqlite+aiosqlite:////data/queuehall.db
VOLUME /data

EXPOSE 8000
# `serve` applies the migrations, then runs the server; it stops cleanly on SIGTERM.
CMD ["queuehall", "serve", "--host", "0.0.0.0"]
