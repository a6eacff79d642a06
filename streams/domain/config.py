"""The rules' thresholds: one config, whose values (and defaults) are the settings'."""

from __future__ import annotations

from dataclasses import dataclass, fields

from safeguard.kernel.settings import Settings


@dataclass(frozen=True)
class Thresholds:
    """Every threshold a rule reads; each field is the setting of the same name."""

    lookback_days: int
    concern_min_agencies: int
    concern_min_groups: int
    transition_window_days: int
    immediate_risk_days: int
    registration_then_removal_min_school_days: int
    repeated_registrations_window_days: int
    repeated_registrations_min_schools: int
    repeated_registrations_min_local_authorities: int
    no_destination_school_days: int
    absence_return_school_days: int
    absence_deletion_school_days: int
    family_window_days: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})


def default_thresholds() -> Thresholds:
    """The thresholds as the settings default them, whatever the environment says."""
    return Thresholds.from_settings(Settings.model_construct())
