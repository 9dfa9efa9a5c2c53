"""The API server's `/version` body, shared by full control planes and version-only ones."""


def version_info(version: str) -> dict[str, str]:
    """`/version` of a GKE control plane, e.g. `1.31.6-gke.1020000`."""
    major, minor = version.split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "gitVersion": f"v{version}",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-06-01T00:00:00Z",
        "goVersion": "go1.24.3 X:boringcrypto",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
