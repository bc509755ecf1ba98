{{/* Names and labels, as `helm create` makes them. */}}
{{- define "oauth2d.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "oauth2d.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "oauth2d.selectorLabels" -}}
app.kubernetes.io/name: {{ include "oauth2d.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "oauth2d.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "oauth2d.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "oauth2d.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "oauth2d.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
oauth2d.checkValues stops the render, naming the value, where the server
would refuse to start (or would start with something unsafe).
*/}}
{{- define "oauth2d.checkValues" -}}
{{- if not .Values.issuer }}
{{- fail "issuer is required: the https URL clients reach oauth2d at (OAUTH2D_ISSUER), e.g. --set issuer=https://auth.example.com" }}
{{- end }}
{{- if not (hasPrefix "https://" .Values.issuer) }}
{{- fail (printf "issuer must be https, not %q: oauth2d allows http only on a loopback host" .Values.issuer) }}
{{- end }}
{{- if and (not .Values.redis.url) (not .Values.redis.existingSecret) }}
{{- fail "redis.url or redis.existingSecret is required: the chart does not ship Redis" }}
{{- end }}
{{- if and .Values.redis.url .Values.redis.existingSecret }}
{{- fail "set one of redis.url and redis.existingSecret, not both" }}
{{- end }}
{{- if not .Values.keyEncryptionKey.existingSecret }}
{{- fail "keyEncryptionKey.existingSecret is required: a Secret holding 32 random bytes, base64 (OAUTH2D_KEY_ENCRYPTION_KEY)" }}
{{- end }}
{{- if or (lt (int .Values.shutdown.drainDelaySeconds) 0) (gt (int .Values.shutdown.drainDelaySeconds) 60) }}
{{- fail "shutdown.drainDelaySeconds must be from 0 to 60 (http.drain_delay)" }}
{{- end }}
{{- if lt (int .Values.shutdown.shutdownTimeoutSeconds) 1 }}
{{- fail "shutdown.shutdownTimeoutSeconds must be at least 1 (http.shutdown_timeout)" }}
{{- end }}
{{- range $name := list "OAUTH2D_ISSUER" "OAUTH2D_REDIS_URL" "OAUTH2D_KEY_ENCRYPTION_KEY" "OAUTH2D_BOOTSTRAP" "OAUTH2D_HTTP_DRAIN_DELAY" "OAUTH2D_HTTP_SHUTDOWN_TIMEOUT" "OAUTH2D_ADDR" "OAUTH2D_INSECURE_DEV" "OAUTH2D_REDIS_ALLOW_EMBEDDED" "OAUTH2D_KEYS_SOURCE" }}
{{- if hasKey $.Values.config $name }}
{{- fail (printf "config.%s: the chart sets it from its own values (see values.yaml)" $name) }}
{{- end }}
{{- end }}
{{- end }}
