from shared.bookings.repository import DocStoreBookingRepository
from shared.store.firestore import FirestoreDocStore
from tests.bookings_contract import check_booking_repository_contract
from tests.store_contract import check_store_contract


def test_firestore_store_honours_the_store_contract(firestore_store: FirestoreDocStore) -> None:
    check_store_contract(firestore_store)


def test_the_booking_repository_honours_its_contract_on_firestore(firestore_store: FirestoreDocStore) -> None:
    check_booking_repository_contract(DocStoreBookingRepository(firestore_store), firestore_store)
