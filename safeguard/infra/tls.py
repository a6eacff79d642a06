"""The local broker's certificates, made once with the JDK's ``keytool`` (Kafka needs the JDK).

In ``<kafka home>/tls`` (0700, every file 0600):

- ``ca.p12``: a certificate authority of the broker's own (its key never leaves this file);
- ``ca.pem``: its certificate, what clients trust (``SAFEGUARD_KAFKA_CA_FILE`` elsewhere);
- ``broker.p12``: the broker's key and certificate (``CN=broker``, valid for 127.0.0.1 and
  localhost, for both server and client use: the broker shows it to clients, and to the KRaft
  controller, which accepts only certificates this authority signed);
- ``truststore.p12``: the authority's certificate, for the broker;
- ``store.password``: the generated password of the three stores.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from safeguard.infra.process import private_folder, require_tool, run_checked, write_private

VALIDITY_DAYS = "825"
KEY = ["-keyalg", "EC", "-groupname", "secp256r1", "-sigalg", "SHA256withECDSA"]


@dataclass(frozen=True)
class BrokerTls:
    """Where the local broker's stores are, and their password."""

    keystore: Path
    truststore: Path
    ca_pem: Path
    password: str


def ensure_certificates(folder: Path) -> BrokerTls:
    """The broker's stores in ``folder``, made now unless a complete set is there."""
    private_folder(folder)
    tls = BrokerTls(
        keystore=folder / "broker.p12",
        truststore=folder / "truststore.p12",
        ca_pem=folder / "ca.pem",
        password="",
    )
    password_file = folder / "store.password"
    made = [tls.keystore, tls.truststore, tls.ca_pem, password_file]
    if not all(path.exists() for path in made):
        for path in [*made, folder / "ca.p12", folder / "broker.csr", folder / "broker.pem"]:
            path.unlink(missing_ok=True)
        write_private(password_file, secrets.token_urlsafe(24))
        _make(folder, password_file.read_text())
    return BrokerTls(tls.keystore, tls.truststore, tls.ca_pem, password_file.read_text())


def _make(folder: Path, password: str) -> None:
    keytool = require_tool("keytool", "openjdk-17-jre-headless")

    def run(*args: str, what: str) -> None:
        run_checked([keytool, *args, "-storepass", password, "-noprompt"], what, cwd=folder)

    ca, broker, trust = "ca.p12", "broker.p12", "truststore.p12"
    store = ["-storetype", "PKCS12"]
    run(
        "-genkeypair", "-alias", "ca", *KEY, "-dname", "CN=safeguard local Kafka CA",
        "-ext", "bc:c", "-validity", VALIDITY_DAYS, "-keystore", ca, *store,
        what="making the broker's certificate authority",
    )  # fmt: skip
    run(
        "-exportcert", "-rfc", "-alias", "ca", "-keystore", ca, "-file", "ca.pem",
        what="exporting the certificate authority",
    )  # fmt: skip
    run(
        "-genkeypair", "-alias", "broker", *KEY, "-dname", "CN=broker",
        "-validity", VALIDITY_DAYS, "-keystore", broker, *store,
        what="making the broker's key",
    )  # fmt: skip
    run(
        "-certreq", "-alias", "broker", "-keystore", broker, "-file", "broker.csr",
        what="asking for the broker's certificate",
    )  # fmt: skip
    run(
        "-gencert", "-alias", "ca", "-keystore", ca, "-infile", "broker.csr",
        "-outfile", "broker.pem", "-rfc", "-validity", VALIDITY_DAYS,
        "-ext", "SAN=ip:127.0.0.1,dns:localhost",
        "-ext", "KU=digitalSignature,keyAgreement", "-ext", "EKU=serverAuth,clientAuth",
        what="signing the broker's certificate",
    )  # fmt: skip
    run(
        "-importcert", "-alias", "ca", "-file", "ca.pem", "-keystore", broker,
        what="adding the authority to the broker's key store",
    )  # fmt: skip
    run(
        "-importcert", "-alias", "broker", "-file", "broker.pem", "-keystore", broker,
        what="adding the signed certificate to the broker's key store",
    )  # fmt: skip
    run(
        "-importcert", "-alias", "ca", "-file", "ca.pem", "-keystore", trust, *store,
        what="making the broker's trust store",
    )  # fmt: skip
    (folder / "broker.csr").unlink()
    for path in folder.iterdir():
        path.chmod(0o600)
