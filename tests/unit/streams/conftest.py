"""Unit tests of the stream processor run with an in-memory table store and no broker."""

from __future__ import annotations

import datetime as dt
import os

os.environ.setdefault("SAFEGUARD_WORKER_STORE", "memory://")

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)
