#!/usr/bin/env bash
# End to end on a real cluster, for machines with Docker: create a kind cluster, build and load
# the barque images, run MinIO in the cluster, install the Helm chart, apply the quickstart
# example and wait for its PipelineRun to succeed. Dumps diagnostics when anything fails.
#
# Needs on PATH: docker, kind, kubectl, helm. Uses its own kubeconfig (never yours).
# Env: KIND_CLUSTER (barque-e2e), E2E_NAMESPACE (barque-e2e), E2E_TIMEOUT seconds (600),
#      MINIO_IMAGE, KEEP_CLUSTER=1 to leave the cluster up afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=${KIND_CLUSTER:-barque-e2e}
ns=${E2E_NAMESPACE:-barque-e2e}
timeout=${E2E_TIMEOUT:-600}
minio_image=${MINIO_IMAGE:-quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z}
runtime_image=barque-runtime:dev
operator_image=barque-operator:dev
bucket=barque-e2e
workdir=$(mktemp -d)
export KUBECONFIG="$workdir/kubeconfig"

log() { echo "[kind-e2e] $*" >&2; }

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { log "missing '$tool' on PATH"; exit 1; }
done

diagnostics() {
  log "diagnostics ----------------------------------------------------------------"
  kubectl get nodes -o wide || true
  kubectl get pipelines,pipelineruns,jobs,pods,deployments -n "$ns" -o wide || true
  kubectl describe pipelineruns -n "$ns" || true
  kubectl get pipelineruns -n "$ns" -o yaml || true
  kubectl describe jobs,pods -n "$ns" || true
  kubectl get events -n "$ns" --sort-by=.lastTimestamp || true
  local pod
  for pod in $(kubectl get pods -n "$ns" -o name 2>/dev/null); do
    log "logs of $pod"
    kubectl logs -n "$ns" "$pod" --all-containers --tail=200 || true
  done
}

finish() {
  local rc=$?
  if [[ $rc -ne 0 ]]; then
    log "FAILED (exit $rc)"
    diagnostics
  fi
  if [[ -z ${KEEP_CLUSTER:-} ]]; then
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
    rm -rf "$workdir"
  else
    log "cluster kept: KUBECONFIG=$KUBECONFIG"
  fi
  exit "$rc"
}
trap finish EXIT

log "creating kind cluster $cluster"
kind create cluster --name "$cluster" --kubeconfig "$KUBECONFIG" --wait 180s

log "building images"
docker build --target runtime -t "$runtime_image" .
docker build --target operator -t "$operator_image" .
kind load docker-image --name "$cluster" "$runtime_image" "$operator_image"

kubectl create namespace "$ns"

log "starting MinIO"
access_key=barque
secret_key=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
kubectl create secret generic barque-store -n "$ns" \
  --from-literal=AWS_ACCESS_KEY_ID="$access_key" \
  --from-literal=AWS_SECRET_ACCESS_KEY="$secret_key" \
  --from-literal=AWS_ENDPOINT_URL="http://minio.$ns.svc.cluster.local:9000" \
  --from-literal=AWS_DEFAULT_REGION=us-east-1
kubectl apply -n "$ns" -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: minio
spec:
  selector:
    matchLabels: {app: minio}
  template:
    metadata:
      labels: {app: minio}
    spec:
      containers:
        - name: minio
          image: $minio_image
          args: [server, /data, --address, ":9000"]
          env:
            - name: MINIO_ROOT_USER
              valueFrom: {secretKeyRef: {name: barque-store, key: AWS_ACCESS_KEY_ID}}
            - name: MINIO_ROOT_PASSWORD
              valueFrom: {secretKeyRef: {name: barque-store, key: AWS_SECRET_ACCESS_KEY}}
          ports: [{containerPort: 9000}]
          readinessProbe:
            httpGet: {path: /minio/health/ready, port: 9000}
          volumeMounts: [{name: data, mountPath: /data}]
      volumes: [{name: data, emptyDir: {}}]
---
apiVersion: v1
kind: Service
metadata:
  name: minio
spec:
  selector: {app: minio}
  ports: [{port: 9000, targetPort: 9000}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: create-bucket
spec:
  backoffLimit: 20
  template:
    spec:
      restartPolicy: OnFailure
      containers:
        - name: create-bucket
          image: $runtime_image
          imagePullPolicy: Never
          command: [python, -c, "import boto3; boto3.client('s3').create_bucket(Bucket='$bucket')"]
          envFrom: [{secretRef: {name: barque-store}}]
EOF
kubectl rollout status deployment/minio -n "$ns" --timeout=180s
kubectl wait job/create-bucket -n "$ns" --for=condition=Complete --timeout=180s

log "installing the chart"
helm install barque helm/barque --namespace "$ns" --wait --timeout 5m \
  --set operator.image.repository="${operator_image%:*}" --set operator.image.tag="${operator_image#*:}" \
  --set runtime.image.repository="${runtime_image%:*}" --set runtime.image.tag="${runtime_image#*:}" \
  --set store.uri="s3://$bucket/e2e" --set store.secretName=barque-store

log "applying examples/quickstart/"
kubectl apply -n "$ns" -f examples/quickstart/
if [[ -z $(kubectl get pipelineruns -n "$ns" -o name) ]]; then
  pipeline=$(kubectl get pipelines -n "$ns" -o jsonpath='{.items[0].metadata.name}')
  log "the example has no PipelineRun; creating one for Pipeline $pipeline"
  kubectl create -n "$ns" -f - <<EOF
apiVersion: barque.dev/v1alpha1
kind: PipelineRun
metadata:
  name: $pipeline-e2e
spec:
  pipelineRef: {name: $pipeline}
EOF
fi

log "waiting up to ${timeout}s for every PipelineRun to succeed"
deadline=$((SECONDS + timeout))
while true; do
  phases=$(kubectl get pipelineruns -n "$ns" -o jsonpath='{range .items[*]}{.metadata.name}={.status.phase}{"\n"}{end}')
  log "phases: $(echo "$phases" | tr '\n' ' ')"
  if grep -qE '=(Failed|Error)$' <<<"$phases"; then
    log "a PipelineRun failed"
    exit 1
  fi
  if ! grep -qvE '=Succeeded$' <<<"$phases"; then
    break
  fi
  if ((SECONDS > deadline)); then
    log "timed out"
    exit 1
  fi
  sleep 5
done
log "OK: every PipelineRun succeeded"
