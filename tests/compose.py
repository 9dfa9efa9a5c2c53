"""docker-compose.yaml read as Compose reads it, for the tests of the file and of its stack.

compose-spec (a validating Compose parser) does not interpolate, and refuses the raw file (a
`${...}` is no valid user name), so values are interpolated first, as Compose does: after YAML
parsing, in every string value, with `.env`'s variables.
"""

import json
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from compose_spec import PyCompose
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
AIRFLOW_COMPONENTS = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
)
AIRFLOW_INIT = "airflow-init"

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


class InterpolationError(ValueError):
    """What `docker compose` refuses to start with: a required variable unset, a bad `$`."""


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """One string interpolated as Compose does: `$$` is a `$`; `$VAR` and `${VAR}` (empty when
    unset); `${VAR:-default}` and `${VAR-default}`; `${VAR:?error}` and `${VAR?error}`;
    `${VAR:+replacement}` and `${VAR+replacement}`. With a colon an empty value counts as unset.
    Defaults, errors and replacements are interpolated in turn (nesting)."""
    parts: list[str] = []
    index = 0
    while (dollar := text.find("$", index)) >= 0:
        parts.append(text[index:dollar])
        following = text[dollar + 1 : dollar + 2]
        if following == "$":
            parts.append("$")
            index = dollar + 2
        elif following == "{":
            end = _closing_brace(text, dollar + 2)
            parts.append(_substitute(text[dollar + 2 : end], variables))
            index = end + 1
        elif name := _NAME.match(text, dollar + 1):
            parts.append(variables.get(name[0], ""))
            index = name.end()
        else:
            raise InterpolationError(f"invalid interpolation format in {text!r}")
    return "".join(parts) + text[index:]


def _closing_brace(text: str, start: int) -> int:
    depth, index = 1, start
    while index < len(text):
        if text.startswith("$$", index):
            index += 2
        elif text.startswith("${", index):
            depth += 1
            index += 2
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
            index += 1
        else:
            index += 1
    raise InterpolationError(f"unterminated ${{ in {text!r}")


def _substitute(body: str, variables: Mapping[str, str]) -> str:
    match = _BRACED.fullmatch(body)
    if match is None:
        raise InterpolationError(f"invalid interpolation format ${{{body}}}")
    name, op, argument = match["name"], match["op"] or "", match["arg"] or ""
    value = variables.get(name)
    present = value is not None and (value != "" or not op.startswith(":"))
    if op.endswith("-"):
        return value if present else interpolate(argument, variables)
    if op.endswith("?"):
        if not present:
            message = interpolate(argument, variables)
            raise InterpolationError(f"required variable {name} is missing a value: {message}")
        return value
    if op.endswith("+"):
        return interpolate(argument, variables) if present else ""
    return value or ""


def _interpolate_values(node: Any, variables: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, variables)
    if isinstance(node, dict):
        return {key: _interpolate_values(value, variables) for key, value in node.items()}
    if isinstance(node, list):
        return [_interpolate_values(value, variables) for value in node]
    return node


def raw_compose() -> dict[str, Any]:
    """The file as YAML (anchors merged), before interpolation: what its text says."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def load_compose(variables: Mapping[str, str]) -> dict[str, Any]:
    """The file as `docker compose` runs it with this `.env`: interpolated, then parsed and
    validated by compose-spec; its normal form (environment maps, command lists or strings)."""
    compose = PyCompose.from_json(json.dumps(_interpolate_values(raw_compose(), variables)))
    compose.validate()
    return compose.to_dict()


def read_env_file(path: Path) -> dict[str, str]:
    """A `.env` file in the subset of Compose's format that .env.example keeps to: `NAME=value`
    lines and `#` comment lines; a value in single or double quotes loses them."""
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            values[name.strip()] = value
    return values


def team_env(**overrides: str) -> dict[str, str]:
    """.env.example filled in as its comments say: each empty value (a secret) generated."""
    values = read_env_file(ENV_EXAMPLE)
    filled = {name: value or _generate(name) for name, value in values.items()}
    return {**filled, **overrides}


def _generate(name: str) -> str:
    if name == "AIRFLOW__CORE__FERNET_KEY":
        return Fernet.generate_key().decode()
    return secrets.token_urlsafe(24)


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """A service's environment (the file writes maps; compose-spec keeps them so)."""
    return {name: str(value) for name, value in (service.get("environment") or {}).items()}
