{{/* Names and labels follow cert-manager's chart, so objects carry the names a real
install gives them (release "cert-manager" -> cert-manager, cert-manager-webhook, ...). */}}

{{- define "cert-manager.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cert-manager.fullname" -}}
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

{{- define "cert-manager.namespace" -}}
{{- .Values.namespace | default .Release.Namespace -}}
{{- end -}}

{{/* fullname of a component: (list $ "webhook") -> cert-manager-webhook */}}
{{- define "cert-manager.componentFullname" -}}
{{- $root := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $trimmed := include "cert-manager.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" -}}
{{- printf "%s-%s" $trimmed $suffix | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "webhook.fullname" -}}
{{- include "cert-manager.componentFullname" (list . "webhook") -}}
{{- end -}}

{{- define "cainjector.fullname" -}}
{{- include "cert-manager.componentFullname" (list . "cainjector") -}}
{{- end -}}

{{- define "startupapicheck.fullname" -}}
{{- include "cert-manager.componentFullname" (list . "startupapicheck") -}}
{{- end -}}

{{/* the service account of a component: (list $ "fullname" .Values.x.serviceAccount) */}}
{{- define "cert-manager.serviceAccountFor" -}}
{{- $fullname := index . 1 -}}
{{- $sa := index . 2 -}}
{{- if $sa.create -}}
{{- default $fullname $sa.name -}}
{{- else -}}
{{- default "default" $sa.name -}}
{{- end -}}
{{- end -}}

{{- define "cert-manager.serviceAccountName" -}}
{{- include "cert-manager.serviceAccountFor" (list . (include "cert-manager.fullname" .) .Values.serviceAccount) -}}
{{- end -}}

{{- define "webhook.serviceAccountName" -}}
{{- include "cert-manager.serviceAccountFor" (list . (include "webhook.fullname" .) .Values.webhook.serviceAccount) -}}
{{- end -}}

{{- define "cainjector.serviceAccountName" -}}
{{- include "cert-manager.serviceAccountFor" (list . (include "cainjector.fullname" .) .Values.cainjector.serviceAccount) -}}
{{- end -}}

{{- define "startupapicheck.serviceAccountName" -}}
{{- include "cert-manager.serviceAccountFor" (list . (include "startupapicheck.fullname" .) .Values.startupapicheck.serviceAccount) -}}
{{- end -}}

{{- define "chartName" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* labels on every object */}}
{{- define "labels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- if eq .Values.creator "helm" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ include "chartName" . }}
{{- end -}}
{{- with .Values.global.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* selector labels of a component: (list $ "webhook" "webhook"), name then component;
the components keep the v0.9 names (cainjector, webhook) as app.kubernetes.io/name */}}
{{- define "cert-manager.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ index . 1 }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 2 | quote }}
{{- end -}}

{{/* all labels of a component's objects */}}
{{- define "cert-manager.componentLabels" -}}
{{- $root := index . 0 -}}
app: {{ index . 1 }}
{{ include "cert-manager.selectorLabels" . }}
{{ include "labels" $root }}
{{- end -}}

{{/* image reference: (tuple .Values.x.image .Chart.AppVersion); a digest wins over the tag */}}
{{- define "image" -}}
{{- $defaultTag := index . 1 -}}
{{- with index . 0 -}}
{{- if .registry -}}{{ printf "%s/%s" .registry .repository }}{{- else -}}{{- .repository -}}{{- end -}}
{{- if .digest -}}{{ printf "@%s" .digest }}{{- else -}}{{ printf ":%s" (default $defaultTag .tag) }}{{- end -}}
{{- end -}}
{{- end -}}

{{/* node selector: global merged with the component's */}}
{{- define "cert-manager.nodeSelector" -}}
{{- $merged := merge (deepCopy (index . 0)) (index . 1 | default dict) -}}
{{- with $merged -}}
nodeSelector:
  {{- range $key, $value := . }}
  {{ $key }}: {{ $value | quote }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "cert-manager.crd-labels" -}}
app: {{ include "cert-manager.name" . | quote }}
app.kubernetes.io/name: {{ include "cert-manager.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/component: "crds"
{{ include "labels" . }}
{{- end -}}

{{/* metadata of every CRD: (list $ "certificates.cert-manager.io") */}}
{{- define "cert-manager.crd-metadata" -}}
{{- $root := index . 0 -}}
metadata:
  name: {{ index . 1 | quote }}
  {{- if $root.Values.crds.keep }}
  annotations:
    helm.sh/resource-policy: keep
  {{- end }}
  labels:
    {{- include "cert-manager.crd-labels" $root | nindent 4 }}
{{- end -}}

{{- define "cert-manager.crd-check" -}}
{{- if and .Values.installCRDs .Values.crds.enabled -}}
{{- fail "ERROR: the deprecated .installCRDs option cannot be enabled at the same time as its replacement .crds.enabled" -}}
{{- end -}}
{{- if and .Values.installCRDs (not .Values.crds.keep) -}}
{{- fail "ERROR: .crds.keep is not compatible with .installCRDs, please use .crds.enabled and .crds.keep instead" -}}
{{- end -}}
{{- end -}}

{{/* a Role or ClusterRole and its binding to a service account:
(dict "root" $ "kind" "ClusterRole" "name" N "namespace" NS "labels" L "sa" SA "rules" RULES_YAML) */}}
{{- define "cert-manager.rbacPair" -}}
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ .kind }}
metadata:
  name: {{ .name }}
  {{- if .namespace }}
  namespace: {{ .namespace }}
  {{- end }}
  labels:
    {{- .labels | nindent 4 }}
rules:
  {{- .rules | trim | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ .kind }}Binding
metadata:
  name: {{ .name }}
  {{- if .namespace }}
  namespace: {{ .namespace }}
  {{- end }}
  labels:
    {{- .labels | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ .kind }}
  name: {{ .name }}
subjects:
  - kind: ServiceAccount
    name: {{ .sa }}
    namespace: {{ include "cert-manager.namespace" .root }}
{{- end -}}

{{/* the status conditions schema every cert-manager.io kind shares */}}
{{- define "cert-manager.crd-conditions" -}}
conditions:
  type: array
  items:
    type: object
    required: [status, type]
    properties:
      lastTransitionTime:
        type: string
        format: date-time
      message:
        type: string
      observedGeneration:
        type: integer
        format: int64
      reason:
        type: string
      status:
        type: string
        enum: ["True", "False", "Unknown"]
      type:
        type: string
  x-kubernetes-list-map-keys: [type]
  x-kubernetes-list-type: map
{{- end -}}

{{/* issuerRef, shared by Certificate, CertificateRequest, Order and Challenge */}}
{{- define "cert-manager.crd-issuerRef" -}}
issuerRef:
  type: object
  required: [name]
  properties:
    group:
      type: string
    kind:
      type: string
    name:
      type: string
{{- end -}}

{{/* the spec of Issuer and ClusterIssuer (ACME kept in detail, the rest open) */}}
{{- define "cert-manager.crd-issuerSpec" -}}
type: object
properties:
  acme:
    type: object
    required: [privateKeySecretRef, server]
    properties:
      caBundle:
        type: string
        format: byte
      disableAccountKeyGeneration:
        type: boolean
      email:
        type: string
      enableDurationFeature:
        type: boolean
      externalAccountBinding:
        type: object
        required: [keyID, keySecretRef]
        properties:
          keyAlgorithm:
            type: string
            enum: [HS256, HS384, HS512]
          keyID:
            type: string
          keySecretRef:
            type: object
            required: [name]
            properties:
              key:
                type: string
              name:
                type: string
      preferredChain:
        type: string
        maxLength: 64
      privateKeySecretRef:
        type: object
        required: [name]
        properties:
          key:
            type: string
          name:
            type: string
      profile:
        type: string
      server:
        type: string
      skipTLSVerify:
        type: boolean
      solvers:
        type: array
        items:
          type: object
          properties:
            dns01:
              type: object
              x-kubernetes-preserve-unknown-fields: true
            http01:
              type: object
              properties:
                gatewayHTTPRoute:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                ingress:
                  type: object
                  properties:
                    class:
                      type: string
                    ingressClassName:
                      type: string
                    ingressTemplate:
                      type: object
                      x-kubernetes-preserve-unknown-fields: true
                    name:
                      type: string
                    podTemplate:
                      type: object
                      x-kubernetes-preserve-unknown-fields: true
                    serviceType:
                      type: string
            selector:
              type: object
              properties:
                dnsNames:
                  type: array
                  items:
                    type: string
                dnsZones:
                  type: array
                  items:
                    type: string
                matchLabels:
                  type: object
                  additionalProperties:
                    type: string
  ca:
    type: object
    required: [secretName]
    properties:
      crlDistributionPoints:
        type: array
        items:
          type: string
      issuingCertificateURLs:
        type: array
        items:
          type: string
      ocspServers:
        type: array
        items:
          type: string
      secretName:
        type: string
  selfSigned:
    type: object
    properties:
      crlDistributionPoints:
        type: array
        items:
          type: string
  vault:
    type: object
    x-kubernetes-preserve-unknown-fields: true
  venafi:
    type: object
    x-kubernetes-preserve-unknown-fields: true
{{- end -}}

{{- define "cert-manager.crd-issuerStatus" -}}
type: object
properties:
  acme:
    type: object
    properties:
      lastPrivateKeyHash:
        type: string
      lastRegisteredEmail:
        type: string
      uri:
        type: string
  {{- include "cert-manager.crd-conditions" . | nindent 2 }}
{{- end -}}

{{- define "cert-manager.crd-typeMeta" -}}
apiVersion:
  type: string
kind:
  type: string
metadata:
  type: object
{{- end -}}

{{- define "cert-manager.acme-state" -}}
type: string
enum: [valid, ready, pending, processing, invalid, expired, errored]
{{- end -}}

{{/* pod annotations for annotation-based Prometheus scraping, when no ServiceMonitor does it */}}
{{- define "cert-manager.scrapeAnnotations" -}}
{{- if and .Values.prometheus.enabled (not (or .Values.prometheus.servicemonitor.enabled .Values.prometheus.podmonitor.enabled)) -}}
annotations:
  prometheus.io/path: "/metrics"
  prometheus.io/scrape: "true"
  prometheus.io/port: "9402"
{{- end -}}
{{- end -}}
