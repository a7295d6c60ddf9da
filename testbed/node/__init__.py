"""The real node of the test bed: containerd 2.x + runc, a kubelet, CNI bridge networking.

`config` builds every configuration file and command line (pure functions), `network` sets up
and tears down the test bed's bridge, `pause` writes the pod sandbox image, `forward` lets pods
reach servers that listen on loopback only. The fixtures in tests/integration/realnode/ wire
them together; nothing here runs at import time.
"""
