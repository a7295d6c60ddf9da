#!/usr/bin/env bash
# End to end on a real cluster, for machines with Docker: the flow of the real-node tier
# (tests/integration/realnode/: test_user_flow.py, examples_flow.py, test_gitops.py,
# test_observability.py) on kind. Create a kind cluster, build and load the barque images, run
# MinIO in the cluster, install the Helm chart, apply examples/quickstart/ and examples/failing/
# with server-side apply (quickstart succeeds, failing fails), apply them again (nothing may
# change), run each pipeline once more (cached, noCache, failing again), check `kubectl diff
# --server-side` shows no drift, read the metrics Service, and run a Prometheus scraping the
# operator with the chart's ServiceMonitor's job until every query of the chart's Grafana
# dashboard returns data. Dumps diagnostics when anything fails.
#
# Needs on PATH: docker, kind, kubectl, helm, python3 (>= 3.11, for scripts/setup.sh).
# Uses its own kubeconfig (never yours).
# Env: KIND_CLUSTER (barque-e2e), E2E_NAMESPACE (barque-e2e), E2E_TIMEOUT seconds (600),
#      MINIO_IMAGE, PROMETHEUS_IMAGE, KEEP_CLUSTER=1 to leave the cluster up afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=${KIND_CLUSTER:-barque-e2e}
ns=${E2E_NAMESPACE:-barque-e2e}
timeout=${E2E_TIMEOUT:-600}
minio_image=${MINIO_IMAGE:-quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z}
# The release testbed/go/prometheus/go.mod pins for the real-node tier (module v0.316.0).
prometheus_image=${PROMETHEUS_IMAGE:-quay.io/prometheus/prometheus:v3.16.0}
scrape_interval=5
runtime_image=barque-runtime:dev
operator_image=barque-operator:dev
bucket=barque-e2e
workdir=$(mktemp -d)
export KUBECONFIG="$workdir/kubeconfig"

log() { echo "[kind-e2e] $*" >&2; }

for tool in docker kind kubectl helm python3; do
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
  [[ -z ${port_forward:-} ]] || kill "$port_forward" 2>/dev/null || true
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

# The chart's values, shared by the install and the rendered ServiceMonitor.
chart_values=(
  --set operator.image.repository="${operator_image%:*}" --set operator.image.tag="${operator_image#*:}"
  --set runtime.image.repository="${runtime_image%:*}" --set runtime.image.tag="${runtime_image#*:}"
  --set store.uri="s3://$bucket/e2e" --set store.secretName=barque-store
  --set metrics.serviceMonitor.interval="${scrape_interval}s" --set metrics.serviceMonitor.scrapeTimeout="${scrape_interval}s"
)
log "installing the chart"
helm install barque helm/barque --namespace "$ns" --wait --timeout 5m "${chart_values[@]}"

# A Prometheus with the job the chart's ServiceMonitor describes (testbed/prometheus.py), as
# prometheus-operator would generate it, without needing prometheus-operator in the cluster.
log "starting Prometheus"
bash scripts/setup.sh operator >/dev/null
helm template barque helm/barque --namespace "$ns" "${chart_values[@]}" --set metrics.serviceMonitor.enabled=true \
  --show-only templates/servicemonitor.yaml | .venv/bin/python -m testbed.prometheus scrape-config >"$workdir/prometheus.yml"
kubectl create configmap prometheus -n "$ns" --from-file=prometheus.yml="$workdir/prometheus.yml"
kubectl apply -n "$ns" -f - <<EOF
apiVersion: v1
kind: ServiceAccount
metadata:
  name: prometheus
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: prometheus
rules:
  - apiGroups: [""]
    resources: [services, endpoints, pods]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: prometheus
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: prometheus}
subjects: [{kind: ServiceAccount, name: prometheus, namespace: $ns}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: prometheus
spec:
  selector:
    matchLabels: {app: prometheus}
  template:
    metadata:
      labels: {app: prometheus}
    spec:
      serviceAccountName: prometheus
      containers:
        - name: prometheus
          image: $prometheus_image
          args: [--config.file=/etc/prometheus/prometheus.yml, --storage.tsdb.path=/prometheus]
          ports: [{containerPort: 9090}]
          readinessProbe:
            httpGet: {path: /-/ready, port: 9090}
          volumeMounts:
            - {name: config, mountPath: /etc/prometheus}
            - {name: data, mountPath: /prometheus}
      volumes:
        - {name: config, configMap: {name: prometheus}}
        - {name: data, emptyDir: {}}
EOF
kubectl rollout status deployment/prometheus -n "$ns" --timeout=180s

examples=(-f examples/quickstart/ -f examples/failing/)
# resource_versions: kind/name=resourceVersion of the examples' objects, one a line.
resource_versions() {
  kubectl get -n "$ns" "${examples[@]}" \
    -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\n"}{end}'
}
# wait_phase RUN PHASE: wait for PipelineRun RUN to finish; fail unless it ended in PHASE.
wait_phase() {
  local run=$1 want=$2 phase="" deadline=$((SECONDS + timeout))
  while true; do
    phase=$(kubectl get pipelinerun "$run" -n "$ns" -o jsonpath='{.status.phase}')
    case $phase in
      Succeeded | Failed | Cancelled) break ;;
    esac
    if ((SECONDS > deadline)); then
      log "timed out waiting for $run (phase '$phase')"
      exit 1
    fi
    sleep 5
  done
  log "$run: $phase"
  if [[ $phase != "$want" ]]; then
    log "$run ended $phase, expected $want"
    exit 1
  fi
}

started=$(date +%s)
log "applying examples/quickstart/ and examples/failing/ (server-side)"
kubectl apply --server-side -n "$ns" "${examples[@]}"
first=$(resource_versions)
kubectl apply --server-side -n "$ns" "${examples[@]}"
if [[ $(resource_versions) != "$first" ]]; then
  log "a second server-side apply of the same manifests changed them"
  exit 1
fi
wait_phase quickstart-example Succeeded
wait_phase failing-example Failed
if ! kubectl get pipelinerun failing-example -n "$ns" -o jsonpath='{.status}' | grep -q "upstream schema changed"; then
  log "failing-example's status does not carry its error"
  exit 1
fi

# Each pipeline once more, so every counter and histogram has a change rate() can see.
log "running each pipeline once more: cached, noCache, failing again"
for rerun in quickstart-again:quickstart:false quickstart-fresh:quickstart:true failing-again:failing:false; do
  IFS=: read -r run pipeline no_cache <<<"$rerun"
  kubectl apply --server-side -n "$ns" -f - <<EOF
apiVersion: barque.dev/v1alpha1
kind: PipelineRun
metadata:
  name: $run
spec:
  pipelineRef: {name: $pipeline}
  noCache: $no_cache
EOF
  if [[ $pipeline == failing ]]; then wait_phase "$run" Failed; else wait_phase "$run" Succeeded; fi
done

log "checking the manifests for drift after the runs"
kubectl diff --server-side -n "$ns" "${examples[@]}"

log "reading the metrics Service"
kubectl get --raw "/api/v1/namespaces/$ns/services/barque-metrics:metrics/proxy/metrics" |
  grep -q barque_runs_finished_total

log "checking every query of the chart's Grafana dashboard"
kubectl port-forward -n "$ns" deployment/prometheus 19090:9090 >/dev/null &
port_forward=$!
deadline=$((SECONDS + 120))
until .venv/bin/python -m testbed.prometheus check-dashboard --url http://127.0.0.1:19090 --namespace "$ns" \
  --since "$started" --scrape-interval "$scrape_interval"; do
  if ((SECONDS > deadline)); then
    log "dashboard queries without data (above)"
    exit 1
  fi
  sleep 10
done
log "OK: the examples ran as expected, no drift, every dashboard query has data"
