package main

// Scenarios for StatefulSets, DaemonSets and replica-count changes (issues 7 and 8).
//
// Their backups are not hand-written: each scenario first runs its workload in a source namespace of
// the same cluster, lets the real controller create the ControllerRevisions (and, for StatefulSets and
// DaemonSets, the pods), and captures those objects as Velero's backup would hold them (namespace
// "shop", status kept). So the revision names and the `data` bytes are exactly what this Kubernetes
// version's controller computes (≤1.33 with `creationTimestamp:null`, ≥1.34 without), and the pods
// carry the controller's own identity labels. The source StatefulSets run with
// podManagementPolicy Parallel so all pods exist without a kubelet; the backed-up copy gets the
// scenario's policy (OrderedReady by default) — the policy is not part of the revision data.
//
// There is no kubelet: restored pods stay Pending, as they do while restore-wait waits. StatefulSet
// scenarios then play "restore-wait finished": the driver writes status Running + Ready through the
// status subresource (OrderedReady does nothing before every pod is Running and Ready, facts §2.4),
// and the observation window starts after that. DaemonSets need a Node: the driver creates one
// (no kubelet, no taints) that the DaemonSet's pods are pinned to by the controller's node affinity.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"
)

const (
	daemonNode  = "fsb-e2e-node-1" // the one Node DaemonSet pods are pinned to
	imageBefore = "registry.example/shop/db:1.0"
	imageMid    = "registry.example/shop/db:1.1" // the source's own in-flight rollout (partitioned scenario)
	imageAfter  = "registry.example/shop/db:2.0" // what the restore's modifier sets
)

// wlScenario is one workload restore with its expected outcome per mode.
type wlScenario struct {
	name  string
	kind  string // StatefulSet | DaemonSet | Deployment
	group string // summary bucket: sts | ds | replicas
	rules string
	sts   *stsSource // kind StatefulSet
	// excludeCRs: Restore.spec.excludedResources lists controllerrevisions.apps.
	excludeCRs bool
	// fsbOrdinals: which pods hold PodVolumeBackups (StatefulSet ordinals; Deployment pod index).
	fsbOrdinals []int
	// markReady: play "restore-wait finished" (Running + Ready) after the restore.
	markReady bool
	// fromSaved: restore the backup another scenario captured on the previous Kubernetes version
	// (--load-backups) instead of capturing one here: a cross-version restore.
	fromSaved string
	// dsUpdatedOnce: the source DaemonSet's template is changed once after its first pod exists, so
	// the backed-up pod carries pod-template-generation 2 and the backup holds two revisions.
	dsUpdatedOnce bool
	judge         func(w *wlState) wlVerdict
}

// stsSource describes the StatefulSet that runs in the source namespace.
type stsSource struct {
	replicas  int
	onDelete  bool
	partition int
	// midRollout: after the first revision exists, the source updates its image (imageMid), so the
	// ordinals ≥ partition run a second revision and the backup holds both.
	midRollout bool
	// policy of the backed-up StatefulSet ("" = OrderedReady).
	policy string
}

func stsRules(name string, affinity bool) string {
	r := fmt.Sprintf(`version: v1
resourceModifierRules:
- conditions:
    groupResource: statefulsets.apps
    resourceNameRegex: "^%s$"
  patches:
  - operation: replace
    path: "/spec/template/spec/containers/0/image"
    value: "%s"
`, name, imageAfter)
	if affinity {
		r += `  - operation: add
    path: "/spec/template/spec/affinity"
    value: '{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["zone-b"]}]}]}}}'
`
	}
	return r
}

func replicaRules(groupResource, name string, replicas int) string {
	return fmt.Sprintf(`version: v1
resourceModifierRules:
- conditions:
    groupResource: %s
    resourceNameRegex: "^%s$"
  patches:
  - operation: replace
    path: "/spec/replicas"
    value: "%d"
`, groupResource, name, replicas)
}

const dsEnvRules = `version: v1
resourceModifierRules:
- conditions:
    groupResource: daemonsets.apps
    resourceNameRegex: "^node-agent-db$"
  patches:
  - operation: add
    path: "/spec/template/spec/containers/0/env"
    value: '[{"name":"RESTORED","value":"true"}]'
`

// dsAnnotationsReplacedRules: a realistic rule that replaces the DaemonSet's whole annotation map
// (dropping deprecated.daemonset.template.generation with it), plus an env change in the template.
// The API server then stores the DaemonSet at generation 1 (facts §3: no annotation → 1) while the
// backed-up pod, from a source updated once, carries pod-template-generation 2.
const dsAnnotationsReplacedRules = `version: v1
resourceModifierRules:
- conditions:
    groupResource: daemonsets.apps
    resourceNameRegex: "^node-agent-db$"
  patches:
  - operation: replace
    path: "/metadata/annotations"
    value: '{"example.com/owner":"platform-team"}'
  - operation: add
    path: "/spec/template/spec/containers/0/env"
    value: '[{"name":"RESTORED","value":"true"}]'
`

var wlScenarios = []wlScenario{
	{name: "replicas-deploy", kind: "Deployment", group: "replicas", rules: replicaRules("deployments.apps", "shared-db", 1),
		fsbOrdinals: []int{2}, judge: judgeReplicaDeployment},
	{name: "replicas-sts", kind: "StatefulSet", group: "replicas", rules: replicaRules("statefulsets.apps", "db", 1),
		sts: &stsSource{replicas: 3}, fsbOrdinals: []int{0, 1, 2}, markReady: true, judge: judgeReplicaSTS},
	// Both issues at once: 3 → 1 and an image change. The revision the kept pod points to must carry
	// T' and the skipped ordinals must not come back.
	{name: "replicas-sts-image", kind: "StatefulSet", group: "replicas", rules: stsRules("db", false) + `  - operation: replace
    path: "/spec/replicas"
    value: "1"
`, sts: &stsSource{replicas: 3}, fsbOrdinals: []int{0, 1, 2}, markReady: true, judge: judgeReplicaAndTemplate},
	{name: "sts-rolling", kind: "StatefulSet", group: "sts", rules: stsRules("db", true),
		sts: &stsSource{replicas: 3}, fsbOrdinals: []int{0, 1, 2}, markReady: true, judge: judgeSTSTemplate},
	{name: "sts-ondelete", kind: "StatefulSet", group: "sts", rules: stsRules("db", false),
		sts: &stsSource{replicas: 3, onDelete: true}, fsbOrdinals: []int{0, 1, 2}, markReady: true, judge: judgeSTSTemplate},
	{name: "sts-partition", kind: "StatefulSet", group: "sts", rules: stsRules("db", false),
		sts: &stsSource{replicas: 3, partition: 2, midRollout: true}, fsbOrdinals: []int{0, 1, 2}, markReady: true, judge: judgeSTSTemplate},
	// Parallel, pods still in restore-wait (not marked Ready): the controller does not wait for
	// readiness, so without the plugin it deletes the highest ordinal mid-restore (facts §2.4).
	{name: "sts-parallel", kind: "StatefulSet", group: "sts", rules: stsRules("db", false),
		sts: &stsSource{replicas: 3, policy: "Parallel"}, fsbOrdinals: []int{0, 1, 2}, judge: judgeSTSTemplate},
	{name: "sts-no-revisions", kind: "StatefulSet", group: "sts", rules: stsRules("db", false), excludeCRs: true,
		sts: &stsSource{replicas: 3}, fsbOrdinals: []int{0, 1, 2}, markReady: true, judge: judgeSTSTemplate},
	// The sts-rolling backup captured on the previous version of K8S_VERSIONS, restored here: its
	// revision data is in the other version's encoding (facts §2.1), so without the plugin the
	// controller computes another revision even for an unchanged template.
	{name: "sts-cross-version", kind: "StatefulSet", group: "sts", rules: stsRules("db", true), fromSaved: "sts-rolling",
		sts: &stsSource{replicas: 3}, fsbOrdinals: []int{0, 1, 2}, markReady: true, judge: judgeSTSTemplate},
	{name: "ds-env", kind: "DaemonSet", group: "ds", rules: dsEnvRules, fsbOrdinals: []int{0}, judge: judgeDaemonSet},
	// The generation the API server stores differs from the pods' label: without the plugin the
	// RollingUpdate controller deletes the FSB pod (not available in restore-wait) at once.
	{name: "ds-annotations-replaced", kind: "DaemonSet", group: "ds", rules: dsAnnotationsReplacedRules,
		dsUpdatedOnce: true, fsbOrdinals: []int{0}, judge: judgeDaemonSetGeneration},
}

// wlBackup is what the backup holds for one workload scenario.
type wlBackup struct {
	items      []*unstructured.Unstructured
	fsbVolumes map[string][]string
	workload   string // the workload's name
	// updateRevision: the revision the backed-up StatefulSet was rolling to (its status); for the
	// partitioned scenario also the older one the low ordinals run.
	updateRevision, currentRevision string
	podRevision                     map[string]string // pod name → controller-revision-hash in the backup
	fsbPod                          string            // replicas-deploy: the pod that holds the PodVolumeBackup
	takenOn                         string            // the source apiserver's version, for a loaded backup
}

// ---------------------------------------------------------------------------------------------
// Source workloads

func podTemplateFor(app, image string) map[string]interface{} {
	return map[string]interface{}{
		"metadata": map[string]interface{}{"labels": map[string]interface{}{"app": app}},
		"spec": map[string]interface{}{
			"containers": []interface{}{map[string]interface{}{
				"name": "app", "image": image,
				"volumeMounts": []interface{}{map[string]interface{}{"name": "data", "mountPath": "/data"}},
			}},
			"volumes": []interface{}{map[string]interface{}{"name": "data", "emptyDir": map[string]interface{}{}}},
		},
	}
}

// waitFor polls cond every 200 ms for up to 60 s.
func waitFor(what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("source: timed out waiting for %s (%v)", what, last)
}

func listIn(ctx context.Context, c clients, gvrKind string, ns, selector string) ([]unstructured.Unstructured, error) {
	gvr := map[string]schema.GroupVersionResource{"Pod": gvrPods, "ControllerRevision": gvrControllerRevisions}[gvrKind]
	l, err := c.dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// asBackedUp turns a live source object into the backup's copy: namespace "shop", managedFields
// dropped (Velero's backup keeps them, but they only add noise here).
func asBackedUp(u unstructured.Unstructured) *unstructured.Unstructured {
	o := u.DeepCopy()
	o.SetNamespace(sourceNamespace)
	o.SetManagedFields(nil)
	return o
}

// backedUpPod adds what a running source pod has and our controller-created one lacks: a node and
// a Running status.
func backedUpPod(u unstructured.Unstructured, node string) *unstructured.Unstructured {
	p := asBackedUp(u)
	_ = unstructured.SetNestedField(p.Object, node, "spec", "nodeName")
	_ = unstructured.SetNestedField(p.Object, map[string]interface{}{"phase": "Running", "podIP": "10.0.0.7"}, "status")
	return p
}

func prepareStatefulSet(ctx context.Context, c clients, srcNS string, s wlScenario) (*wlBackup, error) {
	const name = "db"
	src := s.sts
	strategy := map[string]interface{}{"type": "RollingUpdate",
		"rollingUpdate": map[string]interface{}{"partition": int64(src.partition)}}
	if src.onDelete {
		strategy = map[string]interface{}{"type": "OnDelete"}
	}
	set := map[string]interface{}{
		"apiVersion": "apps/v1", "kind": "StatefulSet",
		"metadata": map[string]interface{}{"name": name, "namespace": srcNS, "labels": map[string]interface{}{"app": name}},
		"spec": map[string]interface{}{
			"replicas": int64(src.replicas), "serviceName": name, "podManagementPolicy": "Parallel",
			"selector":       map[string]interface{}{"matchLabels": map[string]interface{}{"app": name}},
			"updateStrategy": strategy,
			"template":       podTemplateFor(name, imageBefore),
		},
	}
	if _, err := createUnstructured(ctx, c, gvrStatefulSets, srcNS, set); err != nil {
		return nil, err
	}
	settled := func(wantRevisions int, check func(pods []unstructured.Unstructured, update string) bool) (bool, error) {
		sts, err := c.dyn.Resource(gvrStatefulSets).Namespace(srcNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		og, _, _ := unstructured.NestedInt64(sts.Object, "status", "observedGeneration")
		update, _, _ := unstructured.NestedString(sts.Object, "status", "updateRevision")
		if og != sts.GetGeneration() || update == "" {
			return false, nil
		}
		crs, err := listIn(ctx, c, "ControllerRevision", srcNS, "")
		if err != nil || len(crs) != wantRevisions {
			return false, err
		}
		pods, err := listIn(ctx, c, "Pod", srcNS, "app="+name)
		if err != nil || len(pods) != src.replicas {
			return false, err
		}
		for _, p := range pods {
			if p.GetDeletionTimestamp() != nil {
				return false, nil
			}
		}
		return check(pods, update), nil
	}
	allAt := func(pods []unstructured.Unstructured, update string) bool {
		for _, p := range pods {
			if p.GetLabels()["controller-revision-hash"] != update {
				return false
			}
		}
		return true
	}
	if err := waitFor("StatefulSet pods at the first revision", func() (bool, error) { return settled(1, allAt) }); err != nil {
		return nil, err
	}
	if src.midRollout {
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, imageMid)
		if _, err := c.dyn.Resource(gvrStatefulSets).Namespace(srcNS).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return nil, err
		}
		partitioned := func(pods []unstructured.Unstructured, update string) bool {
			for _, p := range pods {
				atUpdate := p.GetLabels()["controller-revision-hash"] == update
				if atUpdate != (ordinal(p.GetName()) >= src.partition) {
					return false
				}
			}
			return true
		}
		if err := waitFor("the source's partitioned rollout", func() (bool, error) { return settled(2, partitioned) }); err != nil {
			return nil, err
		}
	}
	b := &wlBackup{fsbVolumes: map[string][]string{}, workload: name, podRevision: map[string]string{}}
	sts, err := c.dyn.Resource(gvrStatefulSets).Namespace(srcNS).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	bs := asBackedUp(*sts)
	policy := src.policy
	if policy == "" {
		policy = "OrderedReady"
	}
	_ = unstructured.SetNestedField(bs.Object, policy, "spec", "podManagementPolicy")
	b.updateRevision, _, _ = unstructured.NestedString(sts.Object, "status", "updateRevision")
	b.currentRevision, _, _ = unstructured.NestedString(sts.Object, "status", "currentRevision")
	b.items = append(b.items, bs)
	crs, err := listIn(ctx, c, "ControllerRevision", srcNS, "")
	if err != nil {
		return nil, err
	}
	for _, cr := range crs {
		b.items = append(b.items, asBackedUp(cr))
	}
	pods, err := listIn(ctx, c, "Pod", srcNS, "app="+name)
	if err != nil {
		return nil, err
	}
	for _, p := range pods {
		bp := backedUpPod(p, "source-node-1")
		b.items = append(b.items, bp)
		b.podRevision[bp.GetName()] = bp.GetLabels()["controller-revision-hash"]
		for _, o := range s.fsbOrdinals {
			if ordinal(bp.GetName()) == o {
				b.fsbVolumes[bp.GetName()] = []string{"data"}
			}
		}
	}
	return b, nil
}

func prepareDaemonSet(ctx context.Context, c clients, srcNS string, s wlScenario) (*wlBackup, error) {
	const name = "node-agent-db"
	ds := map[string]interface{}{
		"apiVersion": "apps/v1", "kind": "DaemonSet",
		"metadata": map[string]interface{}{"name": name, "namespace": srcNS, "labels": map[string]interface{}{"app": name}},
		"spec": map[string]interface{}{
			"selector": map[string]interface{}{"matchLabels": map[string]interface{}{"app": name}},
			"updateStrategy": map[string]interface{}{"type": "RollingUpdate",
				"rollingUpdate": map[string]interface{}{"maxUnavailable": int64(1), "maxSurge": int64(0)}},
			"template": podTemplateFor(name, imageBefore),
		},
	}
	if _, err := createUnstructured(ctx, c, gvrDaemonSets, srcNS, ds); err != nil {
		return nil, err
	}
	var pods, crs []unstructured.Unstructured
	// settled: one live pod at the given template generation, with its hash label, and that many
	// revisions (one per template the controller has seen).
	settled := func(generation string, revisions int) func() (bool, error) {
		return func() (bool, error) {
			var err error
			if pods, err = listIn(ctx, c, "Pod", srcNS, "app="+name); err != nil || len(pods) != 1 {
				return false, err
			}
			if crs, err = listIn(ctx, c, "ControllerRevision", srcNS, ""); err != nil || len(crs) != revisions {
				return false, err
			}
			l := pods[0].GetLabels()
			return pods[0].GetDeletionTimestamp() == nil && l["controller-revision-hash"] != "" &&
				l["pod-template-generation"] == generation, nil
		}
	}
	if err := waitFor("the DaemonSet's pod and revision", settled("1", 1)); err != nil {
		return nil, err
	}
	if s.dsUpdatedOnce {
		// The source's own update: the controller deletes the old pod (not available without a
		// kubelet) and creates one at generation 2 from a second revision.
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, imageMid)
		if _, err := c.dyn.Resource(gvrDaemonSets).Namespace(srcNS).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return nil, err
		}
		if err := waitFor("the source DaemonSet's pod at generation 2", settled("2", 2)); err != nil {
			return nil, err
		}
	}
	live, err := c.dyn.Resource(gvrDaemonSets).Namespace(srcNS).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	b := &wlBackup{fsbVolumes: map[string][]string{}, workload: name, podRevision: map[string]string{}}
	b.items = append(b.items, asBackedUp(*live))
	for _, cr := range crs {
		b.items = append(b.items, asBackedUp(cr))
	}
	bp := backedUpPod(pods[0], daemonNode)
	b.items = append(b.items, bp)
	b.podRevision[bp.GetName()] = bp.GetLabels()["controller-revision-hash"]
	b.fsbVolumes[bp.GetName()] = []string{"data"}
	return b, nil
}

// prepareReplicaDeployment reuses the hand-written Deployment backup (3 pods) with one shared
// ReadWriteMany claim instead of the per-pod emptyDir: Velero backs a shared volume up through one
// pod, so only that pod has a PodVolumeBackup. It is the last pod by name, so "first by name" would
// pick wrong.
func prepareReplicaDeployment(s wlScenario) *wlBackup {
	d := scenario{name: s.name, deploy: "shared-db", replicas: 3, strategy: "RollingUpdate", fsb: true}.backup()
	claim := []interface{}{map[string]interface{}{"name": "data",
		"persistentVolumeClaim": map[string]interface{}{"claimName": "shared-data"}}}
	b := &wlBackup{fsbVolumes: map[string][]string{}, workload: "shared-db", podRevision: map[string]string{}}
	for _, o := range append([]*unstructured.Unstructured{d.deployment, d.replicaSet}, d.pods...) {
		path := []string{"spec", "template", "spec", "volumes"}
		if o.GetKind() == "Pod" {
			path = []string{"spec", "volumes"}
		}
		_ = unstructured.SetNestedSlice(o.Object, claim, path...)
		b.items = append(b.items, o)
	}
	names := []string{}
	for _, p := range d.pods {
		names = append(names, p.GetName())
	}
	sort.Strings(names)
	b.fsbPod = names[s.fsbOrdinals[0]]
	b.fsbVolumes[b.fsbPod] = []string{"data"}
	return b
}

// ensureDaemonNode creates the Node DaemonSet pods go to. The apiserver's TaintNodesByCondition
// admission gives a new Node the not-ready:NoSchedule taint, which only a kubelet's Ready status (and
// the node lifecycle controller, not running here) would lift; the driver lifts it itself.
// savedBackup is a wlBackup on disk, for the next Kubernetes version's cross-version scenario.
type savedBackup struct {
	Items           []map[string]interface{} `json:"items"`
	FSBVolumes      map[string][]string      `json:"fsbVolumes"`
	Workload        string                   `json:"workload"`
	UpdateRevision  string                   `json:"updateRevision"`
	CurrentRevision string                   `json:"currentRevision"`
	PodRevision     map[string]string        `json:"podRevision"`
	ServerVersion   string                   `json:"serverVersion"`
}

func saveBackup(path string, b *wlBackup) error {
	sb := savedBackup{FSBVolumes: b.fsbVolumes, Workload: b.workload, UpdateRevision: b.updateRevision,
		CurrentRevision: b.currentRevision, PodRevision: b.podRevision, ServerVersion: serverVersion}
	for _, it := range b.items {
		sb.Items = append(sb.Items, it.Object)
	}
	raw, err := json.Marshal(sb)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

func loadBackup(path string) (*wlBackup, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sb savedBackup
	if err := json.Unmarshal(raw, &sb); err != nil {
		return nil, err
	}
	b := &wlBackup{fsbVolumes: sb.FSBVolumes, workload: sb.Workload, updateRevision: sb.UpdateRevision,
		currentRevision: sb.CurrentRevision, podRevision: sb.PodRevision, takenOn: sb.ServerVersion}
	for _, o := range sb.Items {
		b.items = append(b.items, &unstructured.Unstructured{Object: o})
	}
	return b, nil
}

func ensureDaemonNode(ctx context.Context, c clients) error {
	_, err := c.kube.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: daemonNode,
		Labels: map[string]string{"kubernetes.io/hostname": daemonNode, "topology.kubernetes.io/zone": "zone-b"}}},
		metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.kube.CoreV1().Nodes().Get(ctx, daemonNode, metav1.GetOptions{})
		if err != nil || len(n.Spec.Taints) == 0 {
			return err
		}
		n.Spec.Taints = nil
		_, err = c.kube.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
}

// ---------------------------------------------------------------------------------------------
// Restore and observation

type wlRun struct {
	s      wlScenario
	b      *wlBackup
	obs    *observation
	srcNS  string
	deaths map[string]bool // restored pods seen deleted (or replaced) at any poll
	order  []string        // the order in which restored pods were seen gone
	gone   *podDeaths      // deletions as the pod watch saw them, in order
}

// podDeaths records, from a watch on the target namespace started before the restore, the order in
// which pods get a deletionTimestamp or disappear (polls cannot order two deletions 1 ms apart).
type podDeaths struct {
	mu    sync.Mutex
	seen  map[types.UID]bool
	order []types.UID
}

func watchPodDeaths(ctx context.Context, c clients, ns string) (*podDeaths, error) {
	d := &podDeaths{seen: map[types.UID]bool{}}
	w, err := c.kube.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	go func() {
		for ev := range w.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || (ev.Type != watch.Deleted && p.DeletionTimestamp == nil) {
				continue
			}
			d.mu.Lock()
			if !d.seen[p.UID] {
				d.seen[p.UID] = true
				d.order = append(d.order, p.UID)
			}
			d.mu.Unlock()
		}
	}()
	return d, nil
}

// names maps the recorded deletions to restored pod names (uid → name), in deletion order.
func (d *podDeaths) names(restored map[string]string) []string {
	byUID := map[types.UID]string{}
	for n, u := range restored {
		byUID[types.UID(u)] = n
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, u := range d.order {
		if n, ok := byUID[u]; ok {
			out = append(out, n)
		}
	}
	return out
}

func restoreWorkload(ctx context.Context, c clients, o options, s wlScenario, store *backupStore) (*wlRun, error) {
	srcNS := fmt.Sprintf("src-%s-%s-%s", s.name, o.mode, o.runID)
	if err := ensureNamespace(ctx, c, srcNS); err != nil {
		return nil, err
	}
	var b *wlBackup
	var err error
	switch {
	case s.fromSaved != "":
		b, err = loadBackup(filepath.Join(o.loadBackups, s.fromSaved+"-"+o.mode+".json"))
	case s.kind == "StatefulSet":
		b, err = prepareStatefulSet(ctx, c, srcNS, s)
	case s.kind == "DaemonSet":
		b, err = prepareDaemonSet(ctx, c, srcNS, s)
	case s.kind == "Deployment":
		b = prepareReplicaDeployment(s)
	}
	if err == nil && o.saveBackups != "" && s.fromSaved == "" {
		err = saveBackup(filepath.Join(o.saveBackups, s.name+"-"+o.mode+".json"), b)
	}
	if err != nil {
		return nil, err
	}
	targetNS := fmt.Sprintf("%s-%s-%s", s.name, o.mode, o.runID)
	if err := ensureNamespace(ctx, c, targetNS); err != nil {
		return nil, err
	}
	gone, err := watchPodDeaths(ctx, c, targetNS)
	if err != nil {
		return nil, err
	}
	job := restoreJob{name: s.name, items: b.items, fsbVolumes: b.fsbVolumes, rules: s.rules}
	if s.excludeCRs {
		job.excluded = []string{"controllerrevisions.apps"}
	}
	obs, err := restoreItems(ctx, c, o, job, store)
	if err != nil {
		return nil, err
	}
	if s.markReady {
		if err := markReady(ctx, c, obs); err != nil {
			return nil, err
		}
		obs.createdAt = time.Now()
	}
	return &wlRun{s: s, b: b, obs: obs, srcNS: srcNS, deaths: map[string]bool{}, gone: gone}, nil
}

// markReady plays "restore-wait finished and the app started": status Running with every
// condition True, written through the status subresource as a kubelet would.
func markReady(ctx context.Context, c clients, obs *observation) error {
	now := metav1.Now()
	names := make([]string, 0, len(obs.podUIDs))
	for n := range obs.podUIDs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		// The controller adopts the pods meanwhile (ownerReferences): retry on conflict.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error { return markPodReady(ctx, c, obs.targetNS, n, now) })
		if err != nil && !apierrors.IsNotFound(err) { // a pod the controller already deleted is judged later
			return fmt.Errorf("marking pod %s ready: %w", n, err)
		}
	}
	return nil
}

func markPodReady(ctx context.Context, c clients, ns, n string, now metav1.Time) error {
	{
		p, err := c.kube.CoreV1().Pods(ns).Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			return err
		}
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = nil
		for _, t := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
		}
		p.Status.StartTime = &now
		_, err = c.kube.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	}
}

// wlState is one look at the target namespace.
type wlState struct {
	run             *wlRun
	mode            string
	deleted         []string // restored pods gone or replaced, in the order first seen
	livePods        map[string]*corev1.Pod
	revisions       []unstructured.Unstructured
	stsStatus       map[string]interface{}
	stsGeneration   int64
	dsStatus        map[string]interface{}
	dsGeneration    int64
	dsAnnotations   map[string]string
	rsReplicas      int64
	newReplicaSets  []string
	restoredCRNames []string
}

func (w *wlState) statusInt(m map[string]interface{}, k string) int64 {
	v, _, _ := unstructured.NestedInt64(m, k)
	return v
}

func (w *wlState) statusString(m map[string]interface{}, k string) string {
	v, _, _ := unstructured.NestedString(m, k)
	return v
}

func look(ctx context.Context, c clients, r *wlRun, mode string) *wlState {
	ns := r.obs.targetNS
	w := &wlState{run: r, mode: mode, livePods: map[string]*corev1.Pod{}}
	pods, err := c.kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err == nil {
		for i := range pods.Items {
			p := &pods.Items[i]
			w.livePods[p.Name] = p
		}
	}
	names := make([]string, 0, len(r.obs.podUIDs))
	for n := range r.obs.podUIDs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p, ok := w.livePods[n]
		if err == nil && (!ok || string(p.UID) != r.obs.podUIDs[n] || p.DeletionTimestamp != nil) && !r.deaths[n] {
			r.deaths[n] = true
			r.order = append(r.order, n)
		}
	}
	// The watch orders the deletions it saw; a poll adds any it missed (e.g. a replaced pod).
	w.deleted = r.gone.names(r.obs.podUIDs)
	for _, n := range r.order {
		if !contains(w.deleted, n) {
			w.deleted = append(w.deleted, n)
		}
	}
	if l, err := c.dyn.Resource(gvrControllerRevisions).Namespace(ns).List(ctx, metav1.ListOptions{}); err == nil {
		w.revisions = l.Items
	}
	for k := range r.obs.created {
		if strings.HasPrefix(k, "ControllerRevision/") {
			w.restoredCRNames = append(w.restoredCRNames, strings.TrimPrefix(k, "ControllerRevision/"))
		}
	}
	sort.Strings(w.restoredCRNames)
	switch r.s.kind {
	case "StatefulSet":
		if s, err := c.dyn.Resource(gvrStatefulSets).Namespace(ns).Get(ctx, r.b.workload, metav1.GetOptions{}); err == nil {
			w.stsStatus, _, _ = unstructured.NestedMap(s.Object, "status")
			w.stsGeneration = s.GetGeneration()
		}
	case "DaemonSet":
		if d, err := c.dyn.Resource(gvrDaemonSets).Namespace(ns).Get(ctx, r.b.workload, metav1.GetOptions{}); err == nil {
			w.dsStatus, _, _ = unstructured.NestedMap(d.Object, "status")
			w.dsGeneration = d.GetGeneration()
			w.dsAnnotations = d.GetAnnotations()
		}
	case "Deployment":
		if l, err := c.dyn.Resource(gvrReplicaSets).Namespace(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for _, rs := range l.Items {
				if _, restored := r.obs.created["ReplicaSet/"+rs.GetName()]; restored {
					w.rsReplicas, _, _ = unstructured.NestedInt64(rs.Object, "spec", "replicas")
				} else {
					w.newReplicaSets = append(w.newReplicaSets, rs.GetName())
				}
			}
		}
	}
	return w
}

// wlVerdict: rollout = the controller rolled or scaled away restored pods; problems fail the scenario.
type wlVerdict struct {
	rollout  bool
	problems []string
	facts    []string // what was seen, printed either way
}

func (v *wlVerdict) fail(f string, a ...interface{}) {
	v.problems = append(v.problems, fmt.Sprintf(f, a...))
}
func (v *wlVerdict) note(f string, a ...interface{}) { v.facts = append(v.facts, fmt.Sprintf(f, a...)) }

// observeWorkload looks every 500 ms until the window ends; in control mode it stops as soon as the
// expected rollout is fully evidenced.
func observeWorkload(ctx context.Context, c clients, o options, r *wlRun) (wlVerdict, time.Duration) {
	deadline := r.obs.createdAt.Add(o.window)
	var v wlVerdict
	var w *wlState
	for {
		w = look(ctx, c, r, o.mode)
		v = r.s.judge(w)
		if o.mode == "control" && v.rollout && len(v.problems) == 0 {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Velero's own pod-volume-restore action must have put restore-wait first on every FSB pod.
	for k, created := range r.obs.created {
		name := strings.TrimPrefix(k, "Pod/")
		if !strings.HasPrefix(k, "Pod/") || len(r.b.fsbVolumes[name]) == 0 {
			continue
		}
		inits, _, _ := unstructured.NestedSlice(created.Object, "spec", "initContainers")
		if len(inits) == 0 || inits[0].(map[string]interface{})["name"] != "restore-wait" {
			v.fail("pod %s was created without restore-wait first", name)
		}
	}
	if o.mode == "plugin" && r.s.kind == "StatefulSet" && !r.s.excludeCRs && len(v.problems) == 0 &&
		strings.Contains(r.s.rules, "/spec/template/") {
		if fact, err := revisionBytesProbe(ctx, c, r, o.mode, o.runID, w.statusString(w.stsStatus, "updateRevision")); err != nil {
			v.fail("%v", err)
		} else {
			v.note("%s", fact)
		}
	}
	if o.mode == "control" {
		// Sensitivity: the with-plugin expectations, applied to what the control run left behind,
		// must fail — otherwise the plugin-mode checks could not tell the plugin's work from nothing.
		asPlugin := *w
		asPlugin.mode = "plugin"
		n := len(r.s.judge(&asPlugin).problems)
		v.note("with-plugin-checks-failing-here=%d", n)
		if n == 0 {
			v.fail("the with-plugin checks pass on the control run: they cannot detect a missing correction")
		}
	}
	if len(r.obs.modifierErrs) > 0 {
		v.fail("resource modifiers reported errors: %v", r.obs.modifierErrs)
	}
	if o.mode == "plugin" {
		want := len(r.b.items)
		if r.s.excludeCRs {
			want -= countKind(r.b.items, "ControllerRevision")
		}
		if r.obs.pluginCalls != want {
			v.fail("expected one Execute per restored item (%d), made %d", want, r.obs.pluginCalls)
		}
	} else if len(r.obs.skipped) > 0 {
		v.fail("items skipped without our plugin: %v", r.obs.skipped)
	}
	return v, time.Since(r.obs.createdAt)
}

func countKind(items []*unstructured.Unstructured, kind string) int {
	n := 0
	for _, it := range items {
		if it.GetKind() == kind {
			n++
		}
	}
	return n
}

func ordinal(podName string) int {
	i := strings.LastIndex(podName, "-")
	n := -1
	if i >= 0 {
		_, _ = fmt.Sscanf(podName[i+1:], "%d", &n)
	}
	return n
}

// crImage reads the first container image of a ControllerRevision's template data.
func crTemplate(cr unstructured.Unstructured) (image string, hasAffinity, hasEnv bool) {
	raw, _ := json.Marshal(cr.Object["data"])
	var d struct {
		Spec struct {
			Template corev1.PodTemplateSpec `json:"template"`
		} `json:"spec"`
	}
	if json.Unmarshal(raw, &d) != nil || len(d.Spec.Template.Spec.Containers) == 0 {
		return "", false, false
	}
	ts := d.Spec.Template.Spec
	return ts.Containers[0].Image, ts.Affinity != nil, len(ts.Containers[0].Env) > 0
}

// ---------------------------------------------------------------------------------------------
// Expectations

// judgeSTSTemplate: a template modifier (image, for sts-rolling also affinity) on a StatefulSet.
// Plugin: update == current == the backed-up update revision's name (for sts-no-revisions: the name
// the controller computed, which the pods already carry), every pod at the update revision carries T',
// no restored pod deleted, no revision beyond the restored ones (sts-no-revisions: exactly one).
// Control: a new revision appears and the restored pods count as not updated; RollingUpdate deletes
// (ordinals ≥ partition), OnDelete deletes nothing.
func judgeSTSTemplate(w *wlState) wlVerdict {
	var v wlVerdict
	r, st := w.run, w.stsStatus
	update, current := w.statusString(st, "updateRevision"), w.statusString(st, "currentRevision")
	synced := st != nil && w.statusInt(st, "observedGeneration") == w.stsGeneration && update != ""
	wantCRs := len(w.restoredCRNames)
	if r.s.excludeCRs {
		wantCRs = 1
	}
	if r.b.takenOn != "" {
		v.note("backup-taken-on=%s", r.b.takenOn)
	}
	v.note("revisions=%d(restored %d) update=%s current=%s updated=%d/%d deleted=%v",
		len(w.revisions), len(w.restoredCRNames), update, current, w.statusInt(st, "updatedReplicas"), w.statusInt(st, "replicas"), w.deleted)
	newRevision := false
	for _, cr := range w.revisions {
		if _, restored := r.obs.created["ControllerRevision/"+cr.GetName()]; !restored && !r.s.excludeCRs {
			newRevision = true
		}
	}
	notUpdated := 0 // pods (at or above the partition) whose revision label is not the update revision
	for name, p := range w.livePods {
		if ordinal(name) >= r.s.sts.partition && p.Labels["controller-revision-hash"] != update {
			notUpdated++
		}
	}
	if r.s.excludeCRs && synced {
		// The restored pods keep the source's label unless the plugin relabels them.
		for name := range r.obs.podUIDs {
			if p, ok := w.livePods[name]; ok && p.Labels["controller-revision-hash"] != update {
				newRevision = true
			}
		}
	}
	v.rollout = len(w.deleted) > 0 || (synced && (newRevision || notUpdated > 0))
	if w.mode == "control" {
		if !synced {
			v.fail("the StatefulSet status never caught up")
		}
		if !newRevision {
			v.fail("expected the controller to compute a revision other than the restored pods'")
		}
		if !r.s.sts.onDelete && len(w.deleted) == 0 {
			v.fail("expected RollingUpdate to delete a restored pod at or above the partition")
		}
		for _, n := range w.deleted {
			if ordinal(n) < r.s.sts.partition {
				v.fail("pod %s below the partition was deleted", n)
			}
		}
		if r.s.sts.onDelete && len(w.deleted) > 0 {
			v.fail("OnDelete deleted pods %v", w.deleted)
		}
		return v
	}
	if !synced {
		v.fail("the StatefulSet status never caught up")
		return v
	}
	if len(w.deleted) > 0 {
		v.fail("restored pods deleted: %v", w.deleted)
	}
	if update != current {
		v.fail("updateRevision %s != currentRevision %s", update, current)
	}
	if len(w.revisions) != wantCRs {
		v.fail("%d ControllerRevisions, want %d", len(w.revisions), wantCRs)
	}
	if !r.s.excludeCRs && update != r.b.updateRevision {
		v.fail("updateRevision %s, want the backed-up %s (name kept)", update, r.b.updateRevision)
	}
	for name := range r.obs.podUIDs {
		p, ok := w.livePods[name]
		if !ok {
			continue
		}
		label := p.Labels["controller-revision-hash"]
		if ordinal(name) >= r.s.sts.partition && label != update {
			v.fail("pod %s at revision %s, not the update revision %s", name, label, update)
		}
		if ordinal(name) < r.s.sts.partition && label != r.b.podRevision[name] {
			v.fail("pod %s below the partition relabelled %s → %s", name, r.b.podRevision[name], label)
		}
		if label == update && (len(p.Spec.Containers) == 0 || p.Spec.Containers[0].Image != imageAfter) {
			v.fail("pod %s at the update revision lacks T' (image %v)", name, p.Spec.Containers)
		}
	}
	for _, cr := range w.revisions {
		if cr.GetName() != update {
			continue
		}
		img, aff, _ := crTemplate(cr)
		if img != imageAfter || (aff != strings.Contains(r.s.rules, "affinity")) {
			v.fail("revision %s data is not T' (image %s, affinity %t)", update, img, aff)
		}
	}
	// The plugin's own account (crates/guard-core/src/statefulset/live.rs), checked by its key words: the
	// revision it rewrote, or without revisions the name it predicted — which must be the name the
	// controller then actually computed.
	if r.s.excludeCRs {
		if len(r.obs.pluginLog.find(logrus.InfoLevel, "ControllerRevisions were not in the restore", "relabelled to "+update)) == 0 {
			v.fail("no plugin log line says the revisions were missing and the pods were relabelled to %s", update)
		}
	} else if len(r.obs.pluginLog.find(logrus.InfoLevel, "ControllerRevision "+update+": data set to the final template", "name kept")) == 0 {
		v.fail("no plugin log line says revision %s was set to the final template, name kept", update)
	}
	return v
}

// judgeReplicaSTS: replicas 3 → 1. Plugin: ordinals 1 and 2 are not restored (warn lines name their
// FSB volumes), nothing deleted. Control: the controller deletes ordinals 2 then 1.
func judgeReplicaSTS(w *wlState) wlVerdict {
	var v wlVerdict
	r := w.run
	v.note("restored=%d skipped=%v deleted(in order)=%v", len(r.obs.podUIDs), r.obs.skipped, w.deleted)
	v.rollout = len(w.deleted) > 0
	if w.mode == "control" {
		if strings.Join(w.deleted, ",") != "db-2,db-1" {
			v.fail("expected the controller to delete db-2 then db-1, saw %v", w.deleted)
		}
		return v
	}
	if len(w.deleted) > 0 {
		v.fail("restored pods deleted: %v", w.deleted)
	}
	sort.Strings(r.obs.skipped)
	if strings.Join(r.obs.skipped, ",") != "Pod/db-1,Pod/db-2" {
		v.fail("expected pods db-1 and db-2 skipped, skipped %v", r.obs.skipped)
	}
	for _, p := range []string{"db-1", "db-2"} {
		if len(r.obs.pluginLog.find(logrus.WarnLevel, p)) == 0 {
			v.fail("no warn line names skipped pod %s", p)
		}
	}
	if len(r.obs.pluginLog.find(logrus.InfoLevel, "replica count lowered to 1", "db-1/data", "db-2/data")) == 0 {
		v.fail("no plugin summary line names the FSB volumes that will not be restored")
	}
	if w.statusInt(w.stsStatus, "replicas") != 1 {
		v.fail("StatefulSet status.replicas %d, want 1", w.statusInt(w.stsStatus, "replicas"))
	}
	return v
}

// judgeReplicaAndTemplate: replicas 3 → 1 plus an image change. Plugin: both judges' with-plugin
// expectations. Control: db-2 and db-1 are scaled away (db-0 may follow as the rollout).
func judgeReplicaAndTemplate(w *wlState) wlVerdict {
	t := judgeSTSTemplate(w)
	if w.mode == "control" {
		if !contains(w.deleted, "db-2") || !contains(w.deleted, "db-1") {
			t.fail("expected the controller to delete db-2 and db-1, saw %v", w.deleted)
		}
		return t
	}
	rep := judgeReplicaSTS(w)
	t.rollout = t.rollout || rep.rollout
	t.problems = append(t.problems, rep.problems...)
	t.facts = append(t.facts, rep.facts...)
	return t
}

// judgeReplicaDeployment: replicas 3 → 1 on a Deployment whose shared volume was backed up through
// one pod. Plugin: that pod is the one restored, the other two are skipped, the ReplicaSet says 1,
// nothing deleted. Control: the ReplicaSet controller deletes two pods (reported: which).
func judgeReplicaDeployment(w *wlState) wlVerdict {
	var v wlVerdict
	r := w.run
	fsbDeleted := false
	for _, n := range w.deleted {
		fsbDeleted = fsbDeleted || n == r.b.fsbPod
	}
	v.note("fsb-pod=%s restored=%d skipped=%v deleted=%v fsb-pod-deleted=%t rs-replicas=%d new-rs=%v",
		r.b.fsbPod, len(r.obs.podUIDs), r.obs.skipped, w.deleted, fsbDeleted, w.rsReplicas, w.newReplicaSets)
	v.rollout = len(w.deleted) > 0
	if len(w.newReplicaSets) > 0 {
		v.fail("a replica change created a new ReplicaSet %v", w.newReplicaSets)
	}
	if w.mode == "control" {
		if len(w.deleted) != 2 {
			v.fail("expected the controller to delete 2 of 3 restored pods, saw %v", w.deleted)
		}
		return v
	}
	if len(w.deleted) > 0 {
		v.fail("restored pods deleted: %v", w.deleted)
	}
	if _, kept := r.obs.podUIDs[r.b.fsbPod]; !kept || len(r.obs.podUIDs) != 1 {
		v.fail("expected only the PodVolumeBackup pod %s restored, restored %v", r.b.fsbPod, keys(r.obs.podUIDs))
	}
	if len(r.obs.skipped) != 2 {
		v.fail("expected 2 pods skipped, skipped %v", r.obs.skipped)
	}
	if w.rsReplicas != 1 {
		v.fail("restored ReplicaSet spec.replicas %d, want 1", w.rsReplicas)
	}
	for _, sk := range r.obs.skipped {
		pod := strings.TrimPrefix(sk, "Pod/")
		if len(r.obs.pluginLog.find(logrus.InfoLevel, pod+": not restored (skipRestore)", "replicas lowered 3 -> 1")) == 0 {
			v.fail("no plugin log line explains skipping %s", pod)
		}
	}
	return v
}

// judgeDaemonSet: an env modifier on a DaemonSet. Plugin: the restored pod counts as updated
// (updatedNumberScheduled == desiredNumberScheduled == 1), carries T', is not deleted. Control: what
// the real controller does is reported; the facts (§3) predict no rollout (the pod-template-generation
// label still matches), with the pod silently running T.
func judgeDaemonSet(w *wlState) wlVerdict {
	var v wlVerdict
	r, st := w.run, w.dsStatus
	desired, updated := w.statusInt(st, "desiredNumberScheduled"), w.statusInt(st, "updatedNumberScheduled")
	synced := st != nil && w.statusInt(st, "observedGeneration") == w.dsGeneration && desired == 1
	carries := false
	for name := range r.obs.podUIDs {
		if p, ok := w.livePods[name]; ok && len(p.Spec.Containers) > 0 && len(p.Spec.Containers[0].Env) > 0 {
			carries = true
		}
	}
	v.note("desired=%d updated=%d revisions=%d(restored %d) deleted=%v pod-carries-T'=%t",
		desired, updated, len(w.revisions), len(w.restoredCRNames), w.deleted, carries)
	v.rollout = len(w.deleted) > 0 || (synced && updated < desired)
	if !synced {
		v.fail("the DaemonSet status never caught up (desired %d)", desired)
		return v
	}
	if w.mode == "control" {
		return v // reported as seen, pass or roll
	}
	if len(w.deleted) > 0 {
		v.fail("restored pods deleted: %v", w.deleted)
	}
	if updated != desired {
		v.fail("updatedNumberScheduled %d != desired %d", updated, desired)
	}
	if !carries {
		v.fail("the restored pod does not carry T' (env)")
	}
	if len(r.obs.pluginLog.find(logrus.InfoLevel, "template change kept off the rollout path", "pod-template-generation")) == 0 {
		v.fail("no plugin summary line for the DaemonSet")
	}
	return v
}

// judgeDaemonSetGeneration: the rules replace the DaemonSet's annotations (the generation annotation
// goes with them) and add env to the template; the backed-up pod carries pod-template-generation 2.
// Hand-derived (facts §3): the API server stores the DaemonSet at generation 1; the restored pod's
// hash points at the backed-up revision of T while the controller's current revision is T', so
// without the plugin the pod matches neither and, not available in restore-wait, is deleted at once.
// Plugin: nothing deleted, the pod relabelled to the stored generation, updatedNumberScheduled ==
// desired, the pod carries T', and the plugin logs the annotation removal and the relabel.
func judgeDaemonSetGeneration(w *wlState) wlVerdict {
	var v wlVerdict
	r, st := w.run, w.dsStatus
	desired, updated := w.statusInt(st, "desiredNumberScheduled"), w.statusInt(st, "updatedNumberScheduled")
	synced := st != nil && w.statusInt(st, "observedGeneration") == w.dsGeneration && desired == 1
	const backedUp, stored = "2", "1"
	liveGen := w.dsAnnotations["deprecated.daemonset.template.generation"]
	var fsbPod, podLabel string
	for _, it := range r.b.items {
		if it.GetKind() == "Pod" {
			fsbPod = it.GetName()
			if it.GetLabels()["pod-template-generation"] != backedUp {
				v.fail("backed-up pod %s at generation %q, want %s (the source was updated once)", fsbPod, it.GetLabels()["pod-template-generation"], backedUp)
			}
		}
		if it.GetKind() == "DaemonSet" && it.GetAnnotations()["deprecated.daemonset.template.generation"] != backedUp {
			v.fail("backed-up DaemonSet at generation %q, want %s", it.GetAnnotations()["deprecated.daemonset.template.generation"], backedUp)
		}
	}
	carries := false
	if p, ok := w.livePods[fsbPod]; ok && string(p.UID) == r.obs.podUIDs[fsbPod] {
		podLabel = p.Labels["pod-template-generation"]
		carries = len(p.Spec.Containers) > 0 && len(p.Spec.Containers[0].Env) > 0
	}
	newRevision := false
	for _, cr := range w.revisions {
		if _, restored := r.obs.created["ControllerRevision/"+cr.GetName()]; !restored {
			newRevision = true
		}
	}
	v.note("stored-generation=%s pod-template-generation=%s desired=%d updated=%d revisions=%d(restored %d, new %t) deleted=%v pod-carries-T'=%t",
		liveGen, podLabel, desired, updated, len(w.revisions), len(w.restoredCRNames), newRevision, w.deleted, carries)
	v.rollout = len(w.deleted) > 0 || (synced && updated < desired)
	if !synced {
		v.fail("the DaemonSet status never caught up (desired %d)", desired)
		return v
	}
	if liveGen != stored {
		v.fail("the API server stored generation %q, want %s (the rules replaced the annotations)", liveGen, stored)
	}
	if w.dsAnnotations["example.com/owner"] != "platform-team" {
		v.fail("the restored DaemonSet lacks the rule's annotation: the annotations were not replaced")
	}
	if w.mode == "control" {
		if !contains(w.deleted, fsbPod) {
			v.fail("expected the controller to delete the FSB pod %s (generation %s vs %s), deleted %v", fsbPod, backedUp, stored, w.deleted)
		}
		return v
	}
	if len(w.deleted) > 0 {
		v.fail("restored pods deleted: %v", w.deleted)
	}
	if podLabel != liveGen {
		v.fail("pod %s pod-template-generation %q, want the stored generation %q", fsbPod, podLabel, liveGen)
	}
	if updated != desired {
		v.fail("updatedNumberScheduled %d != desired %d", updated, desired)
	}
	if !carries {
		v.fail("the restored pod does not carry T' (env)")
	}
	log := r.obs.pluginLog
	if len(log.find(logrus.WarnLevel, "rules remove annotation deprecated.daemonset.template.generation",
		"starts the DaemonSet at generation "+stored, "relabelled to "+stored)) == 0 {
		v.fail("no plugin warn line says the rules remove the generation annotation (generation %s)", stored)
	}
	if len(log.find(logrus.InfoLevel, fsbPod+": pod-template-generation "+backedUp+" -> "+stored, "the restored DaemonSet's generation")) == 0 {
		v.fail("no plugin line relabels pod %s %s -> %s", fsbPod, backedUp, stored)
	}
	if len(log.find(logrus.InfoLevel, "template change kept off the rollout path", "pod-template-generation "+stored+":")) == 0 {
		v.fail("no plugin summary line with pod-template-generation %s", stored)
	}
	return v
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func wlLine(r *wlRun, mode string, v wlVerdict, after time.Duration) string {
	status := "PASS"
	if len(v.problems) > 0 {
		status = "FAIL"
	}
	what := "no rollout"
	if v.rollout {
		what = "ROLLOUT"
	}
	extra := ""
	if len(v.problems) > 0 {
		extra = " (" + strings.Join(v.problems, "; ") + ")"
	}
	changed := "-"
	if len(r.obs.pluginChanged) > 0 {
		changed = strings.Join(r.obs.pluginChanged, ",")
	}
	return fmt.Sprintf("SCENARIO %s mode=%s kind=%s group=%s: %s; %s plugin-calls=%d plugin-changed=%s after=%s -> %s%s",
		r.s.name, mode, r.s.kind, r.s.group, what, strings.Join(v.facts, "; "), r.obs.pluginCalls, changed,
		after.Round(100*time.Millisecond), status, extra)
}

// ---------------------------------------------------------------------------------------------
// Byte-exactness of a rewritten revision

// revisionBytesProbe asks the controller itself for the revision of the live StatefulSet's template:
// a copy of the set (0 replicas) in a scratch namespace makes the controller create its own
// ControllerRevision for exactly that template. The rewritten revision's data must be the same bytes
// — on ≥1.34.2 the controller would also accept a merely semantic match for the latest revision, so
// "no rollout" alone does not prove byte-exactness there; this does. Both are read raw from the
// apiserver (same JSON rendering for both), and the name FNV-1 gives those bytes must be the
// controller's name.
func revisionBytesProbe(ctx context.Context, c clients, r *wlRun, mode, runID, revision string) (string, error) {
	ns := fmt.Sprintf("probe-%s-%s-%s", r.s.name, mode, runID)
	if err := ensureNamespace(ctx, c, ns); err != nil {
		return "", err
	}
	live, err := c.dyn.Resource(gvrStatefulSets).Namespace(r.obs.targetNS).Get(ctx, r.b.workload, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	spec, _, _ := unstructured.NestedMap(live.Object, "spec")
	spec["replicas"] = int64(0)
	copySet := map[string]interface{}{"apiVersion": "apps/v1", "kind": "StatefulSet",
		"metadata": map[string]interface{}{"name": r.b.workload, "namespace": ns}, "spec": spec}
	if _, err := createUnstructured(ctx, c, gvrStatefulSets, ns, copySet); err != nil {
		return "", err
	}
	var probe []unstructured.Unstructured
	if err := waitFor("the controller's own revision of the live template", func() (bool, error) {
		var err error
		probe, err = listIn(ctx, c, "ControllerRevision", ns, "")
		return err == nil && len(probe) == 1, err
	}); err != nil {
		return "", err
	}
	want, err := rawRevisionData(ctx, c, ns, probe[0].GetName())
	if err != nil {
		return "", err
	}
	got, err := rawRevisionData(ctx, c, r.obs.targetNS, revision)
	if err != nil {
		return "", err
	}
	if !bytes.Equal(got, want) {
		return "", fmt.Errorf("revision %s data differs from the controller's own %s:\n ours:       %s\n controller: %s", revision, probe[0].GetName(), got, want)
	}
	ours := r.b.workload + "-" + revisionHash(got)
	if ours != probe[0].GetName() {
		return "", fmt.Errorf("FNV-1 of revision %s data names it %s, the controller named it %s", revision, ours, probe[0].GetName())
	}
	return fmt.Sprintf("revision-bytes=exact(%d bytes, controller's name %s)", len(got), ours), nil
}

func rawRevisionData(ctx context.Context, c clients, ns, name string) ([]byte, error) {
	raw, err := c.kube.AppsV1().RESTClient().Get().Namespace(ns).Resource("controllerrevisions").Name(name).DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var cr struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &cr); err != nil {
		return nil, err
	}
	return cr.Data, nil
}

// revisionHash is the StatefulSet controller's revision hash (facts §2.2): FNV-1 32-bit over the data
// bytes, then the collision count ("0" after a restore) as decimal, the sum printed in decimal and
// each digit mapped through rand.SafeEncodeString's alphabet.
func revisionHash(data []byte) string {
	h := fnv.New32()
	_, _ = h.Write(data)
	_, _ = h.Write([]byte("0"))
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	digits := []byte(strconv.FormatUint(uint64(h.Sum32()), 10))
	for i, d := range digits {
		digits[i] = alphabet[int(d)%len(alphabet)]
	}
	return string(digits)
}
