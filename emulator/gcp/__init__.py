"""The Google Cloud half of the emulator: auth, GKE, IAM, Resource Manager, Storage."""
