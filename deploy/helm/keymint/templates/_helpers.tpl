{{/* Chart name, overridable. */}}
{{- define "keymint.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name, truncated to 63 characters (DNS label limit). */}}
{{- define "keymint.fullname" -}}
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

{{- define "keymint.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels: name and instance only, because selectors are immutable. */}}
{{- define "keymint.selectorLabels" -}}
app.kubernetes.io/name: {{ include "keymint.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "keymint.labels" -}}
helm.sh/chart: {{ include "keymint.chart" . }}
{{ include "keymint.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: keymint
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "keymint.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "keymint.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "keymint.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding the serving certificate (tls.crt, tls.key). */}}
{{- define "keymint.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "keymint.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{- define "keymint.scheme" -}}
{{- if .Values.tls.enabled }}https{{ else }}http{{ end }}
{{- end }}

{{/* Vault address keymint talks to: the agent's local listener in proxy mode. */}}
{{- define "keymint.vaultAddr" -}}
{{- if .Values.vault.agentProxy.enabled }}
{{- printf "http://127.0.0.1:%d" (int .Values.vault.agentProxy.listenerPort) }}
{{- else }}
{{- .Values.vault.addr }}
{{- end }}
{{- end }}

{{/* The roles file: roles without `ips` get the cluster's NAT egress IPs (.Values.egressIPs). */}}
{{- define "keymint.rolesFile" -}}
{{- $roles := dict }}
{{- range $name, $body := .Values.roles }}
{{- $r := deepCopy $body }}
{{- if and (not (hasKey $r "ips")) $.Values.egressIPs }}
{{- $_ := set $r "ips" $.Values.egressIPs }}
{{- end }}
{{- $_ := set $roles $name $r }}
{{- end }}
{{- $static := dict }}
{{- range $name, $body := .Values.staticRoles }}
{{- $r := deepCopy $body }}
{{- if and (not (hasKey $r "ips")) $.Values.egressIPs }}
{{- $_ := set $r "ips" $.Values.egressIPs }}
{{- end }}
{{- $_ := set $static $name $r }}
{{- end }}
{{- toYaml (dict "roles" $roles "static_roles" $static) }}
{{- end }}
