# syntax=docker/dockerfile:1
# HipFix API image: build a virtualenv from the hashed lock, then copy it into a slim
# runtime that runs as a non-root user owning the /data volume (the SQLite file).
ARG PYTHON_IMAGE=python:3.12.8-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /srv/hipfix
RUN python -m venv /opt/venv
COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml alembic.ini README.md ./
COPY app ./app
COPY migrations ./migrations
# Editable, so `hipfix migrate` finds migrations/ beside app/ in /srv/hipfix.
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation --editable .

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 hipfix \
    && useradd --system --uid 10001 --gid hipfix --home-dir /srv/hipfix --shell /usr/sbin/nologin hipfix \
    && mkdir /data && chown hipfix:hipfix /data
COPY --from=build /opt/venv /opt/venv
COPY --from=build /srv/hipfix /srv/hipfix
COPY docker/entrypoint.sh /usr/local/bin/hipfix-entrypoint
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HIPFIX_DATABASE_URL=sqlite:////data/hipfix.db
WORKDIR /srv/hipfix
USER hipfix
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["hipfix-entrypoint"]
CMD ["hipfix", "serve", "--host", "0.0.0.0", "--port", "8000"]
