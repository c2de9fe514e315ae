package conformance

// Benchmarks (issue 6), driven through Velero's own plugin client exactly as
// the conformance checks are. Not part of the conformance run: TestBench
// skips unless FSB_BENCH_OUT names the JSON file to write, and
// tests/bench/run.sh runs it alone (-test.run '^TestBench$').
//
//	FSB_BENCH_OUT        where to write the figures (JSON)
//	FSB_BENCH_TARGETS    ';'-separated label=binary=pluginName[=ENV=value,...]
//	FSB_BENCH_COLD       cold starts per target (default 20)
//	FSB_BENCH_ITERS      timed Execute calls per item (default 400)
//
// No figure is asserted: timings only go to the JSON file.

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt/process"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

type benchTarget struct {
	Label, Bin, PluginName string
	Env                    map[string]string
}

type latency struct {
	Bytes      int     `json:"bytes"`
	Iterations int     `json:"iterations"`
	P50us      float64 `json:"p50_us"`
	P99us      float64 `json:"p99_us"`
	ItemsPerS  float64 `json:"items_per_s"`
	// Output is the item the plugin answered with (to compare the two
	// engines' results).
	Output map[string]interface{} `json:"output"`
}

type benchResult struct {
	Label         string             `json:"label"`
	ColdStartMs   []float64          `json:"cold_start_ms"`
	KillMs        []float64          `json:"kill_ms"`
	IdleRSSKiB    []int              `json:"idle_rss_kib"`
	PeakRSSKiB    int                `json:"peak_rss_kib"`
	Execute       map[string]latency `json:"execute"`
	ExecuteErrors []string           `json:"execute_errors,omitempty"`
}

func parseBenchTargets(t *testing.T, spec string) []benchTarget {
	var ts []benchTarget
	for _, part := range strings.Split(spec, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		fields := strings.SplitN(part, "=", 4)
		if len(fields) < 3 {
			t.Fatalf("bad FSB_BENCH_TARGETS entry %q (want label=binary=pluginName[=ENV=value,...])", part)
		}
		tg := benchTarget{Label: fields[0], Bin: fields[1], PluginName: fields[2], Env: map[string]string{}}
		if len(fields) == 4 {
			for _, kv := range strings.Split(fields[3], ",") {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("bad env %q in FSB_BENCH_TARGETS", kv)
				}
				tg.Env[k] = v
			}
		}
		ts = append(ts, tg)
	}
	return ts
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil && n > 0 {
		return n
	}
	return def
}

func TestBench(t *testing.T) {
	out := os.Getenv("FSB_BENCH_OUT")
	if out == "" {
		t.Skip("benchmarks run only with FSB_BENCH_OUT set (tests/bench/run.sh)")
	}
	// Plugins log at warning: neither side writes a line per item.
	os.Args = append([]string{os.Args[0]}, replaceArg(serverArgs, "debug", "warning")...)
	cold := envInt("FSB_BENCH_COLD", 20)
	iters := envInt("FSB_BENCH_ITERS", 400)
	items := map[string]*unstructured.Unstructured{
		"pod5k":         benchPod(5 << 10),
		"deployment50k": benchDeployment(50 << 10),
	}
	var results []benchResult
	for _, tg := range parseBenchTargets(t, os.Getenv("FSB_BENCH_TARGETS")) {
		t.Logf("=== %s (%s)", tg.Label, tg.Bin)
		results = append(results, benchOne(t, tg, items, cold, iters))
	}
	raw, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// latestPID is the pid of the newest process go-plugin started for path.
func latestPID(t *testing.T, out *syncBuffer, path string) int {
	es, err := out.entries()
	if err != nil {
		t.Fatal(err)
	}
	pid := 0
	for _, e := range es {
		if e.Msg == "plugin started" && (e.str("path") == path || e.str("cmd") == path) {
			if p, err := strconv.Atoi(e.str("pid")); err == nil {
				pid = p
			}
		}
	}
	if pid == 0 {
		t.Fatalf("no \"plugin started\" line with a pid for %s", path)
	}
	return pid
}

// vmHWM is the peak resident set of pid (KiB), from /proc/<pid>/status.
func vmHWM(pid int) int { return procStatusKiB(pid, "VmHWM") }

// procStatusKiB is a kB field of /proc/<pid>/status (VmHWM, VmRSS), -1 if unreadable.
func procStatusKiB(pid int, field string) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return n
		}
	}
	return -1
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

func benchOne(t *testing.T, tg benchTarget, items map[string]*unstructured.Unstructured, cold, iters int) benchResult {
	res := benchResult{Label: tg.Label, Execute: map[string]latency{}}
	// go-plugin hands the host's environment to the plugin process.
	for k, v := range tg.Env {
		t.Setenv(k, v)
	}
	defer func() {
		for k := range tg.Env {
			os.Unsetenv(k)
		}
	}()
	dir := t.TempDir()
	path := installPlugin(t, dir, tg.Bin)
	logger, logs := capturingLogger()
	registry := process.NewRegistry(dir, logger, logrus.DebugLevel)
	if err := registry.DiscoverPlugins(); err != nil {
		t.Fatalf("DiscoverPlugins: %v", err)
	}
	restore := testRestore()

	// Cold start: GetRestoreItemActionV2 starts the process (exec, handshake
	// line read, gRPC connection, dispense); AppliesTo is the first call.
	// CleanupClients then asks it to stop and waits for it to be gone.
	for i := 0; i < cold; i++ {
		manager := clientmgmt.NewManager(logger, logrus.DebugLevel, registry)
		begin := time.Now()
		action, err := manager.GetRestoreItemActionV2(tg.PluginName)
		if err != nil {
			t.Fatalf("GetRestoreItemActionV2: %v", err)
		}
		if _, err := action.AppliesTo(); err != nil {
			t.Fatalf("AppliesTo: %v", err)
		}
		res.ColdStartMs = append(res.ColdStartMs, ms(time.Since(begin)))
		res.IdleRSSKiB = append(res.IdleRSSKiB, vmHWM(latestPID(t, logs, path)))
		begin = time.Now()
		manager.CleanupClients()
		res.KillMs = append(res.KillMs, ms(time.Since(begin)))
	}

	// Execute: one process, sequential calls, as Velero restores items.
	manager := clientmgmt.NewManager(logger, logrus.DebugLevel, registry)
	action, err := manager.GetRestoreItemActionV2(tg.PluginName)
	if err != nil {
		t.Fatalf("GetRestoreItemActionV2: %v", err)
	}
	pid := latestPID(t, logs, path)
	names := make([]string, 0, len(items))
	for name := range items {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		item := items[name]
		size, _ := item.MarshalJSON()
		call := func() (*velero.RestoreItemActionExecuteOutput, error) {
			return action.Execute(&velero.RestoreItemActionExecuteInput{
				Item: item.DeepCopy(), ItemFromBackup: item, Restore: restore,
			})
		}
		var last *velero.RestoreItemActionExecuteOutput
		for i := 0; i < iters/10+5; i++ { // warm-up
			if last, err = call(); err != nil {
				res.ExecuteErrors = append(res.ExecuteErrors, fmt.Sprintf("%s: %v", name, err))
				break
			}
		}
		if err != nil {
			continue
		}
		durations := make([]time.Duration, 0, iters)
		begin := time.Now()
		for i := 0; i < iters; i++ {
			start := time.Now()
			if _, err := call(); err != nil {
				t.Fatalf("Execute %s: %v", name, err)
			}
			durations = append(durations, time.Since(start))
		}
		total := time.Since(begin)
		sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
		pct := func(p float64) float64 {
			return float64(durations[int(p*float64(len(durations)-1))].Nanoseconds()) / 1e3
		}
		res.Execute[name] = latency{
			Bytes: len(size), Iterations: iters, P50us: pct(0.50), P99us: pct(0.99),
			ItemsPerS: float64(iters) / total.Seconds(),
			Output:    last.UpdatedItem.UnstructuredContent(),
		}
	}
	res.PeakRSSKiB = vmHWM(pid)
	manager.CleanupClients()
	return res
}

// benchPod is a restored web pod (two containers, volumes, probes) padded with
// env entries to at least size bytes of JSON.
func benchPod(size int) *unstructured.Unstructured {
	container := func(name, image string) map[string]interface{} {
		return map[string]interface{}{
			"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
			"ports":        []interface{}{map[string]interface{}{"name": "http", "containerPort": int64(8080), "protocol": "TCP"}},
			"env":          []interface{}{},
			"resources":    map[string]interface{}{"requests": map[string]interface{}{"cpu": "100m", "memory": "128Mi"}, "limits": map[string]interface{}{"memory": "256Mi"}},
			"volumeMounts": []interface{}{map[string]interface{}{"name": "data", "mountPath": "/var/lib/web"}},
			"readinessProbe": map[string]interface{}{
				"httpGet": map[string]interface{}{"path": "/healthz", "port": "http"}, "periodSeconds": int64(5),
			},
		}
	}
	spec := map[string]interface{}{
		"containers":         []interface{}{container("web", "web:1.4.2"), container("metrics", "exporter:0.9")},
		"initContainers":     []interface{}{map[string]interface{}{"name": "restore-wait", "image": "velero/velero-restore-helper:v1.18.1", "command": []interface{}{"/velero-restore-helper"}}},
		"volumes":            []interface{}{map[string]interface{}{"name": "data", "persistentVolumeClaim": map[string]interface{}{"claimName": "web-data"}}},
		"serviceAccountName": "web", "nodeName": "node-1", "restartPolicy": "Always",
	}
	pod := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]interface{}{
			"name": "web-7d4b9c8f6-x2x9z", "namespace": "shop",
			"labels":      map[string]interface{}{"app": "web", "pod-template-hash": "7d4b9c8f6"},
			"annotations": map[string]interface{}{"backup.velero.io/backup-volumes": "data"},
		},
		"spec": spec,
	}}
	padEnv(pod, []string{"spec", "containers"}, size)
	return pod
}

// benchDeployment is a Deployment of four containers padded with env entries
// to at least size bytes of JSON.
func benchDeployment(size int) *unstructured.Unstructured {
	pod := benchPod(0)
	tmplSpec := pod.Object["spec"].(map[string]interface{})
	delete(tmplSpec, "nodeName")
	delete(tmplSpec, "initContainers")
	containers := tmplSpec["containers"].([]interface{})
	for _, n := range []string{"cache", "proxy"} {
		c := map[string]interface{}{"name": n, "image": n + ":2", "env": []interface{}{}}
		containers = append(containers, c)
	}
	tmplSpec["containers"] = containers
	dep := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]interface{}{
			"name": "web", "namespace": "shop", "labels": map[string]interface{}{"app": "web"},
		},
		"spec": map[string]interface{}{
			"replicas": int64(3),
			"selector": map[string]interface{}{"matchLabels": map[string]interface{}{"app": "web"}},
			"template": map[string]interface{}{
				"metadata": map[string]interface{}{"labels": map[string]interface{}{"app": "web"}},
				"spec":     tmplSpec,
			},
		},
	}}
	padEnv(dep, []string{"spec", "template", "spec", "containers"}, size)
	return dep
}

// padEnv adds env entries round-robin to the containers at path until the
// object's JSON is at least size bytes.
func padEnv(obj *unstructured.Unstructured, path []string, size int) {
	containers, _, _ := unstructured.NestedSlice(obj.Object, path...)
	for i := 0; ; i++ {
		raw, _ := json.Marshal(obj.Object)
		if len(raw) >= size {
			return
		}
		c := containers[i%len(containers)].(map[string]interface{})
		env, _ := c["env"].([]interface{})
		c["env"] = append(env, map[string]interface{}{
			"name": fmt.Sprintf("SETTING_%04d", i), "value": fmt.Sprintf("value-%04d-%s", i, strings.Repeat("v", 24)),
		})
		_ = unstructured.SetNestedSlice(obj.Object, containers, path...)
	}
}
