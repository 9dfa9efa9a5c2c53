"""Service-account keys: generated like IAM's, written as the JSON key files google-auth loads.

IAM keeps only the public half of a key; the private half lives in the key file the caller
downloads. The emulator's own operator key is the one exception (it is saved so a restart can
hand out the same key again).
"""

import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class PrivateKey:
    key_id: str
    email: str
    private_key_pem: str

    @classmethod
    def generate(cls, email: str) -> "PrivateKey":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return cls(key_id=secrets.token_hex(20), email=email, private_key_pem=pem)

    def public_key_pem(self) -> str:
        key = serialization.load_pem_private_key(self.private_key_pem.encode(), password=None)
        return (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def key_file(self, *, project_id: str, client_id: str, token_uri: str) -> dict[str, Any]:
        """The JSON key file, as `gcloud iam service-accounts keys create` writes it."""
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": self.key_id,
            "private_key": self.private_key_pem,
            "client_email": self.email,
            "client_id": client_id,
            "token_uri": token_uri,
            "universe_domain": "googleapis.com",
        }

    def dump(self) -> dict[str, str]:
        return {"key_id": self.key_id, "email": self.email, "private_key": self.private_key_pem}

    @classmethod
    def load(cls, state: dict[str, str]) -> "PrivateKey":
        return cls(state["key_id"], state["email"], state["private_key"])
