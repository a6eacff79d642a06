from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

T0 = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)


@pytest.fixture
def observation() -> dict[str, Any]:
    return {
        "event_id": "e1",
        "child_ref": "a" * 64,
        "indicator": "control.adult_speaks_for_child",
        "agency": {"id": "hb-cardiff", "type": "health"},
        "observed_at": T0,
        "reported_at": T0,
        "local_authority": "W06000015",
        "date_of_birth": None,
        "age_disputed": False,
        "immediate_risk": False,
        "source_ref": None,
    }
