"""What a reason says, as codes and parameters: the dashboard words it in the reader's language.

A reason is one or more parts (``{"code", "params"}``), each a sentence the dashboard's reason
catalogue words in English or Welsh; every parameter is a list of strings (a single value is a
list of one). Parameter names say what the strings are: ``indicators`` (catalogue codes),
``agencies`` (``type:id``), ``agency_types``, ``groups``, ``school`` (a school id), ``date`` (an
ISO date); any other is shown as it is. The English sentence of the alert's ``reasons`` stays
beside them, for consumers that read only that.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Part = dict[str, Any]


def part(code: str, **params: object) -> Part:
    """One sentence of a reason: its code and parameters."""
    values: dict[str, list[str]] = {}
    for name, value in params.items():
        items = value if isinstance(value, list | tuple | set | frozenset) else [value]
        values[name] = [str(v) for v in items]
    return {"code": code, "params": values}


def reason(*parts: Part) -> dict[str, Any]:
    return {"parts": list(parts)}


def agencies(evidence: Iterable[Any]) -> list[str]:
    """The ``type:id`` of each agency of ``evidence``, sorted, once each."""
    return sorted({f"{e.agency_type}:{e.agency_id}" for e in evidence})
