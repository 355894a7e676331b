"""A batch the store refuses for what one unit holds costs only that unit; a store that is down ends the stage."""

import pytest
from sqlalchemy.exc import DataError, OperationalError

from orchestration.unit_store import save_units


class Refusing:
    """A store double that refuses any batch holding `bad` as PostgreSQL refuses bad data."""

    def __init__(self, bad, error=DataError):
        self.bad, self.error, self.saved, self.calls = bad, error, [], 0

    def __call__(self, units):
        self.calls += 1
        if self.bad in units:
            raise self.error("INSERT ...", {}, Exception(f"invalid input for unit {self.bad}\nDETAIL: ..."))
        self.saved.extend(units)


def test_the_refused_unit_alone_is_left_out_and_named(caplog):
    store = Refusing(3)
    failed = save_units(store, [1, 2, 3, 4], lambda u: f"unit {u}", "prove")
    assert store.saved == [1, 2, 4] and store.calls == 5  # the batch, then one each
    assert failed == [(3, "invalid input for unit 3")]
    assert "prove: unit 3 could not be stored: invalid input for unit 3" in caplog.text


def test_a_store_that_is_down_raises():
    with pytest.raises(OperationalError):
        save_units(Refusing(1, OperationalError), [1, 2], str, "prove")


def test_a_batch_stored_whole_is_one_call():
    store = Refusing(None)
    assert save_units(store, [1, 2], str, "prove") == [] and store.calls == 1
