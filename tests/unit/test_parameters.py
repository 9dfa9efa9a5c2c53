"""The parameter schemas as Airflow's trigger form and its validation see them."""

import json
import re
import subprocess
import sys
import unicodedata
from datetime import UTC, datetime

import jsonschema
import pytest

from saxml_gke.parameters import INVISIBLE, PARAMETERS, REQUIRED, defaults
from saxml_gke.spec import DeploymentSpec, build_spec
from tests.unit.samples import WHERE, form_requires, valid

NOW = datetime(2026, 11, 24, 20, 0, tzinfo=UTC)
OPTIONAL = sorted(set(PARAMETERS) - set(REQUIRED))


@pytest.mark.parametrize("name", list(PARAMETERS))
def test_schema_is_valid_json_schema(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(PARAMETERS[name])


@pytest.mark.parametrize("name", OPTIONAL)
def test_default_validates_against_its_own_schema_as_airflow_checks_it(name: str) -> None:
    """Airflow's Param.resolve: jsonschema.validate with a format checker."""
    schema = PARAMETERS[name]
    jsonschema.validate(schema["default"], schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("name", OPTIONAL)
def test_the_form_does_not_ask_for_a_parameter_that_has_a_default(name: str) -> None:
    schema = PARAMETERS[name]
    assert not (form_requires(schema) and schema["default"] in (None, ""))


def test_the_form_asks_only_for_project_and_zone() -> None:
    assert REQUIRED == ("project_id", "zone")
    assert all(form_requires(PARAMETERS[name]) for name in REQUIRED)


@pytest.mark.parametrize("name", list(PARAMETERS))
def test_every_parameter_has_a_title_a_description_and_a_section(name: str) -> None:
    schema = PARAMETERS[name]
    for key in ("title", "description", "section"):
        assert isinstance(schema.get(key), str), key
        assert schema[key].strip(), key
    assert schema["title"] != name, "a title a person reads, not the parameter's name"


def test_titles_are_unique() -> None:
    titles = [schema["title"] for schema in PARAMETERS.values()]
    assert len(set(titles)) == len(titles)


def test_the_defaults_with_project_and_zone_build_a_spec() -> None:
    """What the form submits when the user fills only Project and Zone."""
    spec = build_spec({**defaults(), **WHERE}, now=NOW)
    assert spec.project_id == "my-project"
    assert spec.cluster.zone == "us-west4-a"


@pytest.mark.parametrize("name", ["reservation", "bucket", "jobset_manifest_url"])
@pytest.mark.parametrize("empty", [None, ""])
def test_an_empty_optional_text_is_not_given(name: str, empty: str | None) -> None:
    """The form sends null for an empty field; confs from before it was null-able send ""."""
    assert build_spec({**WHERE, name: empty}, now=NOW) == build_spec(WHERE, now=NOW)


def test_not_given_text_is_stored_as_before() -> None:
    """Null defaults become "" in the spec, the shape of the specs that earlier runs stored in
    their clusters (ConfigMap spec.json), which the nightly teardown loads."""
    spec = build_spec(WHERE, now=NOW)
    assert {pool.reservation for pool in spec.tpu.node_pools} == {""}
    assert DeploymentSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def patterns() -> dict[str, str]:
    """Every pattern of the schemas, by where it sits."""
    found = {name: schema["pattern"] for name, schema in PARAMETERS.items() if "pattern" in schema}
    labels = PARAMETERS["labels"]
    found["labels keys"] = labels["propertyNames"]["pattern"]
    found["labels values"] = labels["additionalProperties"]["pattern"]
    return found


# A value each pattern accepts, where the default is null or absent.
def refused(text: str) -> list[str]:
    """`text` with what no text may hold: a line break, a control or an invisible character."""
    return [
        text + "\n",
        "\n" + text,
        text + "\r\n",
        text[:1] + "\u2028" + text[1:],
        text + "\u200b",
        text + "\u202e",
        text + "\x00",
        text + "\U000e0041",  # a tag character: invisible, beyond the Basic Multilingual Plane
        text + "\ud800",  # a lone surrogate
    ]


def test_every_text_parameter_has_a_pattern_or_a_list_of_values() -> None:
    texts = [schema for schema in PARAMETERS.values() if "string" in schema["type"]]
    assert len(texts) > 20
    assert all("pattern" in schema or "enum" in schema for schema in texts)


@pytest.mark.parametrize("where", list(patterns()))
def test_a_pattern_matches_only_a_whole_line_of_visible_characters(where: str) -> None:
    pattern = patterns()[where]
    assert re.search(pattern, valid(where))
    assert [text for text in refused(valid(where)) if re.search(pattern, text)] == []


def test_the_patterns_mean_the_same_in_javascript() -> None:
    """The browser checks them with JavaScript's RegExp, Python's jsonschema with `re.search`."""
    cases = [
        (pattern, text)
        for where, pattern in patterns().items()
        for text in (valid(where), *refused(valid(where)), f"{valid(where)} caf\u00e9 \U0001f600")
    ]
    assert javascript_matches(cases) == [
        re.search(pattern, text) is not None for pattern, text in cases
    ]


def javascript_matches(cases: list[tuple[str, str]]) -> list[bool]:
    """`new RegExp(pattern, "u").test(text)` for each case, as the JSON editor in the browser
    (Monaco) runs it, in the V8 that Playwright ships."""
    from playwright._impl._driver import compute_driver_executable

    script = (
        "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(cases.map(([p, t]) => new RegExp(p, 'u').test(t))));"
    )
    result = subprocess.run(
        [compute_driver_executable()[0], "-e", script],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


def test_invisible_holds_every_control_format_separator_and_surrogate_character() -> None:
    invisible = re.compile(f"[{INVISIBLE}]")
    missing = [
        f"U+{code:04X}"
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in {"Cc", "Cf", "Zl", "Zp", "Cs"}
        and not invisible.fullmatch(chr(code))
    ]
    assert missing == []


def test_capacity_offers_both_flex_start_modes_and_says_what_each_is() -> None:
    from saxml_gke.parameters import Capacity

    schema = PARAMETERS["capacity"]
    assert schema["enum"] == ["on-demand", "spot", "reservation", "flex-start", "flex-start-queued"]
    assert schema["enum"] == [capacity.value for capacity in Capacity]
    assert "queued provisioning" not in schema["description"].split("flex-start-queued")[0]
    assert "flex-start VMs" in schema["description"]
    assert "ProvisioningRequest" in schema["description"]
    spec = build_spec({**WHERE, "capacity": "flex-start-queued"}, now=NOW)
    assert spec.tpu.provisioning is Capacity.FLEX_START_QUEUED
    assert [(c.flex_start, c.queued) for c in Capacity] == [
        (False, False), (False, False), (False, False), (True, False), (True, True)
    ]  # fmt: skip
