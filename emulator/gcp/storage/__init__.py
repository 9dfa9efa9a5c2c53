"""Cloud Storage: the JSON API that google-cloud-storage and Airflow's GCSHook speak."""

from emulator.gcp.storage.service import StorageService

__all__ = ["StorageService"]
