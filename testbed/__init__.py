"""The integration test bed: real servers on loopback plus one simulated part, the test node.

`build.sh` builds the servers from the Go module proxy into a cache outside the repository,
`paths` finds them, `pki` makes the certificates and kubeconfig, `procs` starts and stops
processes, and `testnode` is the small kubelet stand-in that runs Pods as local processes.
Nothing here is imported by barque itself.
"""
