import base64
import secrets
from dataclasses import replace

import pytest

from shared.vault import KeyConfigError, Sealed, Vault, VaultError, connection_aad


def key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


AAD = connection_aad("creator-1", "zoom")
K1 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"  # bytes 0..31, unpadded base64url
K2 = base64.urlsafe_b64encode(bytes(range(32, 64))).decode()  # padded


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


def test_a_token_record_sealed_by_an_earlier_release_still_opens() -> None:
    """The key format and the associated data of a connection must not drift, or stored tokens become unreadable."""
    vault = Vault(f"v1:{K1}")
    stored = Sealed("v1", "AAECAwQFBgcICQoL", "NWewaaCWqjb5Lvzu38QODO-j4qe4t8No5MnRyPYkH9BfCdk=")
    assert vault.decrypt(stored, connection_aad("creator-1", "zoom")) == "refresh-token-value"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("  ", "MANAGE_TOKEN_KEYS is empty"),
        (f"v1:{K1}, nokey", "MANAGE_TOKEN_KEYS entry 2 is not 'version:base64url-key'"),
        (f" :{K1}", "MANAGE_TOKEN_KEYS entry 1 is not 'version:base64url-key'"),
        (f"v1:{K1}, v1 :{K2}", "MANAGE_TOKEN_KEYS lists key version 'v1' twice"),
        (
            "v1:" + base64.urlsafe_b64encode(b"short").decode(),
            "MANAGE_TOKEN_KEYS key version 'v1' must decode to 32 bytes, got 5",
        ),
        ("v1:not*base64", "MANAGE_TOKEN_KEYS key version 'v1' is not base64url"),
        (f"v1:v0:{K1}", "MANAGE_TOKEN_KEYS key version 'v1' is not base64url"),  # the version ends at the first ":"
        (f"v1:{K1[:10]}*{K1[10:]}=", "MANAGE_TOKEN_KEYS key version 'v1' is not base64url"),  # not skipped over
    ],
)
def test_a_bad_key_configuration_is_named_exactly(config: str, message: str) -> None:
    with pytest.raises(KeyConfigError) as caught:
        Vault(config, name="MANAGE_TOKEN_KEYS")
    assert str(caught.value) == message


def test_the_first_key_seals_and_the_others_are_retired() -> None:
    vault = Vault(f" v2 : {K2} ,v1:{K1}", name="MANAGE_TOKEN_KEYS")
    assert (vault.name, vault.current_version, vault.retired_versions) == ("MANAGE_TOKEN_KEYS", "v2", ["v1"])
    assert repr(vault) == "Vault(current='v2', versions=['v2', 'v1'])"
    sealed = vault.encrypt("token", AAD)
    assert sealed.key_version == "v2"
    assert len(base64.urlsafe_b64decode(sealed.nonce_b64)) == 12
    assert len(base64.urlsafe_b64decode(sealed.ciphertext_b64)) == len("token") + 16  # the GCM tag
    assert vault.reseal(sealed, AAD) is None
    old = Vault(f"v1:{K1}").encrypt("token", AAD)
    resealed = vault.reseal(old, AAD)
    assert resealed is not None and resealed.key_version == "v2" and vault.decrypt(resealed, AAD) == "token"


def test_refusals_to_open_name_the_version_and_the_key_set() -> None:
    vault = Vault(f"v1:{K1}", name="MANAGE_TOKEN_KEYS")
    with pytest.raises(VaultError) as unknown:
        vault.decrypt(Sealed("v9", "AAECAwQFBgcICQoL", "AAAA"), AAD)
    assert str(unknown.value) == "no key for version 'v9' in MANAGE_TOKEN_KEYS"
    with pytest.raises(VaultError) as forged:
        vault.decrypt(Sealed("v1", "AAECAwQFBgcICQoL", "AAAA"), AAD)
    assert str(forged.value) == (
        "record sealed with 'v1' failed authentication (tampered, or bound to another creator or provider)"
    )
    with pytest.raises(VaultError) as incomplete:
        Sealed.from_dict({"key_version": "v1", "nonce_b64": "n"})
    assert str(incomplete.value) == "sealed record lacks 'ciphertext_b64'"


def test_the_oauth_token_key_set_is_the_default_one() -> None:
    assert Vault(f"v1:{K1}").name == "TOKEN_ENCRYPTION_KEYS"
    with pytest.raises(KeyConfigError) as caught:
        Vault("")
    assert str(caught.value) == "TOKEN_ENCRYPTION_KEYS is empty"
