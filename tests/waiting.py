"""Wait for a condition, not for time: the one polling helper every test uses.

A test that sleeps a fixed time and then asserts is a race against the machine's speed: on a
loaded 2-core CI machine the awaited thing happens later than on a laptop. These helpers poll a
predicate until it holds or a generous deadline passes, so a slow machine only makes the test
slower, never red. A deadline that passes fails the test with `what` and the last value seen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE = 20.0
"""Seconds a condition may take: generous, since only a broken test ever waits this long."""


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float = DEADLINE,
    interval: float = 0.02,
    what: str = "the condition",
) -> T:
    """Poll `predicate` until it returns a truthy value, and return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(timeout, what, value))
        time.sleep(interval)


async def async_wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = DEADLINE,  # noqa: ASYNC109 (the same signature as wait_until's)
    interval: float = 0.02,
    what: str = "the condition",
) -> T:
    """The asyncio twin of `wait_until`: the event loop keeps running between polls."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(timeout, what, value))
        await asyncio.sleep(interval)


def stays(
    predicate: Callable[[], object],
    *,
    duration: float,
    interval: float = 0.02,
    what: str = "the condition",
) -> None:
    """Assert `predicate` holds on every poll for `duration` s (a "nothing happens" claim)."""
    end = time.monotonic() + duration
    while time.monotonic() < end:
        assert predicate(), f"{what} stopped holding"
        time.sleep(interval)


def _timed_out(timeout: float, what: str, value: object) -> str:
    return f"timed out after {timeout:g} s waiting for {what} (last: {value!r})"
