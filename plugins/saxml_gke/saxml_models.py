"""Catalog of Saxml model classes this project knows how to place on a TPU slice.

A Saxml model server advertises a model class only if the product of one of its serving meshes
equals the JAX device count of the whole slice; otherwise the model sits at 0 replicas with no
error. Knowing each class's device counts up front lets the spec reject a model/slice mismatch
before any TPU is paid for. Test-mode classes ignore the checkpoint and use random weights, which
is why only they may be published with the literal checkpoint "None".

Source: google/saxml saxml/server/pax/lm/params/{lm_cloud,c4,gptj,gemma}.py (device count = product
of ICI_MESH_SHAPE or serving_mesh_shape; test_mode property, default False). Only classes whose
device count is known are listed; registered classes not listed here (LLaMA3, H100 and int8
replica variants, ...) are unknown to the planner, not unsupported by Saxml.
"""

from dataclasses import dataclass

REGISTRY_ROOT = "saxml.server.pax.lm.params."


@dataclass(frozen=True)
class ModelClass:
    """One registered Saxml model class."""

    path: str  # full registry path, REGISTRY_ROOT + "<module>.<Class>"
    device_counts: tuple[int, ...]  # JAX device counts a serving mesh of the class fits
    test_mode: bool  # random weights; checkpoint "None" allowed

    @property
    def alias(self) -> str:
        """The short name relative to REGISTRY_ROOT, which Saxml also advertises."""
        return self.path.removeprefix(REGISTRY_ROOT)

    def can_serve_on(self, devices: int) -> bool:
        """Whether a slice with ``devices`` JAX devices will advertise (and so load) this class."""
        return devices in self.device_counts


def _row(alias: str, device_counts: tuple[int, ...], *, test_mode: bool) -> ModelClass:
    return ModelClass(REGISTRY_ROOT + alias, device_counts, test_mode)


# Gemma classes list several meshes ([1,1,1], [1,1,4], [1,1,8]); Saxml uses the first that fits.
_GEMMA = (1, 4, 8)

_CATALOG: tuple[ModelClass, ...] = (
    _row("lm_cloud.LmCloudSpmd2B", (4,), test_mode=False),
    # 1x1x1 since saxml commit 0b91a50 (2023-06); the README's v4-8 example predates that.
    _row("lm_cloud.LmCloudSpmd2BTest", (1,), test_mode=True),
    _row("lm_cloud.LmCloudSpmd2B4Test", (4,), test_mode=True),
    _row("lm_cloud.LmCloudSpmd2B8Test", (8,), test_mode=True),
    _row("lm_cloud.LmCloudSpmd2B16Test", (16,), test_mode=True),
    _row("lm_cloud.LmCloudSpmd2B32Test", (32,), test_mode=True),
    _row("lm_cloud.LmCloudSpmd175B", (16,), test_mode=False),
    _row("lm_cloud.LmCloudSpmd175BTest", (16,), test_mode=True),
    # The GKE multi-host tutorial's model: v5e 4x8 (8 nodes x 4 chips) or v4 2x4x4.
    _row("lm_cloud.LmCloudSpmd175B32Test", (32,), test_mode=True),
    _row("lm_cloud.LmCloudSpmd175B64Test", (64,), test_mode=True),
    _row("lm_cloud.LmCloudSpmd175B128Test", (128,), test_mode=True),
    _row("lm_cloud.LmCloudSpmd175B256Test", (256,), test_mode=True),
    _row("c4.C4SpmdGpt3AdamOrgHP", (64,), test_mode=False),
    _row("gptj.GPTJ", (1,), test_mode=False),
    _row("gptj.GPTJ4BF16BS32", (4,), test_mode=False),  # serving mesh [1,1,1,1,4]
    _row("gptj.GPTJ4TokenizedBF16BS32", (4,), test_mode=False),
    _row("lm_cloud.LLaMA7BFP16", (1,), test_mode=False),
    # test_mode below follows the upstream source (v1.x through HEAD), which overrides it to True
    # for LLaMA7BFP16TPUv4, LLaMA7B, LLaMA13B, LLaMA33B and LLaMA65B.
    _row("lm_cloud.LLaMA7BFP16TPUv4", (4,), test_mode=True),
    _row("lm_cloud.LLaMA7BFP16TPUv5e", (4,), test_mode=False),
    _row("lm_cloud.LLaMA7B", (1,), test_mode=True),
    _row("lm_cloud.LLaMA13B", (1,), test_mode=True),
    _row("lm_cloud.LLaMA33B", (4,), test_mode=True),
    _row("lm_cloud.LLaMA65B", (4,), test_mode=True),
    # v1.2.0+ and HEAD: no mesh override, so it inherits BaseLLaMA's [1,1,1]. In v1.1.0 it was
    # [1,1,16] (16 devices); images of that release need a 4x4 slice instead.
    _row("lm_cloud.LLaMA70BFP16TPUv5e", (1,), test_mode=True),
    _row("lm_cloud.LLaMA70BFP16TPUv5e32", (32,), test_mode=True),  # inherits test mode
    _row("lm_cloud.LLaMA70BFP16TPUv5e64", (64,), test_mode=True),
    _row("lm_cloud.LLaMA70BInt8TPUv5e8", (8,), test_mode=False),  # v1.2.0+
    _row("gemma.Gemma2BFP16", _GEMMA, test_mode=False),  # Gemma: v1.2.0+
    _row("gemma.Gemma7BFP16", _GEMMA, test_mode=False),
    _row("gemma.Gemma2BFP16Test", _GEMMA, test_mode=True),
    _row("gemma.Gemma7BFP16Test", _GEMMA, test_mode=True),
)

_BY_PATH = {model.path: model for model in _CATALOG}


def lookup(model_path: str) -> ModelClass | None:
    """The catalog entry for a full registry path or its short alias; None when unknown."""
    if not isinstance(model_path, str):
        return None
    full = model_path if model_path.startswith(REGISTRY_ROOT) else REGISTRY_ROOT + model_path
    return _BY_PATH.get(full)


def catalog() -> tuple[ModelClass, ...]:
    """Every known model class, in a stable order."""
    return _CATALOG
