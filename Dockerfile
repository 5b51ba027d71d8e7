# One image per service: docker build --build-arg SERVICE=<name> . (names in shared/topology.yaml).
# Exact version tag (a digest cannot be looked up from the development machines); the pipeline records
# the digest it pulled in its build log and deploys the images it builds by digest.
FROM python:3.11.14-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin app

# Dependency layer: exactly the runtime dependencies of uv.lock (no dev extra), every file checked
# against the lock's hashes; rebuilt only when the lock changes. uv is pinned like in the Makefile.
COPY pyproject.toml uv.lock ./
RUN pip install uv==0.9.30 \
    && uv export --frozen --no-dev --no-emit-project --format requirements-txt -o /tmp/requirements.txt \
    && pip install --require-hashes --no-deps -r /tmp/requirements.txt \
    && pip uninstall --yes uv \
    && rm /tmp/requirements.txt

# Code layer: the project itself without touching the dependencies installed above. SERVICE is
# declared only here so the dependency layer above is shared by every service's build.
ARG SERVICE
RUN test -n "${SERVICE}" || { echo "build argument SERVICE is required" >&2; exit 1; }
COPY shared ./shared
COPY services ./services
RUN test -f "services/${SERVICE}/main.py" || { echo "no services/${SERVICE}/main.py" >&2; exit 1; } \
    && pip install --no-deps . \
    && rm -rf build ./*.egg-info

USER 10001

ENV SERVICE=${SERVICE} \
    PORT=8080
EXPOSE 8080

# Shell form so ${SERVICE} and Cloud Run's ${PORT} expand; exec makes the framework PID 1 so it gets SIGTERM.
CMD exec functions-framework --target handle --source "services/${SERVICE}/main.py" --port "${PORT}"
