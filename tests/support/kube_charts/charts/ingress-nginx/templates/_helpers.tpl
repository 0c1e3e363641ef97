{{/* Names and labels follow ingress-nginx's chart: release "ingress-nginx" gives
ingress-nginx-controller, ingress-nginx-admission, ... */}}

{{- define "ingress-nginx.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ingress-nginx.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ingress-nginx.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "ingress-nginx.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ingress-nginx.controller.fullname" -}}
{{- printf "%s-%s" (include "ingress-nginx.fullname" .) .Values.controller.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ingress-nginx.admissionWebhooks.fullname" -}}
{{- printf "%s-%s" (include "ingress-nginx.fullname" .) .Values.controller.admissionWebhooks.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ingress-nginx.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ingress-nginx.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ingress-nginx.admissionWebhooks.patch.serviceAccountName" -}}
{{- $sa := .Values.controller.admissionWebhooks.patch.serviceAccount -}}
{{- if $sa.create -}}
{{- default (include "ingress-nginx.admissionWebhooks.fullname" .) $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}

{{- define "ingress-nginx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ingress-nginx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ingress-nginx.labels" -}}
helm.sh/chart: {{ include "ingress-nginx.chart" . }}
{{ include "ingress-nginx.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/part-of: {{ include "ingress-nginx.name" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* labels of a component: (list $ "controller") */}}
{{- define "ingress-nginx.componentLabels" -}}
{{- $root := index . 0 -}}
{{ include "ingress-nginx.labels" $root }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* registry/image:tag@digest, as the real chart builds it */}}
{{- define "ingress-nginx.imageRef" -}}
{{- with . -}}
{{- if .repository -}}{{ .repository }}{{- else -}}{{ .registry }}/{{ .image }}{{- end -}}:{{ .tag }}{{- if .digest -}}@{{ .digest }}{{- end -}}
{{- end -}}
{{- end -}}

{{/* the controller's command line */}}
{{- define "ingress-nginx.params" -}}
- /nginx-ingress-controller
{{- if and .Values.controller.publishService.enabled .Values.controller.service.enabled .Values.controller.service.external.enabled }}
- --publish-service={{ .Values.controller.publishService.pathOverride | default (printf "$(POD_NAMESPACE)/%s" (include "ingress-nginx.controller.fullname" .)) }}
{{- end }}
- --election-id={{ .Values.controller.electionID | default (printf "%s-leader" (include "ingress-nginx.fullname" .)) }}
- --controller-class={{ .Values.controller.ingressClassResource.controllerValue }}
{{- with .Values.controller.ingressClass }}
- --ingress-class={{ . }}
{{- end }}
- --configmap={{ default "$(POD_NAMESPACE)" .Values.controller.configMapNamespace }}/{{ include "ingress-nginx.controller.fullname" . }}
{{- if .Values.controller.admissionWebhooks.enabled }}
- --validating-webhook=:{{ .Values.controller.admissionWebhooks.port }}
- --validating-webhook-certificate={{ .Values.controller.admissionWebhooks.certificate }}
- --validating-webhook-key={{ .Values.controller.admissionWebhooks.key }}
{{- end }}
{{- if .Values.controller.watchIngressWithoutClass }}
- --watch-ingress-without-class=true
{{- end }}
{{- if .Values.controller.metrics.enabled }}
- --enable-metrics=true
{{- end }}
{{- range $key, $value := .Values.controller.extraArgs }}
{{- if eq ($value | quote | len) 2 }}
- --{{ $key }}
{{- else }}
- --{{ $key }}={{ $value }}
{{- end }}
{{- end }}
{{- end -}}

{{/* a hook Job of the admission webhook's certificate: (list $ "create" JOB_VALUES ARGS_LIST HOOKS) */}}
{{- define "ingress-nginx.admissionJob" -}}
{{- $root := index . 0 -}}
{{- $container := index . 1 -}}
{{- $job := index . 2 -}}
{{- $patch := $root.Values.controller.admissionWebhooks.patch -}}
{{- $name := printf "%s-%s" (include "ingress-nginx.admissionWebhooks.fullname" $root) $job.name | trunc 63 | trimSuffix "-" -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ $name }}
  namespace: {{ include "ingress-nginx.namespace" $root }}
  annotations:
    "helm.sh/hook": {{ index . 4 }}
    "helm.sh/hook-delete-policy": before-hook-creation,hook-succeeded
  labels:
    {{- include "ingress-nginx.componentLabels" (list $root "admission-webhook") | nindent 4 }}
spec:
  ttlSecondsAfterFinished: 0
  template:
    metadata:
      name: {{ $name }}
      labels:
        {{- include "ingress-nginx.componentLabels" (list $root "admission-webhook") | nindent 8 }}
    spec:
      containers:
        - name: {{ $container }}
          image: {{ include "ingress-nginx.imageRef" (merge (deepCopy $patch.image) $root.Values.global.image) }}
          imagePullPolicy: {{ $patch.image.pullPolicy }}
          args:
            {{- toYaml (index . 3) | nindent 12 }}
          env:
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
          {{- with $job.securityContext }}
          securityContext:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with $job.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
      restartPolicy: OnFailure
      serviceAccountName: {{ include "ingress-nginx.admissionWebhooks.patch.serviceAccountName" $root }}
      automountServiceAccountToken: {{ $patch.serviceAccount.automountServiceAccountToken }}
      {{- with $patch.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $patch.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end -}}

{{/* metadata of the hook objects the certificate Jobs run with */}}
{{- define "ingress-nginx.admissionHookMetadata" }}
  annotations:
    "helm.sh/hook": pre-install,pre-upgrade,post-install,post-upgrade
    "helm.sh/hook-delete-policy": before-hook-creation,hook-succeeded
  labels:
    {{- include "ingress-nginx.componentLabels" (list . "admission-webhook") | nindent 4 }}
{{- end }}
