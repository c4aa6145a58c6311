"""The one polling helper."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.2,
    *,
    retry_on: tuple[type[Exception], ...] = (),
) -> T:
    """Poll ``condition`` until it returns something true (not None, False, 0 or empty); return that.

    Exceptions of the ``retry_on`` types count as "not yet" (transient API errors while objects
    come and go); others propagate. Raises TimeoutError naming ``what`` and the last answer after
    ``timeout`` seconds; ``condition`` is asked at least once.
    """
    deadline = time.monotonic() + timeout
    while True:
        last: object
        try:
            result = condition()
        except retry_on as err:
            last = err
        else:
            if result:
                return result
            last = result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")
        time.sleep(interval)
