{{/* Names, labels and the checks every template shares. */}}

{{- define "barque.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "barque.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "barque.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "barque.selectorLabels" -}}
app.kubernetes.io/name: {{ include "barque.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "barque.labels" -}}
helm.sh/chart: {{ include "barque.chart" . }}
{{ include "barque.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: barque
{{- end }}

{{- define "barque.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "barque.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "barque.operatorImage" -}}
{{- printf "%s:%s" .Values.operator.image.repository (default .Chart.AppVersion .Values.operator.image.tag) }}
{{- end }}

{{- define "barque.runtimeImage" -}}
{{- printf "%s:%s" .Values.runtime.image.repository (default .Chart.AppVersion .Values.runtime.image.tag) }}
{{- end }}

{{/*
Fails the render with a message a person can act on when the values contradict each other.
*/}}
{{- define "barque.leaderElection" -}}
{{- if or .Values.operator.leaderElection.enabled (gt (int .Values.operator.replicas) 1) }}true{{ end }}
{{- end }}

{{- define "barque.validate" -}}
{{- with .Values.operator.leaderElection }}
{{- if ge (float64 .renewDeadlineSeconds) (float64 .leaseSeconds) }}
{{- fail "operator.leaderElection.renewDeadlineSeconds must be less than leaseSeconds, or two replicas could act at once" }}
{{- end }}
{{- end }}
{{- if and (eq .Values.rbac.scope "namespace") (empty .Values.watchNamespaces) }}
{{- fail "rbac.scope=namespace needs at least one entry in watchNamespaces (the chart creates a Role in each); set watchNamespaces or use rbac.scope=cluster" }}
{{- end }}
{{- end }}

{{/*
The operator's permissions on namespaced resources, shared by the ClusterRole (cluster scope)
and the per-namespace Roles (namespace scope). Pods are read only: the operator reads their
termination messages; the Job controller creates them. The operator never reads Secrets.
*/}}
{{- define "barque.namespacedRules" -}}
- apiGroups: ["barque.dev"]
  resources: ["pipelines", "pipelineruns"]
  verbs: ["get", "list", "watch", "patch", "update", "create", "delete"]
- apiGroups: ["barque.dev"]
  resources: ["pipelines/status", "pipelineruns/status"]
  verbs: ["get", "patch", "update"]
# Jobs carry an owner reference with blockOwnerDeletion: clusters running the
# OwnerReferencesPermissionEnforcement admission plugin require this to set it.
- apiGroups: ["barque.dev"]
  resources: ["pipelineruns/finalizers"]
  verbs: ["update"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["kopf.dev"]
  resources: ["kopfpeerings"]
  verbs: ["get", "list", "watch", "patch"]
{{- end }}

{{/* What kopf observes cluster-wide whatever the scope: namespaces and CRDs. */}}
{{- define "barque.clusterObservationRules" -}}
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
{{- end }}
