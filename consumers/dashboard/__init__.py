"""The multi-agency dashboard: a live list of alerts, the alert page, actions, and the audit trail.

Run with ``safeguard dashboard``. Users log in (``safeguard user add``); a practitioner sees the
alerts of their local authority, an administrator sees all. Every view of an alert page and every
action is written to the ``audit`` table.
"""
