"""The document store port: Firestore in production and in integration tests, a fake twin in unit tests."""

from shared.store.port import Conflict, DocStore, NotFound, Txn, Where, Write

__all__ = ["Conflict", "DocStore", "NotFound", "Txn", "Where", "Write"]
