"""Server-side tables (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`): the columns
and cells the real API server prints for each kind, so `kubectl get` shows them."""

from emulator.kube.apiserver.tables.printers import printer_for
from emulator.kube.apiserver.tables.table import TableBuilder, TableRequest, table_request

__all__ = ["TableBuilder", "TableRequest", "printer_for", "table_request"]
