"""Each cluster's own certificate authority and the serving certificate of its API server.

Clients trust a cluster through `masterAuth.clusterCaCertificate` only, exactly as on GKE, so the
CA is generated per cluster and kept in the state file (a restart keeps clients' trust).
"""

import base64
import datetime
import ipaddress
import ssl
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_API_SERVER_NAMES = (
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "localhost",
)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    signer: ec.EllipticCurvePrivateKey,
    now: datetime.datetime,
    years: int,
) -> x509.CertificateBuilder:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365 * years))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        )
    )


@dataclass(frozen=True)
class ClusterAuthority:
    ca_certificate_pem: str
    server_certificate_pem: str
    server_key_pem: str

    @classmethod
    def generate(cls, cluster_id: str) -> "ClusterAuthority":
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            _certificate(cluster_id, ca_key, None, ca_key, now, years=30)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(ca_key, hashes.SHA256())
        )
        server_key = ec.generate_private_key(ec.SECP256R1())
        alternative_names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))] + [
            x509.DNSName(name) for name in _API_SERVER_NAMES
        ]
        server = (
            _certificate("kube-apiserver", server_key, ca.subject, ca_key, now, years=5)
            .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        return cls(
            ca_certificate_pem=ca.public_bytes(serialization.Encoding.PEM).decode(),
            server_certificate_pem=server.public_bytes(serialization.Encoding.PEM).decode(),
            server_key_pem=_key_pem(server_key),
        )

    @property
    def ca_certificate_base64(self) -> str:
        """The value of `masterAuth.clusterCaCertificate`."""
        return base64.b64encode(self.ca_certificate_pem.encode()).decode()

    def server_ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        # The ssl module loads a certificate chain from files only.
        with tempfile.TemporaryDirectory() as directory:
            chain = Path(directory) / "server.pem"
            chain.write_text(self.server_certificate_pem + self.server_key_pem)
            context.load_cert_chain(chain)
        return context

    def dump(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def load(cls, state: dict[str, Any]) -> "ClusterAuthority":
        return cls(**state)
