// The real node's pod sandbox ("pause") program: no registry is reachable for registry.k8s.io/pause.
module barque.dev/testbed/pause

go 1.26.0
