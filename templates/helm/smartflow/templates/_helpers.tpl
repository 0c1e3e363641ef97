{{/* The chart name, overridable. */}}
{{- define "smartflow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The object-name prefix: the release name, plus the chart name unless already in it. */}}
{{- define "smartflow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "smartflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels shared by every object of this release. */}}
{{- define "smartflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "smartflow.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "smartflow.labels" -}}
helm.sh/chart: {{ include "smartflow.chart" . }}
{{ include "smartflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: smartflow
{{- end }}

{{/* Labels of one component; call with (dict "root" $ "component" "proxy"). */}}
{{- define "smartflow.componentLabels" -}}
{{ include "smartflow.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "smartflow.componentSelector" -}}
{{ include "smartflow.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The four gateway services: values key -> SERVICE_TYPE and port. */}}
{{- define "smartflow.components" -}}
proxy: {name: proxy, port: 7775}
apiServer: {name: api-server, port: 7778}
compliance: {name: compliance, port: 7777}
policyPerfect: {name: policy-perfect, port: 7782}
{{- end }}

{{- define "smartflow.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "smartflow.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "smartflow.secretName" -}}
{{- default (printf "%s-secrets" (include "smartflow.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{/* repository:tag, or repository@sha256:... when the tag is a digest. */}}
{{- define "smartflow.imageRef" -}}
{{- $tag := .tag | toString }}
{{- if hasPrefix "sha256:" $tag }}
{{- printf "%s@%s" .repository $tag }}
{{- else }}
{{- printf "%s:%s" .repository $tag }}
{{- end }}
{{- end }}

{{/* The gateway image: the service's override over the chart-wide image. */}}
{{- define "smartflow.image" -}}
{{- $img := mergeOverwrite (deepCopy .root.Values.image) (.override | default dict) }}
{{- include "smartflow.imageRef" (dict "repository" $img.repository "tag" ($img.tag | default .root.Chart.AppVersion)) }}
{{- end }}

{{- define "smartflow.imagePullPolicy" -}}
{{- $img := mergeOverwrite (deepCopy .root.Values.image) (.override | default dict) }}
{{- $img.pullPolicy }}
{{- end }}

{{/* One env entry read from the release's Secret. */}}
{{- define "smartflow.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "smartflow.secretName" .root }}
      key: {{ .key }}
{{- end }}

{{/*
Connection settings for every gateway container. Passwords come from the Secret; the URLs
reference them as $(VAR), which Kubernetes expands, so no secret is ever rendered.
*/}}
{{- define "smartflow.connectionEnv" -}}
{{- $v := .Values }}
{{- $full := include "smartflow.fullname" . }}
{{- include "smartflow.secretEnv" (dict "root" . "name" "ADMIN_API_KEY" "key" $v.secrets.keys.adminApiKey) }}
{{- if or $v.redis.bundled (contains "$(REDIS_PASSWORD)" $v.redis.external.url) }}
{{ include "smartflow.secretEnv" (dict "root" . "name" "REDIS_PASSWORD" "key" $v.secrets.keys.redisPassword) }}
{{- end }}
{{- if $v.redis.bundled }}
- name: KEYSTORE_REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s-redis:6379/0" $full | quote }}
{{- else if $v.redis.external.urlSecretKey }}
{{ include "smartflow.secretEnv" (dict "root" . "name" "KEYSTORE_REDIS_URL" "key" $v.redis.external.urlSecretKey) }}
{{- else }}
- name: KEYSTORE_REDIS_URL
  value: {{ required "redis.external.url (or urlSecretKey) is required when redis.bundled is false" $v.redis.external.url | quote }}
{{- end }}
{{- $db := $v.timescaledb }}
{{- if or $db.bundled (contains "$(POSTGRES_PASSWORD)" $db.external.url) }}
{{ include "smartflow.secretEnv" (dict "root" . "name" "POSTGRES_PASSWORD" "key" $v.secrets.keys.databasePassword) }}
{{- end }}
{{- if $db.bundled }}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s:$(POSTGRES_PASSWORD)@%s-timescaledb:5432/%s" $db.username $full $db.database | quote }}
{{- else if $db.external.urlSecretKey }}
{{ include "smartflow.secretEnv" (dict "root" . "name" "DATABASE_URL" "key" $db.external.urlSecretKey) }}
{{- else }}
- name: DATABASE_URL
  value: {{ required "timescaledb.external.url (or urlSecretKey) is required when timescaledb.bundled is false" $db.external.url | quote }}
{{- end }}
{{- range $v.secrets.providerKeys }}
- name: {{ .env }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName | default (include "smartflow.secretName" $) }}
      key: {{ .key | default .env }}
{{- end }}
{{- end }}

{{/* Node affinity for Smartflow pods (role=smartflow by default). */}}
{{- define "smartflow.affinity" -}}
{{- $a := .Values.nodeAffinity }}
{{- $term := dict "matchExpressions" $a.matchExpressions }}
{{- if eq $a.mode "required" }}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        {{- list $term | toYaml | nindent 8 }}
{{- else if eq $a.mode "preferred" }}
affinity:
  nodeAffinity:
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        preference:
          {{- toYaml $term | nindent 10 }}
{{- end }}
{{- end }}

{{/* Scheduling and hardening shared by every pod of the chart. */}}
{{- define "smartflow.podCommon" -}}
serviceAccountName: {{ include "smartflow.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- include "smartflow.affinity" . }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Security context of a datastore pod: non-root as the image's own user. */}}
{{- define "smartflow.datastoreSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .uid }}
  runAsGroup: {{ .gid }}
  fsGroup: {{ .gid }}
  fsGroupChangePolicy: OnRootMismatch
  seccompProfile:
    type: RuntimeDefault
{{- end }}

{{- define "smartflow.containerSecurity" -}}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end }}

{{- define "smartflow.storageClass" -}}
{{- with .storageClassName }}
storageClassName: {{ . }}
{{- end }}
{{- end }}
