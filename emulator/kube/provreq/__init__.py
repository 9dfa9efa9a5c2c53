"""GKE's ProvisioningRequest API in every cluster: its names, its CRD (`crd`), GKE's admission of
the pods that consume a request (`admission`), and what the autoscaler needs of GKE (`capacity`).
The autoscaler itself is `emulator.kube.controllers.provreq`."""
