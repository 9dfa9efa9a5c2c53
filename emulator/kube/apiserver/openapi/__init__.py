"""The API server's OpenAPI: `/openapi/v2` and `/openapi/v3` (the index and one document per
group version), built from the schemas the server validates with.

kubectl reads them before it writes: `apply` looks for `fieldValidation` among the parameters of
the kind's PATCH operation to let the server validate (without the documents it stops with
"failed to download openapi"), client-side apply takes patch strategies and merge keys from the
schemas (and, for a custom resource, the patch types its PATCH consumes from v2), and `explain`
prints their descriptions. Built-in kinds come from kubernetes-validate's set for the cluster's
version, turned back from JSON Schema into OpenAPI; custom resources from their CRD's
openAPIV3Schema, so a CRD's kinds appear when it is created and go with it.

`models` turns schemas into OpenAPI models, `operations` describes each resource's paths,
`documents` assembles and caches the documents, `serving` answers HTTP (v3 immutable per `hash`,
v2 by ETag, as the real server does) and `v2_protobuf` encodes v2 as client-go downloads it.
"""

from emulator.kube.apiserver.openapi.documents import OpenApiDocuments
from emulator.kube.apiserver.openapi.serving import Serve, serve_v2, serve_v3, serve_v3_index

__all__ = ["OpenApiDocuments", "Serve", "serve_v2", "serve_v3", "serve_v3_index"]
