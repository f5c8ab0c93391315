# KeystoneDB server image: keystone-server serving one database file on a volume.
#
#   docker build -t keystonedb .
#   docker run -d --name keystone -p 50051:50051 -p 9090:9090 \
#       -v keystone-data:/var/lib/keystone keystonedb
#   docker run ... keystonedb --workers 8 --log-format json   # extra flags go after the image
#
# Options also come from KEYSTONE_* environment variables (docs/deployment.md);
# --db-path and --host are fixed below (a flag wins over its variable).
# Not built by CI (no container engine there): see docs/deployment.md.

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what the package needs: no tests, benches or virtualenv in the image.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY keystone/ keystone/
COPY keystone_net/ keystone_net/
RUN pip install . && rm -rf /src

# An unprivileged user owns the data directory (a new named volume copies this ownership).
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/keystone keystone \
    && mkdir -p /var/lib/keystone \
    && chown keystone:keystone /var/lib/keystone
USER keystone
WORKDIR /var/lib/keystone
VOLUME ["/var/lib/keystone"]

# 50051: gRPC (keystone.KeystoneDB, grpc.health.v1, reflection); 8000: the DynamoDB endpoint;
# 9090: /metrics /health /ready
EXPOSE 50051 8000 9090

# The slim image has no curl: ask /health with Python.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://localhost:9090/health', timeout=5).status != 200)"]

# Exec form: keystone-server is PID 1 and gets SIGTERM itself, drains, closes the file.
ENTRYPOINT ["keystone-server", "serve", "--db-path", "/var/lib/keystone/keystone.db", "--host", "0.0.0.0"]
CMD []
