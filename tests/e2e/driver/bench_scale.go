package main

// --mode bench-scale (issue 18, the scale part): the production plugin binary in one large restore,
// through Velero's own plugin client, against this real control plane. tests/bench/scale.sh runs it
// on the backup tests/bench/gen_scale.py writes (20,000 Deployments, 5,000 FSB pods, ~1 GB);
// tests/bench/PROD.md ("The scale run") says what is measured.
//
// The driver serves the tarball from its file (streamed, never held in memory) behind the
// restore's BackupContents DownloadRequest, creates one Completed PodVolumeBackup per FSB volume
// of the backup's pods, writes the rules ConfigMap, times `gzip -dc` of the same file (median of
// --scale-gzip-runs), then opens ONE fresh process of our plugin and Executes every item of the
// restore our plugin applies to, in Velero's order (pods, then ReplicaSets, then Deployments; by
// namespace and name within a kind), each input built as Velero builds it (bench.go's helpers:
// metadata reset, status removed, velero.io/pod, restore-wait first for FSB pods). Every Execute
// is timed (the call only). Reported: the first Execute (the first decision: it reads the
// settings, rules and PodVolumeBackups, downloads and indexes the backup), the plugin's VmHWM
// right after it and after the restore, p50/p99 of items 2..1001 against the last 1,000, the
// wall time. With --scale-first-debug a second fresh process at --log-level debug times the same
// first item of a new restore and gives the plugin's breakdown lines.
//
// Nothing about timing is asserted. The run fails when it measured a no-op: every FSB pod must
// come back changed and carrying the T→T' patch of its Deployment (restore-wait first, same
// name), every ReplicaSet of a guarded workload with T' as template, the other items checked
// (all of them, or every --scale-check-every-th) must come back exactly as given, and the backup
// must have been downloaded exactly once per restore.

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	riav2 "github.com/vmware-tanzu/velero/pkg/plugin/velero/restoreitemaction/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type scaleOptions struct {
	backup     string
	rules      string
	out        string
	logLevel   string
	firstDebug bool
	gzipRuns   int
	checkEvery int
	trimProbe  bool
}

var scaleOpts scaleOptions

// scaleFlags registers the bench-scale mode's flags (--url-delay is bench mode's, shared).
func scaleFlags(fs *flag.FlagSet) {
	fs.StringVar(&scaleOpts.backup, "scale-backup", "", "bench-scale: the backup tarball (tests/bench/gen_scale.py)")
	fs.StringVar(&scaleOpts.rules, "scale-rules", "", "bench-scale: the restore's resource-modifier rules (default: <scale-backup>.rules.yaml)")
	fs.StringVar(&scaleOpts.out, "scale-out", "", "bench-scale: JSON file to write the figures to")
	fs.StringVar(&scaleOpts.logLevel, "scale-log-level", "info", "bench-scale: --log-level of the plugin process serving the whole restore")
	fs.BoolVar(&scaleOpts.firstDebug, "scale-first-debug", true, "bench-scale: after the restore, a fresh process at --log-level debug times the first item of a new restore (the plugin's breakdown lines)")
	fs.IntVar(&scaleOpts.gzipRuns, "scale-gzip-runs", 3, "bench-scale: `gzip -dc <backup> >/dev/null` runs (the median is the reference)")
	fs.BoolVar(&scaleOpts.trimProbe, "scale-malloc-trim-probe", false, "bench-scale: a diagnostic after the figures are read: gdb calls malloc_trim(0) in the plugin process and the driver reads its VmRSS again (memory glibc held but the plugin no longer used)")
	fs.IntVar(&scaleOpts.checkEvery, "scale-check-every", 1, "bench-scale: check every n-th item the plugin must leave unchanged (FSB pods and guarded ReplicaSets are always checked)")
}

// scaleItem is one item of the restore our plugin applies to, as the backup holds it.
type scaleItem struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string
	raw       []byte
}

func (it *scaleItem) kind() string {
	switch it.gvr {
	case gvrPods:
		return "pod"
	case gvrReplicaSets:
		return "replicaset"
	}
	return "deployment"
}

// scaleKinds: Velero's restore order of the kinds (pods and ReplicaSets are high-priority
// resources, Deployments come with the rest).
var scaleKinds = map[string]schema.GroupVersionResource{"pods": gvrPods, "replicasets.apps": gvrReplicaSets, "deployments.apps": gvrDeployments}
var scaleOrder = map[schema.GroupVersionResource]int{gvrPods: 0, gvrReplicaSets: 1, gvrDeployments: 2}

// readScaleBackup streams the tarball and keeps the unversioned copy of every pod, ReplicaSet and
// Deployment (the items our plugin is called for), in Velero's restore order.
func readScaleBackup(path string) ([]*scaleItem, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	var items []*scaleItem
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		// resources/<group-resource>/namespaces/<ns>/<name>.json (the unversioned copy)
		p := strings.Split(h.Name, "/")
		if len(p) != 5 || p[0] != "resources" || p[2] != "namespaces" || !strings.HasSuffix(p[4], ".json") {
			continue
		}
		gvr, ok := scaleKinds[p[1]]
		if !ok {
			continue
		}
		raw, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		items = append(items, &scaleItem{gvr: gvr, namespace: p[3], name: strings.TrimSuffix(p[4], ".json"), raw: raw})
	}
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if scaleOrder[a.gvr] != scaleOrder[b.gvr] {
			return scaleOrder[a.gvr] < scaleOrder[b.gvr]
		}
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		return a.name < b.name
	})
	return items, nil
}

func (it *scaleItem) object() (*unstructured.Unstructured, error) {
	var m map[string]interface{}
	if err := json.Unmarshal(it.raw, &m); err != nil {
		return nil, fmt.Errorf("%s %s/%s: %w", it.kind(), it.namespace, it.name, err)
	}
	return &unstructured.Unstructured{Object: m}, nil
}

// procStatus reads fields (kB) of /proc/<pid>/status.
func procStatus(pid int, fields ...string) map[string]int64 {
	return procStatusFile(fmt.Sprintf("/proc/%d/status", pid), fields...)
}

// smapsRollup reads /proc/<pid>/smaps_rollup (kB): where the resident memory is.
func smapsRollup(pid int) map[string]int64 {
	return procStatusFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Rss", "Pss_Anon", "Pss_File", "Anonymous", "Private_Dirty")
}

func procStatusFile(path string, fields ...string) map[string]int64 {
	out := map[string]int64{}
	raw, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for _, l := range strings.Split(string(raw), "\n") {
		for _, f := range fields {
			if strings.HasPrefix(l, f+":") {
				v := strings.Fields(strings.TrimPrefix(l, f+":"))
				if len(v) > 0 {
					n, _ := strconv.ParseInt(v[0], 10, 64)
					out[f] = n
				}
			}
		}
	}
	return out
}

// pluginPID finds the plugin process this driver started from dir (its child running a binary
// of that directory).
func pluginPID(dir string) (int, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return 0, err
	}
	me := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || filepath.Dir(exe) != abs {
			continue
		}
		if st := procStatusText(pid, "PPid"); st == strconv.Itoa(me) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no plugin process of %s started by this driver", abs)
}

func procStatusText(pid int, field string) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(l, field+":") {
			return strings.TrimSpace(strings.TrimPrefix(l, field+":"))
		}
	}
	return ""
}

// scaleSession is one fresh process of our plugin serving one restore.
type scaleSession struct {
	plugins *pluginSession
	action  riav2.RestoreItemAction
	log     *logCapture
	pid     int
}

func openScaleSession(dir, level string, restore *velerov1.Restore) (*scaleSession, error) {
	p, capture, err := openBenchSession("scale", dir, level, restore)
	if err != nil {
		return nil, err
	}
	s := &scaleSession{plugins: p, log: capture}
	for _, a := range p.actions {
		if a.Name() == ourPluginName {
			s.action = a
		}
	}
	if s.action == nil {
		p.close()
		return nil, fmt.Errorf("no %s among the plugins of %s (%v)", ourPluginName, dir, p.external())
	}
	// The restartable client starts the process lazily: AppliesTo makes sure it runs.
	if _, err := s.action.AppliesTo(); err != nil {
		p.close()
		return nil, fmt.Errorf("AppliesTo: %w", err)
	}
	if s.pid, err = pluginPID(dir); err != nil {
		p.close()
		return nil, err
	}
	return s, nil
}

// scaleInput builds the Execute input as Velero does (bench.go's benchItem.input, with the item's
// own FSB volumes).
func scaleInput(fromBackup *unstructured.Unstructured, gvr schema.GroupVersionResource, restore *velerov1.Restore, fsbVolumes []string) *velero.RestoreItemActionExecuteInput {
	obj := fromBackup.DeepCopy()
	resetMetadataAndStatus(obj)
	if gvr == gvrPods {
		podAction(obj)
		prependRestoreWait(obj, string(restore.UID), "velero/velero:v1.18.3", fsbVolumes)
	}
	return &velero.RestoreItemActionExecuteInput{Item: obj, ItemFromBackup: fromBackup.DeepCopy(), Restore: restore}
}

func executeScale(a riav2.RestoreItemAction, in *velero.RestoreItemActionExecuteInput) (*unstructured.Unstructured, time.Duration, error) {
	start := time.Now()
	out, err := a.Execute(in)
	d := time.Since(start)
	if err != nil {
		return nil, d, err
	}
	if out.SkipRestore {
		return nil, d, fmt.Errorf("skipRestore")
	}
	if u, ok := out.UpdatedItem.(*unstructured.Unstructured); ok {
		return u, d, nil
	}
	return &unstructured.Unstructured{Object: out.UpdatedItem.UnstructuredContent()}, d, nil
}

func ownerName(u *unstructured.Unstructured, kind string) string {
	for _, r := range u.GetOwnerReferences() {
		if r.Kind == kind {
			return r.Name
		}
	}
	return ""
}

type scaleWindow struct {
	Items int     `json:"items"`
	P50us float64 `json:"p50_us"`
	P99us float64 `json:"p99_us"`
	Kinds string  `json:"kinds"`
}

type scaleReport struct {
	KubernetesVersion   string                    `json:"kubernetes_version"`
	Backup              string                    `json:"backup_file"`
	BackupBytes         int64                     `json:"backup_bytes"`
	BackupMB            float64                   `json:"backup_mb"`
	Items               int                       `json:"items"`
	ItemsByKind         map[string]int            `json:"items_by_kind"`
	ItemJSONBytes       int64                     `json:"items_json_bytes"`
	FSBPods             int                       `json:"fsb_pods"`
	GuardedWorkloads    int                       `json:"guarded_workloads"`
	PodVolumeBackups    int                       `json:"podvolumebackups"`
	PVBCreateSeconds    float64                   `json:"podvolumebackups_create_seconds"`
	DriverReadSeconds   float64                   `json:"driver_backup_read_seconds"`
	LogLevel            string                    `json:"log_level"`
	URLDelayMs          float64                   `json:"download_url_delay_ms"`
	GzipMs              []float64                 `json:"gzip_dc_ms"`
	GzipMedianMs        float64                   `json:"gzip_dc_median_ms"`
	FirstItem           string                    `json:"first_item"`
	FirstDecisionMs     float64                   `json:"first_decision_ms"`
	FirstDecisionRatio  float64                   `json:"first_decision_ratio"`
	DownloadedInFirst   bool                      `json:"downloaded_during_first_execute"`
	RSSAfterFirstKB     map[string]int64          `json:"status_after_first_kb"`
	RSSAfterRestoreKB   map[string]int64          `json:"status_after_restore_kb"`
	SmapsAfterRestoreKB map[string]int64          `json:"smaps_rollup_after_restore_kb"`
	ScaleRSSMB          float64                   `json:"scale_rss_mb"`
	RSSAfterFirstMB     float64                   `json:"rss_after_first_mb"`
	First1000           scaleWindow               `json:"first_1000_after_first"`
	Last1000            scaleWindow               `json:"last_1000"`
	Growth              float64                   `json:"growth"`
	PerKind             map[string][2]scaleWindow `json:"per_kind_first_last_1000"`
	AllP50us            float64                   `json:"all_p50_us"`
	AllP99us            float64                   `json:"all_p99_us"`
	AllMaxMs            float64                   `json:"all_max_ms"`
	ExecuteSumSeconds   float64                   `json:"execute_sum_seconds"`
	RestoreWallSeconds  float64                   `json:"restore_wall_seconds"`
	Checked             map[string]int            `json:"checked"`
	BackupDownloads     int                       `json:"backup_downloads"`
	AfterTrimKB         map[string]int64          `json:"status_after_malloc_trim_kb,omitempty"`
	FirstRSSTimeline    [][2]float64              `json:"first_decision_rss_timeline_ms_mib"`
	RestoreRSS          [][2]float64              `json:"restore_rss_by_item_mib"`
	DebugFirst          *benchFirstRun            `json:"debug_first_item,omitempty"`
	DebugRSSKB          map[string]int64          `json:"debug_first_status_kb,omitempty"`
	LoadAvg             string                    `json:"loadavg_after"`
	Seconds             float64                   `json:"seconds"`
}

func windowOf(ds []time.Duration, kinds map[string]int) scaleWindow {
	if len(ds) == 0 {
		return scaleWindow{}
	}
	var ks []string
	for k, n := range kinds {
		ks = append(ks, fmt.Sprintf("%s:%d", k, n))
	}
	sort.Strings(ks)
	return scaleWindow{Items: len(ds), P50us: percentileUs(ds, 0.5), P99us: percentileUs(ds, 0.99), Kinds: strings.Join(ks, ",")}
}

func runBenchScale(ctx context.Context, o options) error {
	began := time.Now()
	so := scaleOpts
	if o.pluginDir == "" || so.backup == "" {
		return fmt.Errorf("bench-scale: --plugin-dir and --scale-backup are needed")
	}
	if so.rules == "" {
		so.rules = so.backup + ".rules.yaml"
	}
	if so.checkEvery < 1 {
		so.checkEvery = 1
	}
	// Our own clients: 5,000 PodVolumeBackups in seconds, not at the driver's usual 50 QPS.
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 5000, 10000
	c := clients{dyn: dynamic.NewForConfigOrDie(cfg), kube: kubernetes.NewForConfigOrDie(cfg)}
	_ = os.Setenv("FSB_E2E_BUILTINS", "emulated")
	rulesText, err := os.ReadFile(so.rules)
	if err != nil {
		return err
	}
	rules, err := parseModifierRules(string(rulesText))
	if err != nil {
		return err
	}
	st, err := os.Stat(so.backup)
	if err != nil {
		return err
	}
	rep := scaleReport{KubernetesVersion: serverVersion, Backup: so.backup, BackupBytes: st.Size(),
		BackupMB: float64(st.Size()) / (1 << 20), LogLevel: so.logLevel, URLDelayMs: float64(benchOpts.urlDelay.Microseconds()) / 1e3,
		ItemsByKind: map[string]int{}, Checked: map[string]int{}, PerKind: map[string][2]scaleWindow{}}

	// ------------------------------------------------------------ the backup's items
	t := time.Now()
	items, err := readScaleBackup(so.backup)
	if err != nil {
		return fmt.Errorf("bench-scale: reading %s: %w", so.backup, err)
	}
	rep.DriverReadSeconds = time.Since(t).Seconds()
	rep.Items = len(items)
	// FSB volumes of each pod (the legacy opt-in annotation), pods' ReplicaSets, ReplicaSets'
	// Deployments: which workloads are guarded and what T→T' each must carry.
	type podKey struct{ ns, name string }
	fsbVolumes := map[podKey][]string{}
	podRS := map[podKey]string{}
	rsDeploy := map[podKey]string{}
	deployments := map[podKey]*unstructured.Unstructured{}
	var fsbPods []*unstructured.Unstructured
	for _, it := range items {
		rep.ItemsByKind[it.kind()]++
		rep.ItemJSONBytes += int64(len(it.raw))
		u, err := it.object()
		if err != nil {
			return err
		}
		k := podKey{it.namespace, it.name}
		switch it.gvr {
		case gvrPods:
			if v := u.GetAnnotations()["backup.velero.io/backup-volumes"]; v != "" {
				fsbVolumes[k] = strings.Split(v, ",")
				fsbPods = append(fsbPods, u)
				podRS[k] = ownerName(u, "ReplicaSet")
			}
		case gvrReplicaSets:
			rsDeploy[k] = ownerName(u, "Deployment")
		case gvrDeployments:
			deployments[k] = u
		}
	}
	rep.FSBPods = len(fsbPods)
	if len(fsbPods) == 0 || len(items) < 2002 {
		return fmt.Errorf("bench-scale: the backup has %d items and %d FSB pods (at least 2,002 items and one FSB pod needed)", len(items), len(fsbPods))
	}
	// Per guarded Deployment: the correction (reference.go) its pods and ReplicaSet must carry.
	corrections := map[podKey]*referenceCorrection{} // Deployment → correction
	guardedRS := map[podKey]podKey{}                 // ReplicaSet → its Deployment
	for k, rs := range podRS {
		rk := podKey{k.ns, rs}
		dk := podKey{k.ns, rsDeploy[rk]}
		guardedRS[rk] = dk
		if _, done := corrections[dk]; done {
			continue
		}
		dep, ok := deployments[dk]
		if !ok {
			return fmt.Errorf("bench-scale: FSB pod %s/%s: no Deployment %s in the backup", k.ns, k.name, dk.name)
		}
		corr, err := newReferenceCorrection(scenario{}, backedUp{deployment: dep, fsbVolumes: map[string][]string{k.name: fsbVolumes[k]}}, rules)
		if err != nil {
			return err
		}
		if !corr.active {
			return fmt.Errorf("bench-scale: the rules do not change Deployment %s/%s's template (nothing for the guard to do)", dk.ns, dk.name)
		}
		corrections[dk] = corr
	}
	rep.GuardedWorkloads = len(corrections)
	fmt.Fprintf(os.Stderr, "driver: bench-scale: %s: %d items %v, %d FSB pods of %d guarded Deployments, read in %.1f s\n",
		so.backup, len(items), rep.ItemsByKind, len(fsbPods), len(corrections), rep.DriverReadSeconds)

	// ------------------------------------------------------------ the cluster side
	store, err := startBackupStore()
	if err != nil {
		return err
	}
	answerCtx, stopAnswering := context.WithCancel(ctx)
	defer stopAnswering()
	go store.answerDownloadRequestsWatching(answerCtx, c, benchOpts.urlDelay)
	backupName := "bk-scale-" + o.runID
	cmName := "scale-modifiers-" + o.runID
	store.addFile(backupName, so.backup)
	if _, err := c.kube.CoreV1().ConfigMaps(veleroNamespace).Create(ctx, configMap(cmName, string(rulesText)), metav1.CreateOptions{}); err != nil {
		return err
	}
	backupObj, err := createUnstructured(ctx, c, gvrBackups, veleroNamespace, map[string]interface{}{
		"apiVersion": "velero.io/v1", "kind": "Backup",
		"metadata": map[string]interface{}{"name": backupName, "namespace": veleroNamespace},
		"spec":     map[string]interface{}{"storageLocation": "default"},
		"status":   map[string]interface{}{"phase": "Completed", "formatVersion": "1.1.0"},
	})
	if err != nil {
		return err
	}
	// One Completed PodVolumeBackup per FSB volume, as the backup's node agents left them.
	t = time.Now()
	type pvbJob struct {
		i   int
		pod *unstructured.Unstructured
		vol string
	}
	jobs := make(chan pvbJob)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				pvb := map[string]interface{}{
					"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
					"metadata": map[string]interface{}{
						"name": fmt.Sprintf("%s-%05d", backupName, j.i), "namespace": veleroNamespace,
						"labels": map[string]interface{}{"velero.io/backup-name": validLabelValue(backupName),
							"velero.io/backup-uid": string(backupObj.GetUID())},
					},
					"spec": map[string]interface{}{
						"node": "source-node-1", "volume": j.vol, "backupStorageLocation": "default",
						"repoIdentifier": "s3:http://127.0.0.1/velero/kopia/" + j.pod.GetNamespace(), "uploaderType": "kopia",
						"pod": map[string]interface{}{"kind": "Pod", "namespace": j.pod.GetNamespace(), "name": j.pod.GetName(), "uid": string(j.pod.GetUID())},
					},
					"status": map[string]interface{}{"phase": "Completed", "snapshotID": fmt.Sprintf("5f3c%08x", j.i), "path": "/host_pods/x/volumes/" + j.vol},
				}
				if _, err := createUnstructured(ctx, c, gvrPVBs, veleroNamespace, pvb); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	n := 0
	for _, p := range fsbPods {
		for _, v := range fsbVolumes[podKey{p.GetNamespace(), p.GetName()}] {
			jobs <- pvbJob{n, p, v}
			n++
		}
	}
	close(jobs)
	wg.Wait()
	if e := firstErr.Load(); e != nil {
		return fmt.Errorf("bench-scale: creating PodVolumeBackups: %v", e)
	}
	rep.PodVolumeBackups = n
	rep.PVBCreateSeconds = time.Since(t).Seconds()
	fmt.Fprintf(os.Stderr, "driver: bench-scale: %d PodVolumeBackups created in %.1f s\n", n, rep.PVBCreateSeconds)

	// ------------------------------------------------------------ gzip -dc of the same file
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	for i := 0; i < so.gzipRuns; i++ {
		cmd := exec.Command("gzip", "-dc", so.backup)
		cmd.Stdout = devnull
		cmd.Stderr = os.Stderr
		t := time.Now()
		if err := cmd.Run(); err != nil {
			devnull.Close()
			return fmt.Errorf("bench-scale: gzip -dc %s: %w", so.backup, err)
		}
		rep.GzipMs = append(rep.GzipMs, float64(time.Since(t).Microseconds())/1e3)
	}
	devnull.Close()
	rep.GzipMedianMs = medianF(rep.GzipMs)
	fmt.Fprintf(os.Stderr, "driver: bench-scale: gzip -dc: %v ms\n", rep.GzipMs)

	// ------------------------------------------------------------ the restore
	seq := 0
	newRestore := func(what string) (*velerov1.Restore, error) {
		seq++
		meta := map[string]interface{}{"name": fmt.Sprintf("rs-scale-%s-%d-%s", what, seq, o.runID), "namespace": veleroNamespace}
		if benchOpts.guardMode != "" { // --guard-mode off: a check of the checks (the run must fail)
			meta["annotations"] = map[string]interface{}{"fsb-guard.io/mode": benchOpts.guardMode}
		}
		return createRestore(ctx, c, meta, map[string]interface{}{
			"backupName":       backupName,
			"resourceModifier": map[string]interface{}{"kind": "ConfigMap", "name": cmName},
		})
	}
	restore, err := newRestore("main")
	if err != nil {
		return err
	}
	s, err := openScaleSession(o.pluginDir, so.logLevel, restore)
	if err != nil {
		return err
	}
	defer s.plugins.close()
	fmt.Fprintf(os.Stderr, "driver: bench-scale: plugin pid %d (--log-level %s), %v before the first item\n", s.pid, so.logLevel,
		procStatus(s.pid, "VmRSS", "VmHWM"))

	durations := make([]time.Duration, 0, len(items))
	var problems []string
	nProblems := 0
	problem := func(f string, a ...interface{}) {
		nProblems++
		if len(problems) < 20 {
			problems = append(problems, fmt.Sprintf(f, a...))
		}
	}
	restoreStart := time.Now()
	var execSum time.Duration
	for i, it := range items {
		fromBackup, err := it.object()
		if err != nil {
			return err
		}
		k := podKey{it.namespace, it.name}
		in := scaleInput(fromBackup, it.gvr, restore, fsbVolumes[k])
		given := in.Item.(*unstructured.Unstructured).DeepCopy()
		before := store.downloads()
		var stopSampling chan struct{}
		var sampled chan [][2]float64
		if i == 0 {
			// The plugin's resident memory during the first decision, every 250 ms (/proc only).
			stopSampling, sampled = make(chan struct{}), make(chan [][2]float64, 1)
			go func(t0 time.Time) {
				var tl [][2]float64
				tick := time.NewTicker(250 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stopSampling:
						sampled <- tl
						return
					case <-tick.C:
						tl = append(tl, [2]float64{float64(time.Since(t0).Milliseconds()), float64(procStatus(s.pid, "VmRSS")["VmRSS"]) / 1024})
					}
				}
			}(time.Now())
		}
		out, d, err := executeScale(s.action, in)
		if i == 0 {
			close(stopSampling)
			rep.FirstRSSTimeline = <-sampled
		}
		if err != nil {
			return fmt.Errorf("bench-scale: Execute %s %s/%s (item %d): %w", it.kind(), it.namespace, it.name, i+1, err)
		}
		durations = append(durations, d)
		execSum += d
		if i == 0 {
			rep.FirstItem = fmt.Sprintf("%s %s/%s", it.kind(), it.namespace, it.name)
			rep.FirstDecisionMs = float64(d.Microseconds()) / 1e3
			rep.DownloadedInFirst = before == 0 && store.downloads() == 1
			rep.RSSAfterFirstKB = procStatus(s.pid, "VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads")
			fmt.Fprintf(os.Stderr, "driver: bench-scale: first item %s: %.1f ms; plugin %v\n", rep.FirstItem, rep.FirstDecisionMs, rep.RSSAfterFirstKB)
		}
		if (i+1)%5000 == 0 || i+1 == len(items) {
			rep.RestoreRSS = append(rep.RestoreRSS, [2]float64{float64(i + 1), float64(procStatus(s.pid, "VmRSS")["VmRSS"]) / 1024})
		}
		// Checks (outside the timed call).
		switch {
		case it.gvr == gvrPods && len(fsbVolumes[k]) > 0:
			corr := corrections[guardedRS[podKey{k.ns, podRS[k]}]]
			rep.Checked["fsb-pod corrected"]++
			if canonical(given.Object) == canonical(out.Object) {
				problem("FSB pod %s/%s left as given (not corrected)", k.ns, k.name)
			} else if err := checkCarriesIntent(out, corr.podPatch); err != nil {
				problem("FSB pod %s/%s: %v", k.ns, k.name, err)
			} else if out.GetName() != it.name {
				problem("FSB pod %s/%s renamed to %s", k.ns, k.name, out.GetName())
			} else if inits, _, _ := unstructured.NestedSlice(out.Object, "spec", "initContainers"); len(inits) == 0 || inits[0].(map[string]interface{})["name"] != "restore-wait" {
				problem("FSB pod %s/%s: restore-wait is not the first init container", k.ns, k.name)
			}
		case it.gvr == gvrReplicaSets && guardedRS[k] != (podKey{}):
			rep.Checked["replicaset corrected"]++
			tmpl, _, _ := unstructured.NestedMap(out.Object, "spec", "template")
			same, err := semanticallyEqualTemplates(tmpl, corrections[guardedRS[k]].tPrime)
			if err != nil || !same || canonical(given.Object) == canonical(out.Object) {
				problem("ReplicaSet %s/%s: its template is not T' (err %v)", k.ns, k.name, err)
			}
		case i%so.checkEvery == 0:
			rep.Checked[it.kind()+" unchanged"]++
			if canonical(given.Object) != canonical(out.Object) {
				problem("%s %s/%s changed (it must come back as given)", it.kind(), k.ns, k.name)
			}
		}
	}
	rep.RestoreWallSeconds = time.Since(restoreStart).Seconds()
	rep.ExecuteSumSeconds = execSum.Seconds()
	rep.RSSAfterRestoreKB = procStatus(s.pid, "VmRSS", "VmHWM", "VmPeak", "RssAnon", "RssFile", "Threads")
	rep.SmapsAfterRestoreKB = smapsRollup(s.pid)
	if so.trimProbe {
		out, err := exec.Command("gdb", "-p", strconv.Itoa(s.pid), "-batch", "-ex", "call (int)malloc_trim(0)").CombinedOutput()
		rep.AfterTrimKB = procStatus(s.pid, "VmRSS", "RssAnon")
		if err != nil {
			fmt.Fprintf(os.Stderr, "driver: bench-scale: gdb malloc_trim probe: %v: %s\n", err, out)
		}
	}
	s.plugins.close()
	rep.BackupDownloads = store.downloads()
	if rep.BackupDownloads != 1 {
		problem("the backup was downloaded %d times in the restore (once expected)", rep.BackupDownloads)
	}
	if !rep.DownloadedInFirst {
		problem("the first Execute did not download the backup (downloads before/after it did not go 0 → 1)")
	}
	if len(problems) > 0 {
		return fmt.Errorf("bench-scale: %d of the plugin's answers are not what they must be (the first %d): %s", nProblems, len(problems), strings.Join(problems, "; "))
	}
	rep.ScaleRSSMB = float64(rep.RSSAfterRestoreKB["VmHWM"]) / 1024
	rep.RSSAfterFirstMB = float64(rep.RSSAfterFirstKB["VmHWM"]) / 1024
	rep.FirstDecisionRatio = rep.FirstDecisionMs / rep.GzipMedianMs
	kindsOf := func(lo, hi int) map[string]int {
		m := map[string]int{}
		for _, it := range items[lo:hi] {
			m[it.kind()]++
		}
		return m
	}
	rep.First1000 = windowOf(durations[1:1001], kindsOf(1, 1001))
	rep.Last1000 = windowOf(durations[len(durations)-1000:], kindsOf(len(items)-1000, len(items)))
	rep.Growth = rep.Last1000.P50us / rep.First1000.P50us
	for _, kind := range []string{"pod", "replicaset", "deployment"} {
		var idx []int
		for i, it := range items {
			if i > 0 && it.kind() == kind {
				idx = append(idx, i)
			}
		}
		if len(idx) < 2000 {
			continue
		}
		pick := func(ix []int) []time.Duration {
			var ds []time.Duration
			for _, i := range ix {
				ds = append(ds, durations[i])
			}
			return ds
		}
		rep.PerKind[kind] = [2]scaleWindow{windowOf(pick(idx[:1000]), map[string]int{kind: 1000}), windowOf(pick(idx[len(idx)-1000:]), map[string]int{kind: 1000})}
	}
	rep.AllP50us = percentileUs(durations[1:], 0.5)
	rep.AllP99us = percentileUs(durations[1:], 0.99)
	mx := time.Duration(0)
	for _, d := range durations[1:] {
		if d > mx {
			mx = d
		}
	}
	rep.AllMaxMs = float64(mx.Microseconds()) / 1e3

	// ------------------------------------------------------------ the first item at debug level
	if so.firstDebug {
		r, err := newRestore("debug")
		if err != nil {
			return err
		}
		ds, err := openScaleSession(o.pluginDir, "debug", r)
		if err != nil {
			return err
		}
		it := items[0]
		fromBackup, _ := it.object()
		before := store.downloads()
		_, d, err := executeScale(ds.action, scaleInput(fromBackup, it.gvr, r, fsbVolumes[podKey{it.namespace, it.name}]))
		if err != nil {
			ds.plugins.close()
			return fmt.Errorf("bench-scale: debug first item: %w", err)
		}
		run := benchFirstRun{Restore: r.Name, FirstMs: float64(d.Microseconds()) / 1e3}
		run.Breakdown, run.BreakdownRaw = breakdownOf(ds.log)
		rep.DebugRSSKB = procStatus(ds.pid, "VmRSS", "VmHWM", "RssAnon", "RssFile")
		ds.plugins.close()
		rep.DebugFirst = &run
		if got := store.downloads() - before; got != 1 {
			return fmt.Errorf("bench-scale: the debug restore downloaded the backup %d times (once expected)", got)
		}
	}
	stopAnswering()
	rep.LoadAvg = loadAvg()
	rep.Seconds = time.Since(began).Seconds()
	printScaleReport(&rep)
	if err := writeReport(so.out, &rep); err != nil {
		return err
	}
	fmt.Printf("SCALE-BENCH: items=%d backup_mb=%d first_decision_ms=%d gzip_ms=%d first_decision_ratio=%.2f scale_rss_mb=%d rss_after_first_mb=%d p50_first_1000_us=%d p50_last_1000_us=%d growth=%.2f\n",
		rep.Items, int64(math.Round(rep.BackupMB)), int64(math.Round(rep.FirstDecisionMs)), int64(math.Round(rep.GzipMedianMs)),
		rep.FirstDecisionRatio, int64(math.Round(rep.ScaleRSSMB)), int64(math.Round(rep.RSSAfterFirstMB)),
		int64(math.Round(rep.First1000.P50us)), int64(math.Round(rep.Last1000.P50us)), rep.Growth)
	return nil
}

func printScaleReport(rep *scaleReport) {
	fmt.Printf("Scale restore through Velero's plugin client, Kubernetes %s: backup %s (%.0f MiB), %d items %v, %d FSB pods of %d guarded Deployments, %d PodVolumeBackups; plugin at --log-level %s\n",
		rep.KubernetesVersion, filepath.Base(rep.Backup), rep.BackupMB, rep.Items, rep.ItemsByKind, rep.FSBPods, rep.GuardedWorkloads, rep.PodVolumeBackups, rep.LogLevel)
	fmt.Printf("the restore's items as JSON in the backup (unversioned copies): %.1f MiB\n", float64(rep.ItemJSONBytes)/(1<<20))
	fmt.Printf("first decision (%s): %.0f ms; gzip -dc of the same file: median %.0f ms (runs %v); ratio %.2f (target <= 1.2)\n",
		rep.FirstItem, rep.FirstDecisionMs, rep.GzipMedianMs, rep.GzipMs, rep.FirstDecisionRatio)
	fmt.Printf("plugin memory: VmHWM %.1f MiB after the first decision, %.1f MiB after the restore (target <= 64 MB); after the restore %v, smaps_rollup %v\n",
		rep.RSSAfterFirstMB, rep.ScaleRSSMB, rep.RSSAfterRestoreKB, rep.SmapsAfterRestoreKB)
	fmt.Printf("plugin VmRSS during the first decision (ms: MiB):")
	for _, p := range rep.FirstRSSTimeline {
		fmt.Printf(" %.0f:%.0f", p[0], p[1])
	}
	fmt.Println()
	fmt.Printf("plugin VmRSS during the restore (items done: MiB):")
	for _, p := range rep.RestoreRSS {
		fmt.Printf(" %.0f:%.0f", p[0], p[1])
	}
	fmt.Println()
	if rep.AfterTrimKB != nil {
		fmt.Printf("diagnostic: after malloc_trim(0) in the plugin (gdb): %v\n", rep.AfterTrimKB)
	}
	fmt.Printf("Execute: items 2..1001 p50 %.0f µs p99 %.0f µs (%s); last 1000 p50 %.0f µs p99 %.0f µs (%s); growth (p50 last/first) %.2f\n",
		rep.First1000.P50us, rep.First1000.P99us, rep.First1000.Kinds, rep.Last1000.P50us, rep.Last1000.P99us, rep.Last1000.Kinds, rep.Growth)
	for _, k := range []string{"pod", "replicaset", "deployment"} {
		if w, ok := rep.PerKind[k]; ok {
			fmt.Printf("  %-10s first 1000 p50 %.0f µs p99 %.0f µs; last 1000 p50 %.0f µs p99 %.0f µs\n", k, w[0].P50us, w[0].P99us, w[1].P50us, w[1].P99us)
		}
	}
	fmt.Printf("all items after the first: p50 %.0f µs, p99 %.0f µs, max %.1f ms; Execute sum %.1f s, restore wall %.1f s (inputs and checks included)\n",
		rep.AllP50us, rep.AllP99us, rep.AllMaxMs, rep.ExecuteSumSeconds, rep.RestoreWallSeconds)
	fmt.Printf("checked: %v; backup downloads in the restore: %d (during the first Execute: %t)\n", rep.Checked, rep.BackupDownloads, rep.DownloadedInFirst)
	if d := rep.DebugFirst; d != nil {
		fmt.Printf("debug first item (fresh process, new restore, --log-level debug): %.0f ms; breakdown %v; plugin %v\n", d.FirstMs, d.Breakdown, rep.DebugRSSKB)
	}
	fmt.Printf("driver: backup read %.1f s, PodVolumeBackups created in %.1f s; load %s; %.0f s in all\n",
		rep.DriverReadSeconds, rep.PVBCreateSeconds, rep.LoadAvg, rep.Seconds)
}
