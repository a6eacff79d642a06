"""Failed logins counted per account and per client address, with a temporary lockout.

A small mechanism kept in the dashboard process: after ``ACCOUNT_LIMIT`` failures for one
username, or ``ADDRESS_LIMIT`` from one client address, within ``WINDOW`` seconds, further
attempts are refused with 429 until the oldest failure leaves the window, whatever the
password. A success clears the account's count. Each dashboard process counts its own: behind a
load balancer with several, the limits are per process (the README says so).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOW = 15 * 60.0
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20


@dataclass
class Throttle:
    window: float = WINDOW
    account_limit: int = ACCOUNT_LIMIT
    address_limit: int = ADDRESS_LIMIT
    clock: Callable[[], float] = time.monotonic
    failures: dict[str, collections.deque[float]] = field(default_factory=dict)

    def retry_after(self, username: str, address: str) -> int:
        """Seconds until a login for ``username`` from ``address`` may be tried; 0: now."""
        now = self.clock()
        waits = [
            self._wait(f"user:{username.casefold()}", self.account_limit, now),
            self._wait(f"addr:{address}", self.address_limit, now),
        ]
        return max(waits)

    def failed(self, username: str, address: str) -> None:
        now = self.clock()
        for key in (f"user:{username.casefold()}", f"addr:{address}"):
            self.failures.setdefault(key, collections.deque()).append(now)

    def succeeded(self, username: str) -> None:
        self.failures.pop(f"user:{username.casefold()}", None)

    def _wait(self, key: str, limit: int, now: float) -> int:
        times = self.failures.get(key)
        if not times:
            return 0
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self.failures[key]
            return 0
        return int(times[0] + self.window - now) + 1 if len(times) >= limit else 0
