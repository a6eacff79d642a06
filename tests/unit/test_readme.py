"""The README documents every setting the code reads."""

from __future__ import annotations

from pathlib import Path

from safeguard.kernel.settings import Settings, env_name

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_names_every_setting() -> None:
    missing = [env_name(f) for f in Settings.model_fields if f"`{env_name(f)}`" not in README]
    assert missing == []


def test_readme_lists_every_metric_the_services_export() -> None:
    from prometheus_client import metrics as kinds

    from safeguard.kernel import metrics

    exported = [m._name for m in vars(metrics).values() if isinstance(m, kinds.MetricWrapperBase)]
    assert len(exported) == 10
    suffix = {"counter": "_total"}
    missing = [
        name
        for m in vars(metrics).values()
        if isinstance(m, kinds.MetricWrapperBase)
        and f"`{(name := m._name + suffix.get(m._type, ''))}`" not in README
    ]
    assert missing == []
