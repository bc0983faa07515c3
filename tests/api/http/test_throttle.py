"""Wrong keys per client address: how many before 429, for how long, how much memory."""

from __future__ import annotations

import pytest

from api.errors import TooManyAttemptsError
from api.http import throttle as throttle_module
from api.http.throttle import FailureThrottle, client_address


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def _allowed(throttle: FailureThrottle, client: str) -> bool:
    try:
        throttle.check(client)
    except TooManyAttemptsError:
        return False
    return True


@pytest.mark.parametrize("limit", [1, 3, 10])
def test_the_limit_th_wrong_key_closes_the_door_for_a_minute(limit: int) -> None:
    clock = Clock()
    throttle = FailureThrottle(limit, clock=clock)
    for _ in range(limit):
        assert _allowed(throttle, "10.0.0.1")
        throttle.fail("10.0.0.1")
        clock.now += 1
    with pytest.raises(TooManyAttemptsError) as refused:
        throttle.check("10.0.0.1")
    assert refused.value.status == 429 and refused.value.code == "too_many_attempts"
    assert 1 <= refused.value.retry_after <= 60
    assert _allowed(throttle, "10.0.0.2")  # another address is not affected
    clock.now += refused.value.retry_after
    assert _allowed(throttle, "10.0.0.1")


def test_failures_spread_over_more_than_a_minute_never_block() -> None:
    clock = Clock()
    throttle = FailureThrottle(3, clock=clock)
    for _ in range(30):
        assert _allowed(throttle, "a")
        throttle.fail("a")
        clock.now += 21  # 3 a minute at most would be allowed; this is fewer


def test_retry_after_counts_from_the_oldest_failure() -> None:
    clock = Clock()
    throttle = FailureThrottle(2, clock=clock)
    throttle.fail("a")
    clock.now += 50
    throttle.fail("a")
    with pytest.raises(TooManyAttemptsError) as refused:
        throttle.check("a")
    assert refused.value.retry_after == 10


def test_memory_is_bounded_however_many_addresses_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(throttle_module, "MAX_CLIENTS", 50)
    throttle = FailureThrottle(3, clock=Clock())
    for n in range(1_000):
        throttle.fail(f"10.0.{n // 256}.{n % 256}")
    assert len(throttle._failures) <= 50


@pytest.mark.parametrize(
    ("scope", "address"),
    [({"client": ("10.0.0.1", 5555)}, "10.0.0.1"), ({"client": None}, "unknown"), ({}, "unknown")],
)
def test_client_address(scope: dict[str, object], address: str) -> None:
    assert client_address(scope) == address
