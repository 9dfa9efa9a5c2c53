"""`python -m emulator kubeconfig CLUSTER` and `token`: unmodified kubectl on an emulated cluster.

On GKE, `gcloud container clusters get-credentials` writes a kubeconfig with the cluster's
endpoint and CA from the GKE API, and a user that runs gke-gcloud-auth-plugin, which mints a
fresh access token whenever kubectl needs one. This is the same for the emulator: the endpoint
and CA come from its GKE API (found through the ready file, as any client finds it), and the
exec credential plugin is `python -m emulator token --ready-file READY`, which mints a token with
the ready file's operator key. A token written into the kubeconfig would expire (after an hour,
after seconds in tests); the plugin keeps a kubeconfig working as long as the emulator runs,
across restarts with a state file too (the ready file is rewritten with the same ports).

This module imports no part of the emulator's server: kubectl runs `token` before every call.
"""

import argparse
import json
import os
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

import requests
import yaml
from google.auth.exceptions import GoogleAuthError
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import service_account

COMMANDS = ("kubeconfig", "token")
EXEC_API_VERSION = "client.authentication.k8s.io/v1"
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # the directory holding `emulator/`


class KubeconfigError(Exception):
    """Why no kubeconfig or token can be had; the message is for the user."""


def read_ready(ready_file: Path) -> dict[str, Any]:
    try:
        ready: dict[str, Any] = json.loads(ready_file.read_text())
    except FileNotFoundError:
        raise KubeconfigError(
            f"no ready file at {ready_file}: is `python -m emulator serve "
            f"--ready-file {ready_file}` running?"
        ) from None
    return ready


def operator_credentials(ready: dict[str, Any]) -> service_account.Credentials:
    """The ready file's operator key, whose `token_uri` is the emulator's token endpoint."""
    key = json.loads(Path(ready["service_account_key_file"]).read_text())
    return service_account.Credentials.from_service_account_info(key, scopes=_SCOPES)


def exec_credential(ready: dict[str, Any]) -> dict[str, Any]:
    """A fresh access token as the ExecCredential kubectl reads from its plugin's stdout."""
    credentials = operator_credentials(ready)
    credentials.refresh(Request())
    expiry = credentials.expiry.replace(tzinfo=UTC)
    return {
        "kind": "ExecCredential",
        "apiVersion": EXEC_API_VERSION,
        "spec": {"interactive": False},
        "status": {
            "token": credentials.token,
            "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }


def find_cluster(ready: dict[str, Any], name: str, location: str | None) -> dict[str, Any]:
    """The cluster as the emulator's GKE API describes it (in any location unless given)."""
    session = AuthorizedSession(operator_credentials(ready))
    base = f"{ready['endpoints']['container']}/v1/projects/{ready['project_id']}/locations"
    if location:
        return _gke_get(session, f"{base}/{location}/clusters/{name}")
    listed = _gke_get(session, f"{base}/-/clusters").get("clusters", [])
    found = [cluster for cluster in listed if cluster["name"] == name]
    if not found:
        raise KubeconfigError(f"no cluster named {name} in project {ready['project_id']}")
    if len(found) > 1:
        locations = ", ".join(sorted(cluster["location"] for cluster in found))
        raise KubeconfigError(f"clusters named {name} exist in {locations}: pass --location")
    return found[0]


def _gke_get(session: AuthorizedSession, url: str) -> dict[str, Any]:
    response = session.get(url, timeout=30)
    if response.status_code != 200:
        raise KubeconfigError(response.json()["error"]["message"])
    answer: dict[str, Any] = response.json()
    return answer


def kubeconfig(ready_file: Path, cluster: dict[str, Any], project: str) -> dict[str, Any]:
    """A kubeconfig with one context, named as gcloud names it (`gke_PROJECT_LOCATION_NAME`)."""
    if not cluster.get("endpoint"):
        raise KubeconfigError(
            f"cluster {cluster['name']} has no endpoint yet ({cluster['status']})"
        )
    name = f"gke_{project}_{cluster['location']}_{cluster['name']}"
    plugin = {
        "apiVersion": EXEC_API_VERSION,
        "command": sys.executable,
        "args": ["-m", "emulator", "token", "--ready-file", str(ready_file.resolve())],
        "env": [{"name": "PYTHONPATH", "value": str(_PACKAGE_ROOT)}],
        "installHint": "the emulator's Python environment (its .venv) runs this plugin",
        "interactiveMode": "Never",
        "provideClusterInfo": False,
    }
    server = {
        "server": f"https://{cluster['endpoint']}",
        "certificate-authority-data": cluster["masterAuth"]["clusterCaCertificate"],
    }
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": server}],
        "users": [{"name": name, "user": {"exec": plugin}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }


def add_commands(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    ready_help = "the ready file of `python -m emulator serve --ready-file`"
    config = commands.add_parser(
        "kubeconfig", help="write a kubeconfig for kubectl on an emulated GKE cluster"
    )
    config.add_argument("cluster", help="the cluster's name")
    config.add_argument("--ready-file", type=Path, required=True, help=ready_help)
    config.add_argument("--location", help="the cluster's zone or region (default: any)")
    config.add_argument(
        "-o", "--output", type=Path, help="write here (mode 0600) instead of to stdout"
    )
    config.set_defaults(run=_write_kubeconfig)
    token = commands.add_parser(
        "token", help="print an ExecCredential with a fresh access token (kubectl's exec plugin)"
    )
    token.add_argument("--ready-file", type=Path, required=True, help=ready_help)
    token.set_defaults(run=_print_token)


def _write_kubeconfig(args: argparse.Namespace) -> None:
    ready = read_ready(args.ready_file)
    cluster = find_cluster(ready, args.cluster, args.location)
    text = yaml.safe_dump(kubeconfig(args.ready_file, cluster, ready["project_id"]))
    if args.output is None:
        sys.stdout.write(text)
        return
    descriptor = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # also when the file existed with a wider mode
    with os.fdopen(descriptor, "w") as output:
        output.write(text)


def _print_token(args: argparse.Namespace) -> None:
    json.dump(exec_credential(read_ready(args.ready_file)), sys.stdout)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (KubeconfigError, GoogleAuthError, requests.RequestException) as error:
        parser.exit(1, f"{parser.prog} {args.command}: {error}\n")
