"""Kubernetes Events, as the scheduler, kubelet and controllers record them."""

from collections.abc import Mapping
from typing import Any

from emulator.kube.store import Obj, Store, kube_timestamp


def record_event(
    store: Store,
    involved: Mapping[str, Any],
    reason: str,
    message: str,
    event_type: str = "Normal",
    source: str = "",
    host: str = "",
    field_path: str = "",
) -> Obj:
    """Record (or count again) an Event about `involved`, like client-go's event recorder.

    Repeats of the same reason and message on the same object (and container, `field_path`
    such as `spec.containers{app}`) bump `count` and `lastTimestamp` instead of adding events,
    so a crash loop does not flood the namespace. `host` is the node of a kubelet's events.
    """
    events = store.types.by_kind("v1", "Event")
    metadata = involved["metadata"]
    namespace = metadata.get("namespace") or "default"
    now = kube_timestamp(store.clock.now())
    this = (metadata.get("uid"), field_path, reason, message)

    def repeats(event: Obj) -> bool:
        reference = event.get("involvedObject", {})
        uid, path = reference.get("uid"), reference.get("fieldPath", "")
        return (uid, path, event.get("reason"), event.get("message")) == this

    for repeat in store.list_objects(events, namespace, repeats):
        repeat["count"] = repeat.get("count", 1) + 1
        repeat["lastTimestamp"] = now
        repeat["metadata"].pop("resourceVersion", None)
        return store.replace(events, repeat)
    reference = {
        "apiVersion": involved.get("apiVersion", "v1"),
        "kind": involved.get("kind", ""),
        "name": metadata["name"],
        "namespace": metadata.get("namespace", ""),
        "uid": metadata.get("uid", ""),
        "resourceVersion": metadata.get("resourceVersion", ""),
    }
    if field_path:
        reference["fieldPath"] = field_path
    event_source = {"component": source} if source else {}
    if host:
        event_source["host"] = host
    return store.create(
        events,
        {
            "metadata": {"generateName": f"{metadata['name']}.", "namespace": namespace},
            "involvedObject": reference,
            "reason": reason,
            "message": message,
            "type": event_type,
            "source": event_source,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "reportingComponent": source,
            "reportingInstance": host,
        },
    )
