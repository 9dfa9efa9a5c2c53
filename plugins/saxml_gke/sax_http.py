"""The sax-http API in both shapes its images speak, as pure request and response handling.

`sax-http:v1.0.0` (the tutorial's) is a stdlib server: exact key counts, 400 `{"Error": ...}`,
publish echoes `path`, generate answers `{"generate_response": [[text, score], ...]}`. v1.2.0 and
later (FastAPI) answer 422/500 `{"detail": ...}`, echo `model_path` and return a bare list.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PublishedModel:
    model: str
    model_path: str
    checkpoint: str
    max_replicas: int
    active_replicas: int


def publish_body(model: str, model_path: str, checkpoint: str, replicas: int) -> dict[str, Any]:
    """Exactly four keys: the v1.0.0 server rejects any other count."""
    return {
        "model": model,
        "model_path": model_path,
        "checkpoint": checkpoint,
        "replicas": replicas,
    }


def generate_body(model: str, query: str) -> dict[str, str]:
    """Exactly two keys, for v1.0.0; later servers then apply their default extra_inputs."""
    return {"model": model, "query": query}


def parse_listcell(body: Mapping[str, Any]) -> PublishedModel:
    return PublishedModel(
        model=body["model"],
        model_path=body.get("model_path", body.get("path", "")),
        checkpoint=body.get("checkpoint", ""),
        max_replicas=int(body.get("max_replicas", 0)),
        active_replicas=int(body.get("active_replicas", 0)),
    )


def parse_generate(body: Any) -> list[tuple[str, float]]:
    """[(text, score), ...] from either response shape."""
    samples = body.get("generate_response", []) if isinstance(body, Mapping) else body
    if not isinstance(samples, list):
        raise ValueError(f"unexpected generate response: {body!r}")
    return [(str(text), float(score)) for text, score in samples]


def error_message(body: Any) -> str:
    """The server's error text from either shape (`{"Error": ...}` or `{"detail": ...}`)."""
    if isinstance(body, Mapping):
        for key in ("Error", "detail", "message"):
            if key in body:
                return str(body[key])
    return str(body)


def is_not_found(message: str) -> bool:
    """The admin's answer for a model that is not published."""
    lowered = message.lower()
    return "not found" in lowered or "notfound" in lowered


def is_already_exists(message: str) -> bool:
    return "already exists" in message.lower()
