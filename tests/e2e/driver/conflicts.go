package main

// Conflict scenarios (--mode faults, listed in faults.go): another writer changes the object the
// plugin is about to write, between the plugin's read and its write, on the real kube-apiserver.
// Every write of the plugin carries a precondition (src/guard/operations.rs): the alignment PATCH
// of a live ReplicaSet starts with a `test` of the resourceVersion read, the DELETE of a live
// ControllerRevision names its uid and resourceVersion. On the first conflict the plugin reads
// again and decides again; a second conflict is an error (never a blind write), and the item is
// answered unchanged with a warn line (src/guard/executor.rs carry_out, fail open).
//
// Mechanism, deterministic: the plugin process talks to a TLS-terminating reverse proxy (its own
// CA, written into the plugin's kubeconfig) that forwards to the real apiserver with the admin
// credentials. For the first `beat` plugin requests of the watched write (PATCH of the ReplicaSet,
// DELETE of the ControllerRevision) the proxy first plays the other writer: an admin merge patch
// adding the annotation fsb-e2e/other-writer-<k> to that same object (its resourceVersion moves),
// then forwards the plugin's request unchanged. Every write the plugin sends is recorded (method,
// path, body, status). Before the first watched write, a plugin GET of the object waits until the
// object is quiet (the ReplicaSet controller's own status writes are done), so no other writer
// than the proxy's can make a conflict.
//
//	rs-align-no-conflict      beat 0: the job reaches the alignment (exactly 1 PATCH), the baseline
//	rs-conflict-once          beat 1: 2 PATCHes, aligned, the other writer's change kept
//	rs-conflict-twice         beat 2: 2 PATCHes, nothing aligned, fail open with a warn line
//	revision-recreate-no-conflict, revision-conflict-once, revision-conflict-twice: the same for the
//	                          StatefulSet step's DELETE (+ create) of the live update revision

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// rsRulesAfterGuard: rules8578 plus a ReplicaSet rule that changes the template after the guard's
// ReplicaSet step (crates/guard-core/src/deployment/scenarios.rs
// replicaset_rules_that_change_the_template_after_the_guard_are_aligned_at_the_deployment_step):
// the ReplicaSet is created differing from the Deployment, so the Deployment step must PATCH it.
const rsRulesAfterGuard = rules8578 + `- conditions:
    groupResource: replicasets.apps
    namespaces:
    - shop
  patches:
  - operation: add
    path: "/spec/template/metadata/annotations"
    value: '{"fsb-e2e/audit":"rs"}'
`

// imageByRevisionRule is what the ControllerRevision rule of revisionRulesAfterGuard writes into
// the revision's data after the guard gave it T'.
const imageByRevisionRule = "registry.example/shop/db:9.9"

// revisionRulesAfterGuard: the sts-rolling rules plus a ControllerRevision rule that changes the
// revision's data after the guard's controllerrevisions step, so the live R differs from the final
// template at the StatefulSet step and the plugin re-creates it (DELETE with preconditions, POST).
var revisionRulesAfterGuard = stsRules("db", true) + `- conditions:
    groupResource: controllerrevisions.apps
    namespaces:
    - shop
  patches:
  - operation: replace
    path: "/data/spec/template/spec/containers/0/image"
    value: "` + imageByRevisionRule + `"
`

// conflictWatchWindow: how long the Deployment (StatefulSet) controller is watched for a new
// ReplicaSet (revision) in the scenarios that expect an aligned ReplicaSet (re-created revision).
const conflictWatchWindow = 10 * time.Second

// conflictFaults are the conflict scenarios, in the fault list's form (run set, setup unused).
func conflictFaults(cfg *rest.Config, c clients, o options, store *backupStore, rolling scenario, dir string) []fault {
	h := &conflictHarness{cfg: cfg, c: c, o: o, store: store, rolling: rolling, dir: dir}
	var out []fault
	for _, beat := range []int{0, 1, 2} {
		beat := beat
		out = append(out, fault{name: rsConflictName(beat), run: func(ctx context.Context) (string, bool) {
			return h.replicaSet(ctx, beat)
		}})
	}
	for _, beat := range []int{0, 1, 2} {
		beat := beat
		out = append(out, fault{name: revisionConflictName(beat), run: func(ctx context.Context) (string, bool) {
			return h.revision(ctx, beat)
		}})
	}
	return out
}

func rsConflictName(beat int) string {
	return [...]string{"rs-align-no-conflict", "rs-conflict-once", "rs-conflict-twice"}[beat]
}

func revisionConflictName(beat int) string {
	return [...]string{"revision-recreate-no-conflict", "revision-conflict-once", "revision-conflict-twice"}[beat]
}

type conflictHarness struct {
	cfg     *rest.Config
	c       clients
	o       options
	store   *backupStore
	rolling scenario
	dir     string
	// The StatefulSet backup, captured once from a source StatefulSet and restored by each
	// revision scenario into its own namespace.
	stsOnce   sync.Once
	stsBackup *wlBackup
	stsErr    error
}

// judgement collects a conflict scenario's problems and the log lines it reports.
type judgement struct {
	problems []string
	fields   []string // extra `key=value` of the FAULT line
}

func (j *judgement) fail(f string, a ...interface{}) {
	j.problems = append(j.problems, fmt.Sprintf(f, a...))
}

func (j *judgement) line(name string, elapsed time.Duration) (string, bool) {
	status := "PASS"
	if len(j.problems) > 0 {
		status = "FAIL"
	}
	l := fmt.Sprintf("FAULT name=%s result=%s elapsed=%s", name, status, elapsed.Round(100*time.Millisecond))
	for _, f := range j.fields {
		l += " " + f
	}
	if len(j.problems) > 0 {
		l += " (" + strings.Join(j.problems, "; ") + ")"
	}
	return l, len(j.problems) == 0
}

// restoreThroughProxy restores job with the plugin behind a conflict proxy watching target.
func (h *conflictHarness) restoreThroughProxy(ctx context.Context, job restoreJob, target conflictTarget, beat int) (*observation, *conflictProxy, error) {
	p, err := startConflictProxy(h.cfg, h.c, target, beat)
	if err != nil {
		return nil, nil, err
	}
	defer p.close()
	kc, err := p.writeKubeconfig(filepath.Join(h.dir, job.name+".kubeconfig"))
	if err != nil {
		return nil, nil, err
	}
	// Read by the plugin processes restoreItems starts (they inherit the environment).
	prev := os.Getenv("KUBECONFIG")
	_ = os.Setenv("KUBECONFIG", kc)
	defer os.Setenv("KUBECONFIG", prev)
	fo := h.o
	fo.mode = "plugin"
	type done struct {
		obs *observation
		err error
	}
	ch := make(chan done, 1)
	go func() {
		obs, err := restoreItems(ctx, h.c, fo, job, h.store)
		ch <- done{obs, err}
	}()
	select {
	case d := <-ch:
		return d.obs, p, d.err
	case <-time.After(3 * time.Minute):
		return nil, p, fmt.Errorf("hung: the restore did not end within 3m")
	}
}

// targetNamespace is the namespace restoreItems restores job into in plugin mode.
func (h *conflictHarness) targetNamespace(job string) string {
	return fmt.Sprintf("%s-%s-%s", job, "plugin", h.o.runID)
}

// replicaSet runs one ReplicaSet alignment scenario: the other writer beats `beat` PATCHes.
func (h *conflictHarness) replicaSet(ctx context.Context, beat int) (string, bool) {
	name := rsConflictName(beat)
	start := time.Now()
	var j judgement
	data := h.rolling.backup()
	job := restoreJob{
		name:       "fault-" + name,
		items:      append(append([]*unstructured.Unstructured{}, data.pods...), data.replicaSet, data.deployment),
		fsbVolumes: data.fsbVolumes,
		rules:      rsRulesAfterGuard,
		correction: &referenceCorrection{},
	}
	ns, rsName, depName := h.targetNamespace(job.name), data.replicaSet.GetName(), data.deployment.GetName()
	target := conflictTarget{gvr: gvrReplicaSets, ns: ns, name: rsName, method: http.MethodPatch}
	obs, p, err := h.restoreThroughProxy(ctx, job, target, beat)
	if err != nil {
		j.fail("restore: %v", err)
		return j.line(name, time.Since(start))
	}
	checkExecutes(&j, obs, len(job.items), "Deployment/"+depName)

	// The writes the plugin sent to the ReplicaSet.
	writes, otherRVs, proxyProblems := p.snapshot()
	for _, pp := range proxyProblems {
		j.fail("proxy: %s", pp)
	}
	var patches []pluginWrite
	for _, w := range writes {
		if !target.covers(w.path) {
			continue
		}
		if w.method != http.MethodPatch || w.path != target.path() {
			j.fail("the plugin sent %s %s (only conditional PATCHes expected)", w.method, w.path)
			continue
		}
		patches = append(patches, w)
	}
	want := 1
	if beat > 0 {
		want = 2
	}
	j.fields = append(j.fields, fmt.Sprintf("patches=%d/%d", len(patches), want))
	switch {
	case len(patches) == 0:
		j.fail("the plugin sent no PATCH to ReplicaSet %s: the job never reaches the alignment, the scenario tests nothing", rsName)
	case len(patches) != want:
		j.fail("expected exactly %d PATCH(es) of ReplicaSet %s, the plugin sent %d (statuses %v)", want, rsName, len(patches), statuses(patches))
	}
	for i, w := range patches {
		rv, err := testedResourceVersion(w.body)
		if err != nil {
			j.fail("PATCH %d of %s: %v", i+1, rsName, err)
		} else if i > 0 && i-1 < len(otherRVs) && rv != otherRVs[i-1] {
			j.fail("PATCH %d tests resourceVersion %s, not %s (the version after the other writer's change: no fresh read?)", i+1, rv, otherRVs[i-1])
		}
		checkStatus(&j, "PATCH", i, beat, w.status)
	}

	// The plugin's own account of it.
	checkReadAgain(&j, obs, beat, "ReplicaSet "+ns+"/"+rsName+" changed while aligning it; reading it again")
	aligned := obs.pluginLog.find(logrus.InfoLevel, rsName, "aligned with the Deployment's final template")
	// The ReplicaSet step's warn line about the ReplicaSet rule is expected; the others are judged.
	warns := withoutLines(obs.pluginLog.find(logrus.WarnLevel), "rules change its template after the guard")

	live, err := h.c.dyn.Resource(gvrReplicaSets).Namespace(ns).Get(ctx, rsName, metav1.GetOptions{})
	if err != nil {
		j.fail("reading the live ReplicaSet: %v", err)
		return j.line(name, time.Since(start))
	}
	checkOtherWriterKept(&j, live, beat)
	if beat < 2 {
		if len(aligned) == 0 {
			j.fail("no info line %q", "aligned with the Deployment's final template")
		}
		if len(warns) > 0 {
			j.fail("unexpected warn line: %q", trim(warns[0]))
		}
		h.checkAligned(ctx, &j, ns, rsName, depName)
	} else {
		if len(aligned) > 0 {
			j.fail("the plugin claims an alignment that two conflicts prevented: %q", aligned[0])
		}
		w := findLine(warns, "guard could not decide, item restored unchanged",
			"patch replicasets.apps "+rsName+" in namespace "+ns, "the object changed since it was read")
		if w == "" {
			j.fail("no warn line naming ReplicaSet %s and the conflict (warn lines: %q)", rsName, warns)
		} else {
			j.fields = append(j.fields, "warn="+strconv.Quote(trim(w)))
		}
		// Not aligned: the template is the one the restore created, untouched by the plugin.
		created := obs.created["ReplicaSet/"+rsName]
		if created == nil {
			j.fail("ReplicaSet %s was not created", rsName)
		} else if lt, _, _ := unstructured.NestedMap(live.Object, "spec", "template"); !equality.Semantic.DeepEqual(lt, templateOf(created)) {
			j.fail("the live ReplicaSet's template changed after two conflicts (a blind write?)")
		}
	}
	return j.line(name, time.Since(start))
}

// checkAligned: the live ReplicaSet carries the Deployment's live template (modulo its
// pod-template-hash label), and within a window the Deployment controller adopts it and creates
// no other ReplicaSet.
func (h *conflictHarness) checkAligned(ctx context.Context, j *judgement, ns, rsName, depName string) {
	dep, err := h.c.dyn.Resource(gvrDeployments).Namespace(ns).Get(ctx, depName, metav1.GetOptions{})
	if err != nil {
		j.fail("reading the Deployment: %v", err)
		return
	}
	rs, err := h.c.dyn.Resource(gvrReplicaSets).Namespace(ns).Get(ctx, rsName, metav1.GetOptions{})
	if err != nil {
		j.fail("reading the ReplicaSet: %v", err)
		return
	}
	rsTemplate, _, _ := unstructured.NestedMap(rs.Object, "spec", "template")
	depTemplate, _, _ := unstructured.NestedMap(dep.Object, "spec", "template")
	unstructured.RemoveNestedField(rsTemplate, "metadata", "labels", "pod-template-hash")
	if !equality.Semantic.DeepEqual(rsTemplate, depTemplate) {
		a, _ := json.Marshal(rsTemplate)
		b, _ := json.Marshal(depTemplate)
		j.fail("the live ReplicaSet's template is not the Deployment's: %s vs %s", a, b)
	}
	obs := &observation{targetNS: ns, rsName: rsName, deployName: depName}
	deadline := time.Now().Add(conflictWatchWindow)
	var newRS []string
	adopted := false
	for time.Now().Before(deadline) {
		newRS, _, adopted = snapshot(ctx, h.c, obs)
		if len(newRS) > 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if len(newRS) > 0 {
		j.fail("the Deployment controller created ReplicaSet(s) %v: the live one was not aligned", newRS)
	}
	if !adopted {
		j.fail("the Deployment controller did not adopt ReplicaSet %s within %s", rsName, conflictWatchWindow)
	}
}

// revision runs one ControllerRevision re-create scenario: the other writer beats `beat` DELETEs.
func (h *conflictHarness) revision(ctx context.Context, beat int) (string, bool) {
	name := revisionConflictName(beat)
	start := time.Now()
	var j judgement
	h.stsOnce.Do(func() {
		srcNS := fmt.Sprintf("src-fault-revision-%s", h.o.runID)
		if h.stsErr = ensureNamespace(ctx, h.c, srcNS); h.stsErr == nil {
			h.stsBackup, h.stsErr = prepareStatefulSet(ctx, h.c, srcNS, wlScenario{name: "fault-revision", kind: "StatefulSet",
				sts: &stsSource{replicas: 3}, fsbOrdinals: []int{0, 1, 2}})
		}
	})
	if h.stsErr != nil {
		j.fail("capturing the StatefulSet backup: %v", h.stsErr)
		return j.line(name, time.Since(start))
	}
	b := h.stsBackup
	job := restoreJob{name: "fault-" + name, items: b.items, fsbVolumes: b.fsbVolumes, rules: revisionRulesAfterGuard}
	ns, rev := h.targetNamespace(job.name), b.updateRevision
	target := conflictTarget{gvr: gvrControllerRevisions, ns: ns, name: rev, method: http.MethodDelete}
	obs, p, err := h.restoreThroughProxy(ctx, job, target, beat)
	if err != nil {
		j.fail("restore: %v", err)
		return j.line(name, time.Since(start))
	}
	checkExecutes(&j, obs, len(job.items), "StatefulSet/"+b.workload)

	writes, otherRVs, proxyProblems := p.snapshot()
	for _, pp := range proxyProblems {
		j.fail("proxy: %s", pp)
	}
	createPath := strings.TrimSuffix(target.path(), "/"+rev)
	var deletes, creates []pluginWrite
	for _, w := range writes {
		switch {
		case w.path == target.path() && w.method == http.MethodDelete:
			deletes = append(deletes, w)
		case target.covers(w.path):
			j.fail("the plugin sent %s %s (only a conditional DELETE expected)", w.method, w.path)
		case w.path == createPath && w.method == http.MethodPost && !strings.Contains(w.query, "dryRun"):
			creates = append(creates, w)
		}
	}
	wantDeletes, wantCreates := 1, 1
	switch beat {
	case 1:
		wantDeletes = 2
	case 2:
		wantDeletes, wantCreates = 2, 0
	}
	j.fields = append(j.fields, fmt.Sprintf("deletes=%d/%d creates=%d/%d", len(deletes), wantDeletes, len(creates), wantCreates))
	switch {
	case len(deletes) == 0:
		j.fail("the plugin sent no DELETE of ControllerRevision %s: the job never reaches the re-create, the scenario tests nothing", rev)
	case len(deletes) != wantDeletes:
		j.fail("expected exactly %d DELETE(s) of ControllerRevision %s, the plugin sent %d (statuses %v)", wantDeletes, rev, len(deletes), statuses(deletes))
	}
	if len(creates) != wantCreates {
		j.fail("expected %d create(s) of ControllerRevision %s, the plugin sent %d (statuses %v)", wantCreates, rev, len(creates), statuses(creates))
	}
	created := obs.created["ControllerRevision/"+rev]
	for i, w := range deletes {
		var opts metav1.DeleteOptions
		if err := json.Unmarshal(w.body, &opts); err != nil || opts.Preconditions == nil ||
			opts.Preconditions.UID == nil || opts.Preconditions.ResourceVersion == nil {
			j.fail("DELETE %d of %s carries no uid and resourceVersion preconditions: %s", i+1, rev, w.body)
			continue
		}
		if created != nil && string(*opts.Preconditions.UID) != string(created.GetUID()) {
			j.fail("DELETE %d of %s: precondition uid %s, not the restored revision's %s", i+1, rev, *opts.Preconditions.UID, created.GetUID())
		}
		if i > 0 && i-1 < len(otherRVs) && *opts.Preconditions.ResourceVersion != otherRVs[i-1] {
			j.fail("DELETE %d requires resourceVersion %s, not %s (the version after the other writer's change: no fresh read?)",
				i+1, *opts.Preconditions.ResourceVersion, otherRVs[i-1])
		}
		checkStatus(&j, "DELETE", i, beat, w.status)
	}
	for _, w := range creates {
		if w.status/100 != 2 {
			j.fail("the create of %s answered %d", rev, w.status)
		}
	}

	checkReadAgain(&j, obs, beat, "ControllerRevision "+ns+"/"+rev+" changed while replacing it; reading it again")
	recreated := obs.pluginLog.find(logrus.InfoLevel, rev, "re-created with the final template")
	warns := withoutLines(obs.pluginLog.find(logrus.WarnLevel), "rules change its template after the guard")

	live, err := h.c.dyn.Resource(gvrControllerRevisions).Namespace(ns).Get(ctx, rev, metav1.GetOptions{})
	if err != nil {
		j.fail("reading the live ControllerRevision: %v", err)
		return j.line(name, time.Since(start))
	}
	checkOtherWriterKept(&j, live, beat)
	image, _ := revisionImage(live)
	if beat < 2 {
		if len(recreated) == 0 {
			j.fail("no info line %q", "re-created with the final template")
		}
		if len(warns) > 0 {
			j.fail("unexpected warn line: %q", trim(warns[0]))
		}
		if created != nil && live.GetUID() == created.GetUID() {
			j.fail("the live ControllerRevision is still the restored one (uid %s): not re-created", live.GetUID())
		}
		if image != imageAfter {
			j.fail("the live ControllerRevision's image is %q, not the final template's %q", image, imageAfter)
		}
		h.checkRevisionKept(ctx, &j, ns, b.workload, rev)
	} else {
		if len(recreated) > 0 {
			j.fail("the plugin claims a re-create that two conflicts prevented: %q", recreated[0])
		}
		w := findLine(warns, "guard could not decide, item restored unchanged",
			"delete controllerrevisions.apps "+rev+" in namespace "+ns, "HTTP 409 Conflict")
		if w == "" {
			j.fail("no warn line naming ControllerRevision %s and the conflict (warn lines: %q)", rev, warns)
		} else {
			j.fields = append(j.fields, "warn="+strconv.Quote(trim(w)))
		}
		if created != nil && live.GetUID() != created.GetUID() {
			j.fail("the live ControllerRevision was replaced after two conflicts (uid %s, restored %s)", live.GetUID(), created.GetUID())
		}
		if image != imageByRevisionRule {
			j.fail("the live ControllerRevision's image is %q, not the restored %q: the plugin changed it", image, imageByRevisionRule)
		}
	}
	return j.line(name, time.Since(start))
}

// checkRevisionKept: the StatefulSet controller takes the re-created revision as its update
// revision and creates no other within a window.
func (h *conflictHarness) checkRevisionKept(ctx context.Context, j *judgement, ns, sts, rev string) {
	deadline := time.Now().Add(conflictWatchWindow)
	update := ""
	var names []string
	for time.Now().Before(deadline) {
		s, err := h.c.dyn.Resource(gvrStatefulSets).Namespace(ns).Get(ctx, sts, metav1.GetOptions{})
		if err == nil {
			update, _, _ = unstructured.NestedString(s.Object, "status", "updateRevision")
		}
		names = nil
		if l, err := h.c.dyn.Resource(gvrControllerRevisions).Namespace(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for _, cr := range l.Items {
				names = append(names, cr.GetName())
			}
		}
		if (update != "" && update != rev) || len(names) > 1 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if update != rev {
		j.fail("the StatefulSet's updateRevision is %q, not the re-created %s", update, rev)
	}
	if len(names) != 1 {
		j.fail("the namespace holds revisions %v: the controller made another", names)
	}
}

// checkExecutes: one Execute per item, none skipped, and the workload answered unchanged.
func checkExecutes(j *judgement, obs *observation, items int, workload string) {
	if len(obs.skipped) > 0 {
		j.fail("items skipped: %v", obs.skipped)
	}
	if obs.pluginCalls != items {
		j.fail("expected one Execute per item (%d), made %d", items, obs.pluginCalls)
	}
	if contains(obs.pluginChanged, workload) {
		j.fail("%s was answered changed", workload)
	}
}

// checkStatus: the first `beat` watched writes meet the other writer's change (409, or 422 for a
// JSON patch whose test fails), the rest succeed.
func checkStatus(j *judgement, what string, i, beat, status int) {
	if i < beat && status != http.StatusConflict && status != http.StatusUnprocessableEntity {
		j.fail("%s %d answered %d, expected a conflict (409/422)", what, i+1, status)
	}
	if i >= beat && status/100 != 2 {
		j.fail("%s %d answered %d, expected success", what, i+1, status)
	}
}

// checkReadAgain: the plugin's debug line `line` (its re-read after a conflict) appears once when the
// other writer beat it, never without one (a second conflict ends in the warn line instead).
func checkReadAgain(j *judgement, obs *observation, beat int, line string) {
	changed := obs.pluginLog.find(logrus.DebugLevel, line)
	switch {
	case beat == 0 && len(changed) > 0:
		j.fail("a conflict was logged with no other writer: %q", changed[0])
	case beat > 0 && len(changed) != 1:
		j.fail("expected one debug line %q, found %d", line, len(changed))
	case beat > 0:
		j.fields = append(j.fields, "debug="+strconv.Quote(trim(changed[0])))
	}
}

// checkOtherWriterKept: every change of the other writer is still on the live object.
func checkOtherWriterKept(j *judgement, live *unstructured.Unstructured, beat int) {
	for k := 1; k <= beat; k++ {
		key := fmt.Sprintf("fsb-e2e/other-writer-%d", k)
		if live.GetAnnotations()[key] != "x" {
			j.fail("the other writer's annotation %s is gone from %s %s", key, live.GetKind(), live.GetName())
		}
	}
}

// testedResourceVersion: the value of the patch's first op, which must test the resourceVersion.
func testedResourceVersion(body []byte) (string, error) {
	var ops []map[string]interface{}
	if err := json.Unmarshal(body, &ops); err != nil {
		return "", fmt.Errorf("not a JSON patch: %v", err)
	}
	if len(ops) == 0 || ops[0]["op"] != "test" || ops[0]["path"] != "/metadata/resourceVersion" {
		return "", fmt.Errorf("first op is not a test of /metadata/resourceVersion: %s", body)
	}
	rv, ok := ops[0]["value"].(string)
	if !ok || rv == "" {
		return "", fmt.Errorf("the test has no resourceVersion: %s", body)
	}
	return rv, nil
}

func templateOf(u *unstructured.Unstructured) map[string]interface{} {
	t, _, _ := unstructured.NestedMap(u.Object, "spec", "template")
	return t
}

func revisionImage(cr *unstructured.Unstructured) (string, bool) {
	containers, _, _ := unstructured.NestedSlice(cr.Object, "data", "spec", "template", "spec", "containers")
	if len(containers) == 0 {
		return "", false
	}
	m, _ := containers[0].(map[string]interface{})
	s, ok := m["image"].(string)
	return s, ok
}

func statuses(ws []pluginWrite) []int {
	var out []int
	for _, w := range ws {
		out = append(out, w.status)
	}
	return out
}

func findLine(lines []string, words ...string) string {
	for _, l := range lines {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return l
		}
	}
	return ""
}

// withoutLines: the lines that contain none of the expected texts.
func withoutLines(lines []string, expected ...string) []string {
	var out []string
next:
	for _, l := range lines {
		for _, e := range expected {
			if strings.Contains(l, e) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

func trim(s string) string {
	if len(s) > 240 {
		return s[:240]
	}
	return s
}

// ---------------------------------------------------------------------------------------------
// The proxy

// conflictTarget is the object whose writes get beaten, and the method of those writes.
type conflictTarget struct {
	gvr      schema.GroupVersionResource
	ns, name string
	method   string
}

func (t conflictTarget) path() string {
	return fmt.Sprintf("/apis/%s/%s/namespaces/%s/%s/%s", t.gvr.Group, t.gvr.Version, t.ns, t.gvr.Resource, t.name)
}

// covers: the object's path or one of its subresources' (…/status, …/scale).
func (t conflictTarget) covers(path string) bool {
	return path == t.path() || strings.HasPrefix(path, t.path()+"/")
}

// pluginWrite is one write request the plugin sent, with the apiserver's status.
type pluginWrite struct {
	method, path, query string
	body                []byte
	status              int
}

type conflictProxy struct {
	target conflictTarget
	beat   int
	c      clients
	rp     *httputil.ReverseProxy
	srv    *http.Server
	l      net.Listener
	caPEM  []byte

	mu       sync.Mutex
	writes   []pluginWrite
	hits     int      // watched writes seen
	otherRVs []string // the object's resourceVersion after each change of the other writer
	problems []string
}

func startConflictProxy(cfg *rest.Config, c clients, target conflictTarget, beat int) (*conflictProxy, error) {
	upstream, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	rt, err := rest.TransportFor(cfg) // the admin's client certificate, the apiserver's CA
	if err != nil {
		return nil, err
	}
	caPEM, cert, err := proxyCertificate()
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &conflictProxy{target: target, beat: beat, c: c, l: l, caPEM: caPEM}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Header.Del("Authorization") // the plugin's placeholder token; upstream the admin's certificate
		},
		Transport:     rt,
		FlushInterval: -1, // watches stream
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{Handler: p, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = p.srv.ServeTLS(l, "", "") }()
	return p, nil
}

func (p *conflictProxy) close() { _ = p.srv.Close() }

// writeKubeconfig: the proxy's address and CA, a placeholder token (the proxy authenticates).
func (p *conflictProxy) writeKubeconfig(path string) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["conflict"] = &clientcmdapi.Cluster{Server: "https://" + p.l.Addr().String(), CertificateAuthorityData: p.caPEM}
	kc.AuthInfos["conflict"] = &clientcmdapi.AuthInfo{Token: "fsb-e2e-conflict-proxy"}
	kc.Contexts["conflict"] = &clientcmdapi.Context{Cluster: "conflict", AuthInfo: "conflict"}
	kc.CurrentContext = "conflict"
	return path, clientcmd.WriteToFile(*kc, path)
}

// snapshot: the plugin's writes, the other writer's resourceVersions, the proxy's problems; the
// writes are also listed on stderr (driver-faults.log).
func (p *conflictProxy) snapshot() ([]pluginWrite, []string, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, w := range p.writes {
		q := ""
		if w.query != "" {
			q = "?" + w.query
		}
		fmt.Fprintf(os.Stderr, "driver: conflict proxy (%s): plugin %s %s%s -> %d %s\n", p.target.name, w.method, w.path, q, w.status, trim(string(w.body)))
	}
	fmt.Fprintf(os.Stderr, "driver: conflict proxy (%s): other writer's resourceVersions %v\n", p.target.name, p.otherRVs)
	return append([]pluginWrite(nil), p.writes...), append([]string(nil), p.otherRVs...), append([]string(nil), p.problems...)
}

func (p *conflictProxy) problem(f string, a ...interface{}) {
	p.mu.Lock()
	p.problems = append(p.problems, fmt.Sprintf(f, a...))
	p.mu.Unlock()
}

func (p *conflictProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		p.mu.Lock()
		before := p.hits == 0
		p.mu.Unlock()
		if before && r.URL.Path == p.target.path() {
			p.settle(r.Context())
		}
		p.rp.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	p.mu.Lock()
	idx := len(p.writes)
	p.writes = append(p.writes, pluginWrite{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, body: body})
	k := 0
	if r.Method == p.target.method && r.URL.Path == p.target.path() {
		p.hits++
		if p.hits <= p.beat {
			k = p.hits
		}
	}
	p.mu.Unlock()
	if k > 0 {
		p.otherWriter(r.Context(), k)
	}
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	p.rp.ServeHTTP(rec, r)
	p.mu.Lock()
	p.writes[idx].status = rec.status
	p.mu.Unlock()
}

// otherWriter changes the target between the plugin's read and its write k.
func (p *conflictProxy) otherWriter(ctx context.Context, k int) {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"fsb-e2e/other-writer-%d":"x"}}}`, k)
	u, err := p.c.dyn.Resource(p.target.gvr).Namespace(p.target.ns).Patch(ctx, p.target.name, types.MergePatchType,
		[]byte(patch), metav1.PatchOptions{})
	if err != nil {
		p.problem("the other writer's change %d failed: %v", k, err)
		return
	}
	p.mu.Lock()
	p.otherRVs = append(p.otherRVs, u.GetResourceVersion())
	p.mu.Unlock()
}

// settle waits (up to 10 s) until the target is quiet: its controller has observed it (a
// ReplicaSet's status.observedGeneration) and its resourceVersion holds for 400 ms. A missing
// object is quiet.
func (p *conflictProxy) settle(ctx context.Context) {
	deadline := time.Now().Add(10 * time.Second)
	last, same := "", 0
	for time.Now().Before(deadline) {
		u, err := p.c.dyn.Resource(p.target.gvr).Namespace(p.target.ns).Get(ctx, p.target.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if err == nil {
			observed := true
			if p.target.gvr == gvrReplicaSets {
				og, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
				observed = og == u.GetGeneration()
			}
			if observed && u.GetResourceVersion() == last {
				same++
			} else {
				same = 0
			}
			last = u.GetResourceVersion()
			if same >= 2 {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.problem("%s stayed busy for 10s before the plugin's first write", p.target.path())
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// proxyCertificate: a fresh CA and a server certificate it signs for 127.0.0.1.
func proxyCertificate() ([]byte, tls.Certificate, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	caTpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fsb-e2e-conflict-proxy-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "fsb-e2e-conflict-proxy"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, tls.Certificate{}, err
	}
	cert := tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), cert, nil
}
