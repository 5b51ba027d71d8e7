from shared.store.firestore import FirestoreDocStore
from tests.store_contract import check_store_contract


def test_firestore_store_honours_the_store_contract(firestore_store: FirestoreDocStore) -> None:
    check_store_contract(firestore_store)
