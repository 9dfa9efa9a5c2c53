"""The RPC surfaces Saxml's servers offer each other, and the messages they exchange.

Admin (port 10000): Join for model servers; Publish, Update, Unpublish, List and the model
servers' addresses for clients. Model server (port 10001): GetStatus, Load, Unload for the
admin; Generate for clients. Methods raise `SaxError` as the gRPC call would fail.
"""

import abc
from dataclasses import asdict, dataclass, field
from typing import Any

LOADING, LOADED, FAILED, UNLOADING = "LOADING", "LOADED", "FAILED", "UNLOADING"


@dataclass(frozen=True)
class ModelSpec:
    """admin.proto's Model: what a publish asks for."""

    model_id: str
    model_path: str
    checkpoint_path: str
    requested_num_replicas: int
    overrides: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ModelSpec":
        return cls(**data)


@dataclass(frozen=True)
class ServerSpecs:
    """admin.proto's ModelServer: what a model server tells the admin when it joins."""

    chip_type: str
    chip_topology: str
    servable_model_paths: tuple[str, ...]


@dataclass(frozen=True)
class ModelStatus:
    status: str  # LOADING, LOADED, FAILED or UNLOADING
    error: str = ""


@dataclass(frozen=True)
class PublishedModel:
    """admin.proto's PublishedModel: the spec and the servers assigned to it."""

    model: ModelSpec
    modelet_addresses: tuple[str, ...]


Samples = list[tuple[str, float]]


class AdminApi(abc.ABC):
    @abc.abstractmethod
    async def join(self, address: str, specs: ServerSpecs) -> None: ...

    @abc.abstractmethod
    def publish(self, model: ModelSpec) -> None: ...

    @abc.abstractmethod
    def update(self, model: ModelSpec) -> None: ...

    @abc.abstractmethod
    def unpublish(self, model_id: str) -> None: ...

    @abc.abstractmethod
    def list_model(self, model_id: str) -> PublishedModel: ...

    @abc.abstractmethod
    def list_all(self) -> list[PublishedModel]: ...

    @abc.abstractmethod
    def serving_addresses(self, model_id: str) -> list[str]:
        """FindLoc/WatchLoc: servers that have loaded the model (sorted)."""


class ModelServerApi(abc.ABC):
    @abc.abstractmethod
    def get_status(self) -> dict[str, ModelStatus]: ...

    @abc.abstractmethod
    async def load(self, model_key: str, model_path: str, checkpoint: str) -> None: ...

    @abc.abstractmethod
    async def unload(self, model_key: str) -> None: ...

    @abc.abstractmethod
    async def generate(self, model_key: str, query: str, extra: dict[str, float]) -> Samples: ...
