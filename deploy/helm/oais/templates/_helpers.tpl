{{/* Names and labels. */}}
{{- define "oais.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "oais.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: oais
{{- end -}}

{{/* oais.selectorLabels: (dict "ctx" $ "component" "gateway") */}}
{{- define "oais.selectorLabels" -}}
app.kubernetes.io/name: {{ .ctx.Chart.Name }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "oais.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The variables that carry secrets. They reach a pod only through
secretKeyRef; extraEnv refuses them so no secret is ever inlined in a manifest.
*/}}
{{- define "oais.secretNames" -}}
OAIS_DATABASE_URL OAIS_SECRETS_KEY OAIS_UPSTREAM_API_KEY OAIS_STRIPE_API_KEY OAIS_STRIPE_WEBHOOK_SECRET OAIS_OIDC_CLIENT_SECRET OAIS_SMTP_URL OAIS_BOOTSTRAP_ADMIN_PASSWORD OAIS_REDIS_URL OAIS_REDIS_CACHE_URL
{{- end -}}

{{/* oais.validate stops the render on values that would deploy something broken or leak a secret. */}}
{{- define "oais.validate" -}}
{{- if not .Values.existingSecret -}}
{{- fail "existingSecret is required: name a Secret holding OAIS_DATABASE_URL (postgres://…) and OAIS_SECRETS_KEY (see values.yaml)" -}}
{{- end -}}
{{- $drain := int .Values.config.drainTimeoutSeconds -}}
{{- range $c := list "controlplane" "gateway" -}}
{{- $w := index $.Values $c -}}
{{- if le (int $w.terminationGracePeriodSeconds) (add $drain (int $w.preStopSleepSeconds)) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must exceed config.drainTimeoutSeconds (%d) plus %s.preStopSleepSeconds (%d): Kubernetes would SIGKILL requests still draining" $c (int $w.terminationGracePeriodSeconds) $drain $c (int $w.preStopSleepSeconds)) -}}
{{- end -}}
{{- if lt (int $w.preStopSleepSeconds) 1 -}}
{{- fail (printf "%s.preStopSleepSeconds must be at least 1: endpoints need time to drop the pod before SIGTERM" $c) -}}
{{- end -}}
{{- end -}}
{{- $secret := splitList " " (include "oais.secretNames" .) -}}
{{- range $scope := list .Values.config.extraEnv .Values.controlplane.extraEnv .Values.gateway.extraEnv -}}
{{- range $k, $_ := $scope -}}
{{- if has $k $secret -}}
{{- fail (printf "%s carries a secret: put it in the Secret named by existingSecret, not in extraEnv" $k) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* oais.secretEnv: (dict "ctx" $ "name" "OAIS_X" "optional" true) */}}
{{- define "oais.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .ctx.Values.existingSecret }}
      key: {{ .name }}
      optional: {{ .optional }}
{{- end -}}

{{/* oais.plainEnv: one variable when its value is set. */}}
{{- define "oais.plainEnv" -}}
{{- if .value }}
- name: {{ .name }}
  value: {{ .value | toString | quote }}
{{- end -}}
{{- end -}}

{{/* oais.env: what both binaries read; (dict "ctx" $ "component" "gateway"). */}}
{{- define "oais.env" -}}
{{- $v := .ctx.Values -}}
{{ include "oais.secretEnv" (dict "ctx" .ctx "name" "OAIS_DATABASE_URL" "optional" false) }}
{{ include "oais.secretEnv" (dict "ctx" .ctx "name" "OAIS_SECRETS_KEY" "optional" false) }}
- name: OAIS_DRAIN_TIMEOUT
  value: {{ printf "%ds" (int $v.config.drainTimeoutSeconds) | quote }}
- name: OAIS_LOG_FORMAT
  value: {{ $v.config.logFormat | quote }}
- name: OAIS_LOG_LEVEL
  value: {{ $v.config.logLevel | quote }}
{{- include "oais.plainEnv" (dict "name" "OAIS_PUBLIC_URL" "value" $v.config.publicURL) }}
{{- include "oais.plainEnv" (dict "name" "OAIS_GATEWAY_PUBLIC_URL" "value" $v.config.gatewayPublicURL) }}
{{- include "oais.plainEnv" (dict "name" "OAIS_UPSTREAM_BASE_URL" "value" $v.config.upstreamBaseURL) }}
{{- include "oais.plainEnv" (dict "name" "OAIS_TRUSTED_PROXIES" "value" $v.config.trustedProxies) }}
{{- include "oais.plainEnv" (dict "name" "OAIS_UPSTREAM_ALLOWED_NETWORKS" "value" $v.config.upstreamAllowedNetworks) }}
{{- if eq .component "gateway" }}
- name: OAIS_GATEWAY_ADDR
  value: ":8081"
- name: OAIS_SPOOL_DIR
  value: /data/spool
{{- include "oais.plainEnv" (dict "name" "OAIS_GATEWAY_NAME" "value" $v.gateway.name) }}
{{ include "oais.secretEnv" (dict "ctx" .ctx "name" "OAIS_UPSTREAM_API_KEY" "optional" true) }}
{{- if $v.redis.existingSecret }}
- name: OAIS_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.redis.existingSecret }}
      key: {{ $v.redis.existingSecretKey }}
{{- else }}
{{- include "oais.plainEnv" (dict "name" "OAIS_REDIS_URL" "value" $v.redis.url) }}
{{- end }}
{{- else }}
- name: OAIS_CONTROLPLANE_ADDR
  value: ":8080"
{{- include "oais.plainEnv" (dict "name" "OAIS_BOOTSTRAP_ADMIN_EMAIL" "value" $v.config.bootstrapAdminEmail) }}
{{- include "oais.plainEnv" (dict "name" "OAIS_OIDC_ISSUER" "value" $v.config.oidcIssuer) }}
{{- include "oais.plainEnv" (dict "name" "OAIS_OIDC_CLIENT_ID" "value" $v.config.oidcClientID) }}
{{- include "oais.plainEnv" (dict "name" "OAIS_STRIPE_API_BASE" "value" $v.config.stripeAPIBase) }}
{{- include "oais.plainEnv" (dict "name" "OAIS_BILLING_INTERVAL" "value" $v.config.billingInterval) }}
{{- range $name := list "OAIS_STRIPE_API_KEY" "OAIS_STRIPE_WEBHOOK_SECRET" "OAIS_OIDC_CLIENT_SECRET" "OAIS_SMTP_URL" "OAIS_BOOTSTRAP_ADMIN_PASSWORD" }}
{{ include "oais.secretEnv" (dict "ctx" $.ctx "name" $name "optional" true) }}
{{- end }}
{{- end }}
{{- range $k, $val := $v.config.extraEnv }}
- name: {{ $k }}
  value: {{ $val | toString | quote }}
{{- end }}
{{- range $k, $val := (index $v .component).extraEnv }}
- name: {{ $k }}
  value: {{ $val | toString | quote }}
{{- end }}
{{- end -}}

{{/* oais.probes: liveness on /healthz, readiness on /readyz (503 while draining). */}}
{{- define "oais.probes" -}}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 2
  failureThreshold: 45
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end -}}
