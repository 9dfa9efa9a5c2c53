"""`python -m emulator serve`: run the emulated Google Cloud on loopback until SIGTERM/SIGINT.

`kubeconfig` and `token` give kubectl access to its GKE clusters (see `emulator.kubeconfig`).
"""

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from emulator import kubeconfig


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in kubeconfig.COMMANDS:
        # kubectl runs `token` before each call: spare it importing the emulator (~3 s).
        kubeconfig.main(argv)
        return
    from emulator.app import Settings, StateFileError, serve

    parser = argparse.ArgumentParser(prog="python -m emulator")
    commands = parser.add_subparsers(dest="command", required=True)
    kubeconfig.add_commands(commands)  # listed in --help; run above
    run = commands.add_parser("serve", help="serve every emulated API on 127.0.0.1")
    run.add_argument("--ready-file", type=Path, help="write endpoints, key and connection here")
    run.add_argument("--state-file", type=Path, help="restore from and save to this file")
    run.add_argument(
        "--time-scale",
        type=float,
        default=Settings.time_scale,
        help="multiplies every modelled duration (default %(default)s)",
    )
    run.add_argument(
        "--token-lifetime",
        type=float,
        default=Settings.token_lifetime,
        help="seconds an access token is valid (default %(default)s)",
    )
    run.add_argument("--project-id", default=Settings.project_id)
    run.add_argument("--project-number", default="", help="default: derived from the id")
    run.add_argument(
        "--jobset-manifest",
        type=Path,
        default=Settings.jobset_manifest,
        help="serve this JobSet release file at the ready file's jobset_manifest_url "
        "(default: the release the emulator builds)",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings(
            project_id=args.project_id,
            project_number=args.project_number,
            time_scale=args.time_scale,
            token_lifetime=args.token_lifetime,
            ready_file=args.ready_file,
            state_file=args.state_file,
            jobset_manifest=args.jobset_manifest,
        )
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        asyncio.run(serve(settings))
    except StateFileError as error:
        parser.exit(2, f"{parser.prog}: {error}\n")


if __name__ == "__main__":
    main()
