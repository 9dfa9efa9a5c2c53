"""Watch with the real client: from a resourceVersion, initial events, selectors, bookmarks."""

import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, watch
from served_cluster import ServedCluster, widget_crd


def config_map(name: str, **labels: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels or None))


def collect(
    stream: Any, count: int, types: tuple[str, ...] = ("ADDED", "MODIFIED", "DELETED")
) -> list[tuple[str, str]]:
    events = []
    for event in stream:
        if event["type"] in types:
            events.append((event["type"], event["raw_object"]["metadata"]["name"]))
        if len(events) == count:
            break
    return events


def in_background(action: Callable[[], None]) -> threading.Thread:
    def delayed() -> None:
        time.sleep(0.2)  # the watch is open by then
        action()

    thread = threading.Thread(target=delayed)
    thread.start()
    return thread


def test_watch_from_a_resource_version_sees_every_change_in_order(api_only: ServedCluster) -> None:
    with api_only.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map("default", config_map("before"))
        start = core.list_namespaced_config_map("default").metadata.resource_version
        core.create_namespaced_config_map("default", config_map("a"))
        core.patch_namespaced_config_map("a", "default", {"data": {"k": "v"}})
        core.delete_namespaced_config_map("a", "default")
        core.create_namespaced_config_map("kube-system", config_map("elsewhere"))
        stream = watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=start, timeout_seconds=5
        )
        assert collect(stream, 3) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]


def test_watch_without_a_version_starts_with_what_exists_then_follows(
    api_only: ServedCluster,
) -> None:
    with api_only.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map("default", config_map("existing"))
        writer = in_background(
            lambda: core.create_namespaced_config_map("default", config_map("new"))
        )
        w = watch.Watch()
        events = collect(w.stream(core.list_namespaced_config_map, "default", timeout_seconds=5), 2)
        writer.join()
        assert events == [("ADDED", "existing"), ("ADDED", "new")]


def test_watch_with_a_label_selector_sees_objects_enter_and_leave(
    api_only: ServedCluster,
) -> None:
    with api_only.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map("default", config_map("m", tier="web"))

        def changes() -> None:
            core.patch_namespaced_config_map(
                "m", "default", {"metadata": {"labels": {"tier": "db"}}}
            )
            core.patch_namespaced_config_map(
                "m", "default", {"metadata": {"labels": {"tier": "web"}}}
            )
            core.create_namespaced_config_map("default", config_map("other", tier="db"))

        writer = in_background(changes)
        stream = watch.Watch().stream(
            core.list_namespaced_config_map, "default", label_selector="tier=web", timeout_seconds=5
        )
        events = collect(stream, 3)
        writer.join()
        assert events == [("ADDED", "m"), ("DELETED", "m"), ("ADDED", "m")]


def test_watch_bookmarks_carry_the_latest_version(api_only: ServedCluster) -> None:
    with api_only.api_client() as api:
        core = client.CoreV1Api(api)
        created = core.create_namespaced_config_map("default", config_map("a"))
        w = watch.Watch()
        for event in w.stream(
            core.list_namespaced_config_map,
            "default",
            resource_version=created.metadata.resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=5,
        ):
            if event["type"] == "BOOKMARK":
                bookmark = event["raw_object"]
                break
        assert bookmark["kind"] == "ConfigMap"
        assert int(bookmark["metadata"]["resourceVersion"]) >= int(
            created.metadata.resource_version
        )


def test_watch_ends_after_its_timeout(api_only: ServedCluster) -> None:
    with api_only.api_client() as api:
        core = client.CoreV1Api(api)
        started = time.monotonic()
        events = list(watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1))
        assert events == []
        assert 0.9 < time.monotonic() - started < 3


def test_watch_of_a_custom_resource(kube: ServedCluster) -> None:
    with kube.api_client() as api:
        custom = client.CustomObjectsApi(api)
        crd = widget_crd({"type": "object", "x-kubernetes-preserve-unknown-fields": True})
        client.ApiextensionsV1Api(api).create_custom_resource_definition(crd)
        body = {
            "apiVersion": "example.com/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 1},
        }
        writer = in_background(
            lambda: custom.create_namespaced_custom_object(
                "example.com", "v1", "default", "widgets", body
            )
        )
        stream = watch.Watch().stream(
            custom.list_namespaced_custom_object,
            "example.com",
            "v1",
            "default",
            "widgets",
            timeout_seconds=5,
        )
        events = collect(stream, 1)
        writer.join()
        assert events == [("ADDED", "w")]
