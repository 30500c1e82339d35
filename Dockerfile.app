# RepairGPT API image: slim, non-root, with pg_dump for the backup commands.
# PYTHON_IMAGE lets a build without registry access use a local Debian-based Python image
# (tools/images/build.sh); any image with python3 -m venv, apt-get and useradd will do.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
COPY operator ./operator
COPY contract ./contract
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install ".[app]"

FROM ${PYTHON_IMAGE}
# postgresql-client provides pg_dump / pg_restore / psql for `repairgpt backup`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 repairgpt \
 && useradd --system --uid 10001 --gid repairgpt --home-dir /var/lib/repairgpt \
      --create-home --shell /usr/sbin/nologin repairgpt
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATA_DIR=/var/lib/repairgpt
WORKDIR /var/lib/repairgpt
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"
ENTRYPOINT ["repairgpt"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
