"""The cool-down shared by the Redis link, the query embedder and the read router."""

from __future__ import annotations

from repairgpt.core.cooldown import Cooldown


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_failure_starts_a_cool_down_that_ends_after_its_seconds() -> None:
    clock = FakeClock()
    cooldown = Cooldown(5.0, clock=clock)
    assert not cooldown.active
    assert cooldown.remaining() == 0.0

    assert cooldown.failed() is True
    assert cooldown.active
    clock.now += 2.0
    assert cooldown.remaining() == 3.0
    clock.now += 3.0
    assert not cooldown.active
    assert cooldown.remaining() == 0.0


def test_only_the_failure_that_starts_an_outage_is_reported_as_its_start() -> None:
    clock = FakeClock()
    cooldown = Cooldown(5.0, clock=clock)
    assert cooldown.failed() is True
    clock.now += 1.0
    # Failing again during the cool-down extends it, and is not a new outage.
    assert cooldown.failed() is False
    clock.now += 4.5
    assert cooldown.active
    clock.now += 1.0
    assert cooldown.failed() is True


def test_a_success_ends_the_cool_down_at_once() -> None:
    clock = FakeClock()
    cooldown = Cooldown(30.0, clock=clock)
    cooldown.failed()
    cooldown.succeeded()
    assert not cooldown.active
    assert cooldown.failed() is True


def test_changing_the_seconds_applies_to_the_next_failure() -> None:
    clock = FakeClock()
    cooldown = Cooldown(30.0, clock=clock)
    cooldown.seconds = 1.0
    cooldown.failed()
    clock.now += 1.0
    assert not cooldown.active
