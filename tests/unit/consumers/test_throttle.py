"""Failed logins per account and per address: the lockout and its end."""

from __future__ import annotations

from consumers.dashboard.throttle import Throttle


def test_five_failures_lock_the_account_until_the_first_leaves_the_window() -> None:
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    for second in range(5):
        now[0] = float(second)
        assert throttle.retry_after("Hub-1", "10.0.0.1") == 0
        throttle.failed("Hub-1", "10.0.0.1")
    assert throttle.retry_after("hub-1", "10.0.0.2") == 897  # any case, any address
    assert throttle.retry_after("hub-2", "10.0.0.1") == 0  # another account from there
    now[0] = 900.5
    assert throttle.retry_after("hub-1", "10.0.0.1") == 0


def test_twenty_failures_from_one_address_lock_it_for_every_account() -> None:
    throttle = Throttle(clock=lambda: 0.0)
    for n in range(20):
        throttle.failed(f"user-{n}", "10.0.0.9")
    assert throttle.retry_after("someone-else", "10.0.0.9") == 901
    assert throttle.retry_after("someone-else", "10.0.0.8") == 0


def test_a_success_clears_the_accounts_failures() -> None:
    throttle = Throttle(clock=lambda: 0.0)
    for _ in range(4):
        throttle.failed("hub-1", "10.0.0.1")
    throttle.succeeded("hub-1")
    throttle.failed("hub-1", "10.0.0.1")
    assert throttle.retry_after("hub-1", "10.0.0.1") == 0
