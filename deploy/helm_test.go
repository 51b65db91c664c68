package deploy_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The chart's minimum Kubernetes (Chart.yaml kubeVersion): helm template's
// offline default is older, so every render names it.
const minKube = "1.30.0"

// secretVars are the variables that carry secrets: a manifest may name them
// only with a secretKeyRef (raise together with oais.secretNames in
// deploy/helm/oais/templates/_helpers.tpl).
var secretVars = []string{
	"OAIS_DATABASE_URL", "OAIS_SECRETS_KEY", "OAIS_UPSTREAM_API_KEY", "OAIS_STRIPE_API_KEY",
	"OAIS_STRIPE_WEBHOOK_SECRET", "OAIS_OIDC_CLIENT_SECRET", "OAIS_SMTP_URL",
	"OAIS_BOOTSTRAP_ADMIN_PASSWORD", "OAIS_REDIS_URL", "OAIS_REDIS_CACHE_URL",
}

// helmBinary finds helm on PATH or in GOPATH/bin (where `make helm` puts
// it), or skips the test saying how to install it.
func helmBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			if p := filepath.Join(dir, "bin", "helm"); isExecutable(p) {
				return p
			}
		}
	}
	t.Skip("helm is not installed: 'make helm' installs it (go install helm.sh/helm/v3/cmd/helm@v3.21.4)")
	return ""
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

func chartDir(t *testing.T) string { return filepath.Join(repoRoot(t), "deploy", "helm", "oais") }

// helmRun runs helm and returns stdout, or stderr in the error.
func helmRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(helmBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return out.String(), errors.New(strings.TrimSpace(errOut.String()))
		}
		return out.String(), nil
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		return "", errors.New("helm did not finish within 2 minutes")
	}
}

// object is the part of a rendered Kubernetes object the checks read.
type object struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name        string            `yaml:"name"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	node *yaml.Node
}

// workload is a Deployment, StatefulSet or Job.
type workload struct {
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec podSpec `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
	HostNetwork                   bool `yaml:"hostNetwork"`
	SecurityContext               struct {
		RunAsNonRoot   *bool `yaml:"runAsNonRoot"`
		RunAsUser      *int  `yaml:"runAsUser"`
		SeccompProfile struct {
			Type string `yaml:"type"`
		} `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
	Containers []containerSpec `yaml:"containers"`
	Volumes    []struct {
		Name     string         `yaml:"name"`
		HostPath map[string]any `yaml:"hostPath"`
	} `yaml:"volumes"`
}

type containerSpec struct {
	Name    string   `yaml:"name"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     *string
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom         []map[string]any `yaml:"envFrom"`
	LivenessProbe   *probe           `yaml:"livenessProbe"`
	ReadinessProbe  *probe           `yaml:"readinessProbe"`
	SecurityContext struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Privileged               bool  `yaml:"privileged"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	Lifecycle struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
	} `yaml:"httpGet"`
}

// env returns the plain value of a variable and whether it is set so.
func (c containerSpec) env(name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name && e.Value != nil {
			return *e.Value, true
		}
	}
	return "", false
}

// render runs helm template on the chart with args and decodes every object.
func render(t *testing.T, args ...string) []object {
	t.Helper()
	out, err := helmRun(t, append([]string{"template", "oais", chartDir(t), "--namespace", "oais", "--kube-version", minKube}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	var objs []object
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("rendered YAML does not parse: %v", err)
		}
		var o object
		if err := n.Decode(&o); err != nil {
			t.Fatalf("rendered object: %v", err)
		}
		if o.Kind == "" {
			continue // an empty document
		}
		o.node = &n
		objs = append(objs, o)
	}
	return objs
}

func decode[T any](t *testing.T, o object) T {
	t.Helper()
	var v T
	if err := o.node.Decode(&v); err != nil {
		t.Fatalf("%s %s: %v", o.Kind, o.Metadata.Name, err)
	}
	return v
}

// only returns the one object of a kind whose name ends with suffix.
func only(t *testing.T, objs []object, kind, suffix string) object {
	t.Helper()
	var found []object
	for _, o := range objs {
		if o.Kind == kind && strings.HasSuffix(o.Metadata.Name, suffix) {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s named *%s, rendered %d", kind, suffix, len(found))
	}
	return found[0]
}

func count(objs []object, kind string) int {
	n := 0
	for _, o := range objs {
		if o.Kind == kind {
			n++
		}
	}
	return n
}

// TestChartLint: helm lint --strict passes on the defaults and with every
// optional part switched on.
func TestChartLint(t *testing.T) {
	for _, tc := range chartValueSets {
		t.Run(tc.name, func(t *testing.T) {
			if out, err := helmRun(t, append([]string{"lint", "--strict", chartDir(t)}, tc.args...)...); err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

var chartValueSets = []struct {
	name        string
	args        []string
	autoscaling bool
	ingress     bool
}{
	{name: "defaults", args: []string{"--set", "existingSecret=oais"}, autoscaling: true},
	{name: "everything on", ingress: true, args: []string{
		"--set", "existingSecret=oais",
		"--set", "redis.existingSecret=oais-redis",
		"--set", "gateway.autoscaling.enabled=false", "--set", "gateway.replicas=3",
		"--set", "gateway.name=eu-1",
		"--set", "config.drainTimeoutSeconds=50",
		"--set", "controlplane.terminationGracePeriodSeconds=70", "--set", "gateway.terminationGracePeriodSeconds=70",
		"--set", "config.upstreamBaseURL=https://api.openai.com/v1",
		"--set", "config.extraEnv.OAIS_ALLOW_SIGNUP=false",
		"--set", "ingress.enabled=true", "--set", "ingress.className=nginx",
		"--set", "ingress.controlplane.host=oais.example.com", "--set", "ingress.gateway.host=api.oais.example.com",
		"--set", "imagePullSecrets[0].name=regcred",
	}},
}

// TestChartInvariants renders the chart and asserts what a deployment must
// never lose: non-root pods on a read-only root with no capabilities, a grace
// period above the drain, a preStop pause, probes on /healthz and /readyz, a
// volume for each gateway's spool, migrations in a pre-install/pre-upgrade
// hook, and secrets reaching pods only by reference.
func TestChartInvariants(t *testing.T) {
	for _, tc := range chartValueSets {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, tc.args...)
			if n := count(objs, "Secret"); n != 0 {
				t.Errorf("the chart renders %d Secret(s): secrets are referenced, never written", n)
			}

			cp := decode[workload](t, only(t, objs, "Deployment", "-controlplane"))
			if cp.Spec.Replicas == nil || *cp.Spec.Replicas != 2 {
				t.Errorf("control plane replicas %v, want 2", cp.Spec.Replicas)
			}
			gwObj := only(t, objs, "StatefulSet", "-gateway")
			gw := decode[workload](t, gwObj)
			job := only(t, objs, "Job", "-migrate")

			for _, w := range []struct {
				name    string
				w       workload
				binary  string
				serving bool
			}{
				{"control plane", cp, "controlplane", true},
				{"gateway", gw, "gateway", true},
				{"migration job", decode[workload](t, job), "controlplane", false},
			} {
				t.Run(w.name, func(t *testing.T) {
					checkPod(t, w.w, w.binary, w.serving)
				})
			}

			// The spool lives on a claim per replica, mounted where OAIS_SPOOL_DIR points.
			if len(gw.Spec.VolumeClaimTemplates) != 1 {
				t.Fatalf("gateway StatefulSet has %d volumeClaimTemplates, want 1 (the spool)", len(gw.Spec.VolumeClaimTemplates))
			}
			claim := gw.Spec.VolumeClaimTemplates[0].Metadata.Name
			c := gw.Spec.Template.Spec.Containers[0]
			spool, ok := c.env("OAIS_SPOOL_DIR")
			if !ok {
				t.Fatal("gateway: OAIS_SPOOL_DIR is not set")
			}
			mounted := false
			for _, m := range c.VolumeMounts {
				if m.Name == claim && (spool == m.MountPath || strings.HasPrefix(spool, strings.TrimSuffix(m.MountPath, "/")+"/")) {
					mounted = true
				}
			}
			if !mounted {
				t.Errorf("gateway: OAIS_SPOOL_DIR=%s is not on the %q claim (mounts %+v)", spool, claim, c.VolumeMounts)
			}

			// Migrations run before any pod of a release, on install and upgrade.
			hook := job.Metadata.Annotations["helm.sh/hook"]
			if !strings.Contains(hook, "pre-install") || !strings.Contains(hook, "pre-upgrade") {
				t.Errorf("migration Job hook %q, want pre-install and pre-upgrade", hook)
			}
			jc := decode[workload](t, job).Spec.Template.Spec.Containers[0]
			if cmd := strings.Join(append(jc.Command, jc.Args...), " "); !strings.HasSuffix(cmd, "controlplane migrate up") {
				t.Errorf("migration Job runs %q, want controlplane migrate up", cmd)
			}

			// Services, PDBs and the HPA point at the right pods.
			for _, s := range []struct{ svc, w string }{{"-controlplane", "controlplane"}, {"-gateway", "gateway"}} {
				svc := decode[struct {
					Spec struct {
						Selector map[string]string `yaml:"selector"`
					} `yaml:"spec"`
				}](t, only(t, objs, "Service", s.svc))
				labels := map[string]workload{"controlplane": cp, "gateway": gw}[s.w].Spec.Template.Metadata.Labels
				if len(svc.Spec.Selector) == 0 || !subset(svc.Spec.Selector, labels) {
					t.Errorf("Service *%s selects %v, not the %s pods %v", s.svc, svc.Spec.Selector, s.w, labels)
				}
			}
			pdb := decode[workload](t, only(t, objs, "PodDisruptionBudget", "-gateway"))
			if !subset(pdb.Spec.Selector.MatchLabels, gw.Spec.Template.Metadata.Labels) || len(pdb.Spec.Selector.MatchLabels) == 0 {
				t.Errorf("gateway PDB selects %v, not the gateway pods", pdb.Spec.Selector.MatchLabels)
			}
			if tc.autoscaling {
				hpa := decode[struct {
					Spec struct {
						ScaleTargetRef struct{ Kind, Name string } `yaml:"scaleTargetRef"`
						MinReplicas    int                         `yaml:"minReplicas"`
					} `yaml:"spec"`
				}](t, only(t, objs, "HorizontalPodAutoscaler", "-gateway"))
				if hpa.Spec.ScaleTargetRef.Kind != "StatefulSet" || hpa.Spec.ScaleTargetRef.Name != gwObj.Metadata.Name {
					t.Errorf("HPA scales %+v, want the gateway StatefulSet %s", hpa.Spec.ScaleTargetRef, gwObj.Metadata.Name)
				}
				if gw.Spec.Replicas != nil {
					t.Errorf("with autoscaling the StatefulSet sets replicas %d: each upgrade would undo the HPA", *gw.Spec.Replicas)
				}
				if hpa.Spec.MinReplicas < 2 {
					t.Errorf("HPA minReplicas %d: one gateway leaves nothing to fail over to", hpa.Spec.MinReplicas)
				}
			} else if n := count(objs, "HorizontalPodAutoscaler"); n != 0 {
				t.Errorf("autoscaling off, yet %d HPA rendered", n)
			}
			if got := count(objs, "Ingress"); (got == 1) != tc.ingress {
				t.Errorf("%d Ingress rendered, want ingress=%v", got, tc.ingress)
			}
		})
	}
}

// userinfoPassword matches a URL that carries a password (scheme://user:pass@).
var userinfoPassword = regexp.MustCompile(`[a-z0-9+.-]+://[^/@\s]*:[^/@\s]+@`)

// checkPod asserts the invariants every pod of the chart keeps; serving
// pods (not the Job) also drain, pause before SIGTERM and have probes.
func checkPod(t *testing.T, w workload, binary string, serving bool) {
	t.Helper()
	p := w.Spec.Template.Spec
	if p.SecurityContext.RunAsNonRoot == nil || !*p.SecurityContext.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot is not true")
	}
	if p.SecurityContext.RunAsUser == nil || *p.SecurityContext.RunAsUser != 65532 {
		t.Errorf("pod runs as uid %v, want 65532", p.SecurityContext.RunAsUser)
	}
	if p.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod seccomp profile %q, want RuntimeDefault", p.SecurityContext.SeccompProfile.Type)
	}
	if p.HostNetwork {
		t.Error("pod uses the host network")
	}
	for _, v := range p.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s is a hostPath", v.Name)
		}
	}
	if len(p.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(p.Containers))
	}
	c := p.Containers[0]
	if len(c.Command) == 0 || filepath.Base(c.Command[0]) != binary {
		t.Errorf("container runs %v, want %s", c.Command, binary)
	}
	sc := c.SecurityContext
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("container securityContext.runAsNonRoot is not true")
	}
	if sc.Privileged || len(sc.Capabilities.Add) > 0 || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("capabilities %+v privileged=%v, want drop ALL and nothing added", sc.Capabilities, sc.Privileged)
	}

	// Secrets only by reference: a secret variable is a secretKeyRef, no
	// plain value carries a password in a URL, and nothing is imported whole.
	if len(c.EnvFrom) > 0 {
		t.Errorf("envFrom %v: each variable is named, so a pod gets only the secrets it needs", c.EnvFrom)
	}
	for _, e := range c.Env {
		if slices.Contains(secretVars, e.Name) {
			if e.Value != nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("%s is inlined, not read from a Secret", e.Name)
			}
		}
		if e.Value != nil && (userinfoPassword.MatchString(*e.Value) || strings.Contains(*e.Value, "sk-")) {
			t.Errorf("%s=%q carries a credential", e.Name, *e.Value)
		}
	}
	for _, want := range []string{"OAIS_DATABASE_URL", "OAIS_SECRETS_KEY"} {
		found := false
		for _, e := range c.Env {
			found = found || (e.Name == want && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil)
		}
		if !found {
			t.Errorf("%s is not read from the Secret", want)
		}
	}
	if !serving {
		return
	}

	// Shutdown: preStop pause, then SIGTERM and the drain, all inside the grace period.
	drainValue, ok := c.env("OAIS_DRAIN_TIMEOUT")
	if !ok {
		t.Fatal("OAIS_DRAIN_TIMEOUT is not set")
	}
	drain, err := time.ParseDuration(drainValue)
	if err != nil {
		t.Fatalf("OAIS_DRAIN_TIMEOUT=%q: %v", drainValue, err)
	}
	if c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 1 {
		t.Fatal("no preStop sleep: endpoints may still send requests after SIGTERM")
	}
	pause := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	if p.TerminationGracePeriodSeconds == nil {
		t.Fatal("terminationGracePeriodSeconds is not set (Kubernetes' default is 30 s)")
	}
	grace := time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
	if grace <= drain+pause {
		t.Errorf("terminationGracePeriodSeconds %v is not above preStop %v + OAIS_DRAIN_TIMEOUT %v", grace, pause, drain)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe %+v, want GET /healthz", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe %+v, want GET /readyz", c.ReadinessProbe)
	}
}

func subset(sub, of map[string]string) bool {
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return true
}

// TestChartRefuses: values that would deploy something broken, or write a
// secret into a manifest, stop the render with a message naming the value.
func TestChartRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no existingSecret", nil, "existingSecret is required"},
		{"grace not above drain + preStop", []string{"--set", "existingSecret=oais", "--set", "gateway.terminationGracePeriodSeconds=30"}, "gateway.terminationGracePeriodSeconds (30) must exceed"},
		{"drain raised alone", []string{"--set", "existingSecret=oais", "--set", "config.drainTimeoutSeconds=40"}, "must exceed config.drainTimeoutSeconds (40)"},
		{"no preStop pause", []string{"--set", "existingSecret=oais", "--set", "controlplane.preStopSleepSeconds=0"}, "controlplane.preStopSleepSeconds must be at least 1"},
		{"secret in extraEnv", []string{"--set", "existingSecret=oais", "--set", "gateway.extraEnv.OAIS_UPSTREAM_API_KEY=sk-live"}, "OAIS_UPSTREAM_API_KEY carries a secret"},
		{"ingress without a host", []string{"--set", "existingSecret=oais", "--set", "ingress.enabled=true"}, "ingress.enabled needs"},
		{"Kubernetes before 1.30", []string{"--set", "existingSecret=oais", "--kube-version", "1.29.9"}, "kubeVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := helmRun(t, append([]string{"template", "oais", chartDir(t), "--kube-version", minKube}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("helm template %v: err %v, want one containing %q", tc.args, err, tc.want)
			}
		})
	}
}
