"""The Saxml model registry as the model-server image ships it: model classes, their meshes.

A model server advertises a class only when the product of its serving mesh equals the JAX
device count of its whole slice (`can_serve_on`); the admin assigns models only to servers that
advertise their path, so a mismatch leaves a model at 0 replicas with no error anywhere. Test-mode
classes ignore the checkpoint and initialise random weights. Each class is registered under its
full path and a short alias relative to `REGISTRY_ROOT`.

This is the emulator's own table (saxml `saxml/server/pax/lm/params/{lm_cloud,c4,gptj,gemma}.py`),
independent of the product's planner. Load times are modelled: random initialisation plus XLA
compilation of every batch size and bucket, longer for bigger models (a 175B test model takes
about twelve minutes, per the LWS publisher's comment).
"""

from dataclasses import dataclass, field

REGISTRY_ROOT = "saxml.server.pax.lm.params."

# What lm_cloud's 175B, LLaMA and GPT-J classes declare; sax-http v1.2.0+ sends the same keys.
FOUR_EXTRA_INPUTS = (
    "temperature",
    "per_example_max_decode_steps",
    "per_example_top_k",
    "per_example_top_p",
)
TEMPERATURE_ONLY = ("temperature",)  # template.py's default, which LmCloudSpmd2B* inherit


@dataclass(frozen=True)
class ModelClass:
    """One registered servable model class."""

    alias: str  # `<module>.<Class>` relative to REGISTRY_ROOT
    meshes: tuple[int, ...]  # device counts of its serving meshes; the first that fits is used
    test_mode: bool
    load_seconds: float
    num_samples: int = 1
    max_decode_steps: int = 128
    extra_inputs: tuple[str, ...] = FOUR_EXTRA_INPUTS
    mesh_shapes: tuple[tuple[int, ...], ...] = field(default=(), compare=False)

    @property
    def path(self) -> str:
        return REGISTRY_ROOT + self.alias

    def can_serve_on(self, devices: int) -> bool:
        return devices in self.meshes

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return self.mesh_shapes or tuple((1, 1, count) for count in self.meshes)

    def unsupported_reason(self, devices: int) -> str:
        """`check_serving_platform`'s status details: jax's `create_device_mesh` error."""
        shape = list(self.shapes[0])
        return (
            "Unsupported mesh shape: Number of devices "
            f"{devices} must equal the product of mesh_shape {shape}"
        )


def _lm_cloud_2b(alias: str, devices: int, test_mode: bool = True) -> ModelClass:
    return ModelClass(
        alias,
        (devices,),
        test_mode,
        load_seconds=90.0,
        num_samples=2,
        max_decode_steps=32,
        extra_inputs=TEMPERATURE_ONLY,
    )


def _lm_cloud_175b(alias: str, devices: int, test_mode: bool = True) -> ModelClass:
    return ModelClass(alias, (devices,), test_mode, load_seconds=720.0)


def _llama(alias: str, devices: int, test_mode: bool, load_seconds: float) -> ModelClass:
    return ModelClass(alias, (devices,), test_mode, load_seconds=load_seconds)


CLASSES: tuple[ModelClass, ...] = (
    _lm_cloud_2b("lm_cloud.LmCloudSpmd2B", 4, test_mode=False),
    _lm_cloud_2b("lm_cloud.LmCloudSpmd2BTest", 1),
    _lm_cloud_2b("lm_cloud.LmCloudSpmd2B4Test", 4),
    _lm_cloud_2b("lm_cloud.LmCloudSpmd2B8Test", 8),
    _lm_cloud_2b("lm_cloud.LmCloudSpmd2B16Test", 16),
    _lm_cloud_2b("lm_cloud.LmCloudSpmd2B32Test", 32),
    _lm_cloud_175b("lm_cloud.LmCloudSpmd175B", 16, test_mode=False),
    _lm_cloud_175b("lm_cloud.LmCloudSpmd175BTest", 16),
    _lm_cloud_175b("lm_cloud.LmCloudSpmd175B32Test", 32),
    _lm_cloud_175b("lm_cloud.LmCloudSpmd175B64Test", 64),
    _lm_cloud_175b("lm_cloud.LmCloudSpmd175B128Test", 128),
    _lm_cloud_175b("lm_cloud.LmCloudSpmd175B256Test", 256),
    ModelClass("c4.C4SpmdGpt3AdamOrgHP", (64,), False, load_seconds=900.0),
    ModelClass("gptj.GPTJ", (1,), False, load_seconds=400.0),
    ModelClass(
        "gptj.GPTJ4BF16BS32",
        (4,),
        False,
        load_seconds=400.0,
        num_samples=4,
        mesh_shapes=((1, 1, 1, 1, 4),),
    ),
    ModelClass(
        "gptj.GPTJ4TokenizedBF16BS32",
        (4,),
        False,
        load_seconds=400.0,
        num_samples=4,
        mesh_shapes=((1, 1, 1, 1, 4),),
    ),
    _llama("lm_cloud.LLaMA7BFP16", 1, False, 240.0),
    _llama("lm_cloud.LLaMA7BFP16TPUv4", 4, True, 240.0),
    _llama("lm_cloud.LLaMA7BFP16TPUv5e", 4, False, 240.0),
    _llama("lm_cloud.LLaMA7B", 1, True, 240.0),
    _llama("lm_cloud.LLaMA13B", 1, True, 300.0),
    _llama("lm_cloud.LLaMA33B", 4, True, 420.0),
    _llama("lm_cloud.LLaMA65B", 4, True, 540.0),
    # v1.2.0 and later: no mesh override, so it inherits BaseLLaMA's [1, 1, 1].
    _llama("lm_cloud.LLaMA70BFP16TPUv5e", 1, True, 600.0),
    _llama("lm_cloud.LLaMA70BFP16TPUv5e32", 32, False, 600.0),
    _llama("lm_cloud.LLaMA70BFP16TPUv5e64", 64, False, 600.0),
    _llama("lm_cloud.LLaMA70BInt8TPUv5e8", 8, False, 600.0),
    ModelClass("gemma.Gemma2BFP16", (1, 4, 8), False, load_seconds=120.0),
    ModelClass("gemma.Gemma7BFP16", (1, 4, 8), False, load_seconds=240.0),
    ModelClass("gemma.Gemma2BFP16Test", (1, 4, 8), True, load_seconds=120.0),
    ModelClass("gemma.Gemma7BFP16Test", (1, 4, 8), True, load_seconds=240.0),
)

_BY_NAME: dict[str, ModelClass] = {
    name: model for model in CLASSES for name in (model.path, model.alias)
}


def find(path: str) -> ModelClass | None:
    """The class registered under a full path or its alias."""
    return _BY_NAME.get(path)


def registered_names() -> list[str]:
    """Every name the registry answers to, as `dict_keys` lists them in error messages."""
    return [model.path for model in CLASSES]
