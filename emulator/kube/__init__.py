"""The Kubernetes half of the emulator: what every emulated GKE cluster serves."""
