// Command driver restores the e2e scenarios into a real kube-apiserver in Velero's order and with
// Velero's transformations, optionally through our plugin via Velero's plugin client, then watches the
// real Deployment controller.
//
//	driver --kubeconfig K --mode control|plugin --plugin-dir D --crd-dir C [--scenario NAME] [--window 30s]
//
// Per scenario it prints one `SCENARIO …` line, and at the end one
// `DRIVER-RESULT mode=… scenarios=N rollouts=R prevent-rollouts=P failures=F` line for run.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const veleroNamespace = "velero"

// serverVersion is the apiserver's gitVersion, recorded with saved backups.
var serverVersion string

var (
	gvrPods                = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	gvrReplicaSets         = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	gvrDeployments         = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	gvrStatefulSets        = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}
	gvrDaemonSets          = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}
	gvrControllerRevisions = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "controllerrevisions"}
	gvrPVBs                = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "podvolumebackups"}
	gvrBackups             = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "backups"}
	gvrRestores            = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "restores"}
	gvrBSLs                = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "backupstoragelocations"}
)

type options struct {
	kubeconfig, mode, pluginDir, crdDir, only, runID string
	set                                              string
	saveBackups, loadBackups                         string
	window                                           time.Duration
	installOnly                                      bool
	builtins                                         string
	rbacFile                                         string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "run-plugins" {
		// The builtins choice reaches the child through the environment (its argv is Velero's).
		if os.Getenv("FSB_E2E_BUILTINS") == "emulated" {
			serveEmptyPluginSet()
		} else {
			serveVeleroBuiltins()
		}
		return
	}
	var o options
	// Our own flag set: an imported Velero dependency registers -kubeconfig on the global one.
	flag := flag.NewFlagSet("driver", flag.ExitOnError)
	flag.StringVar(&o.kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the e2e apiserver")
	flag.StringVar(&o.mode, "mode", "control", "control (no plugin: a rollout must happen), plugin (no rollout), reference (the driver corrects like the plugin should: no rollout), faults (the plugin against a broken API: fails open, faults.go), bench (our plugin against the Go reference plugin, Execute latency and first-item cost: bench.go) or bench-scale (our plugin in one large restore: bench_scale.go)")
	flag.StringVar(&o.rbacFile, "rbac", "", "the plugin's least-privilege RBAC (deploy/rbac.yaml), for the faults mode")
	flag.StringVar(&o.pluginDir, "plugin-dir", "", "Velero plugin directory (plugin mode)")
	flag.StringVar(&o.crdDir, "crd-dir", "", "directory of Velero CRD YAMLs to install (idempotent)")
	flag.StringVar(&o.only, "scenario", "", "run only this scenario")
	flag.StringVar(&o.set, "set", "all", "all: every scenario; workloads: only the StatefulSet and DaemonSet ones (second Kubernetes version); deployments: only the Deployment template ones")
	flag.StringVar(&o.runID, "run-id", fmt.Sprint(time.Now().Unix()%100000), "suffix making namespaces unique per run")
	flag.StringVar(&o.builtins, "builtins", "velero", "velero: Velero's own restore item actions run first, as in production; emulated: the driver mimics velero.io/pod and pod-volume-restore")
	flag.StringVar(&o.saveBackups, "save-backups", "", "directory to keep each workload scenario's captured backup in (for the next version's cross-version scenario)")
	flag.StringVar(&o.loadBackups, "load-backups", "", "directory of backups captured on another Kubernetes version: enables the cross-version scenario")
	flag.DurationVar(&o.window, "window", 30*time.Second, "how long the controllers get to roll out")
	benchFlags(flag)
	scaleFlags(flag)
	installOnly := flag.Bool("install-only", false, "install the CRDs from --crd-dir, the velero namespace and the default BackupStorageLocation, then exit")
	listOnly := flag.Bool("list-plugins", false, "only start the plugins in --plugin-dir through Velero's client, print their names and selectors, and exit")
	_ = flag.Parse(os.Args[1:])
	if *listOnly {
		if err := listPlugins(o.pluginDir); err != nil {
			fatalf("%v", err)
		}
		return
	}
	if o.builtins != "velero" && o.builtins != "emulated" {
		fatalf("--builtins must be velero or emulated")
	}
	if o.mode == "faults" {
		// Velero's real built-ins would read the fault's KUBECONFIG too and fail first.
		o.builtins = "emulated"
	}
	_ = os.Setenv("FSB_E2E_BUILTINS", o.builtins)
	if o.mode != "control" && o.mode != "plugin" && o.mode != "reference" && o.mode != "faults" && o.mode != "bench" && o.mode != "bench-scale" {
		fatalf("--mode must be control, plugin, reference, faults, bench or bench-scale")
	}
	o.installOnly = *installOnly
	if err := run(o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(f string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "driver: "+f+"\n", a...)
	os.Exit(2)
}

type clients struct {
	dyn  dynamic.Interface
	kube kubernetes.Interface
}

func run(o options) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 50, 100
	c := clients{dyn: dynamic.NewForConfigOrDie(cfg), kube: kubernetes.NewForConfigOrDie(cfg)}
	ctx := context.Background()
	if o.crdDir != "" {
		if err := installCRDs(ctx, cfg, o.crdDir); err != nil {
			return err
		}
	}
	if err := ensureNamespace(ctx, c, veleroNamespace); err != nil {
		return err
	}
	if err := ensureStorageLocation(ctx, c); err != nil {
		return err
	}
	if err := ensureDaemonNode(ctx, c); err != nil {
		return err
	}
	if v, err := c.kube.Discovery().ServerVersion(); err == nil {
		serverVersion = v.GitVersion
	}
	if o.installOnly {
		return nil
	}
	if o.mode == "bench" {
		return runBench(ctx, c, o)
	}
	if o.mode == "bench-scale" {
		return runBenchScale(ctx, o)
	}
	store, err := startBackupStore()
	if err != nil {
		return err
	}
	answerCtx, stopAnswering := context.WithCancel(ctx)
	defer stopAnswering()
	go store.answerDownloadRequests(answerCtx, c)
	if o.mode == "faults" {
		return runFaults(ctx, cfg, c, o, store)
	}

	var wg sync.WaitGroup
	results := make([]result, 0, len(scenarios))
	var mu sync.Mutex
	for _, s := range scenarios {
		if (o.only != "" && s.name != o.only) || o.set == "workloads" {
			continue
		}
		obs, err := restoreScenario(ctx, c, o, s, store)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", s.name, err)
		}
		// Observe in parallel: each scenario gets its full window from its own Deployment's creation.
		wg.Add(1)
		go func(s scenario, obs *observation) {
			defer wg.Done()
			r := observe(ctx, c, o, s, obs)
			mu.Lock()
			results = append(results, r)
			mu.Unlock()
		}(s, obs)
	}
	// The workload scenarios (issues 7 and 8) run in control and plugin mode; the reference
	// correction covers Deployment templates only.
	type wlResult struct {
		line    string
		group   string
		rollout bool
		pass    bool
	}
	var wlResults []wlResult
	for _, s := range wlScenarios {
		if (o.only != "" && s.name != o.only) || o.mode == "reference" || o.set == "deployments" {
			continue
		}
		if o.set == "workloads" && s.group == "replicas" && s.kind == "Deployment" {
			continue
		}
		if s.fromSaved != "" && o.loadBackups == "" {
			continue
		}
		r, err := restoreWorkload(ctx, c, o, s, store)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", s.name, err)
		}
		wg.Add(1)
		go func(r *wlRun) {
			defer wg.Done()
			v, after := observeWorkload(ctx, c, o, r)
			mu.Lock()
			wlResults = append(wlResults, wlResult{line: wlLine(r, o.mode, v, after), group: r.s.group,
				rollout: v.rollout, pass: len(v.problems) == 0})
			mu.Unlock()
		}(r)
	}
	wg.Wait()

	rollouts, prevent, failures := 0, 0, 0
	for _, r := range results {
		fmt.Println(r.line())
		if r.rollout {
			rollouts++
			if r.s.pluginShouldPrevent {
				prevent++
			}
		}
		if !r.pass {
			failures++
		}
	}
	groups := map[string]int{}
	sort.Slice(wlResults, func(i, j int) bool { return wlResults[i].line < wlResults[j].line })
	for _, r := range wlResults {
		fmt.Println(r.line)
		groups[r.group]++
		if r.rollout {
			rollouts++
			prevent++ // the plugin must prevent every workload scenario's rollout or loss
		}
		if !r.pass {
			failures++
		}
	}
	stopAnswering()
	store.mu.Lock()
	downloads := store.served
	store.mu.Unlock()
	fmt.Printf("DRIVER-RESULT mode=%s scenarios=%d rollouts=%d prevent-rollouts=%d failures=%d backup-downloads=%d sts=%d ds=%d replicas=%d\n",
		o.mode, len(results)+len(wlResults), rollouts, prevent, failures, downloads, groups["sts"], groups["ds"], groups["replicas"])
	if failures > 0 {
		os.Exit(1)
	}
	return nil
}

// observation is what a scenario restored and what the plugin did to it.
type observation struct {
	targetNS       string
	rsName         string
	deployName     string
	podUIDs        map[string]string                     // pod name → UID of the pod we created
	created        map[string]*unstructured.Unstructured // "Kind/name" → the object as created
	skipped        []string                              // "Kind/name" of items a plugin asked to skip
	pluginChanged  []string                              // items the plugin returned modified
	pluginCalls    int                                   // Execute calls made
	pluginLog      *logCapture                           // what the plugins logged during this restore
	expected       *referenceCorrection
	intentProblems []string
	modifierErrs   []string
	restoredAt     time.Time
	createdAt      time.Time // start of the observation window
}

func restoreScenario(ctx context.Context, c clients, o options, s scenario, store *backupStore) (*observation, error) {
	data := s.backup()
	rules, err := parseModifierRules(s.rules)
	if err != nil {
		return nil, err
	}
	// T→T' is computed in every mode: reference mode applies it, plugin mode checks the pods carry it.
	expected, err := newReferenceCorrection(s, data, rules)
	if err != nil {
		return nil, err
	}
	job := restoreJob{
		name:       s.name,
		items:      append(append([]*unstructured.Unstructured{}, data.pods...), data.replicaSet, data.deployment),
		fsbVolumes: data.fsbVolumes,
		rules:      s.rules,
		correction: &referenceCorrection{},
	}
	if o.mode == "reference" {
		job.correction = expected
	}
	// With a correction (plugin or reference), each pod must leave the modifiers already carrying the
	// template change: applying the two-way strategic merge patch T→T' to it must change nothing.
	if o.mode != "control" && s.pluginShouldPrevent && expected.active {
		job.intentPatch = expected.podPatch
	}
	obs, err := restoreItems(ctx, c, o, job, store)
	if err != nil {
		return nil, err
	}
	obs.rsName, obs.deployName, obs.expected = data.replicaSet.GetName(), s.deploy, expected
	if len(obs.skipped) > 0 {
		return nil, fmt.Errorf("items skipped (skipRestore) in a scenario that skips none: %v", obs.skipped)
	}
	return obs, nil
}

// restoreJob is one Velero restore of one backup: the backup's items, the FSB volumes its
// PodVolumeBackups name, the restore's resource-modifier rules.
type restoreJob struct {
	name        string
	items       []*unstructured.Unstructured // the backup contents, in any order
	fsbVolumes  map[string][]string          // pod name → FSB volume names (one PodVolumeBackup each)
	rules       string
	excluded    []string // Restore.spec.excludedResources: these items stay in the backup but are not restored
	correction  *referenceCorrection
	intentPatch []byte // non-nil: every pod must already carry this T→T' patch when created
}

// veleroOrder is the restore order of the kinds the scenarios use: Velero's high priorities (pods,
// replicasets.apps), then the other resources sorted by name (facts/statefulsets-daemonsets.md §1).
var veleroOrder = []struct {
	gvr  schema.GroupVersionResource
	kind string
}{
	{gvrPods, "Pod"},
	{gvrReplicaSets, "ReplicaSet"},
	{gvrControllerRevisions, "ControllerRevision"},
	{gvrDaemonSets, "DaemonSet"},
	{gvrDeployments, "Deployment"},
	{gvrStatefulSets, "StatefulSet"},
}

func groupResource(gvr schema.GroupVersionResource) string {
	if gvr.Group == "" {
		return gvr.Resource
	}
	return gvr.Resource + "." + gvr.Group
}

// restoreItems creates the restore's surroundings (Backup, Restore, rules ConfigMap, PodVolumeBackups,
// the backup tarball behind BackupContents downloads) and restores every item in Velero's order:
// metadata reset, built-in actions, plugins (a skipRestore answer means the item is not created),
// resource modifiers, namespace mapping, restore labels, create.
func restoreItems(ctx context.Context, c clients, o options, job restoreJob, store *backupStore) (*observation, error) {
	backupName := fmt.Sprintf("bk-%s-%s-%s", job.name, o.mode, o.runID)
	restoreName := fmt.Sprintf("rs-%s-%s-%s", job.name, o.mode, o.runID)
	targetNS := fmt.Sprintf("%s-%s-%s", job.name, o.mode, o.runID)
	cmName := restoreName + "-modifiers"

	if err := ensureNamespace(ctx, c, targetNS); err != nil {
		return nil, err
	}
	tarball, err := backupTarball(job.items)
	if err != nil {
		return nil, err
	}
	store.add(backupName, tarball)
	// The restore's surroundings as the Velero server would have them.
	if _, err := c.kube.CoreV1().ConfigMaps(veleroNamespace).Create(ctx, configMap(cmName, job.rules), metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	backupObj, err := createUnstructured(ctx, c, gvrBackups, veleroNamespace, map[string]interface{}{
		"apiVersion": "velero.io/v1", "kind": "Backup",
		"metadata": map[string]interface{}{"name": backupName, "namespace": veleroNamespace},
		"spec":     map[string]interface{}{"includedNamespaces": []interface{}{sourceNamespace}, "storageLocation": "default"},
		"status":   map[string]interface{}{"phase": "Completed", "formatVersion": "1.1.0"},
	})
	if err != nil {
		return nil, err
	}
	restoreSpec := map[string]interface{}{
		"backupName":       backupName,
		"namespaceMapping": map[string]interface{}{sourceNamespace: targetNS},
		"resourceModifier": map[string]interface{}{"kind": "ConfigMap", "name": cmName},
	}
	if len(job.excluded) > 0 {
		ex := []interface{}{}
		for _, e := range job.excluded {
			ex = append(ex, e)
		}
		restoreSpec["excludedResources"] = ex
	}
	restore, err := createRestore(ctx, c, map[string]interface{}{"name": restoreName, "namespace": veleroNamespace}, restoreSpec)
	if err != nil {
		return nil, err
	}
	podNames := make([]string, 0, len(job.fsbVolumes))
	for podName := range job.fsbVolumes {
		podNames = append(podNames, podName)
	}
	sort.Strings(podNames)
	for _, podName := range podNames {
		for _, v := range job.fsbVolumes[podName] {
			pvb := map[string]interface{}{
				"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
				"metadata": map[string]interface{}{
					"generateName": backupName + "-", "namespace": veleroNamespace,
					"labels": map[string]interface{}{"velero.io/backup-name": validLabelValue(backupName),
						"velero.io/backup-uid": string(backupObj.GetUID())},
				},
				"spec": map[string]interface{}{
					"node": "source-node-1", "volume": v, "backupStorageLocation": "default",
					"repoIdentifier": "s3:http://127.0.0.1/velero/kopia/" + sourceNamespace, "uploaderType": "kopia",
					"pod": map[string]interface{}{"kind": "Pod", "namespace": sourceNamespace, "name": podName},
				},
				"status": map[string]interface{}{"phase": "Completed", "snapshotID": "5f3c0ffee0" + v, "path": "/host_pods/x/volumes/" + v},
			}
			if _, err := createUnstructured(ctx, c, gvrPVBs, veleroNamespace, pvb); err != nil {
				return nil, err
			}
		}
	}
	rules, err := parseModifierRules(job.rules)
	if err != nil {
		return nil, err
	}
	ref := job.correction
	if ref == nil {
		ref = &referenceCorrection{}
	}
	obs := &observation{targetNS: targetNS, podUIDs: map[string]string{}, created: map[string]*unstructured.Unstructured{},
		pluginLog: &logCapture{}}
	var plugins *pluginSession
	if o.mode == "plugin" || o.builtins == "velero" {
		log := logrus.New()
		log.SetLevel(logrus.DebugLevel)
		log.SetOutput(os.Stderr)
		log.AddHook(obs.pluginLog)
		plugins, err = openPlugins(o.pluginDir, log.WithField("restore", veleroNamespace+"/"+restoreName))
		if err != nil {
			return nil, err
		}
		defer plugins.close()
		if o.mode == "plugin" && len(plugins.external()) == 0 {
			return nil, fmt.Errorf("no RestoreItemAction found in %s", o.pluginDir)
		}
		fmt.Fprintf(os.Stderr, "driver: %s: plugins %v\n", job.name, plugins.names())
	}
	excluded := map[string]bool{}
	for _, e := range job.excluded {
		excluded[e] = true
	}

	restoreOne := func(gvr schema.GroupVersionResource, kind string, fromBackup *unstructured.Unstructured) (*unstructured.Unstructured, error) {
		obj := fromBackup.DeepCopy()
		resetMetadataAndStatus(obj)
		if kind == "Pod" && o.builtins == "emulated" {
			podAction(obj)
			prependRestoreWait(obj, string(restore.UID), "velero/velero:v1.18.3", job.fsbVolumes[obj.GetName()])
		}
		if plugins != nil {
			for _, a := range plugins.actions {
				sel, err := a.AppliesTo()
				if err != nil {
					return nil, fmt.Errorf("%s AppliesTo: %w", a.Name(), err)
				}
				if !applies(sel, gvr.Resource, gvr.Group, kind, obj.GetNamespace(), obj.GetLabels()) {
					continue
				}
				before := obj.DeepCopy()
				ours := !isVeleroBuiltin(a.Name())
				if ours {
					obs.pluginCalls++
				}
				out, err := a.Execute(&velero.RestoreItemActionExecuteInput{Item: obj, ItemFromBackup: fromBackup.DeepCopy(), Restore: restore})
				if err != nil {
					return nil, fmt.Errorf("%s Execute %s/%s: %w", a.Name(), kind, obj.GetName(), err)
				}
				if out.SkipRestore {
					// Velero logs "Skipping restore because a registered plugin discarded it" and
					// creates nothing; later actions do not run.
					obs.skipped = append(obs.skipped, kind+"/"+obj.GetName())
					return nil, nil
				}
				if u, ok := out.UpdatedItem.(*unstructured.Unstructured); ok {
					obj = u
				} else {
					obj = &unstructured.Unstructured{Object: out.UpdatedItem.UnstructuredContent()}
				}
				if ours && !equality.Semantic.DeepEqual(before.Object, obj.Object) {
					obs.pluginChanged = append(obs.pluginChanged, kind+"/"+obj.GetName())
				}
			}
		}
		if err := ref.correct(kind, obj); err != nil {
			return nil, fmt.Errorf("reference correction of %s/%s: %w", kind, obj.GetName(), err)
		}
		if _, errs := rules.apply(obj, groupResource(gvr)); len(errs) > 0 {
			for _, e := range errs {
				obs.modifierErrs = append(obs.modifierErrs, fmt.Sprintf("%s/%s: %v", kind, obj.GetName(), e))
			}
		}
		// Checked on the object Velero would create, before admission plugins add their defaults.
		if kind == "Pod" && job.intentPatch != nil {
			if err := checkCarriesIntent(obj, job.intentPatch); err != nil {
				obs.intentProblems = append(obs.intentProblems, fmt.Sprintf("pod %s: %v", obj.GetName(), err))
			}
		}
		obj.SetNamespace(targetNS)
		addRestoreLabels(obj, backupName, restoreName)
		return c.dyn.Resource(gvr).Namespace(targetNS).Create(ctx, obj, metav1.CreateOptions{})
	}
	for _, step := range veleroOrder {
		var items []*unstructured.Unstructured
		for _, it := range job.items {
			if it.GetKind() == step.kind {
				items = append(items, it)
			}
		}
		sort.SliceStable(items, func(i, j int) bool { return items[i].GetName() < items[j].GetName() })
		for _, it := range items {
			if excluded[groupResource(step.gvr)] {
				continue
			}
			created, err := restoreOne(step.gvr, step.kind, it)
			if err != nil {
				return nil, err
			}
			if created == nil {
				continue // skipped
			}
			obs.created[step.kind+"/"+created.GetName()] = created
			if step.kind == "Pod" {
				obs.podUIDs[created.GetName()] = string(created.GetUID())
			}
		}
	}
	obs.restoredAt = time.Now()
	obs.createdAt = obs.restoredAt
	return obs, nil
}

type result struct {
	s              scenario
	mode           string
	newReplicaSets []string
	podsDeleted    int
	podsTotal      int
	adopted        bool
	rollout        bool
	pass           bool
	why            []string
	obs            *observation
	decidedAfter   time.Duration
}

func (r result) line() string {
	status := "PASS"
	if !r.pass {
		status = "FAIL"
	}
	what := "no rollout"
	if r.rollout {
		what = "ROLLOUT"
	}
	changed := "-"
	if len(r.obs.pluginChanged) > 0 {
		changed = strings.Join(r.obs.pluginChanged, ",")
	}
	extra := ""
	if len(r.why) > 0 {
		extra = " (" + strings.Join(r.why, "; ") + ")"
	}
	if len(r.obs.modifierErrs) > 0 {
		extra += " modifier-errors=" + fmt.Sprint(r.obs.modifierErrs)
	}
	return fmt.Sprintf("SCENARIO %s mode=%s strategy=%s replicas=%d fsb=%t: %s; new-replicasets=%v restored-pods-deleted=%d/%d restored-rs-adopted=%t plugin-calls=%d plugin-changed=%s after=%s -> %s%s",
		r.s.name, r.mode, r.s.strategy, r.s.replicas, r.s.fsb, what, r.newReplicaSets, r.podsDeleted, r.podsTotal,
		r.adopted, r.obs.pluginCalls, changed, r.decidedAfter.Round(100*time.Millisecond), status, extra)
}

// observe polls the namespace until the window ends (or, when a rollout is expected, until the
// rollout is fully evidenced) and judges the scenario.
func observe(ctx context.Context, c clients, o options, s scenario, obs *observation) result {
	expectRollout := !s.steady && (o.mode == "control" || !s.pluginShouldPrevent)
	r := result{s: s, mode: o.mode, obs: obs, podsTotal: len(obs.podUIDs)}
	shapeProblems := append(restoredPodShape(ctx, c, s, obs), obs.intentProblems...)
	deadline := obs.createdAt.Add(o.window)
	for {
		r.newReplicaSets, r.podsDeleted, r.adopted = snapshot(ctx, c, obs)
		r.rollout = len(r.newReplicaSets) > 0 || r.podsDeleted > 0
		r.decidedAfter = time.Since(obs.createdAt)
		complete := len(r.newReplicaSets) > 0 && r.adopted && (s.strategy != "Recreate" || r.podsDeleted == r.podsTotal)
		if expectRollout && complete {
			break
		}
		if !expectRollout && r.rollout {
			break // already failed; no need to wait
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.pass = true
	fail := func(f string, a ...interface{}) { r.pass = false; r.why = append(r.why, fmt.Sprintf(f, a...)) }
	for _, p := range shapeProblems {
		fail("%s", p)
	}
	if !r.adopted {
		fail("the Deployment does not own the restored ReplicaSet %s", obs.rsName)
	}
	if expectRollout {
		if len(r.newReplicaSets) == 0 {
			fail("expected the controller to create a new ReplicaSet within %s", o.window)
		}
		if s.strategy == "Recreate" && r.podsDeleted != r.podsTotal {
			fail("expected Recreate to delete the restored pods")
		}
	} else {
		if len(r.newReplicaSets) > 0 {
			fail("the controller created a new ReplicaSet")
		}
		if r.podsDeleted > 0 {
			fail("restored pods were deleted")
		}
	}
	if o.mode == "plugin" && obs.pluginCalls != len(obs.podUIDs)+2 {
		fail("expected one Execute per restored item (%d), made %d", len(obs.podUIDs)+2, obs.pluginCalls)
	}
	if o.mode == "plugin" && (!s.pluginShouldPrevent || s.steady) && len(obs.pluginChanged) > 0 {
		fail("the plugin changed items it must leave alone (no FSB data, or no template change)")
	}
	if len(obs.modifierErrs) > 0 {
		// Modifier errors are restore errors in Velero; the scenarios are built not to have any.
		fail("resource modifiers reported errors")
	}
	return r
}

func snapshot(ctx context.Context, c clients, obs *observation) (newRS []string, deleted int, adopted bool) {
	dep, err := c.dyn.Resource(gvrDeployments).Namespace(obs.targetNS).Get(ctx, obs.deployName, metav1.GetOptions{})
	depUID := ""
	if err == nil {
		depUID = string(dep.GetUID())
	}
	list, err := c.dyn.Resource(gvrReplicaSets).Namespace(obs.targetNS).List(ctx, metav1.ListOptions{})
	if err == nil {
		for _, rs := range list.Items {
			if rs.GetName() != obs.rsName {
				newRS = append(newRS, rs.GetName())
				continue
			}
			for _, ref := range rs.GetOwnerReferences() {
				if ref.Controller != nil && *ref.Controller && string(ref.UID) == depUID && depUID != "" {
					adopted = true
				}
			}
		}
	}
	for name, uid := range obs.podUIDs {
		p, err := c.dyn.Resource(gvrPods).Namespace(obs.targetNS).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			deleted++
		case err == nil && (string(p.GetUID()) != uid || p.GetDeletionTimestamp() != nil):
			deleted++
		}
	}
	return newRS, deleted, adopted
}

func configMap(name, rules string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: veleroNamespace},
		Data: map[string]string{"modifiers.yaml": rules}}
}

func createUnstructured(ctx context.Context, c clients, gvr schema.GroupVersionResource, ns string, obj map[string]interface{}) (*unstructured.Unstructured, error) {
	return c.dyn.Resource(gvr).Namespace(ns).Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
}

// restoredPodShape checks, right after the restore, that the live pods carry what Velero's restore
// gives them: restore labels, and on FSB pods
// restore-wait as the first init container, mounting the FSB volume.
func restoredPodShape(ctx context.Context, c clients, s scenario, obs *observation) []string {
	var problems []string
	for name := range obs.podUIDs {
		p, err := c.kube.CoreV1().Pods(obs.targetNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			if !apierrors.IsNotFound(err) {
				problems = append(problems, fmt.Sprintf("pod %s: %v", name, err))
			}
			continue // already deleted by a rollout: judged elsewhere
		}
		if p.Labels["velero.io/restore-name"] == "" || p.Labels["velero.io/backup-name"] == "" {
			problems = append(problems, fmt.Sprintf("pod %s lacks restore labels", name))
		}
		if s.fsb {
			if len(p.Spec.InitContainers) == 0 || p.Spec.InitContainers[0].Name != "restore-wait" {
				problems = append(problems, fmt.Sprintf("pod %s: restore-wait is not the first init container", name))
			} else if m := p.Spec.InitContainers[0].VolumeMounts; len(m) == 0 || m[0].Name != "data" {
				problems = append(problems, fmt.Sprintf("pod %s: restore-wait does not mount the FSB volume", name))
			}
		}

	}
	return problems
}

// createRestore creates an InProgress Restore (as Velero's restore controller has it while items are
// restored) with metadata and spec, and returns it typed, as the plugin client sends it.
func createRestore(ctx context.Context, c clients, metadata, spec map[string]interface{}) (*velerov1.Restore, error) {
	u, err := createUnstructured(ctx, c, gvrRestores, veleroNamespace, map[string]interface{}{
		"apiVersion": "velero.io/v1", "kind": "Restore",
		"metadata": metadata,
		"spec":     spec,
		"status":   map[string]interface{}{"phase": "InProgress"},
	})
	if err != nil {
		return nil, err
	}
	var r velerov1.Restore
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
