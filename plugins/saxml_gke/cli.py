"""Command line: print the validated plan or the rendered manifests for a conf.

Exit code 2 and every problem on stderr for invalid input, nothing on stdout, so the command can
sit in a pipeline (`render | kubectl apply -f -`) without ever applying half a deployment.
"""

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from saxml_gke.manifests import render_yaml
from saxml_gke.plan import plan_summary
from saxml_gke.spec import InvalidParameters, build_spec


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        conf = _read_conf(args.conf, args.param)
        spec = build_spec(conf, now=datetime.now(UTC))
    except InvalidParameters as error:
        print(error, file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"invalid input: {error}", file=sys.stderr)
        return 2
    if args.command == "plan":
        print(json.dumps(plan_summary(spec), indent=2))
    else:
        print(render_yaml(spec), end="")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m saxml_gke", description=__doc__)
    parser.add_argument("command", choices=["plan", "render"])
    parser.add_argument("--conf", help="a JSON conf file, or - for standard input")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="one parameter; VALUE is parsed as JSON when it is valid JSON, else taken as text",
    )
    return parser


def _read_conf(source: str | None, params: list[str]) -> dict[str, Any]:
    conf: dict[str, Any] = {}
    if source:
        text = sys.stdin.read() if source == "-" else _read_file(source)
        try:
            conf = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"--conf is not JSON: {error}") from error
        if not isinstance(conf, dict):
            raise ValueError("--conf must hold a JSON object")
    for item in params:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--param {item!r}: expected NAME=VALUE")
        conf[name] = _parse_value(value)
    return conf


def _read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read()
    except OSError as error:
        raise ValueError(f"--conf {path}: {error.strerror}") from error


def _parse_value(text: str) -> Any:
    """`4` is a number and `null` is null, but `4x8` and `us-west4-a` stay text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
