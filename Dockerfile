# syntax=docker/dockerfile:1
# One image for the API, the workers and the migration job (`workbench api|worker|db upgrade`); see docs/deploy.md.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ---- builder: a venv with the dependencies and the project ------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app

# The dependencies first, from pyproject.toml alone, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

COPY README.md alembic.ini ./
COPY kernels ./kernels
COPY notebooks ./notebooks
COPY workbench ./workbench
COPY workers ./workers
COPY api ./api
COPY cli ./cli
COPY deploy/docker/healthcheck.py ./deploy/docker/healthcheck.py
# Installed in place, not as a wheel in site-packages: the code finds `kernels/` (workbench/kernelspec.py) and
# `notebooks/` (the WORKBENCH_NOTEBOOKS_DIR default) next to its source tree, which a wheel does not carry.
# The wheel is still built, so a packaging error fails the image build.
RUN pip wheel --no-deps --wheel-dir /tmp/dist . \
    && pip install --no-deps --editable . \
    && python -m compileall -q /app/workbench /app/workers /app/api /app/cli

# ---- final: the runtime, Chromium for PDFs, a non-root user ------------------------------------------------------
FROM ${PYTHON_IMAGE} AS final
# chromium: the API prints PDFs with the system browser (WORKBENCH_CHROMIUM_PATH); fonts so text renders.
# Not pinned to Debian versions (DL3008): bookworm's security updates replace them; the base tag pins the release.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        chromium fonts-liberation fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 workbench \
    && useradd --system --uid 10001 --gid workbench --home-dir /home/workbench --create-home \
        --shell /usr/sbin/nologin workbench

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app

# No secret here: the database URL and API keys come from the environment at run time (compose .env, k8s Secret).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WORKBENCH_DATA_DIR=/data \
    WORKBENCH_NOTEBOOKS_DIR=/app/notebooks \
    WORKBENCH_CHROMIUM_PATH=/usr/bin/chromium

# The kernel spec goes into the venv (root-owned), so it is installed here, at build time: the worker would
# otherwise try to install it at start and, not being root, fail. The check below runs as the runtime user.
RUN workbench kernel install \
    && install -d -o workbench -g workbench -m 0750 /data
USER 10001:10001
RUN python -c "from workbench.kernelspec import is_installed; assert is_installed(), 'kernel spec not installed'"

# Scratch folders, background-import uploads and logs (WORKBENCH_DATA_DIR); compose and k8s mount a volume here.
VOLUME ["/data"]
WORKDIR /app
EXPOSE 8000

# For `docker run`: checks whichever of `workbench api` / `workbench worker` runs in the container (compose and
# k8s declare their own checks with the same script).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "auto"]

ENTRYPOINT ["workbench"]
CMD ["--help"]
