"""The simulated node: a small kubelet stand-in that runs Pods as local processes.

A simulation, kept for what a real node cannot give on two cores: the operator's scale benchmark
(bench/operator: a thousand Pods at once) and the fast operator-logic tests that need the
operator as a local process in the test's hands (tests/integration/test_operator_runs.py,
test_ha.py; the `sim_node` fixture, Node `simnode`). Everything a user runs is tested on the real
node (kubelet, containerd, runc, CNI: tests/integration/realnode/).

Given a kubeconfig and a node name it registers a Ready Node (heartbeat on the node status and
its Lease in kube-node-lease), binds Pending Pods that have no node to itself through the
`binding` subresource (there is no kube-scheduler), and for each Pod bound to it runs the init
containers in order and then the containers as local processes, reporting phase, conditions and
container states through the status subresource the way kubelet does.

What it does, like kubelet:
- command + args with `$(VAR)` expansion; without a command, images matching
  `--runtime-image-pattern` (default: containing "barque") run `barque`, other images need
  `--image-entrypoint IMAGE=COMMAND`.
- env: values, secretKeyRef, configMapKeyRef, fieldRef (metadata.name/namespace/uid,
  metadata.labels['k'], metadata.annotations['k'] -- the Job controller's
  JOB_COMPLETION_INDEX --, spec.nodeName, spec.serviceAccountName, status.podIP/hostIP) and
  envFrom (secretRef, configMapRef, prefix). A missing required reference leaves the container
  waiting with CreateContainerConfigError and is retried.
- PATH is the test node's PATH with the running interpreter's directory first, so `barque` and
  `python3` are the project's own installation. HOME is a per-pod directory; LANG, LC_ALL, TMPDIR
  and TZ pass through from the test node; nothing else of the test node's environment leaks in.
- termination messages: each container gets a fresh file whose path is in the env variable
  BARQUE_TERMINATION_LOG (standing in for terminationMessagePath); after exit up to 4096 bytes of
  it become state.terminated.message, with FallbackToLogsOnError taking the log tail
  (80 lines / 2048 bytes) when it is empty and the exit code is not 0.
- restartPolicy Never fully; OnFailure and Always restart at once, without back-off.
- activeDeadlineSeconds: processes are killed and the pod ends Failed / DeadlineExceeded.
- deletion: SIGTERM to the container's process group, SIGKILL after the grace period (capped at
  3 s), a terminal phase is reported, then the Pod is deleted with gracePeriodSeconds=0.
- stdout and stderr of each container go to <log-dir>/<ns>_<pod>_<uid>/<container>.log;
  nothing is served (no kubelet API: `kubectl logs` does not work, barque reads its own store).

What it ignores: images and pulls, securityContext, resources and limits, probes, ports and
networking (every pod and host IP is 127.0.0.1), volumes other than emptyDir, service-account
token projection, resourceFieldRef. Filesystem paths are not remapped, with one exception:
each emptyDir mount gets a per-pod sandbox directory, and an env value or workingDir that
lies under an emptyDir mountPath is rewritten to that directory (so TMPDIR=/tmp over an emptyDir
at /tmp points at the sandbox); a workingDir that does not exist locally becomes a sandbox dir.
On SIGTERM or SIGINT it kills all its child processes and exits.
"""
