"""Secrets at rest: AES-GCM with versioned keys, each record bound by associated data to what it belongs to.

Two key sets, so that holding one does not open the other: TOKEN_ENCRYPTION_KEYS seals creators' OAuth
tokens, MANAGE_TOKEN_KEYS seals fans' manage tokens. Each is "v2:<base64url 32 bytes>,v1:<...>": the
first key encrypts, all of them decrypt. A key is rotated by putting a new one first; `reseal` turns a
record sealed under an older key into one under the current key, and the re-seal sweeps call it for every
stored record, after which the old key can be removed.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12
_KEY_BYTES = 32


class VaultError(Exception):
    """A record cannot be sealed or opened; messages name key versions, never key material."""


class KeyConfigError(VaultError):
    """TOKEN_ENCRYPTION_KEYS is malformed."""


@dataclass(frozen=True)
class Sealed:
    """What is stored: the key version for rotation, and base64 nonce and ciphertext (tag included)."""

    key_version: str
    nonce_b64: str
    ciphertext_b64: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Sealed:
        try:
            return cls(str(data["key_version"]), str(data["nonce_b64"]), str(data["ciphertext_b64"]))
        except KeyError as exc:
            raise VaultError(f"sealed record lacks {exc.args[0]!r}") from None


def connection_aad(creator_id: str, provider: str) -> str:
    """The associated data binding a token record to one creator's connection to one provider."""
    return json.dumps(["flo-connection", creator_id, provider])


def _b64decode(value: str) -> bytes:
    return base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)


def _parse_keys(config: str, name: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(part.strip() for part in config.split(",")):
        version, sep, encoded = entry.partition(":")
        if not sep or not version.strip():
            raise KeyConfigError(f"{name} entry {position + 1} is not 'version:base64url-key'")
        version = version.strip()
        if version in keys:
            raise KeyConfigError(f"{name} lists key version {version!r} twice")
        try:
            key = _b64decode(encoded.strip())
        except (binascii.Error, ValueError):
            raise KeyConfigError(f"{name} key version {version!r} is not base64url") from None
        if len(key) != _KEY_BYTES:
            raise KeyConfigError(f"{name} key version {version!r} must decode to {_KEY_BYTES} bytes, got {len(key)}")
        keys[version] = key
    return keys


class Vault:
    """Seals and opens token strings; built once at bootstrap from the configured keys."""

    def __init__(self, keys_config: str, name: str = "TOKEN_ENCRYPTION_KEYS") -> None:
        if not keys_config.strip():
            raise KeyConfigError(f"{name} is empty")
        self.name = name
        self._keys = {version: AESGCM(key) for version, key in _parse_keys(keys_config, name).items()}
        self.current_version = next(iter(self._keys))

    def __repr__(self) -> str:
        return f"Vault(current={self.current_version!r}, versions={list(self._keys)!r})"

    def encrypt(self, plaintext: str, aad: str) -> Sealed:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ciphertext = self._keys[self.current_version].encrypt(nonce, plaintext.encode(), aad.encode())
        return Sealed(
            self.current_version,
            base64.urlsafe_b64encode(nonce).decode("ascii"),
            base64.urlsafe_b64encode(ciphertext).decode("ascii"),
        )

    def decrypt(self, sealed: Sealed, aad: str) -> str:
        key = self._keys.get(sealed.key_version)
        if key is None:
            raise VaultError(f"no key for version {sealed.key_version!r} in {self.name}")
        try:
            nonce, ciphertext = _b64decode(sealed.nonce_b64), _b64decode(sealed.ciphertext_b64)
            return key.decrypt(nonce, ciphertext, aad.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise VaultError(
                f"record sealed with {sealed.key_version!r} failed authentication "
                "(tampered, or bound to another creator or provider)"
            ) from None

    @property
    def retired_versions(self) -> list[str]:
        """Key versions that still open old records but seal nothing new: what the re-seal sweeps look for."""
        return [version for version in self._keys if version != self.current_version]

    def needs_reencrypt(self, sealed: Sealed) -> bool:
        """True for records under an older key: `reseal` them so that key can be retired."""
        return sealed.key_version != self.current_version

    def reseal(self, sealed: Sealed, aad: str) -> Sealed | None:
        """The record sealed again under the current key, or None when it already is."""
        if not self.needs_reencrypt(sealed):
            return None
        return self.encrypt(self.decrypt(sealed, aad), aad)
