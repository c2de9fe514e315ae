package main

// --mode bench (issue 18, "Performance at the floor"): the production plugin binary against a Go
// plugin on Velero's framework doing the same rule work, both reached through Velero's own plugin
// client (clientmgmt: registry, manager, restartable RestoreItemActionV2), against this real control
// plane, in a restore that has resource modifiers and FSB pods. tests/bench/prod.sh runs it;
// tests/bench/PROD.md says what is measured.
//
// Setup: two Deployments run in a source namespace and the real controllers create their
// ReplicaSets and pods; those live objects are captured as the backup ("ledger" holds FSB data: a
// PodVolumeBackup for its pod's volume; "frontend" holds none), the driver serves the tarball behind
// BackupContents DownloadRequests (answered from a watch, as Velero's controller does), and the
// restore's resource-modifier ConfigMap holds benchRules (the Go plugin reads the same text from
// FSB_GOPLUGIN_RULES).
//
// Measured:
//   - steady state: Execute p50/p99 per item kind for both plugins, one process each for one
//     restore, rounds interleaved (each round times every kind on both plugins, the plugin order
//     alternating by round) so both share the machine's noise;
//   - the first item of a restore: a fresh process of our plugin, a new Restore (new UID), its first
//     Execute (the FSB pod) — which reads the settings and rules ConfigMaps, lists the
//     PodVolumeBackups, creates a DownloadRequest, waits for its URL, downloads and indexes the
//     backup and computes the plan — with the plugin's `restore inputs read` debug line as the
//     breakdown when the plugin prints one.
//
// Nothing about timing is asserted. The answers are: both plugins' answers are checked against
// what each must answer (ours: the FSB pod and the ReplicaSet corrected, the other pod and the
// Deployment unchanged, the live ReplicaSet not patched again; Go: the rules applied, as the
// driver's own applier computes them), and every timed answer must equal the checked one, so the
// bench cannot measure a no-op.

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt/process"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	riav2 "github.com/vmware-tanzu/velero/pkg/plugin/velero/restoreitemaction/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// benchOptions are the bench mode's own flags (registered by benchFlags).
type benchOptions struct {
	goPluginDir   string
	iterations    int
	warmup        int
	firstRuns     int
	out           string
	steadyLogLvl  string
	firstLogLevel string
	urlDelay      time.Duration
	guardMode     string
}

var benchOpts benchOptions

// benchFlags registers the bench mode's flags on the driver's flag set.
func benchFlags(fs *flag.FlagSet) {
	fs.StringVar(&benchOpts.goPluginDir, "go-plugin-dir", "", "bench: plugin directory holding only the Go reference plugin (tests/conformance/goplugin); --plugin-dir holds only ours")
	fs.IntVar(&benchOpts.iterations, "iterations", 300, "bench: timed Execute calls per item kind and plugin")
	fs.IntVar(&benchOpts.warmup, "warmup", 30, "bench: untimed Execute calls per item kind and plugin before timing")
	fs.IntVar(&benchOpts.firstRuns, "first-runs", 5, "bench: fresh processes (new restore each) timing the first Execute of a restore")
	fs.StringVar(&benchOpts.out, "out", "", "bench: JSON file to write the figures to")
	fs.StringVar(&benchOpts.steadyLogLvl, "bench-log-level", "warning", "bench: --log-level the plugins get in the steady-state sessions (warning: neither side writes a line per item)")
	fs.DurationVar(&benchOpts.urlDelay, "url-delay", 10*time.Millisecond, "bench: how long after the watch delivers a DownloadRequest the driver publishes its URL (Velero's controller reconciles, asks the object-store plugin and presigns first)")
	fs.StringVar(&benchOpts.guardMode, "guard-mode", "", "bench: annotate the restores fsb-guard.io/mode=<value> (off or dry-run: our plugin then answers items unchanged and the bench must fail: a check of its checks)")
	fs.StringVar(&benchOpts.firstLogLevel, "first-log-level", "debug", "bench: --log-level our plugin gets in the first-item processes (debug: it prints the `restore inputs read` breakdown)")
}

const (
	benchFSBDeploy   = "ledger"   // its pod holds FSB data
	benchPlainDeploy = "frontend" // its pod holds none
	ourPluginName    = "fsb-guard.io/template-guard"
	breakdownMessage = "restore inputs read"
	downloadMessage  = "backup contents downloaded and indexed"
)

// benchKinds are the four items timed, in Velero's restore order.
var benchKinds = []string{"pod-no-fsb", "pod-fsb", "replicaset", "deployment"}

// benchBreakdownFields are the integer fields of the plugin's `restore inputs read` line.
var benchBreakdownFields = []string{"settings_ms", "rules_ms", "pvbs_ms", "download_url_ms", "download_index_ms"}

// benchRules: the ledger Deployment's template gets node affinity, a toleration and a new image
// (the change that triggers the guard), frontend's a new image; every workload object gets a label
// (so the Go side applies a rule to the ReplicaSet too), every pod another (a rule that selects
// the pods as well, which our plugin runs on its corrected pod). JSON and merge patches only: the
// driver's applier (modifiers.go) computes what the Go plugin must answer.
const benchRules = `version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^ledger$"
    namespaces:
    - shop
  patches:
  - operation: add
    path: "/spec/template/spec/affinity"
    value: '{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["zone-b"]}]}]}}}'
  - operation: add
    path: "/spec/template/spec/tolerations"
    value: '[{"key":"dedicated","operator":"Equal","value":"restore","effect":"NoSchedule"}]'
  - operation: replace
    path: "/spec/template/spec/containers/0/image"
    value: "registry.example/shop/ledger:2.0"
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^frontend$"
  patches:
  - operation: replace
    path: "/spec/template/spec/containers/0/image"
    value: "registry.example/shop/frontend:2.0"
- conditions:
    groupResource: "*.apps"
    namespaces:
    - shop
  patches:
  - operation: add
    path: "/metadata/labels/restored-by"
    value: "velero"
- conditions:
    groupResource: pods
    namespaces:
    - shop
  mergePatches:
  - patchData: |
      metadata:
        labels:
          restore-batch: nightly
`

// benchTemplate is a realistic pod template: the app (env, resources, probes, the data volume when
// fsb) and a metrics sidecar.
func benchTemplate(app string, fsb bool) map[string]interface{} {
	env := []interface{}{}
	for i := 0; i < 12; i++ {
		env = append(env, map[string]interface{}{"name": fmt.Sprintf("%s_SETTING_%02d", strings.ToUpper(app), i),
			"value": fmt.Sprintf("value-%02d-%s", i, strings.Repeat("x", 20))})
	}
	appC := map[string]interface{}{
		"name": "app", "image": "registry.example/shop/" + app + ":1.0",
		"ports": []interface{}{map[string]interface{}{"name": "http", "containerPort": int64(8080)}},
		"env":   env,
		"resources": map[string]interface{}{"requests": map[string]interface{}{"cpu": "100m", "memory": "128Mi"},
			"limits": map[string]interface{}{"memory": "256Mi"}},
		"readinessProbe": map[string]interface{}{"httpGet": map[string]interface{}{"path": "/healthz", "port": "http"},
			"periodSeconds": int64(5)},
	}
	spec := map[string]interface{}{
		"containers": []interface{}{appC, map[string]interface{}{
			"name": "metrics", "image": "registry.example/exporter:0.9",
			"ports": []interface{}{map[string]interface{}{"name": "metrics", "containerPort": int64(9100)}},
		}},
	}
	if fsb {
		appC["volumeMounts"] = []interface{}{map[string]interface{}{"name": "data", "mountPath": "/var/lib/" + app}}
		spec["volumes"] = []interface{}{map[string]interface{}{"name": "data", "emptyDir": map[string]interface{}{}}}
	}
	return map[string]interface{}{"metadata": map[string]interface{}{"labels": map[string]interface{}{"app": app}}, "spec": spec}
}

// benchCapture runs the two Deployments in srcNS and captures them, their ReplicaSets and pods as
// the backup holds them (namespace "shop").
func benchCapture(ctx context.Context, c clients, srcNS string) (items []*unstructured.Unstructured, fsbPod string, err error) {
	if err := ensureNamespace(ctx, c, srcNS); err != nil {
		return nil, "", err
	}
	for _, app := range []string{benchFSBDeploy, benchPlainDeploy} {
		dep := map[string]interface{}{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]interface{}{"name": app, "namespace": srcNS, "labels": map[string]interface{}{"app": app}},
			"spec": map[string]interface{}{
				"replicas": int64(1),
				"selector": map[string]interface{}{"matchLabels": map[string]interface{}{"app": app}},
				"template": benchTemplate(app, app == benchFSBDeploy),
			},
		}
		if _, err := createUnstructured(ctx, c, gvrDeployments, srcNS, dep); err != nil {
			return nil, "", err
		}
	}
	for _, app := range []string{benchFSBDeploy, benchPlainDeploy} {
		var rs, pods []unstructured.Unstructured
		var dep *unstructured.Unstructured
		// Until the controllers are done: one ReplicaSet, one pod, the Deployment's and the
		// ReplicaSet's status written (so the captured items are the same from run to run).
		err := waitFor("the "+app+" ReplicaSet, pod and Deployment status", func() (bool, error) {
			l, err := c.dyn.Resource(gvrReplicaSets).Namespace(srcNS).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
			if err != nil {
				return false, err
			}
			rs = l.Items
			if pods, err = listIn(ctx, c, "Pod", srcNS, "app="+app); err != nil {
				return false, err
			}
			if dep, err = c.dyn.Resource(gvrDeployments).Namespace(srcNS).Get(ctx, app, metav1.GetOptions{}); err != nil {
				return false, err
			}
			observed, _, _ := unstructured.NestedInt64(dep.Object, "status", "observedGeneration")
			replicas, _, _ := unstructured.NestedInt64(dep.Object, "status", "replicas")
			if len(rs) != 1 || len(pods) != 1 {
				return false, nil
			}
			rsReplicas, _, _ := unstructured.NestedInt64(rs[0].Object, "status", "replicas")
			return observed >= 1 && replicas == 1 && rsReplicas == 1, nil
		})
		if err != nil {
			return nil, "", err
		}
		items = append(items, asBackedUp(*dep), asBackedUp(rs[0]), backedUpPod(pods[0], "source-node-1"))
		if app == benchFSBDeploy {
			fsbPod = pods[0].GetName()
		}
	}
	return items, fsbPod, nil
}

// benchItem is one timed item: what Velero hands the plugins for it.
type benchItem struct {
	kind       string
	gvr        schema.GroupVersionResource
	fromBackup *unstructured.Unstructured
	bytes      int
}

// input builds the Execute input as Velero does for the restore: metadata reset and status
// removed, for pods velero.io/pod and velero.io/pod-volume-restore (restore-wait for FSB volumes).
func (it benchItem) input(restore *velerov1.Restore, fsbVolumes map[string][]string) *velero.RestoreItemActionExecuteInput {
	obj := it.fromBackup.DeepCopy()
	resetMetadataAndStatus(obj)
	if it.gvr == gvrPods {
		podAction(obj)
		prependRestoreWait(obj, string(restore.UID), "velero/velero:v1.18.3", fsbVolumes[obj.GetName()])
	}
	return &velero.RestoreItemActionExecuteInput{Item: obj, ItemFromBackup: it.fromBackup.DeepCopy(), Restore: restore}
}

// benchEnv is everything one bench run restores from.
type benchEnv struct {
	c          clients
	o          options
	backupName string
	cmName     string
	targetNS   string
	items      map[string]benchItem
	fsbVolumes map[string][]string
	rules      *modifierRules
	correction *referenceCorrection
	restoreSeq int
	rulesFile  string
}

// newRestore creates a Restore of the backup (a new UID) with the rules ConfigMap as its resource
// modifiers, mapping "shop" to the target namespace.
func (e *benchEnv) newRestore(ctx context.Context, what string) (*velerov1.Restore, error) {
	e.restoreSeq++
	name := fmt.Sprintf("rs-bench-%s-%d-%s", what, e.restoreSeq, e.o.runID)
	meta := map[string]interface{}{"name": name, "namespace": veleroNamespace}
	if benchOpts.guardMode != "" {
		meta["annotations"] = map[string]interface{}{"fsb-guard.io/mode": benchOpts.guardMode}
	}
	return createRestore(ctx, e.c, meta, map[string]interface{}{
		"backupName":       e.backupName,
		"namespaceMapping": map[string]interface{}{sourceNamespace: e.targetNS},
		"resourceModifier": map[string]interface{}{"kind": "ConfigMap", "name": e.cmName},
	})
}

// openBenchPlugins is openPlugins with the --log-level the plugin processes get as a parameter.
func openBenchPlugins(dir, level string, log logrus.FieldLogger) (*pluginSession, error) {
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, err
	}
	saved := os.Args
	os.Args = []string{saved[0], "server", "--uploader-type=kopia", "--log-level", level}
	defer func() { os.Args = saved }()
	reg := process.NewRegistry(dir, log, lvl)
	if err := reg.DiscoverPlugins(); err != nil {
		return nil, fmt.Errorf("discover plugins in %s: %w", dir, err)
	}
	m := clientmgmt.NewManager(log, lvl, reg)
	actions, err := m.GetRestoreItemActionsV2()
	if err != nil {
		m.CleanupClients()
		return nil, fmt.Errorf("start restore item actions: %w", err)
	}
	return &pluginSession{manager: m, actions: actions}, nil
}

// benchSession is one plugin process serving one restore.
type benchSession struct {
	label   string
	plugins *pluginSession
	action  riav2.RestoreItemAction
	log     *logCapture
	restore *velerov1.Restore
}

// openBenchSession opens the plugins in dir at log level `level` for `restore`, their lines on
// stderr (µs timestamps) and in the returned capture.
func openBenchSession(label, dir, level string, restore *velerov1.Restore) (*pluginSession, *logCapture, error) {
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, nil, err
	}
	capture := &logCapture{}
	log := logrus.New()
	log.SetLevel(lvl)
	log.SetOutput(os.Stderr)
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "15:04:05.000000"})
	log.AddHook(capture)
	p, err := openBenchPlugins(dir, level, log.WithField("restore", veleroNamespace+"/"+restore.Name).WithField("bench", label))
	return p, capture, err
}

func (e *benchEnv) openSession(label, dir, level string, restore *velerov1.Restore) (*benchSession, error) {
	p, capture, err := openBenchSession(label, dir, level, restore)
	if err != nil {
		return nil, err
	}
	ext := p.external()
	if len(ext) != 1 {
		p.close()
		return nil, fmt.Errorf("%s: want exactly one RestoreItemAction in %s besides Velero's, found %v", label, dir, ext)
	}
	s := &benchSession{label: label, plugins: p, log: capture, restore: restore}
	for _, a := range p.actions {
		if a.Name() == ext[0] {
			s.action = a
		}
	}
	if label == "ours" && ext[0] != ourPluginName {
		p.close()
		return nil, fmt.Errorf("ours: the plugin in %s is %q, not %s", dir, ext[0], ourPluginName)
	}
	sel, err := s.action.AppliesTo()
	if err != nil {
		p.close()
		return nil, fmt.Errorf("%s AppliesTo: %w", label, err)
	}
	for _, k := range benchKinds {
		it := e.items[k]
		if !applies(sel, it.gvr.Resource, it.gvr.Group, it.fromBackup.GetKind(), sourceNamespace, it.fromBackup.GetLabels()) {
			p.close()
			return nil, fmt.Errorf("%s (%s) does not apply to %s", label, ext[0], k)
		}
	}
	return s, nil
}

func (s *benchSession) close() { s.plugins.close() }

// execute calls Execute once and times it (the call only: the input is built before).
func (s *benchSession) execute(e *benchEnv, kind string) (*unstructured.Unstructured, time.Duration, error) {
	in := e.items[kind].input(s.restore, e.fsbVolumes)
	start := time.Now()
	out, err := s.action.Execute(in)
	d := time.Since(start)
	if err != nil {
		return nil, d, fmt.Errorf("%s Execute %s: %w", s.label, kind, err)
	}
	if out.SkipRestore {
		return nil, d, fmt.Errorf("%s Execute %s: skipRestore", s.label, kind)
	}
	if u, ok := out.UpdatedItem.(*unstructured.Unstructured); ok {
		return u, d, nil
	}
	return &unstructured.Unstructured{Object: out.UpdatedItem.UnstructuredContent()}, d, nil
}

// canonical is the item as sorted JSON (numbers as JSON numbers), for exact comparisons.
func canonical(obj map[string]interface{}) string {
	raw, _ := json.Marshal(obj)
	var v interface{}
	_ = json.Unmarshal(raw, &v)
	raw, _ = json.Marshal(v)
	return string(raw)
}

// checkOurs says what is wrong with our plugin's answer for kind, "" when it is what it must be.
func (e *benchEnv) checkOurs(kind string, in, out *unstructured.Unstructured) string {
	changed := canonical(in.Object) != canonical(out.Object)
	switch kind {
	case "pod-no-fsb":
		if changed {
			return "changed a pod without FSB data"
		}
	case "pod-fsb":
		if !changed {
			return "left the FSB pod as given (not corrected)"
		}
		if err := checkCarriesIntent(out, e.correction.podPatch); err != nil {
			return err.Error()
		}
		if out.GetName() != in.GetName() {
			return "renamed the pod"
		}
		inits, _, _ := unstructured.NestedSlice(out.Object, "spec", "initContainers")
		if len(inits) == 0 || inits[0].(map[string]interface{})["name"] != "restore-wait" {
			return "restore-wait is not the first init container"
		}
	case "replicaset":
		if !changed {
			return "left the ReplicaSet as given (not corrected)"
		}
		t, _, _ := unstructured.NestedMap(out.Object, "spec", "template")
		same, err := semanticallyEqualTemplates(t, e.correction.tPrime)
		if err != nil {
			return err.Error()
		}
		if !same {
			return "the ReplicaSet's template is not T'"
		}
	case "deployment":
		if changed {
			return "changed the Deployment (it must only verify)"
		}
	}
	return ""
}

// checkGo says what is wrong with the Go plugin's answer: it must be the item with the rules
// applied (as the driver's applier applies them); every kind has a matching rule, so it must also
// differ from the item as given.
func (e *benchEnv) checkGo(kind string, in, out *unstructured.Unstructured) string {
	want := in.DeepCopy()
	applied, errs := e.rules.apply(want, groupResource(e.items[kind].gvr))
	if len(errs) > 0 {
		return fmt.Sprintf("the driver's applier failed: %v", errs)
	}
	if len(applied) == 0 {
		return "no rule matches this item (the bench's rules must give the Go side work for every kind)"
	}
	if canonical(out.Object) == canonical(in.Object) {
		return "answered the item as given (rules not applied)"
	}
	if canonical(out.Object) != canonical(want.Object) {
		return "answer differs from the item with the rules applied"
	}
	return ""
}

type benchLatency struct {
	Bytes      int     `json:"item_bytes"`
	Iterations int     `json:"iterations"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	MeanUs     float64 `json:"mean_us"`
	MinUs      float64 `json:"min_us"`
}

type benchKindResult struct {
	Ours     benchLatency `json:"ours"`
	Go       benchLatency `json:"go"`
	RatioP50 float64      `json:"ratio_p50"`
	RatioP99 float64      `json:"ratio_p99"`
}

type benchFirstRun struct {
	Restore      string         `json:"restore"`
	FirstMs      float64        `json:"first_execute_ms"`
	SecondUs     float64        `json:"second_execute_us"`
	GoFirstMs    float64        `json:"go_first_execute_ms"`
	Breakdown    map[string]int `json:"breakdown_ms,omitempty"`
	BreakdownRaw string         `json:"breakdown_line,omitempty"`
}

type benchReport struct {
	KubernetesVersion string                     `json:"kubernetes_version"`
	Iterations        int                        `json:"iterations"`
	Warmup            int                        `json:"warmup"`
	SteadyLogLevel    string                     `json:"steady_log_level"`
	FirstLogLevel     string                     `json:"first_item_log_level"`
	URLDelayMs        float64                    `json:"download_url_delay_ms"`
	Kinds             map[string]benchKindResult `json:"kinds"`
	P50Ratio          float64                    `json:"prod_execute_p50_ratio"`
	WorstKind         string                     `json:"worst_kind"`
	SteadySessionMs   float64                    `json:"steady_session_first_execute_ms"`
	FirstRuns         []benchFirstRun            `json:"first_item_runs"`
	FirstItemMs       float64                    `json:"first_item_ms_median"`
	SteadyP50us       float64                    `json:"steady_p50_us"`
	FirstOverSteady   float64                    `json:"first_over_steady"`
	GoFirstItemMs     float64                    `json:"go_first_item_ms_median"`
	Breakdown         map[string]float64         `json:"breakdown_ms_median,omitempty"`
	BreakdownStatus   string                     `json:"breakdown"`
	BreakdownMissing  []string                   `json:"breakdown_missing,omitempty"`
	BackupDownloads   int                        `json:"backup_downloads"`
	LiveRSGeneration  [2]int64                   `json:"live_replicaset_generation_before_after"`
	LoadAvg           string                     `json:"loadavg_after"`
	Seconds           float64                    `json:"seconds"`
}

func percentileUs(ds []time.Duration, p float64) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[int(p*float64(len(s)-1))].Nanoseconds()) / 1e3
}

func latencyOf(ds []time.Duration, bytes int) benchLatency {
	var sum time.Duration
	min := ds[0]
	for _, d := range ds {
		sum += d
		if d < min {
			min = d
		}
	}
	return benchLatency{Bytes: bytes, Iterations: len(ds), P50us: percentileUs(ds, 0.50), P99us: percentileUs(ds, 0.99),
		MeanUs: float64(sum.Nanoseconds()) / 1e3 / float64(len(ds)), MinUs: float64(min.Nanoseconds()) / 1e3}
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// breakdownOf parses the plugin's two debug lines on its first item's inputs, `restore inputs
// read` (settings, rules, PodVolumeBackups, the whole backup read) and `backup contents downloaded
// and indexed` (the wait for the DownloadRequest's URL, the transfer and index): the named fields
// (benchBreakdownFields) and any other numeric field ending in "_ms", merged; nil when there is no
// such line or none has them.
func breakdownOf(lc *logCapture) (map[string]int, string) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	out := map[string]int{}
	var lines []string
	for _, en := range lc.entries {
		if !strings.Contains(en.message, breakdownMessage) && !strings.Contains(en.message, downloadMessage) {
			continue
		}
		lines = append(lines, en.line())
		for f, v := range en.fields {
			if !strings.HasSuffix(f, "_ms") {
				continue
			}
			if n, err := strconv.ParseFloat(v, 64); err == nil {
				out[f] = int(math.Round(n))
			}
		}
	}
	if len(out) == 0 {
		return nil, strings.Join(lines, "\n")
	}
	return out, strings.Join(lines, "\n")
}

// breakdownOrder is the named fields first, then the others by name.
func breakdownOrder(m map[string]float64) []string {
	var out, extra []string
	for _, f := range benchBreakdownFields {
		if _, ok := m[f]; ok {
			out = append(out, f)
		}
	}
	for f := range m {
		if !contains(benchBreakdownFields, f) {
			extra = append(extra, f)
		}
	}
	sort.Strings(extra)
	return append(out, extra...)
}

// answerDownloadRequestsWatching answers BackupContents DownloadRequests as soon as the watch
// delivers them (Velero's controller is watch-driven too), so the plugin's wait for its URL is not
// a polling interval of the driver's.
func (s *backupStore) answerDownloadRequestsWatching(ctx context.Context, c clients, delay time.Duration) {
	res := c.dyn.Resource(gvrDownloadRequests).Namespace(veleroNamespace)
	answer := func(dr *unstructured.Unstructured) {
		name, ok := s.toAnswer(dr)
		if !ok {
			return
		}
		time.Sleep(delay)
		_ = unstructured.SetNestedField(dr.Object, map[string]interface{}{
			"phase":       "Processed",
			"downloadURL": s.base + "/backups/" + name + ".tar.gz",
			"expiration":  time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339),
		}, "status")
		if _, err := res.Update(ctx, dr, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
			fmt.Fprintf(os.Stderr, "driver: answering DownloadRequest %s: %v\n", dr.GetName(), err)
		}
	}
	for ctx.Err() == nil {
		list, err := res.List(ctx, metav1.ListOptions{})
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for i := range list.Items {
			answer(&list.Items[i])
		}
		w, err := res.Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		for ev := range w.ResultChan() {
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			if u, ok := ev.Object.(*unstructured.Unstructured); ok {
				answer(u)
			}
		}
		w.Stop()
	}
}

func runBench(ctx context.Context, c clients, o options) error {
	began := time.Now()
	bo := benchOpts
	if o.pluginDir == "" || bo.goPluginDir == "" {
		return fmt.Errorf("bench: --plugin-dir (ours) and --go-plugin-dir (the Go reference) are both needed")
	}
	if bo.iterations < 1 || bo.firstRuns < 1 || bo.warmup < 0 {
		return fmt.Errorf("bench: --iterations and --first-runs must be positive, --warmup not negative")
	}
	// Velero's real built-ins would start with every session; the driver's emulation of
	// velero.io/pod and pod-volume-restore builds the pod inputs instead (benchItem.input).
	_ = os.Setenv("FSB_E2E_BUILTINS", "emulated")
	store, err := startBackupStore()
	if err != nil {
		return err
	}
	answerCtx, stopAnswering := context.WithCancel(ctx)
	defer stopAnswering()
	go store.answerDownloadRequestsWatching(answerCtx, c, bo.urlDelay)

	// ------------------------------------------------------------ setup
	srcNS := "bench-src-" + o.runID
	items, fsbPod, err := benchCapture(ctx, c, srcNS)
	if err != nil {
		return fmt.Errorf("bench setup: %w", err)
	}
	e := &benchEnv{c: c, o: o, backupName: "bk-bench-" + o.runID, cmName: "bench-modifiers-" + o.runID,
		targetNS: "bench-" + o.runID, items: map[string]benchItem{},
		fsbVolumes: map[string][]string{fsbPod: {"data"}}}
	var data backedUp
	data.fsbVolumes = e.fsbVolumes
	for _, it := range items {
		raw, _ := json.Marshal(it.Object)
		isFSB := it.GetLabels()["app"] == benchFSBDeploy
		switch it.GetKind() {
		case "Pod":
			k := "pod-no-fsb"
			if isFSB {
				k = "pod-fsb"
				data.pods = append(data.pods, it)
			}
			e.items[k] = benchItem{kind: k, gvr: gvrPods, fromBackup: it, bytes: len(raw)}
		case "ReplicaSet":
			if isFSB {
				e.items["replicaset"] = benchItem{kind: "replicaset", gvr: gvrReplicaSets, fromBackup: it, bytes: len(raw)}
				data.replicaSet = it
			}
		case "Deployment":
			if isFSB {
				e.items["deployment"] = benchItem{kind: "deployment", gvr: gvrDeployments, fromBackup: it, bytes: len(raw)}
				data.deployment = it
			}
		}
	}
	for _, k := range benchKinds {
		if _, ok := e.items[k]; !ok {
			return fmt.Errorf("bench setup: no %s item captured", k)
		}
	}
	if e.rules, err = parseModifierRules(benchRules); err != nil {
		return err
	}
	if e.correction, err = newReferenceCorrection(scenario{}, data, e.rules); err != nil {
		return err
	}
	if !e.correction.active {
		return fmt.Errorf("bench setup: the rules do not change the FSB Deployment's template (nothing for the guard to do)")
	}
	tarball, err := backupTarball(items)
	if err != nil {
		return err
	}
	store.add(e.backupName, tarball)
	if _, err := c.kube.CoreV1().ConfigMaps(veleroNamespace).Create(ctx, configMap(e.cmName, benchRules), metav1.CreateOptions{}); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "fsb-prod-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	e.rulesFile = filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(e.rulesFile, []byte(benchRules), 0o644); err != nil {
		return err
	}
	// The Go plugin processes inherit the environment: the same rules as the ConfigMap.
	_ = os.Setenv("FSB_GOPLUGIN_RULES", e.rulesFile)
	backupObj, err := createUnstructured(ctx, c, gvrBackups, veleroNamespace, map[string]interface{}{
		"apiVersion": "velero.io/v1", "kind": "Backup",
		"metadata": map[string]interface{}{"name": e.backupName, "namespace": veleroNamespace},
		"spec":     map[string]interface{}{"includedNamespaces": []interface{}{sourceNamespace}, "storageLocation": "default"},
		"status":   map[string]interface{}{"phase": "Completed", "formatVersion": "1.1.0"},
	})
	if err != nil {
		return err
	}
	pvb := map[string]interface{}{
		"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
		"metadata": map[string]interface{}{
			"generateName": e.backupName + "-", "namespace": veleroNamespace,
			"labels": map[string]interface{}{"velero.io/backup-name": validLabelValue(e.backupName),
				"velero.io/backup-uid": string(backupObj.GetUID())},
		},
		"spec": map[string]interface{}{
			"node": "source-node-1", "volume": "data", "backupStorageLocation": "default",
			"repoIdentifier": "s3:http://127.0.0.1/velero/kopia/" + sourceNamespace, "uploaderType": "kopia",
			"pod": map[string]interface{}{"kind": "Pod", "namespace": sourceNamespace, "name": fsbPod},
		},
		"status": map[string]interface{}{"phase": "Completed", "snapshotID": "5f3c0ffee0data", "path": "/host_pods/x/volumes/data"},
	}
	if _, err := createUnstructured(ctx, c, gvrPVBs, veleroNamespace, pvb); err != nil {
		return err
	}
	if err := ensureNamespace(ctx, c, e.targetNS); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "driver: bench: backup %s (%d items, %d bytes), FSB pod %s, target namespace %s\n",
		e.backupName, len(items), len(tarball), fsbPod, e.targetNS)

	rep := benchReport{KubernetesVersion: serverVersion, Iterations: bo.iterations, Warmup: bo.warmup,
		SteadyLogLevel: bo.steadyLogLvl, FirstLogLevel: bo.firstLogLevel, URLDelayMs: float64(bo.urlDelay.Microseconds()) / 1e3,
		Kinds: map[string]benchKindResult{}}

	// ------------------------------------------------------------ steady state
	restore, err := e.newRestore(ctx, "steady")
	if err != nil {
		return err
	}
	ours, err := e.openSession("ours", o.pluginDir, bo.steadyLogLvl, restore)
	if err != nil {
		return err
	}
	defer ours.close()
	goS, err := e.openSession("go", bo.goPluginDir, bo.steadyLogLvl, restore)
	if err != nil {
		return err
	}
	defer goS.close()
	sessions := []*benchSession{ours, goS}

	// The restore's items in Velero's order, once each, checked; ours' pod and ReplicaSet answers
	// are then created in the target (after the modifiers, with the restore labels, as Velero does)
	// so the Deployment step finds the live ReplicaSet it verifies.
	reference := map[string]map[string]string{"ours": {}, "go": {}}
	var problems []string
	for _, k := range benchKinds {
		for _, s := range sessions {
			in := e.items[k].input(restore, e.fsbVolumes).Item.(*unstructured.Unstructured)
			out, d, err := s.execute(e, k)
			if err != nil {
				return err
			}
			if s.label == "ours" && k == benchKinds[0] {
				rep.SteadySessionMs = float64(d.Nanoseconds()) / 1e6
			}
			why := ""
			if s.label == "ours" {
				why = e.checkOurs(k, in, out)
			} else {
				why = e.checkGo(k, in, out)
			}
			if why != "" {
				problems = append(problems, fmt.Sprintf("%s %s: %s", s.label, k, why))
			}
			reference[s.label][k] = canonical(out.Object)
			if s.label == "ours" && (k == "pod-fsb" || k == "replicaset") {
				obj := out.DeepCopy()
				if _, errs := e.rules.apply(obj, groupResource(e.items[k].gvr)); len(errs) > 0 {
					return fmt.Errorf("bench: modifiers on our %s answer: %v", k, errs)
				}
				obj.SetNamespace(e.targetNS)
				addRestoreLabels(obj, e.backupName, restore.Name)
				if _, err := c.dyn.Resource(e.items[k].gvr).Namespace(e.targetNS).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
					return fmt.Errorf("bench: creating our restored %s: %w", k, err)
				}
			}
		}
	}
	rsName := e.items["replicaset"].fromBackup.GetName()
	liveGeneration := func() int64 {
		rs, err := c.dyn.Resource(gvrReplicaSets).Namespace(e.targetNS).Get(ctx, rsName, metav1.GetOptions{})
		if err != nil {
			return -1
		}
		return rs.GetGeneration()
	}
	// The first Deployment Execute above verified (and, if needed, aligned) the live ReplicaSet.
	rep.LiveRSGeneration[0] = liveGeneration()
	if len(problems) > 0 {
		return fmt.Errorf("bench: the plugins' answers are not what they must be: %s", strings.Join(problems, "; "))
	}

	durations := map[string]map[string][]time.Duration{"ours": {}, "go": {}}
	mismatches := map[string]int{}
	for round := 0; round < bo.warmup+bo.iterations; round++ {
		for _, k := range benchKinds {
			order := sessions
			if round%2 == 1 {
				order = []*benchSession{goS, ours}
			}
			for _, s := range order {
				out, d, err := s.execute(e, k)
				if err != nil {
					return err
				}
				if canonical(out.Object) != reference[s.label][k] {
					mismatches[s.label+" "+k]++
				}
				if round >= bo.warmup {
					durations[s.label][k] = append(durations[s.label][k], d)
				}
			}
		}
	}
	rep.LiveRSGeneration[1] = liveGeneration()
	for what, n := range mismatches {
		problems = append(problems, fmt.Sprintf("%s: %d timed answers differ from the checked answer", what, n))
	}
	if rep.LiveRSGeneration[0] < 1 || rep.LiveRSGeneration[1] != rep.LiveRSGeneration[0] {
		problems = append(problems, fmt.Sprintf("the live ReplicaSet's generation went %d → %d during the timed Deployment Executes (it must only be verified)",
			rep.LiveRSGeneration[0], rep.LiveRSGeneration[1]))
	}
	ours.close()
	goS.close()
	if len(problems) > 0 {
		return fmt.Errorf("bench: %s", strings.Join(problems, "; "))
	}
	for _, k := range benchKinds {
		r := benchKindResult{Ours: latencyOf(durations["ours"][k], e.items[k].bytes), Go: latencyOf(durations["go"][k], e.items[k].bytes)}
		r.RatioP50 = r.Ours.P50us / r.Go.P50us
		r.RatioP99 = r.Ours.P99us / r.Go.P99us
		rep.Kinds[k] = r
		if rep.WorstKind == "" || r.RatioP50 > rep.P50Ratio {
			rep.P50Ratio, rep.WorstKind = r.RatioP50, k
		}
	}
	rep.SteadyP50us = rep.Kinds["pod-fsb"].Ours.P50us

	// ------------------------------------------------------------ first item of a restore
	var firsts, goFirsts []float64
	parts := map[string][]float64{}
	for i := 0; i < bo.firstRuns; i++ {
		r, err := e.newRestore(ctx, "first")
		if err != nil {
			return err
		}
		run := benchFirstRun{Restore: r.Name}
		s, err := e.openSession("ours", o.pluginDir, bo.firstLogLevel, r)
		if err != nil {
			return err
		}
		in := e.items["pod-fsb"].input(r, e.fsbVolumes).Item.(*unstructured.Unstructured)
		out, d, err := s.execute(e, "pod-fsb")
		if err != nil {
			s.close()
			return err
		}
		if why := e.checkOurs("pod-fsb", in, out); why != "" {
			s.close()
			return fmt.Errorf("bench: first item of %s: ours: %s", r.Name, why)
		}
		run.FirstMs = float64(d.Nanoseconds()) / 1e6
		if _, d2, err := s.execute(e, "pod-fsb"); err == nil {
			run.SecondUs = float64(d2.Nanoseconds()) / 1e3
		}
		run.Breakdown, run.BreakdownRaw = breakdownOf(s.log)
		s.close()
		for f, v := range run.Breakdown {
			parts[f] = append(parts[f], float64(v))
		}
		firsts = append(firsts, run.FirstMs)

		g, err := e.openSession("go", bo.goPluginDir, bo.firstLogLevel, r)
		if err != nil {
			return err
		}
		gin := e.items["pod-fsb"].input(r, e.fsbVolumes).Item.(*unstructured.Unstructured)
		gout, gd, err := g.execute(e, "pod-fsb")
		g.close()
		if err != nil {
			return err
		}
		if why := e.checkGo("pod-fsb", gin, gout); why != "" {
			return fmt.Errorf("bench: first item of %s: go: %s", r.Name, why)
		}
		run.GoFirstMs = float64(gd.Nanoseconds()) / 1e6
		goFirsts = append(goFirsts, run.GoFirstMs)
		rep.FirstRuns = append(rep.FirstRuns, run)
	}
	rep.FirstItemMs = medianF(firsts)
	rep.GoFirstItemMs = medianF(goFirsts)
	rep.FirstOverSteady = rep.FirstItemMs * 1e3 / rep.SteadyP50us
	// available: every run's line has every named field; partial: some are missing (the fields
	// found are still reported, with the missing ones named); unavailable: no line.
	rep.BreakdownStatus = "unavailable"
	if len(parts) > 0 {
		rep.BreakdownStatus = "available"
		rep.Breakdown = map[string]float64{}
		for f, v := range parts {
			rep.Breakdown[f] = medianF(v)
		}
		for _, f := range benchBreakdownFields {
			if len(parts[f]) != len(rep.FirstRuns) {
				rep.BreakdownMissing = append(rep.BreakdownMissing, f)
			}
		}
		if len(rep.BreakdownMissing) > 0 {
			rep.BreakdownStatus = "partial"
		}
	}
	stopAnswering()
	store.mu.Lock()
	rep.BackupDownloads = store.served
	store.mu.Unlock()
	rep.LoadAvg = loadAvg()
	rep.Seconds = time.Since(began).Seconds()

	printBenchReport(&rep)
	if err := writeReport(bo.out, &rep); err != nil {
		return err
	}
	fmt.Printf("PROD-BENCH: prod_execute_p50_ratio=%.2f worst_kind=%s first_item_ms=%d steady_p50_us=%d iterations=%d\n",
		rep.P50Ratio, rep.WorstKind, int64(math.Round(rep.FirstItemMs)), int64(math.Round(rep.SteadyP50us)), rep.Iterations)
	return nil
}

func printBenchReport(rep *benchReport) {
	fmt.Printf("Execute latency through Velero's plugin client, Kubernetes %s, %d iterations per kind and plugin (warm-up %d), plugins at --log-level %s\n",
		rep.KubernetesVersion, rep.Iterations, rep.Warmup, rep.SteadyLogLevel)
	fmt.Printf("%-12s %7s %10s %10s %10s %10s %9s %9s\n", "kind", "bytes", "ours p50", "ours p99", "go p50", "go p99", "p50 ×", "p99 ×")
	for _, k := range benchKinds {
		r := rep.Kinds[k]
		fmt.Printf("%-12s %7d %8.0fµs %8.0fµs %8.0fµs %8.0fµs %9.2f %9.2f\n", k, r.Ours.Bytes, r.Ours.P50us, r.Ours.P99us,
			r.Go.P50us, r.Go.P99us, r.RatioP50, r.RatioP99)
	}
	fmt.Printf("worst p50 ratio (ours/go): %.2f (%s)\n", rep.P50Ratio, rep.WorstKind)
	fmt.Printf("first item of a restore (fresh process, new restore, the FSB pod; --log-level %s; DownloadRequests answered %.0f ms after the watch sees them), %d runs: median %.1f ms (runs:",
		rep.FirstLogLevel, rep.URLDelayMs, len(rep.FirstRuns), rep.FirstItemMs)
	for _, r := range rep.FirstRuns {
		fmt.Printf(" %.1f", r.FirstMs)
	}
	fmt.Printf("); steady p50 of the same item %.0f µs (×%.0f); Go's first Execute median %.1f ms\n",
		rep.SteadyP50us, rep.FirstOverSteady, rep.GoFirstItemMs)
	if rep.BreakdownStatus != "unavailable" {
		fmt.Printf("breakdown=%s (median ms of the plugin's `%s` and `%s` lines; backup_ms holds download_url_ms and download_index_ms):",
			rep.BreakdownStatus, breakdownMessage, downloadMessage)
		sum := 0.0
		for _, f := range breakdownOrder(rep.Breakdown) {
			fmt.Printf(" %s=%.0f", f, rep.Breakdown[f])
			if f != "download_url_ms" && f != "download_index_ms" {
				sum += rep.Breakdown[f]
			}
		}
		fmt.Printf(" rest(first Execute − settings, rules, PodVolumeBackups, backup)=%.0f", rep.FirstItemMs-sum)
		if len(rep.BreakdownMissing) > 0 {
			fmt.Printf(" missing=%s", strings.Join(rep.BreakdownMissing, ","))
		}
		fmt.Println()
	} else {
		fmt.Printf("breakdown=%s (no `%s` line with %s from the plugin at --log-level %s)\n",
			rep.BreakdownStatus, breakdownMessage, strings.Join(benchBreakdownFields, ","), benchOpts.firstLogLevel)
	}
	fmt.Printf("backup downloads served: %d; live ReplicaSet generation %d → %d over the timed Deployment Executes; load %s; %.0f s\n",
		rep.BackupDownloads, rep.LiveRSGeneration[0], rep.LiveRSGeneration[1], rep.LoadAvg, rep.Seconds)
}

// loadAvg is the machine's 1/5/15-minute load average, printed beside the figures.
func loadAvg() string {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	return strings.Join(strings.Fields(string(raw))[:3], " ")
}

// writeReport writes a bench report as indented JSON to path (nothing when path is empty).
func writeReport(path string, rep any) error {
	if path == "" {
		return nil
	}
	raw, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, append(raw, '\n'), 0o644)
}
