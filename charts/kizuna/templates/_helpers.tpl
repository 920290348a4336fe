{{- define "kizuna.fullname" -}}
{{- printf "%s-manager" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kizuna.serviceAccountName" -}}
{{- default (include "kizuna.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "kizuna.labels" -}}
app.kubernetes.io/name: kizuna
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kizuna.selectorLabels" -}}
app.kubernetes.io/name: kizuna
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end -}}
