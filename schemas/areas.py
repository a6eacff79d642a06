"""The local authorities of Wales by ONS code, with their English and Welsh names
(``local_authorities.csv``)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

FILE = Path(__file__).with_name("local_authorities.csv")


@dataclass(frozen=True)
class Area:
    code: str
    name_en: str
    name_cy: str

    def name(self, language: str = "en") -> str:
        return self.name_cy if language == "cy" else self.name_en


@cache
def areas() -> dict[str, Area]:
    """Every Welsh local authority, by code."""
    with FILE.open(encoding="utf-8") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {r["code"]: Area(r["code"], r["name_en"], r["name_cy"]) for r in rows}


def area_name(code: str, language: str = "en") -> str:
    """The authority's name; a code that is not a Welsh authority's is shown as it is."""
    area = areas().get(code)
    return area.name(language) if area else code
