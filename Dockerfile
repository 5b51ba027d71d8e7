# One image per service: docker build --build-arg SERVICE=<name> . (names in shared/topology.yaml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin app

# Dependency layer: only pyproject.toml, with empty package dirs so setuptools can resolve the
# project; it is rebuilt when dependencies change, not on every code change. No dev extra.
COPY pyproject.toml ./
RUN mkdir -p shared services \
    && pip install . \
    && rm -rf build ./*.egg-info

# Code layer: the project itself without touching the dependencies installed above. SERVICE is
# declared only here so the dependency layer above is shared by every service's build.
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "build argument SERVICE is required" >&2; exit 1; }
COPY shared ./shared
COPY services ./services
RUN test -f "services/${SERVICE}/main.py" || { echo "no services/${SERVICE}/main.py" >&2; exit 1; } \
    && pip install --no-deps --force-reinstall . \
    && rm -rf build ./*.egg-info

USER 10001

ENV SERVICE=${SERVICE} \
    PORT=8080
EXPOSE 8080

# Shell form so ${SERVICE} and Cloud Run's ${PORT} expand; exec makes the framework PID 1 so it gets SIGTERM.
CMD exec functions-framework --target handle --source "services/${SERVICE}/main.py" --port "${PORT}"
