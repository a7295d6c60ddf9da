#!/usr/bin/env python
"""The floor: an "ideal operator" that does nothing but turn each new PipelineRun into one Job.

    python bench/operator/floor.py --kubeconfig K --health-port P [--threads 16]

It stands in for `barque operator` in `run_bench.py --floor` to measure what rate of Job
creates the test bed itself sustains while runs are being created: one watch of PipelineRuns
(all namespaces, raw JSON through the same Kubernetes client configuration barque uses), and
for each run seen ADDED one POST of a small Job named as barque names its first Job, with the
labels the harness's Recorder reads and an owner reference to the run. No store, no plan, no
status write, no Events, no API gate. Its Pod runs `barque --version` (the runtime image's
entrypoint, which the test node runs as a local process), so that where Pods do run, the node
starts a Python process per Pod as it does for barque's Jobs.

Whatever barque's operator does on top of this is its own cost; what this cannot beat is the
API server, etcd, the controller manager and the harness on the same CPUs.
"""

from __future__ import annotations

import argparse
import http.server
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from testbed.kubeapi import Api, ApiError  # noqa: E402

RUNS = "/apis/barque.dev/v1alpha1/pipelineruns"


def job_for(run: dict[str, Any], image: str) -> dict[str, Any]:
    """The one Job of a run: barque's name and labels, one Pod running the image's entrypoint."""
    meta = run["metadata"]
    name = f"{meta['name'][:50]}-p0"
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": meta["namespace"],
                     "labels": {"barque.dev/run": meta["name"], "barque.dev/phase": "0"},
                     "ownerReferences": [{"apiVersion": run["apiVersion"], "kind": "PipelineRun", "name": meta["name"],
                                          "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}]},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "step", "image": image, "args": ["--version"],
                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}}}]}}},
    }


def serve_health(port: int, ready: threading.Event) -> None:
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 -- the stdlib's name
            self.send_response(200 if ready.is_set() else 503)
            self.end_headers()
            self.wfile.write(b"ok\n" if ready.is_set() else b"starting\n")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=server.serve_forever, daemon=True, name="health").start()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--health-port", type=int, required=True)
    p.add_argument("--image", default="barque-runtime:dev")
    p.add_argument("--threads", type=int, default=16, help="Job creates in flight, at most (barque's gate: 16)")
    args = p.parse_args(argv)

    api, ready = Api(args.kubeconfig), threading.Event()
    serve_health(args.health_port, ready)
    pool = ThreadPoolExecutor(args.threads, thread_name_prefix="create")

    def create(run: dict[str, Any]) -> None:
        job = job_for(run, args.image)
        try:
            api.request("POST", f"/apis/batch/v1/namespaces/{job['metadata']['namespace']}/jobs", body=job)
        except ApiError as err:
            if err.status != 409:
                print(f"create {job['metadata']['name']}: {err}", flush=True)

    seen: set[str] = set()
    version: str | None = None
    while True:
        try:
            if version is None:
                listing = api.request("GET", RUNS)
                version = listing["metadata"]["resourceVersion"]
                for item in listing.get("items") or []:
                    seen.add(item["metadata"]["uid"])  # runs from before it started are not its business
                ready.set()
            for event in api.watch(RUNS, version, 300):
                if event["type"] == "ERROR":
                    version = None
                    break
                obj = event["object"]
                version = obj["metadata"]["resourceVersion"]
                if event["type"] == "ADDED" and obj["metadata"]["uid"] not in seen:
                    seen.add(obj["metadata"]["uid"])
                    pool.submit(create, obj)
        except Exception as err:  # noqa: BLE001 -- relist, as any controller would
            print(f"watch interrupted ({err}); relisting", flush=True)
            version = None


if __name__ == "__main__":
    sys.exit(main())
