"""The re-seal sweeps' queries (an `in` on a top-level and on a nested field) on the real Firestore emulator."""

from __future__ import annotations

from shared.bookings.repository import DocStoreBookingRepository
from shared.bookings.service import manage_aad
from shared.connections.repository import CONNECTIONS
from shared.rotation import reseal_connections, reseal_manage_tokens
from shared.store.firestore import FirestoreDocStore
from shared.store.port import put
from shared.vault import Sealed, Vault, connection_aad
from tests.bookings_contract import sample
from tests.unit.test_production_keys_and_auth import key


def test_both_sweeps_find_and_reseal_old_records_on_firestore(firestore_store: FirestoreDocStore) -> None:
    old_tokens, old_manage = Vault(key("v1", 1)), Vault(key("m1", 3), name="MANAGE_TOKEN_KEYS")
    aad = connection_aad("c1", "google")
    tokens = {name: old_tokens.encrypt(name, aad).to_dict() for name in ("access_token", "refresh_token")}
    firestore_store.commit(
        [put(CONNECTIONS, "c1_google", {"creator_id": "c1", "provider": "google", "key_version": "v1", **tokens})]
    )
    bookings = DocStoreBookingRepository(firestore_store)
    bookings.add("b1", sample(sealed=old_manage.encrypt("tok", manage_aad("b1")).to_dict()))
    tokens_rotated = Vault(f"{key('v2', 2)},{key('v1', 1)}")
    manage_rotated = Vault(f"{key('m2', 4)},{key('m1', 3)}", name="MANAGE_TOKEN_KEYS")
    assert (
        reseal_connections(firestore_store, tokens_rotated),
        reseal_manage_tokens(bookings, manage_rotated),
    ) == (1, 1)
    assert (
        reseal_connections(firestore_store, tokens_rotated),
        reseal_manage_tokens(bookings, manage_rotated),
    ) == (0, 0)
    booking = bookings.get("b1")
    assert booking is not None
    sealed = Sealed.from_dict(booking.manage_token_sealed)
    assert Vault(key("m2", 4), name="MANAGE_TOKEN_KEYS").decrypt(sealed, manage_aad("b1")) == "tok"
