"""What the Saxml images decide without running: their version's settings, the registry's
meshes, absl flags, and generated text."""

import pytest

from emulator.saxml import generation, registry
from emulator.saxml.images import admin_settings, fastapi_http, image_version
from emulator.saxml.model_server_image import flag_values

REGISTRY = "us-docker.pkg.dev/cloud-tpu-images/inference"


@pytest.mark.parametrize(
    ("tag", "version", "fastapi"),
    [("v1.0.0", (1, 0, 0), False), ("v1.2.0", (1, 2, 0), True), ("nightly", None, True)],
)
def test_the_tag_decides_the_http_server(
    tag: str, version: tuple[int, int, int] | None, fastapi: bool
) -> None:
    image = f"{REGISTRY}/sax-http:{tag}"
    assert image_version(image) == version
    assert fastapi_http(image) is fastapi


def test_release_1_admins_derive_their_roots_from_gsbucket() -> None:
    settings = admin_settings(f"{REGISTRY}/sax-admin-server:v1.1.0", {"GSBUCKET": "b"})
    assert (settings.cell, settings.sax_root, settings.fs_root) == (
        "/sax/test",
        "gs://b/sax-root",
        "gs://b/sax-fs-root",
    )
    assert settings.port == 10000 and settings.verbosity == 0


def test_later_admins_take_a_replica_prefix_or_explicit_roots() -> None:
    image = f"{REGISTRY}/sax-admin-server:nightly"
    replica = admin_settings(image, {"SAX_GCS_BUCKET": "b", "SAX_REPLICA_NAME": "r1"})
    assert (replica.cell, replica.sax_root) == ("/sax/cell", "gs://b/r1/sax-root")
    explicit = admin_settings(image, {"SAX_ROOT": "gs://x/root", "FS_ROOT": "gs://x/fs"})
    assert (explicit.sax_root, explicit.fs_root, explicit.verbosity) == (
        "gs://x/root",
        "gs://x/fs",
        3,
    )


def test_the_registry_answers_to_paths_and_aliases_and_checks_meshes() -> None:
    model = registry.find("lm_cloud.LmCloudSpmd175B32Test")
    assert model is registry.find(registry.REGISTRY_ROOT + "lm_cloud.LmCloudSpmd175B32Test")
    assert model is not None and model.test_mode and model.can_serve_on(32)
    wide = registry.find("lm_cloud.LmCloudSpmd175BTest")
    assert wide is not None and not wide.can_serve_on(32)
    assert wide.unsupported_reason(32) == (
        "Unsupported mesh shape: Number of devices 32 must equal the product of mesh_shape "
        "[1, 1, 16]"
    )
    assert registry.find("lm_cloud.NoSuchModel") is None


def test_absl_flags_take_both_spellings() -> None:
    assert flag_values(["--port=10001", "--sax_cell", "/sax/test", "--alsologtostderr"]) == {
        "port": "10001",
        "sax_cell": "/sax/test",
        "alsologtostderr": "true",
    }


def test_generated_text_is_deterministic_words_with_negative_scores() -> None:
    first = generation.generate("m", "How many days are in a week?", {}, 2, 64)
    assert first == generation.generate("m", "How many days are in a week?", {}, 2, 64)
    assert first != generation.generate("m", "How many days are in a week?", {"t": 0.1}, 2, 64)
    assert [score for _, score in first] == sorted((s for _, s in first), reverse=True)
    for text, score in first:
        assert score < 0 and text[0].isupper() and text.endswith(".")
        assert all(word.strip(".,;?!").isalpha() for word in text.split())
