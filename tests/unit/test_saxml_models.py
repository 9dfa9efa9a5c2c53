"""Table tests for the Saxml model-class catalog."""

import dataclasses

import pytest

from saxml_gke import saxml_models, tpu

ROOT = "saxml.server.pax.lm.params."


@pytest.mark.parametrize(
    ("alias", "device_counts", "test_mode"),
    [
        ("lm_cloud.LmCloudSpmd175B32Test", (32,), True),
        ("lm_cloud.LmCloudSpmd175BTest", (16,), True),
        ("lm_cloud.LmCloudSpmd175B", (16,), False),
        ("lm_cloud.LmCloudSpmd175B256Test", (256,), True),
        ("lm_cloud.LmCloudSpmd2B", (4,), False),
        ("lm_cloud.LmCloudSpmd2BTest", (1,), True),
        ("lm_cloud.LmCloudSpmd2B4Test", (4,), True),
        ("lm_cloud.LmCloudSpmd2B32Test", (32,), True),
        ("c4.C4SpmdGpt3AdamOrgHP", (64,), False),
        ("gptj.GPTJ", (1,), False),
        ("gptj.GPTJ4BF16BS32", (4,), False),
        ("gptj.GPTJ4TokenizedBF16BS32", (4,), False),
        ("lm_cloud.LLaMA7BFP16TPUv5e", (4,), False),
        ("lm_cloud.LLaMA7BFP16TPUv4", (4,), True),
        ("lm_cloud.LLaMA65B", (4,), True),
        ("lm_cloud.LLaMA70BFP16TPUv5e", (1,), True),  # v1.2.0+/HEAD; v1.1.0 had 16
        ("lm_cloud.LLaMA70BFP16TPUv5e32", (32,), True),
        ("lm_cloud.LLaMA70BInt8TPUv5e8", (8,), False),
        ("gemma.Gemma2BFP16", (1, 4, 8), False),
        ("gemma.Gemma7BFP16Test", (1, 4, 8), True),
    ],
)
def test_lookup_by_full_path_and_alias(alias, device_counts, test_mode):
    by_path = saxml_models.lookup(ROOT + alias)
    by_alias = saxml_models.lookup(alias)
    assert by_path is not None
    assert by_alias is by_path
    assert by_path == saxml_models.ModelClass(ROOT + alias, device_counts, test_mode)
    assert by_path.alias == alias


@pytest.mark.parametrize(
    "model_path",
    [
        "lm_cloud.NoSuchModel",
        "LmCloudSpmd175B32Test",  # class without its module
        "lm_cloud.lmcloudspmd175b32test",  # registry paths are case-sensitive
        " lm_cloud.LmCloudSpmd175B32Test",
        "lm_cloud.LmCloudSpmd175B32Test ",
        "saxml.server.pax.lm.params.",
        "/sax/test/spmd",  # a model ID, not a class
        "other.root.lm_cloud.LmCloudSpmd175B32Test",
        "",
        None,
    ],
)
def test_lookup_unknown_is_none(model_path):
    assert saxml_models.lookup(model_path) is None


def test_registry_root():
    assert saxml_models.REGISTRY_ROOT == ROOT


def test_catalog_rows_are_well_formed():
    rows = saxml_models.catalog()
    assert len(rows) >= 20
    assert len({row.path for row in rows}) == len(rows)
    for row in rows:
        assert row.path.startswith(ROOT)
        assert row.device_counts
        assert all(isinstance(n, int) and n > 0 for n in row.device_counts)
        assert isinstance(row.test_mode, bool)
        assert saxml_models.lookup(row.alias) is row


def test_catalog_is_stable_and_immutable():
    assert saxml_models.catalog() == saxml_models.catalog()
    row = saxml_models.catalog()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.test_mode = not row.test_mode  # type: ignore[misc]


@pytest.mark.parametrize(
    ("alias", "devices", "servable"),
    [
        ("lm_cloud.LmCloudSpmd175B32Test", 32, True),
        ("lm_cloud.LmCloudSpmd175B32Test", 16, False),
        ("lm_cloud.LmCloudSpmd175B32Test", 64, False),
        ("gemma.Gemma2BFP16", 1, True),
        ("gemma.Gemma2BFP16", 4, True),
        ("gemma.Gemma2BFP16", 8, True),
        ("gemma.Gemma2BFP16", 16, False),
    ],
)
def test_can_serve_on(alias, devices, servable):
    model = saxml_models.lookup(alias)
    assert model is not None
    assert model.can_serve_on(devices) is servable


def test_tutorial_model_fits_the_tutorial_slice():
    model = saxml_models.lookup(ROOT + "lm_cloud.LmCloudSpmd175B32Test")
    assert model is not None
    assert model.test_mode is True  # so checkpoint "None" is allowed
    assert model.can_serve_on(tpu.slice_shape("v5e", "4x8").chips)
    assert not model.can_serve_on(tpu.slice_shape("v5e", "4x4").chips)
