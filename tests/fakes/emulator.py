"""Test-only control of the Firestore emulator (never part of the store port)."""

from __future__ import annotations

import os

import httpx


def wipe_firestore_emulator(project_id: str) -> None:
    """Remove every document, so each integration test starts from an empty database."""
    host = os.environ.get("FIRESTORE_EMULATOR_HOST")
    if not host:
        raise RuntimeError("only the Firestore emulator is wiped")
    url = f"http://{host}/emulator/v1/projects/{project_id}/databases/(default)/documents"
    httpx.delete(url, timeout=10).raise_for_status()
