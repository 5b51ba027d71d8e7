from tests.fakes.store import FakeDocStore
from tests.store_contract import check_store_contract


def test_fake_store_honours_the_store_contract() -> None:
    check_store_contract(FakeDocStore())
