"""Storing units one by one where a batch is refused for what one unit holds: the round goes on."""

from __future__ import annotations

import logging
from typing import Callable, Sequence, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


def unit_fault(exc: BaseException) -> bool:
    """Whether the store refused the data (one unit's fault), not failed itself (down, unreachable): a
    store that is down fails every unit, so that ends the stage instead."""
    from sqlalchemy.exc import DBAPIError

    from db.engine import store_failed

    if store_failed(exc) is not None:
        return False
    return isinstance(exc, (DBAPIError, ValueError, UnicodeError))


def save_units(save: Callable[[Sequence[T]], object], units: Sequence[T], name: Callable[[T], str],
               stage: str) -> list[tuple[T, str]]:
    """`save(units)`; if the store refuses the batch, each unit alone. The units it still refuses are
    returned with the reason (and logged, naming each), the others are stored."""
    try:
        save(units)
        return []
    except BaseException as e:
        if not unit_fault(e) or len(units) == 0:
            raise
        log.warning("%s: the store refused a batch of %d (%s); storing them one by one", stage, len(units),
                    _first_line(e))
    failed = []
    for unit in units:
        try:
            save([unit])
        except BaseException as e:
            if not unit_fault(e):
                raise
            log.error("%s: %s could not be stored: %s", stage, name(unit), _first_line(e))
            failed.append((unit, _first_line(e)))
    return failed


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
