"""docker compose's broker set-up script, run here on folders of its own with Kafka's own storage
tool from the launcher's jars (no Docker engine runs on this machine)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from safeguard.infra.kafka import KafkaBroker
from safeguard.kernel.clients import PRINCIPALS
from safeguard.kernel.settings import Settings

from .helpers import REPO

SCRIPT = REPO / "safeguard" / "infra" / "compose-kafka-init.sh"


def run_init(tmp_path: Path, settings: Settings) -> subprocess.CompletedProcess[str]:
    secrets = tmp_path / "secrets"
    secrets.mkdir(exist_ok=True)
    for name in ["store_password", "broker", *PRINCIPALS]:
        (secrets / f"kafka_{name}").write_text(f"pw-{name}")
    tool = tmp_path / "kafka-storage"
    libs = KafkaBroker(settings).libs
    tool.write_text(f'#!/bin/sh\nexec java -cp "{libs}/*" kafka.tools.StorageTool "$@"\n')
    tool.chmod(0o700)
    env = {
        "PATH": os.environ["PATH"],
        "INIT_SECRETS": str(secrets),
        "INIT_TLS": str(tmp_path / "tls"),
        "INIT_CONFIG": str(tmp_path / "config"),
        "INIT_DATA": str(tmp_path / "data"),
        "INIT_STORAGE_TOOL": str(tool),
        "INIT_OWNER": f"{os.getuid()}:{os.getgid()}",
    }
    return subprocess.run(
        ["sh", str(SCRIPT)], env=env, capture_output=True, text=True, check=False, timeout=180
    )


def test_the_compose_broker_gets_certificates_scram_logins_and_a_secured_config(
    tmp_path: Path, kafka: Settings
) -> None:
    done = run_init(tmp_path, kafka)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "storage formatted with 7 principals" in done.stdout
    assert (tmp_path / "data" / "meta.properties").exists()
    tls = tmp_path / "tls"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tls.iterdir()}
    assert modes == {
        "ca.pem": 0o644,  # the authority's key is gone once it has signed
        "broker.p12": 0o600,
        "broker.pem": 0o600,
        "truststore.p12": 0o600,
    }
    certificate = subprocess.run(
        ["keytool", "-printcert", "-file", str(tls / "broker.pem")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "DNSName: kafka" in certificate and "IPAddress: 127.0.0.1" in certificate
    config = (tmp_path / "config" / "server.properties").read_text()
    assert 'username="broker" password="pw-broker"' in config
    assert "PLAINTEXT" not in config
    assert stat.S_IMODE((tmp_path / "config" / "server.properties").stat().st_mode) == 0o600
    # Run again, it leaves the formatted broker as it is.
    again = run_init(tmp_path, kafka)
    assert again.returncode == 0 and "nothing to do" in again.stdout
