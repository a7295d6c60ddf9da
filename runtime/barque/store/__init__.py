"""The artifact store: one small byte-level protocol, three backends.

``open_store(uri)`` picks the backend: a folder path (or ``file://``), ``s3://bucket/prefix``
or ``memory://``. The S3 backend (and so boto3) is imported only when an ``s3://`` URI is used.
"""

from __future__ import annotations

from barque.store.base import ArtifactStore, open_store

__all__ = ["ArtifactStore", "open_store"]
