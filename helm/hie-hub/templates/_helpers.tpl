{{- /*
Shared pieces of the hub's manifests. Every service is rendered by "hie.workload" from its own
template file, which defines "hie.<component>.spec": a YAML map of what is particular to it
(args, env, ports, volumes, mounts, podAnnotations; all optional). Calls take a dict:
  root       the chart's top-level context ($)
  component  "identity", "gateway", ... or "member-<org>" for a demo member node
  values     the component's values (.Values.services.<component>, or the member node's)
  binary     "hie-identity", ...
  port / metricsPort, and for members: name (the Service name) and spec (its YAML map)
Paths inside the pods:
  /etc/hie/tls/server/{tls.crt,tls.key,ca.crt}   the <component>-server-tls Secret
  /etc/hie/tls/client/{tls.crt,tls.key,ca.crt}   the <component>-client-tls Secret
  /etc/hie/postgres-ca/ca.crt                     postgres.caSecret (database clients)
*/ -}}

{{- /* Resource name: <namePrefix><name>. Argument: (list $ "identity"). */ -}}
{{- define "hie.name" -}}
{{ (index . 0).Values.namePrefix }}{{ index . 1 }}
{{- end }}

{{- define "hie.selectorLabels" -}}
app.kubernetes.io/name: hie-hub
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "hie.labels" -}}
{{ include "hie.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ .root.Chart.Name }}-{{ .root.Chart.Version }}
{{- end }}

{{- /* Services that own a PostgreSQL schema (and so get the DSN, the CA, the client label). */ -}}
{{- define "hie.databaseClients" -}}
[identity, locator, registry, consent, audit, gateway]
{{- end }}

{{- /* Who calls whom over gRPC (the services' --identity, --audit... flags): the NetworkPolicy
of each internal service admits these components only. The gateway admits everyone. */ -}}
{{- define "hie.callers" -}}
identity: [gateway, locator, audit, consent]
locator: [gateway]
registry: [gateway, locator]
consent: [gateway]
audit: [gateway, consent]
{{- end }}

{{- define "hie.image" -}}
{{ .root.Values.image.registry }}{{ .binary }}:{{ .root.Values.image.tag }}
{{- end }}

{{- /* hiectl health against this pod's own port with the component's client certificate. */ -}}
{{- define "hie.healthCommand" -}}
{{ .root.Values.image.binDir }}/hiectl health --target=localhost:{{ .port }}
{{- $tls := "/etc/hie/tls/client" }}
{{- printf " --tls-ca=%s/ca.crt --tls-cert=%s/tls.crt --tls-key=%s/tls.key" $tls $tls $tls }}
{{- printf " --timeout=%ds" (sub .root.Values.probes.timeoutSeconds 1) }}
{{- end }}

{{- /* The libpq settings and DSN of a database client (HIE_PG_DSN from postgres.dsnSecret). */ -}}
{{- define "hie.databaseEnv" -}}
- name: HIE_PG_DSN
  valueFrom:
    secretKeyRef: {name: {{ .root.Values.postgres.dsnSecret }}, key: {{ .component }}}
- {name: PGSSLMODE, value: {{ .root.Values.postgres.sslmode | quote }}}
{{- if .root.Values.postgres.caSecret }}
- {name: PGSSLROOTCERT, value: /etc/hie/postgres-ca/ca.crt}
{{- end }}
- {name: PGAPPNAME, value: {{ .binary | quote }}}
{{- end }}

{{- /* A container's env: the database's, the spec's, then the values' (name: value). */ -}}
{{- define "hie.containerEnv" -}}
{{- if .db }}
{{- include "hie.databaseEnv" .ctx }}
{{- end }}
{{- with .spec.env }}
{{ toYaml . }}
{{- end }}
{{- range $key, $value := .ctx.values.env }}
- {name: {{ $key }}, value: {{ $value | toString | quote }}}
{{- end }}
{{- end }}

{{- /* Deployment, Service, PodDisruptionBudget and HorizontalPodAutoscaler of one component. */ -}}
{{- define "hie.workload" -}}
{{- $root := .root -}}
{{- $v := .values -}}
{{- $spec := .spec | default dict -}}
{{- if hasKey $spec "Error" -}}
{{- fail (printf "%s: its spec is not YAML: %s" .component $spec.Error) -}}
{{- end -}}
{{- $name := .name | default (include "hie.name" (list $root .component)) -}}
{{- $db := has .component (include "hie.databaseClients" . | fromYamlArray) -}}
{{- $autoscaled := and $v.autoscaling $v.autoscaling.enabled -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}
  labels: {{- include "hie.labels" . | nindent 4 }}
spec:
  {{- if not $autoscaled }}
  replicas: {{ $v.replicas | default 1 }}
  {{- end }}
  selector:
    matchLabels: {{- include "hie.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "hie.selectorLabels" . | nindent 8 }}
        {{- if $db }}
        hie.io/postgres-client: "true"
        {{- end }}
        {{- if and (eq .component "identity") (or $root.Values.redis.host $root.Values.redis.sentinels) }}
        hie.io/redis-client: "true"
        {{- end }}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ .metricsPort | quote }}
        {{- with $spec.podAnnotations }}{{ toYaml . | nindent 8 }}{{ end }}
        {{- with $v.podAnnotations }}{{ toYaml . | nindent 8 }}{{ end }}
    spec:
      securityContext: {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets: {{- toYaml . | nindent 8 }}
      {{- end }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels: {{- include "hie.selectorLabels" . | nindent 14 }}
      {{- with $v.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity: {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .binary }}
          image: {{ include "hie.image" . | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command: [{{ printf "%s/%s" $root.Values.image.binDir .binary | quote }}]
          args:
            - --listen=0.0.0.0:{{ .port }}
            - --metrics-listen=0.0.0.0:{{ .metricsPort }}
            - --tls-ca=/etc/hie/tls/server/ca.crt
            - --tls-cert=/etc/hie/tls/server/tls.crt
            - --tls-key=/etc/hie/tls/server/tls.key
            {{- with $root.Values.grpc.maxConnectionAge }}
            - --max-connection-age={{ . }}
            {{- end }}
            {{- with $spec.args }}{{ toYaml . | nindent 12 }}{{ end }}
            {{- with $v.extraArgs }}{{ toYaml . | nindent 12 }}{{ end }}
          {{- with include "hie.containerEnv" (dict "ctx" . "db" $db "spec" $spec) }}
          env: {{- . | nindent 12 }}
          {{- end }}
          ports:
            - {name: grpc, containerPort: {{ .port }}}
            - {name: metrics, containerPort: {{ .metricsPort }}}
            {{- with $spec.ports }}{{ toYaml . | nindent 12 }}{{ end }}
          readinessProbe:
            exec:
              command: {{- include "hie.healthCommand" . | splitList " " | toYaml | nindent 16 }}
            timeoutSeconds: {{ $root.Values.probes.timeoutSeconds }}
            {{- toYaml $root.Values.probes.readiness | nindent 12 }}
          # Alive = the server answered the health check, whatever its status (exit 0 or 1).
          livenessProbe:
            exec:
              command:
                - /bin/sh
                - -c
                - {{ printf "%s; test $? -le 1" (include "hie.healthCommand" .) | quote }}
            timeoutSeconds: {{ $root.Values.probes.timeoutSeconds }}
            {{- toYaml $root.Values.probes.liveness | nindent 12 }}
          startupProbe:
            exec:
              command:
                - /bin/sh
                - -c
                - {{ printf "%s; test $? -le 1" (include "hie.healthCommand" .) | quote }}
            timeoutSeconds: {{ $root.Values.probes.timeoutSeconds }}
            periodSeconds: {{ $root.Values.probes.startup.periodSeconds }}
            failureThreshold: {{ $v.startupFailureThreshold | default 30 }}
          {{- if $root.Values.preStopSleepSeconds }}
          lifecycle:
            preStop:
              sleep: {seconds: {{ $root.Values.preStopSleepSeconds }}}
          {{- end }}
          resources: {{- toYaml $v.resources | nindent 12 }}
          securityContext: {{- toYaml $root.Values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - {name: server-tls, mountPath: /etc/hie/tls/server, readOnly: true}
            - {name: client-tls, mountPath: /etc/hie/tls/client, readOnly: true}
            - {name: tmp, mountPath: /tmp}
            {{- if and $db $root.Values.postgres.caSecret }}
            - {name: postgres-ca, mountPath: /etc/hie/postgres-ca, readOnly: true}
            {{- end }}
            {{- with $spec.mounts }}{{ toYaml . | nindent 12 }}{{ end }}
      volumes:
        - name: server-tls
          secret: {secretName: {{ $v.tls.serverSecret }}, defaultMode: 0440}
        - name: client-tls
          secret: {secretName: {{ $v.tls.clientSecret }}, defaultMode: 0440}
        - name: tmp
          emptyDir: {sizeLimit: 64Mi}
        {{- if and $db $root.Values.postgres.caSecret }}
        - name: postgres-ca
          secret:
            secretName: {{ $root.Values.postgres.caSecret }}
            items: [{key: ca.crt, path: ca.crt}]
            defaultMode: 0444
        {{- end }}
        {{- with $spec.volumes }}{{ toYaml . | nindent 8 }}{{ end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}
  labels: {{- include "hie.labels" . | nindent 4 }}
  {{- with $v.serviceAnnotations }}
  annotations: {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  type: {{ $v.serviceType | default "ClusterIP" }}
  {{- if $v.headless }}
  clusterIP: None
  # Every pod in DNS, ready or not: the callers' health checks choose (services/common/channel.h),
  # and a name never resolves to nothing while pods exist (gRPC backs off up to 2 minutes after a
  # failed lookup).
  publishNotReadyAddresses: true
  {{- end }}
  selector: {{- include "hie.selectorLabels" . | nindent 4 }}
  ports:
    - {name: grpc, port: {{ .port }}, targetPort: grpc}
    - {name: metrics, port: {{ .metricsPort }}, targetPort: metrics}
{{- if and $v.pdb $v.pdb.enabled (or $autoscaled (gt (int $v.replicas) 1)) }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ $name }}
  labels: {{- include "hie.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ $v.pdb.maxUnavailable }}
  selector:
    matchLabels: {{- include "hie.selectorLabels" . | nindent 6 }}
{{- end }}
{{- if $autoscaled }}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ $name }}
  labels: {{- include "hie.labels" . | nindent 4 }}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: {{ $name }}}
  minReplicas: {{ $v.autoscaling.minReplicas }}
  maxReplicas: {{ $v.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target: {type: Utilization, averageUtilization: {{ $v.autoscaling.targetCPUPercent }}}
{{- end }}
{{- end }}

{{- /* The component's dict for "hie.workload" from .Values.services.<component>. */ -}}
{{- define "hie.hubService" -}}
{{- $v := index .root.Values.services .component -}}
{{- if $v.enabled -}}
{{- $ctx := dict "root" .root "component" .component "values" $v
      "binary" (printf "hie-%s" .component) "port" $v.port "metricsPort" $v.metricsPort -}}
{{- $_ := set $ctx "spec" (include (printf "hie.%s.spec" .component) $ctx | fromYaml) -}}
{{ include "hie.workload" $ctx }}
{{- end }}
{{- end }}
