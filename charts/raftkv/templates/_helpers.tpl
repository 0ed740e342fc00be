{{- define "raftkv.fullname" -}}
{{- printf "%s" .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "raftkv.labels" -}}
app.kubernetes.io/name: raftkv
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "raftkv.selector" -}}
app.kubernetes.io/name: raftkv
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* n1=host:2380,... for the bootstrap members, named after their pods. */}}
{{- define "raftkv.initialCluster" -}}
{{- $name := include "raftkv.fullname" . -}}
{{- $parts := list -}}
{{- range $i := until (int .Values.replicas) -}}
{{- $parts = append $parts (printf "%s-%d=%s-%d.%s-peers.%s.svc:%d" $name $i $name $i $name $.Release.Namespace (int $.Values.service.peerPort)) -}}
{{- end -}}
{{- join "," $parts -}}
{{- end -}}
