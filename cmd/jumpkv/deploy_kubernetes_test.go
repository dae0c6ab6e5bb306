package main

// The Kubernetes manifests under deploy/kubernetes, checked without a
// cluster: every document decodes strictly into the real API types, and
// the container's args, after Kubernetes' $(VAR) expansion, parse with
// this binary's own flag parser, so that a renamed flag, a port changed on
// one side only or a probe on the wrong path fails here.

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// kubeDir holds the manifests, relative to this package.
const kubeDir = "../../deploy/kubernetes"

// handoffBound is how long a node may take to stop on SIGTERM: the
// handoff (leaveTimeout; the HTTP shutdown's 5s run alongside it), then
// closing the data directory, given 10s.
const handoffBound = leaveTimeout + 10*time.Second

// kustomization is the part of kustomize's Kustomization these manifests
// use; decoding it strictly refuses any other field.
type kustomization struct {
	APIVersion       string            `json:"apiVersion"`
	Kind             string            `json:"kind"`
	Namespace        string            `json:"namespace,omitempty"`
	Resources        []string          `json:"resources"`
	SecretGenerator  []secretGenerator `json:"secretGenerator,omitempty"`
	GeneratorOptions *struct {
		DisableNameSuffixHash bool `json:"disableNameSuffixHash,omitempty"`
	} `json:"generatorOptions,omitempty"`
}

type secretGenerator struct {
	Name     string   `json:"name"`
	Envs     []string `json:"envs,omitempty"`
	Files    []string `json:"files,omitempty"`
	Literals []string `json:"literals,omitempty"`
}

// kubeDeploy is the decoded deploy/kubernetes.
type kubeDeploy struct {
	kust      kustomization
	gitignore []string // lines of the directory's .gitignore
	sts       []*appsv1.StatefulSet
	services  []*corev1.Service
	pdbs      []*policyv1.PodDisruptionBudget
}

// clone returns a deep copy, for tests that break it.
func (d *kubeDeploy) clone() *kubeDeploy {
	c := &kubeDeploy{kust: d.kust, gitignore: slices.Clone(d.gitignore)}
	c.kust.Resources = slices.Clone(d.kust.Resources)
	c.kust.SecretGenerator = nil
	for _, g := range d.kust.SecretGenerator {
		g.Envs, g.Files, g.Literals = slices.Clone(g.Envs), slices.Clone(g.Files), slices.Clone(g.Literals)
		c.kust.SecretGenerator = append(c.kust.SecretGenerator, g)
	}
	for _, s := range d.sts {
		c.sts = append(c.sts, s.DeepCopy())
	}
	for _, s := range d.services {
		c.services = append(c.services, s.DeepCopy())
	}
	for _, p := range d.pdbs {
		c.pdbs = append(c.pdbs, p.DeepCopy())
	}
	return c
}

// loadKubeDeploy decodes kustomization.yaml and every resource it lists,
// strictly. It fails on a listed file that is missing, a YAML file of dir
// that is not listed, a document of a kind it does not know (a Secret
// among them: the secret comes from the generator) and any field the
// API types do not have.
func loadKubeDeploy(dir string) (*kubeDeploy, error) {
	d := &kubeDeploy{}
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		return nil, err
	}
	if err := yaml.UnmarshalStrict(raw, &d.kust); err != nil {
		return nil, fmt.Errorf("kustomization.yaml: %v", err)
	}
	if d.kust.APIVersion != "kustomize.config.k8s.io/v1beta1" || d.kust.Kind != "Kustomization" {
		return nil, fmt.Errorf("kustomization.yaml: apiVersion %q kind %q, want kustomize.config.k8s.io/v1beta1 Kustomization", d.kust.APIVersion, d.kust.Kind)
	}
	if gi, err := os.ReadFile(filepath.Join(dir, ".gitignore")); err == nil {
		for _, l := range strings.Split(string(gi), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				d.gitignore = append(d.gitignore, l)
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			return nil, fmt.Errorf("%s/: kustomize would not read it; keep the manifests in one directory", name)
		}
		ext := path.Ext(name)
		if (ext == ".yaml" || ext == ".yml") && name != "kustomization.yaml" && !slices.Contains(d.kust.Resources, name) {
			return nil, fmt.Errorf("%s is not listed in kustomization.yaml's resources: kubectl apply -k would leave it out", name)
		}
	}
	for _, r := range d.kust.Resources {
		if r != path.Base(r) {
			return nil, fmt.Errorf("resource %s: want a file of this directory", r)
		}
		raw, err := os.ReadFile(filepath.Join(dir, r))
		if err != nil {
			return nil, fmt.Errorf("resource %s of kustomization.yaml: %v", r, err)
		}
		for i, doc := range splitYAMLDocuments(raw) {
			if err := d.add(doc); err != nil {
				return nil, fmt.Errorf("%s, document %d: %v", r, i+1, err)
			}
		}
	}
	return d, nil
}

// splitYAMLDocuments splits a YAML stream at its "---" lines, dropping
// documents that hold only comments.
func splitYAMLDocuments(raw []byte) [][]byte {
	var docs [][]byte
	for _, doc := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(raw), -1) {
		for _, l := range strings.Split(doc, "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				docs = append(docs, []byte(doc))
				break
			}
		}
	}
	return docs
}

// add decodes one document strictly into the API type its apiVersion and
// kind name.
func (d *kubeDeploy) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var obj any
	switch gvk := tm.APIVersion + " " + tm.Kind; gvk {
	case "apps/v1 StatefulSet":
		s := &appsv1.StatefulSet{}
		d.sts, obj = append(d.sts, s), s
	case "v1 Service":
		s := &corev1.Service{}
		d.services, obj = append(d.services, s), s
	case "policy/v1 PodDisruptionBudget":
		p := &policyv1.PodDisruptionBudget{}
		d.pdbs, obj = append(d.pdbs, p), p
	case "v1 Secret":
		return fmt.Errorf("a Secret in the manifests: the cluster secret must come from kustomization.yaml's secretGenerator, out of git")
	default:
		return fmt.Errorf("unknown kind %q: this test knows StatefulSet, Service and PodDisruptionBudget (add the type here)", gvk)
	}
	return yaml.UnmarshalStrict(doc, obj)
}

// kubeExpand expands $(VAR) references in s as Kubernetes does in a
// container's args and env values: a defined VAR is replaced, an
// undefined one is left as written, and $$ is a literal $.
func kubeExpand(s string, vars map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			ref := s[i : i+3+end]
			if v, ok := vars[s[i+2:i+2+end]]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(ref)
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// testPod is what the checker plays a pod as.
type testPod struct{ name, ip, namespace string }

// testSecret stands for the cluster secret's value.
const testSecret = "0123456789abcdef0123456789abcdef"

// containerEnv returns the environment Kubernetes would give c in pod p
// (secrets read as testSecret), in order, each value expanded against
// the ones before it; and problems with how it is sourced.
func containerEnv(c *corev1.Container, p testPod) (env []string, vars map[string]string, errs []error) {
	vars = map[string]string{}
	for _, e := range c.Env {
		var v string
		switch src := e.ValueFrom; {
		case src == nil:
			v = kubeExpand(e.Value, vars)
		case src.FieldRef != nil:
			switch src.FieldRef.FieldPath {
			case "metadata.name":
				v = p.name
			case "metadata.namespace":
				v = p.namespace
			case "status.podIP":
				v = p.ip
			default:
				errs = append(errs, fmt.Errorf("env %s: field %s is not one this test plays", e.Name, src.FieldRef.FieldPath))
			}
		case src.SecretKeyRef != nil:
			v = testSecret
		default:
			errs = append(errs, fmt.Errorf("env %s: a source this test does not play", e.Name))
		}
		vars[e.Name] = v
		env = append(env, e.Name+"="+v)
	}
	return env, vars, errs
}

// portOf returns the port of a host:port listen address, or 0 if off.
func portOf(addr string) int32 {
	if addr == "" {
		return 0
	}
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		return -1
	}
	return int32(n)
}

// checkKubeDeploy returns every way d would not run this binary as a
// cluster; none means it would, as far as can be told without one.
func checkKubeDeploy(d *kubeDeploy) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if len(d.sts) != 1 {
		bad("want one StatefulSet, have %d", len(d.sts))
		return errs
	}
	sts := d.sts[0]
	spec := &sts.Spec
	pod := &spec.Template.Spec
	podLabels := labels.Set(spec.Template.Labels)
	if spec.Replicas == nil || *spec.Replicas < 3 {
		bad("StatefulSet replicas %v: want at least 3, for a majority to survive one lost node", spec.Replicas)
	}
	if spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		bad("podManagementPolicy %q: want Parallel (a node is ready only once in a cluster, so OrderedReady would never start the second pod)", spec.PodManagementPolicy)
	}
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err != nil || sel.Empty() || !sel.Matches(podLabels) {
		bad("StatefulSet selector %v does not match the pod labels %v", spec.Selector, podLabels)
	}

	// The container.
	var c *corev1.Container
	for i := range pod.Containers {
		if pod.Containers[i].Name == "jumpkv" {
			c = &pod.Containers[i]
		}
	}
	if c == nil {
		bad("no container named jumpkv")
		return errs
	}
	if len(c.Command) > 0 {
		bad("container command %q: leave it to the image's entrypoint (jumpkv node), which the args go to", c.Command)
	}
	if c.Image == "" {
		bad("container has no image")
	}

	// Its args, as each pod would run them.
	replicas := 3
	if spec.Replicas != nil {
		replicas = int(*spec.Replicas)
	}
	var f *nodeFlags
	var fsNode *flag.FlagSet
	ids := map[uint64]string{}
	for ord := range replicas {
		p := testPod{name: fmt.Sprintf("%s-%d", sts.Name, ord), ip: fmt.Sprintf("10.244.%d.7", ord+1), namespace: "jumpkv-test"}
		env, vars, envErrs := containerEnv(c, p)
		errs = append(errs, envErrs...)
		args := make([]string, len(c.Args))
		for i, a := range c.Args {
			args[i] = kubeExpand(a, vars)
		}
		fs, pf := newNodeFlags(io.Discard)
		if err := pf.parse(fs, args, env); err != nil {
			bad("pod %s: jumpkv node %q: %v", p.name, args, err)
			return errs
		}
		cfg, err := pf.config(slog.New(slog.DiscardHandler))
		if err != nil {
			bad("pod %s: jumpkv node %q: %v", p.name, args, err)
			return errs
		}
		id := uint64(cfg.ID)
		if other := ids[id]; other != "" {
			bad("pods %s and %s have the same node ID %d", other, p.name, id)
		}
		ids[id] = p.name
		if id != uint64(ord+1) {
			bad("pod %s: node ID %d, want its ordinal plus one (%d): nonzero, distinct and the same across restarts", p.name, id, ord+1)
		}
		if host, _, _ := net.SplitHostPort(cfg.PeerAddr); host != p.ip && !strings.HasPrefix(host, p.name+"."+spec.ServiceName) {
			bad("pod %s advertises peer address %s: other pods reach it at its IP (%s) or its name under %s", p.name, cfg.PeerAddr, p.ip, spec.ServiceName)
		}
		if pf.secret != testSecret {
			bad("pod %s: the cluster secret does not reach the node (--cluster-secret is %q)", p.name, pf.secret)
		}
		f, fsNode = pf, fs
	}
	if f == nil {
		return errs
	}
	set := map[string]bool{}
	fsNode.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["cluster-secret"] && slices.ContainsFunc(c.Args, func(a string) bool { return strings.Contains(a, "cluster-secret") }) {
		bad("--cluster-secret in the args: it shows in the process list; set JUMPKV_CLUSTER_SECRET from a Secret")
	}
	if f.insecurePeers {
		bad("--insecure-peers: the cluster secret protects the peer port")
	}

	// Env: what the binary reads, the secret from a Secret.
	read := map[string]bool{"GOMEMLIMIT": true, "GOGC": true}
	fsNode.VisitAll(func(fl *flag.Flag) { read[envName(fl.Name)] = true })
	referenced := map[string]bool{}
	for _, a := range append(slices.Clone(c.Args), envValues(c)...) {
		for _, m := range regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).FindAllStringSubmatch(a, -1) {
			referenced[m[1]] = true
		}
	}
	var secretEnv *corev1.EnvVar
	for i, e := range c.Env {
		if !read[e.Name] && !referenced[e.Name] {
			bad("env %s: jumpkv node does not read it and no arg refers to it", e.Name)
		}
		if e.Name == envName("cluster-secret") {
			secretEnv = &c.Env[i]
		}
	}
	if secretEnv == nil || secretEnv.ValueFrom == nil || secretEnv.ValueFrom.SecretKeyRef == nil {
		bad("env %s must come from a secretKeyRef", envName("cluster-secret"))
	} else {
		errs = append(errs, checkSecretSource(d, secretEnv.ValueFrom.SecretKeyRef)...)
	}
	if len(c.EnvFrom) > 0 {
		bad("envFrom: name each variable, so that this test sees what the node gets")
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		for _, s := range d.services {
			if prefix := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_")); strings.HasPrefix(prefix, "JUMPKV") {
				bad("enableServiceLinks is on: service %s would set %s_SERVICE_HOST and others, and the node reads JUMPKV_* as flags", s.Name, prefix)
				break
			}
		}
	}

	// Ports: the container's, the services' and the probes' are the ones
	// the flags listen on.
	httpPort, peerPort := portOf(f.http), portOf(f.peer)
	listening := map[int32]string{httpPort: "--http", peerPort: "--peer"}
	if p := portOf(f.redis); p != 0 {
		listening[p] = "--redis"
	}
	if p := portOf(f.ftp); p != 0 {
		listening[p] = "--ftp"
	}
	named := map[string]int32{}
	exposed := map[int32]bool{}
	for _, p := range c.Ports {
		if listening[p.ContainerPort] == "" {
			bad("container port %d (%s): the node listens on none such (%v)", p.ContainerPort, p.Name, listening)
		}
		named[p.Name], exposed[p.ContainerPort] = p.ContainerPort, true
	}
	for _, p := range []int32{httpPort, peerPort} {
		if !exposed[p] {
			bad("the container does not declare port %d (%s)", p, listening[p])
		}
	}
	resolve := func(port intstr.IntOrString) int32 {
		if port.Type == intstr.String {
			if n, ok := named[port.StrVal]; ok {
				return n
			}
			return -1
		}
		return port.IntVal
	}
	checkHTTPGet := func(what string, pr *corev1.Probe, path string) {
		switch {
		case pr == nil:
			bad("no %s probe", what)
		case pr.Exec != nil:
			bad("%s probe runs a command: the image has no shell or tools; use httpGet", what)
		case pr.HTTPGet == nil:
			bad("%s probe: want httpGet %s", what, path)
		case pr.HTTPGet.Path != path:
			bad("%s probe: httpGet %s, want %s", what, pr.HTTPGet.Path, path)
		case resolve(pr.HTTPGet.Port) != httpPort:
			bad("%s probe: port %s is not the --http port %d", what, pr.HTTPGet.Port.String(), httpPort)
		case (pr.HTTPGet.Scheme == corev1.URISchemeHTTPS) != (f.tlsCert != ""):
			bad("%s probe: scheme %q, but --tls-cert is %q", what, pr.HTTPGet.Scheme, f.tlsCert)
		}
	}
	checkHTTPGet("readiness", c.ReadinessProbe, "/readyz")
	checkHTTPGet("liveness", c.LivenessProbe, "/healthz")
	if c.StartupProbe != nil {
		checkHTTPGet("startup", c.StartupProbe, "/healthz")
	}
	if l := c.Lifecycle; l != nil && (l.PreStop != nil && l.PreStop.Exec != nil || l.PostStart != nil && l.PostStart.Exec != nil) {
		bad("a lifecycle hook runs a command: the image has no shell or tools")
	}

	// Services.
	var headless, client *corev1.Service
	for _, s := range d.services {
		if sel := labels.SelectorFromSet(s.Spec.Selector); len(s.Spec.Selector) == 0 || !sel.Matches(podLabels) {
			bad("service %s: selector %v does not match the pod labels %v", s.Name, s.Spec.Selector, podLabels)
		}
		for _, p := range s.Spec.Ports {
			target := p.TargetPort
			if target.Type == intstr.Int && target.IntVal == 0 {
				target = intstr.FromInt32(p.Port)
			}
			if n := resolve(target); listening[n] == "" || !exposed[n] {
				bad("service %s port %s: target %s is no port the container declares and the node listens on", s.Name, p.Name, target.String())
			}
		}
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			if s.Name == spec.ServiceName {
				headless = s
			}
		} else {
			client = s
		}
	}
	if headless == nil {
		bad("no headless service (clusterIP: None) named after the StatefulSet's serviceName %q", spec.ServiceName)
	} else {
		if !headless.Spec.PublishNotReadyAddresses {
			bad("headless service %s: publishNotReadyAddresses must be true (nodes are not ready before they are in a cluster, so they could never find each other)", headless.Name)
		}
		if !slices.ContainsFunc(headless.Spec.Ports, func(p corev1.ServicePort) bool { return resolve(p.TargetPort) == peerPort || p.Port == peerPort }) {
			bad("headless service %s does not carry the peer port %d", headless.Name, peerPort)
		}
	}
	if client == nil {
		bad("no client service (a ClusterIP one)")
	} else if !slices.ContainsFunc(client.Spec.Ports, func(p corev1.ServicePort) bool { return resolve(p.TargetPort) == httpPort }) {
		bad("client service %s does not carry the --http port %d", client.Name, httpPort)
	}
	if len(f.join) == 0 {
		bad("no --join: each pod would be a cluster of its own")
	}
	for _, j := range f.join {
		host, port, err := net.SplitHostPort(j)
		switch {
		case err != nil:
			bad("--join %s: want host:port", j)
		case port != strconv.Itoa(int(peerPort)):
			bad("--join %s: port %s is not the peer port %d", j, port, peerPort)
		case host != spec.ServiceName && !strings.HasPrefix(host, spec.ServiceName+".") && !strings.Contains(host, "."+spec.ServiceName):
			bad("--join %s: want the headless service %s (it names every pod, ready or not)", j, spec.ServiceName)
		}
	}

	// Disruptions and shutdown.
	if len(d.pdbs) != 1 {
		bad("want one PodDisruptionBudget, have %d", len(d.pdbs))
	}
	for _, p := range d.pdbs {
		if mu := p.Spec.MaxUnavailable; mu == nil || *mu != intstr.FromInt32(1) || p.Spec.MinAvailable != nil {
			bad("PodDisruptionBudget %s: want maxUnavailable 1 (and no minAvailable), have %v", p.Name, mu)
		}
		if sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector); err != nil || sel.Empty() || !sel.Matches(podLabels) {
			bad("PodDisruptionBudget %s: selector %v does not match the pod labels %v", p.Name, p.Spec.Selector, podLabels)
		}
	}
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second < handoffBound {
		bad("terminationGracePeriodSeconds %v: want at least %v, the node's handoff bound on SIGTERM", g, handoffBound)
	}

	// Data directory: on the pod's own claim.
	if f.dataDir == "" {
		bad("no --data-dir: a pod restarted would come back empty")
	} else {
		var mount *corev1.VolumeMount
		for i, m := range c.VolumeMounts {
			if path.Clean(m.MountPath) == path.Clean(f.dataDir) {
				mount = &c.VolumeMounts[i]
			}
		}
		if mount == nil {
			bad("--data-dir %s: no volume is mounted there", f.dataDir)
		} else if !slices.ContainsFunc(spec.VolumeClaimTemplates, func(p corev1.PersistentVolumeClaim) bool { return p.Name == mount.Name }) {
			bad("--data-dir %s: volume %s is not one of the volumeClaimTemplates (each pod needs its own, kept across restarts)", f.dataDir, mount.Name)
		}
	}

	// Memory: the node sizes its guard from the cgroup limit.
	if lim, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok || lim.IsZero() {
		bad("no memory limit: the node sizes --max-memory and its heap guard from it")
	} else if req, ok := c.Resources.Requests[corev1.ResourceMemory]; ok && req.Cmp(lim) > 0 {
		bad("memory request %s above the limit %s", req.String(), lim.String())
	}
	return errs
}

// envValues returns the literal values of c's env.
func envValues(c *corev1.Container) []string {
	var out []string
	for _, e := range c.Env {
		out = append(out, e.Value)
	}
	return out
}

// checkSecretSource checks that ref names the secret the kustomization
// generates from a file kept out of git.
func checkSecretSource(d *kubeDeploy, ref *corev1.SecretKeySelector) []error {
	for _, g := range d.kust.SecretGenerator {
		if g.Name != ref.Name {
			continue
		}
		var errs []error
		if len(g.Literals) > 0 {
			errs = append(errs, fmt.Errorf("secretGenerator %s: literals put the secret in git; read it from a file the user creates", g.Name))
		}
		for _, file := range append(slices.Clone(g.Envs), g.Files...) {
			if !slices.Contains(d.gitignore, file) {
				errs = append(errs, fmt.Errorf("secretGenerator %s reads %s, which .gitignore does not keep out of git", g.Name, file))
			}
		}
		if len(g.Envs)+len(g.Files) == 0 {
			errs = append(errs, fmt.Errorf("secretGenerator %s reads no file", g.Name))
		}
		return errs
	}
	return []error{fmt.Errorf("the cluster secret comes from Secret %s, which kustomization.yaml does not generate", ref.Name)}
}

func TestKubernetesManifests(t *testing.T) {
	d, err := loadKubeDeploy(kubeDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := range checkKubeDeploy(d) {
		t.Error(err)
	}
	// What the checker saw, so that a pass is not a pass over nothing.
	if len(d.sts) != 1 || len(d.services) != 2 || len(d.pdbs) != 1 {
		t.Fatalf("decoded %d StatefulSets, %d Services, %d PodDisruptionBudgets; want 1, 2, 1", len(d.sts), len(d.services), len(d.pdbs))
	}
}

// TestKubernetesManifestChecks breaks the manifests one way at a time and
// expects the checker to say so.
func TestKubernetesManifestChecks(t *testing.T) {
	good, err := loadKubeDeploy(kubeDir)
	if err != nil {
		t.Fatal(err)
	}
	container := func(d *kubeDeploy) *corev1.Container { return &d.sts[0].Spec.Template.Spec.Containers[0] }
	replaceArg := func(t *testing.T, d *kubeDeploy, prefix, with string) {
		args := container(d).Args
		i := slices.IndexFunc(args, func(a string) bool { return strings.HasPrefix(a, prefix) })
		if i < 0 {
			t.Fatalf("no arg starting with %s in %q", prefix, args)
		}
		args[i] = with
	}
	env := func(t *testing.T, d *kubeDeploy, name string) *corev1.EnvVar {
		for i, e := range container(d).Env {
			if e.Name == name {
				return &container(d).Env[i]
			}
		}
		t.Fatalf("no env %s", name)
		return nil
	}
	service := func(t *testing.T, d *kubeDeploy, headless bool) *corev1.Service {
		for _, s := range d.services {
			if (s.Spec.ClusterIP == corev1.ClusterIPNone) == headless {
				return s
			}
		}
		t.Fatalf("no service (headless %v)", headless)
		return nil
	}
	port := func(t *testing.T, d *kubeDeploy, name string) *corev1.ContainerPort {
		for i, p := range container(d).Ports {
			if p.Name == name {
				return &container(d).Ports[i]
			}
		}
		t.Fatalf("no container port %s", name)
		return nil
	}
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, d *kubeDeploy)
		want   string
	}{
		{"renamed flag", func(t *testing.T, d *kubeDeploy) { replaceArg(t, d, "--data-dir", "--datadir=/data") }, "unknown flag --datadir"},
		{"bad flag value", func(t *testing.T, d *kubeDeploy) { replaceArg(t, d, "--peer", "--peer=7070") }, "--peer"},
		{"no POD_NAME for $(POD_NAME)", func(t *testing.T, d *kubeDeploy) {
			c := container(d)
			c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_NAME" })
		}, "not expanded"},
		{"fixed --id", func(t *testing.T, d *kubeDeploy) { replaceArg(t, d, "--id", "--id=7") }, "same node ID 7"},
		{"one ordinal for all", func(t *testing.T, d *kubeDeploy) { replaceArg(t, d, "--id", "--id=ordinal:jumpkv-0") }, "same node ID 1"},
		{"ordinal off by a digit", func(t *testing.T, d *kubeDeploy) { replaceArg(t, d, "--id", "--id=ordinal:$(POD_NAME)0") }, "ordinal plus one"},
		{"ordinal from a name without one", func(t *testing.T, d *kubeDeploy) { replaceArg(t, d, "--id", "--id=ordinal:node-$(POD_IP)") }, "does not end in -<number>"},
		{"advertise loopback", func(t *testing.T, d *kubeDeploy) { replaceArg(t, d, "--advertise", "--advertise=127.0.0.1") }, "advertises peer address"},
		{"OrderedReady", func(t *testing.T, d *kubeDeploy) {
			d.sts[0].Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
		}, "Parallel"},
		{"maxUnavailable 2", func(t *testing.T, d *kubeDeploy) { v := intstr.FromInt32(2); d.pdbs[0].Spec.MaxUnavailable = &v }, "maxUnavailable 1"},
		{"PDB selects nothing", func(t *testing.T, d *kubeDeploy) {
			d.pdbs[0].Spec.Selector.MatchLabels = map[string]string{"app": "other"}
		}, "PodDisruptionBudget"},
		{"not publishing unready pods", func(t *testing.T, d *kubeDeploy) { service(t, d, true).Spec.PublishNotReadyAddresses = false }, "publishNotReadyAddresses"},
		{"client service selects nothing", func(t *testing.T, d *kubeDeploy) {
			service(t, d, false).Spec.Selector = map[string]string{"app": "other"}
		}, "does not match the pod labels"},
		{"readiness on /healthz", func(t *testing.T, d *kubeDeploy) { container(d).ReadinessProbe.HTTPGet.Path = "/healthz" }, "want /readyz"},
		{"liveness by exec", func(t *testing.T, d *kubeDeploy) {
			container(d).LivenessProbe.ProbeHandler = corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/jumpkv", "health"}}}
		}, "no shell"},
		{"probe on another port", func(t *testing.T, d *kubeDeploy) { container(d).LivenessProbe.HTTPGet.Port = intstr.FromInt32(9090) }, "not the --http port"},
		{"--http moved, container port not", func(t *testing.T, d *kubeDeploy) { replaceArg(t, d, "--http", "--http=:8081") }, "container port 8080"},
		{"container port moved", func(t *testing.T, d *kubeDeploy) { port(t, d, "peer").ContainerPort = 7071 }, "container port 7071"},
		{"service targets a stale port", func(t *testing.T, d *kubeDeploy) {
			service(t, d, false).Spec.Ports[0].TargetPort = intstr.FromInt32(80)
		}, "target 80"},
		{"join on the http port", func(t *testing.T, d *kubeDeploy) { replaceArg(t, d, "--join", "--join=jumpkv-peers:8080") }, "not the peer port"},
		{"join a ClusterIP name", func(t *testing.T, d *kubeDeploy) { replaceArg(t, d, "--join", "--join=jumpkv:7070") }, "headless service"},
		{"short grace period", func(t *testing.T, d *kubeDeploy) {
			g := int64(30)
			d.sts[0].Spec.Template.Spec.TerminationGracePeriodSeconds = &g
		}, "terminationGracePeriodSeconds"},
		{"data elsewhere", func(t *testing.T, d *kubeDeploy) { container(d).VolumeMounts[0].MountPath = "/var/lib/jumpkv" }, "no volume is mounted there"},
		{"secret as a literal", func(t *testing.T, d *kubeDeploy) {
			e := env(t, d, "JUMPKV_CLUSTER_SECRET")
			e.ValueFrom, e.Value = nil, testSecret
		}, "secretKeyRef"},
		{"secret in git", func(t *testing.T, d *kubeDeploy) { d.gitignore = nil }, ".gitignore"},
		{"secret as a flag", func(t *testing.T, d *kubeDeploy) {
			container(d).Args = append(container(d).Args, "--cluster-secret=$(JUMPKV_CLUSTER_SECRET)")
		}, "process list"},
		{"env the node does not read", func(t *testing.T, d *kubeDeploy) {
			container(d).Env = append(container(d).Env, corev1.EnvVar{Name: "JUMPKV_DATADIR", Value: "/data"})
		}, "JUMPKV_DATADIR"},
		{"service links", func(t *testing.T, d *kubeDeploy) { d.sts[0].Spec.Template.Spec.EnableServiceLinks = nil }, "enableServiceLinks"},
		{"no memory limit", func(t *testing.T, d *kubeDeploy) { delete(container(d).Resources.Limits, corev1.ResourceMemory) }, "memory limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := good.clone()
			tc.mutate(t, d)
			errs := checkKubeDeploy(d)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tc.want) }) {
				t.Errorf("want a problem saying %q, got %v", tc.want, errs)
			}
		})
	}
	if errs := checkKubeDeploy(good); len(errs) > 0 {
		t.Errorf("the clones changed the original: %v", errs)
	}
}

// TestKubernetesManifestLoading breaks the files themselves.
func TestKubernetesManifestLoading(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(t *testing.T, dir string)
		want   string
	}{
		{"unknown field", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, "poddisruptionbudget.yaml"), "  maxUnavailabel: 1\n")
		}, `unknown field "maxUnavailabel"`},
		{"unknown kind", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, "service-client.yaml"), "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
		}, `unknown kind "v1 ConfigMap"`},
		{"a Secret", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, "service-client.yaml"), "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: x\n")
		}, "secretGenerator"},
		{"file not listed", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "extra.yaml"), "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\n")
		}, "extra.yaml is not listed"},
		{"listed file missing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "poddisruptionbudget.yaml")); err != nil {
				t.Fatal(err)
			}
		}, "poddisruptionbudget.yaml of kustomization.yaml"},
		{"unknown kustomization field", func(t *testing.T, dir string) {
			appendFile(t, filepath.Join(dir, "kustomization.yaml"), "commonLabel:\n  a: b\n")
		}, `unknown field "commonLabel"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyKubeDir(t)
			if _, err := loadKubeDeploy(dir); err != nil {
				t.Fatalf("the copy does not load: %v", err)
			}
			tc.mutate(t, dir)
			_, err := loadKubeDeploy(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want an error saying %q, got %v", tc.want, err)
			}
		})
	}
}

// TestKubernetesKustomizeRenders runs kubectl's own kustomize on a copy
// of the manifests: it refuses to render without the secret's file (so
// that nobody runs on a secret from git), and with one it renders the
// resources and the Secret the StatefulSet refers to.
func TestKubernetesKustomizeRenders(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed: the manifests are checked against the API types only")
	}
	dir := copyKubeDir(t)
	out, err := exec.Command(kubectl, "kustomize", dir).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cluster-secret.env") {
		t.Fatalf("kubectl kustomize without cluster-secret.env: %v, %s; want it refused, naming the file", err, out)
	}
	writeFile(t, filepath.Join(dir, "cluster-secret.env"), "JUMPKV_CLUSTER_SECRET="+testSecret+"\n")
	out, err = exec.Command(kubectl, "kustomize", dir).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize: %v", err)
	}
	var secrets []string
	rendered := &kubeDeploy{}
	for _, doc := range splitYAMLDocuments(out) {
		var s corev1.Secret
		if err := yaml.Unmarshal(doc, &s); err == nil && s.Kind == "Secret" {
			if string(s.Data["JUMPKV_CLUSTER_SECRET"]) != testSecret {
				t.Errorf("secret %s holds %q", s.Name, s.Data)
			}
			secrets = append(secrets, s.Name)
			continue
		}
		if err := rendered.add(doc); err != nil {
			t.Fatalf("rendered: %v\n%s", err, doc)
		}
	}
	if len(rendered.sts) != 1 || len(rendered.services) != 2 || len(rendered.pdbs) != 1 || len(secrets) != 1 {
		t.Fatalf("rendered %d StatefulSets, %d Services, %d PodDisruptionBudgets, secrets %v; want 1, 2, 1, one", len(rendered.sts), len(rendered.services), len(rendered.pdbs), secrets)
	}
	for _, e := range rendered.sts[0].Spec.Template.Spec.Containers[0].Env {
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil && ref.SecretKeyRef.Name != secrets[0] {
			t.Errorf("env %s refers to secret %s; kustomize generated %s", e.Name, ref.SecretKeyRef.Name, secrets[0])
		}
	}
}

// copyKubeDir copies the manifests' directory into a temporary one.
func copyKubeDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(kubeDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "cluster-secret.env" {
			continue // a secret made on this machine
		}
		raw, err := os.ReadFile(filepath.Join(kubeDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, e.Name()), string(raw))
	}
	return dir
}

func TestKubeExpand(t *testing.T) {
	vars := map[string]string{"POD_NAME": "jumpkv-2", "EMPTY": ""}
	for in, want := range map[string]string{
		"--id=ordinal:$(POD_NAME)": "--id=ordinal:jumpkv-2",
		"$(POD_NAME)$(POD_NAME)":   "jumpkv-2jumpkv-2",
		"$(UNSET)":                 "$(UNSET)",
		"$$(POD_NAME)":             "$(POD_NAME)",
		"a$$b":                     "a$b",
		"cost $5":                  "cost $5",
		"$(EMPTY)x":                "x",
		"$(POD_NAME":               "$(POD_NAME",
		"end$":                     "end$",
	} {
		if got := kubeExpand(in, vars); got != want {
			t.Errorf("kubeExpand(%q) = %q, want %q", in, got, want)
		}
	}
}

func appendFile(t *testing.T, name, text string) {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, name, string(bytes.TrimRight(raw, "\n"))+"\n"+text)
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
