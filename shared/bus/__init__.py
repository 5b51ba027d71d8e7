"""The message bus port: Pub/Sub in production and locally (emulator), a fake twin in unit tests."""

from shared.bus.port import Publisher

__all__ = ["Publisher"]
