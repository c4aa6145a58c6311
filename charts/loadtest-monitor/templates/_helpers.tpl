{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "loadtest-monitor.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Full name: the release name, with the chart name added unless the release already holds it. */}}
{{- define "loadtest-monitor.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "loadtest-monitor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "loadtest-monitor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "loadtest-monitor.labels" -}}
{{ include "loadtest-monitor.selectorLabels" . }}
app.kubernetes.io/part-of: loadtest-monitor
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "loadtest-monitor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "loadtest-monitor.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Fails early on a watch setting the operator cannot honour. */}}
{{- define "loadtest-monitor.validateWatch" -}}
{{- if and .Values.watch.allNamespaces .Values.watch.namespaces -}}
{{- fail "watch.namespaces is set but watch.allNamespaces is true: set allNamespaces=false to watch only those namespaces" -}}
{{- end -}}
{{- if and (not .Values.watch.allNamespaces) (not .Values.watch.namespaces) -}}
{{- fail "watch.allNamespaces is false: list at least one namespace in watch.namespaces" -}}
{{- end -}}
{{- end -}}

{{/*
The operator image: [registry/]repository, then @digest if given, else :tag (default appVersion).
The registry is a value of its own so that the release can stamp where it published the image
(hack/publish-chart.sh) while the chart's source names no registry host.
*/}}
{{- define "loadtest-monitor.image" -}}
{{- $name := .Values.image.repository -}}
{{- with .Values.image.registry }}{{ $name = printf "%s/%s" . $name }}{{ end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $name .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $name (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end }}
