"""The README documents every setting the code reads."""

from __future__ import annotations

from pathlib import Path

from safeguard.kernel.settings import Settings, env_name

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_names_every_setting() -> None:
    missing = [env_name(f) for f in Settings.model_fields if f"`{env_name(f)}`" not in README]
    assert missing == []
