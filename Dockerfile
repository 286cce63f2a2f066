# syntax=docker/dockerfile:1
# One image per function, from one Dockerfile:
#   docker build --build-arg FUNCTION=payments -t REGISTRY/paymesh-payments:TAG .
# The image runs exactly the local command: functions-framework --source functions/$FUNCTION/main.py --target handle

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY functions ./functions
# Runtime dependencies only (the `postgres` extra; no dev/test tools). The paymesh distribution itself
# is removed again: the code is copied as source below, together with its Alembic migrations, which
# are not Python packages and would be missing from an installed wheel.
# Bytecode for every dependency, written here because nothing can write it at run time (read-only root,
# PYTHONDONTWRITEBYTECODE): without it each cold start would compile sqlalchemy, pydantic and the rest
# again. unchecked-hash: the image never changes, so Python skips comparing each .pyc with its source.
RUN pip install ".[postgres]" && pip uninstall --yes paymesh \
 && python -m compileall -q -j 0 --invalidation-mode unchecked-hash /opt/venv

FROM ${PYTHON_IMAGE} AS runtime
ARG FUNCTION
RUN test -n "${FUNCTION}" || { echo "build with --build-arg FUNCTION=<payments|ledger|notifications|audit>" >&2; exit 1; } \
 && groupadd --system --gid 1001 paymesh \
 && useradd --system --uid 1001 --gid 1001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin paymesh
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Only the shared runtime and this one function; owned by root so the process cannot change its code.
COPY shared ./shared
COPY functions/__init__.py ./functions/__init__.py
COPY functions/${FUNCTION} ./functions/${FUNCTION}
# Bytecode compiled at build time: the root filesystem is read-only at run time.
RUN python -m compileall -q --invalidation-mode unchecked-hash /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FUNCTION=${FUNCTION} \
    PORT=8080 \
    PAYMESH_HOME=/tmp/paymesh
USER 1001:1001
EXPOSE 8080
# exec: functions-framework becomes PID 1 and receives SIGTERM from Knative to drain in-flight events.
CMD ["sh", "-c", "exec functions-framework --source \"functions/${FUNCTION}/main.py\" --target handle --port \"${PORT}\""]
