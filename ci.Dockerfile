# The image Cloud Build runs `make test` in: Python 3.11, Java (the emulators), the Firestore and
# Pub/Sub emulators (Google Cloud CLI), Terraform and Chromium (browser tests). Built by the pipeline
# from this file on every run, so what the tests need is declared here, not installed by hand.
FROM hashicorp/terraform:1.11.4 AS terraform

FROM python:3.11.14-slim-trixie

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBIAN_FRONTEND=noninteractive

RUN apt-get update \
    && apt-get install --yes --no-install-recommends \
        apt-transport-https ca-certificates curl gnupg make git \
        openjdk-21-jre-headless chromium chromium-driver fonts-liberation \
    && curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg \
        | gpg --dearmor -o /usr/share/keyrings/cloud.google.gpg \
    && echo "deb [signed-by=/usr/share/keyrings/cloud.google.gpg] https://packages.cloud.google.com/apt cloud-sdk main" \
        > /etc/apt/sources.list.d/google-cloud-sdk.list \
    && apt-get update \
    && apt-get install --yes --no-install-recommends \
        google-cloud-cli google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator \
    && rm -rf /var/lib/apt/lists/*

COPY --from=terraform /bin/terraform /usr/local/bin/terraform

# `make test` creates the venv from uv.lock itself (make venv), exactly as on a developer's machine.
WORKDIR /workspace
