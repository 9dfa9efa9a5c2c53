"""Generated values for every parameter, down the DAG's path: Airflow's JSON Schema check, then
`build_spec`. Each ends in an error that names its parameter, or in a plan that is strict JSON
and renders manifests shaped like the defaults'; no other exception escapes, so nothing that
passes validation fails later."""

import json
import string
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saxml_gke.manifests import render_objects
from saxml_gke.parameters import PARAMETERS
from saxml_gke.spec import DeploymentSpec, InvalidParameters, Problem, build_spec
from tests.unit.samples import shape, valid

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
WHERE = {"project_id": "my-project", "zone": "us-west4-a"}
# Bounded and derandomized: the same examples on every run, a few seconds for all parameters.
STRICT = settings(max_examples=30, deadline=None, derandomize=True, database=None)
INVISIBLE = st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Cs"])
EDGE_NUMBERS = [
    float("nan"),
    float("inf"),
    float("-inf"),
    2.0,
    2.5,
    -1,
    0,
    -0.0,
    5e-324,
    1e308,
    10**400,
    True,
    False,
    None,
]
EDGES = [*EDGE_NUMBERS, "", " ", "\n", "\u200b", "\ufeff"]


def texts() -> st.SearchStrategy[str]:
    """Any text, and text mostly of a name's alphabet with invisible characters mixed in."""
    alphabet = st.sampled_from(string.ascii_lowercase + string.digits + "-_./:@# ")
    return st.text() | st.text(alphabet | INVISIBLE, max_size=70)


def numbers() -> st.SearchStrategy[Any]:
    return (
        st.sampled_from(EDGE_NUMBERS)
        | st.floats()
        | st.integers()
        | st.integers(min_value=-2, max_value=40).map(float)
    )


def spoiled(text: str) -> st.SearchStrategy[str]:
    """A valid `text` with a line break or an invisible character somewhere, often at the end."""
    at = st.integers(min_value=0, max_value=len(text)) | st.just(len(text))
    extra = st.just("\n") | INVISIBLE
    return st.builds(lambda index, char: text[:index] + char + text[index:], at, extra)


@cache
def values(name: str) -> st.SearchStrategy[Any]:
    """Strings and numbers of every kind for any parameter; and for this one, values its own
    schema accepts (`from_regex` also tries a final newline where `$` would allow one) and
    valid values spoiled."""
    anything = texts() | numbers() | st.booleans()
    labels = st.dictionaries(spoiled("team") | texts(), spoiled("ml") | texts() | numbers())
    return anything | labels | _accepted(PARAMETERS[name]) | spoiled(valid_text(name))


def _accepted(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "pattern" in schema:
        return st.from_regex(schema["pattern"])
    if "maximum" in schema:
        return st.floats(min_value=0, max_value=schema["maximum"])
    return st.nothing()


def valid_text(name: str) -> str:
    """A valid value of a text parameter, else any valid text (then spoiled, still refused)."""
    text = valid(name)
    return text if isinstance(text, str) else "x"


@pytest.mark.parametrize("name", list(PARAMETERS))
@STRICT
@given(data=st.data())
def test_every_value_is_refused_by_name_or_renders_the_defaultsshape(
    name: str, data: st.DataObject
) -> None:
    check(name, data.draw(values(name), label=name))


@pytest.mark.parametrize("value", EDGES, ids=repr)
@pytest.mark.parametrize("name", list(PARAMETERS))
def test_every_edge_value_is_refused_by_name_or_renders_the_defaultsshape(
    name: str, value: Any
) -> None:
    """Each edge for each parameter, rather than whenever the generator happens on it."""
    check(name, value)


def check(name: str, value: Any) -> None:
    """The property: `value` for `name` is refused naming it, or plans and renders cleanly."""
    try:
        # Airflow's Param.resolve for this parameter; Airflow names it: "Invalid input for param".
        jsonschema.validate(value, PARAMETERS[name], format_checker=jsonschema.FormatChecker())
    except jsonschema.ValidationError:
        return
    try:
        spec = build_spec({**WHERE, name: value}, now=NOW)
    except InvalidParameters as error:
        assert any(_names(problem, name) for problem in error.problems), error
        return
    # The plan travels as strict JSON (XCom, the cluster's spec.json): no NaN, no Infinity.
    assert DeploymentSpec.from_dict(json.loads(json.dumps(spec.to_dict(), allow_nan=False))) == spec
    assert skeleton(render_objects(spec), name) == reference_skeleton(name, value)


def _names(problem: Problem, name: str) -> bool:
    """A problem names the parameter, or its partner in a cross-field rule."""
    return problem.param in {name, *PARTNERS.get(name, ())}


# Cross-field rules: a valid value can disagree with another parameter's default.
PARTNERS = {
    "tpu_generation": {"tpu_topology"},  # v4 has no 4x8
    "tpu_topology": {"model_path"},  # the default model needs 32 chips
    "tpu_slices": {"model_replicas"},
    "capacity": {"reservation"},  # capacity=reservation needs one
    "sax_cell": {"model_key"},  # the model key lies inside the cell
    "model_path": {"checkpoint"},  # a model of the catalog that needs one
    "http_exposure": {"http_source_ranges", "allow_public_http"},  # a load balancer on purpose
}


# The parameters that choose structure by design, and a plain value of the same choice.
BRANCHES = {
    "namespace": lambda value: value if value == "default" else "serving",  # + a Namespace
    "ttl_hours": lambda value: 0 if value == 0 else 24,  # 0: no expires-at label
    "http_exposure": lambda value: value,  # an enum: each value is a Service of its own
    "labels": lambda value: dict.fromkeys(value, "x"),  # label keys are keys
}
# The parameters whose value is an object's name: of that object, the name is a value.
NAMES = {"namespace": "Namespace", "ksa_name": "ServiceAccount"}


def reference_skeleton(name: str, value: Any) -> list[Any]:
    """The skeleton of the defaults, or of the same structural choice as `value`."""
    conf = {**WHERE, name: BRANCHES[name](value)} if name in BRANCHES else WHERE
    return _rendered_skeleton(json.dumps(conf), name)


@cache
def _rendered_skeleton(conf: str, name: str) -> list[Any]:
    return skeleton(render_objects(build_spec(json.loads(conf), now=NOW)), name)


def skeleton(objects: list[dict[str, Any]], name: str) -> list[Any]:
    """Kinds, names and keys; every other value reduced to its type, as is the name of the
    object that the parameter `name` names."""
    return [
        (
            obj["kind"],
            "<value>" if obj["kind"] == NAMES.get(name) else obj["metadata"]["name"],
            shape(obj),
        )
        for obj in objects
    ]
