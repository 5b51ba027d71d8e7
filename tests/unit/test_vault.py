import base64
import secrets
from dataclasses import replace

import pytest

from shared.vault import KeyConfigError, Sealed, Vault, VaultError, connection_aad


def key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


AAD = connection_aad("creator-1", "zoom")


def test_round_trip_and_record_is_dictable() -> None:
    vault = Vault(f"v1:{key()}")
    sealed = vault.encrypt("refresh-token-value", AAD)
    assert "refresh-token-value" not in repr(sealed)
    again = Sealed.from_dict(sealed.to_dict())
    assert again == sealed
    assert vault.decrypt(again, AAD) == "refresh-token-value"
    assert vault.encrypt("refresh-token-value", AAD).nonce_b64 != sealed.nonce_b64


def test_tampered_ciphertext_is_refused() -> None:
    vault = Vault(f"v1:{key()}")
    sealed = vault.encrypt("token", AAD)
    raw = bytearray(base64.urlsafe_b64decode(sealed.ciphertext_b64))
    raw[0] ^= 1
    tampered = replace(sealed, ciphertext_b64=base64.urlsafe_b64encode(bytes(raw)).decode())
    with pytest.raises(VaultError, match="failed authentication"):
        vault.decrypt(tampered, AAD)
    with pytest.raises(VaultError):
        vault.decrypt(replace(sealed, nonce_b64="!!!"), AAD)


@pytest.mark.parametrize("aad", [connection_aad("creator-2", "zoom"), connection_aad("creator-1", "google")])
def test_record_is_bound_to_creator_and_provider(aad: str) -> None:
    vault = Vault(f"v1:{key()}")
    with pytest.raises(VaultError, match="another creator or provider"):
        vault.decrypt(vault.encrypt("token", AAD), aad)


def test_rotation() -> None:
    k1, k2 = key(), key()
    old = Vault(f"v1:{k1}")
    sealed = old.encrypt("token", AAD)
    rotated = Vault(f"v2:{k2},v1:{k1}")
    assert rotated.decrypt(sealed, AAD) == "token"
    assert rotated.needs_reencrypt(sealed)
    fresh = rotated.encrypt(rotated.decrypt(sealed, AAD), AAD)
    assert fresh.key_version == "v2"
    assert not rotated.needs_reencrypt(fresh)
    with pytest.raises(VaultError, match="'v2'"):
        old.decrypt(fresh, AAD)


def test_missing_key_version_is_named_but_no_key_is_shown() -> None:
    k1 = key()
    sealed = Vault(f"v1:{k1}").encrypt("token", AAD)
    other = key()
    with pytest.raises(VaultError) as caught:
        Vault(f"v3:{other}").decrypt(sealed, AAD)
    assert "v1" in str(caught.value)
    assert other not in str(caught.value) and k1 not in str(caught.value)
    assert other not in repr(Vault(f"v3:{other}"))


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("", "empty"),
        ("nokey", "entry 1"),
        (":abc", "entry 1"),
        ("v1:" + base64.urlsafe_b64encode(b"short").decode(), "32 bytes"),
        ("v1:not*base64", "base64url"),
    ],
)
def test_bad_key_config(config: str, message: str) -> None:
    with pytest.raises(KeyConfigError, match=message):
        Vault(config)


def test_duplicate_version_is_refused() -> None:
    with pytest.raises(KeyConfigError, match="twice"):
        Vault(f"v1:{key()},v1:{key()}")


def test_sealed_from_dict_names_the_missing_field() -> None:
    with pytest.raises(VaultError, match="nonce_b64"):
        Sealed.from_dict({"key_version": "v1", "ciphertext_b64": "x"})


def test_a_token_sealed_by_an_earlier_release_still_opens() -> None:
    """Stored tokens outlive deploys: the associated data a connection's tokens are bound to must not drift."""
    earlier = Sealed("v1", "eZbYBOwJMcBGULcH", "6-XYPGrvuRm_kUDz3W5teSyXlqxdSjEgXGLG1fOEU2QRr60=")
    vault = Vault("v1:" + base64.urlsafe_b64encode(bytes(range(32))).decode().rstrip("="))
    assert vault.decrypt(earlier, connection_aad("creator-1", "zoom")) == "refresh-token-value"


@pytest.mark.parametrize(
    "config",
    [f"v1:{key()[:20]}*{key()[20:]}", f"v1:extra:{key()}"],
    ids=["a character outside base64url", "a colon in the version"],
)
def test_a_key_with_anything_but_base64url_after_the_first_colon_is_refused(config: str) -> None:
    with pytest.raises(KeyConfigError) as caught:
        Vault(config)
    assert str(caught.value).endswith("is not base64url")


def test_errors_name_token_encryption_keys_unless_told_otherwise() -> None:
    with pytest.raises(KeyConfigError) as empty:
        Vault(" ")
    assert str(empty.value) == "TOKEN_ENCRYPTION_KEYS is empty"
    sealed = Vault(f"v1:{key()}").encrypt("token", AAD)
    with pytest.raises(VaultError) as missing:
        Vault(f"v2:{key()}").decrypt(sealed, AAD)
    assert str(missing.value) == "no key for version 'v1' in TOKEN_ENCRYPTION_KEYS"
