"""Forward TCP from an address pods can reach to a server that listens on loopback only.

The test bed's servers (kube-apiserver, MinIO) listen on 127.0.0.1, which inside a pod is the
pod's own loopback. A Forwarder listens on the bridge's address (an address of this machine,
reachable from the pods' network namespaces) and copies bytes both ways to the loopback server,
one thread pair per connection. TLS passes through untouched.
"""

from __future__ import annotations

import socket
import threading


class Forwarder:
    """listen_host:listen_port (0 picks one) -> 127.0.0.1:target_port, until close()."""

    def __init__(self, listen_host: str, target_port: int, listen_port: int = 0) -> None:
        self.target = ("127.0.0.1", target_port)
        self.server = socket.create_server((listen_host, listen_port), reuse_port=False)
        self.host, self.port = self.server.getsockname()[:2]
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._accept, name=f"forward-{self.port}", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.closed.set()
        self.server.close()
