package main

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Expected values below are worked out by hand from the rule semantics in
// facts/velero.md §6 (not produced by this code).

const deployment = `{"apiVersion":"apps/v1","kind":"Deployment",
 "metadata":{"name":"web","namespace":"shop","labels":{"app":"web"}},
 "spec":{"replicas":3,"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[
   {"name":"web","image":"web:1","env":[{"name":"A","value":"1"}]},
   {"name":"sidecar","image":"proxy:1"}]}}}}`

func load(t *testing.T, yamlText string) *ruleSet {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(path, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := loadRules(path)
	if err != nil {
		t.Fatalf("loadRules: %v", err)
	}
	return rs
}

func obj(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(deployment)); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestJSONPatchValueRendering(t *testing.T) {
	rs := load(t, `version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps, namespaces: ["sh*"], resourceNameRegex: "we"}
  patches:
  - {operation: replace, path: /spec/replicas, value: "1"}
  - {operation: add, path: /metadata/labels/quoted, value: '"42"'}
`)
	u := obj(t)
	n, err := rs.apply(u)
	if err != nil || n != 1 {
		t.Fatalf("apply = %d, %v; want 1 rule applied", n, err)
	}
	if r, _, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); r != 1 {
		t.Errorf("replicas = %d, want 1 (number, not string)", r)
	}
	if v := u.GetLabels()["quoted"]; v != "42" {
		t.Errorf(`label quoted = %q, want "42" as a string`, v)
	}
}

func TestGroupResourceGlobDoesNotCrossDots(t *testing.T) {
	rs := load(t, `version: v1
resourceModifierRules:
- conditions: {groupResource: "*"}
  patches: [{operation: replace, path: /spec/replicas, value: "0"}]
- conditions: {groupResource: "deployments"}
  patches: [{operation: replace, path: /spec/replicas, value: "0"}]
`)
	u := obj(t)
	if n, err := rs.apply(u); err != nil || n != 0 {
		t.Fatalf("apply = %d, %v; want no rule to match deployments.apps", n, err)
	}
}

func TestStrategicPatchMergesContainersByName(t *testing.T) {
	rs := load(t, `version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps}
  strategicPatches:
  - patchData: |
      spec: {template: {spec: {containers: [{name: sidecar, image: "proxy:2"}]}}}
`)
	u := obj(t)
	if n, err := rs.apply(u); err != nil || n != 1 {
		t.Fatalf("apply = %d, %v", n, err)
	}
	cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	if len(cs) != 2 {
		t.Fatalf("containers = %v, want both kept", cs)
	}
	web, side := cs[0].(map[string]interface{}), cs[1].(map[string]interface{})
	if web["image"] != "web:1" || side["image"] != "proxy:2" {
		t.Errorf("images = %v / %v, want web:1 / proxy:2", web["image"], side["image"])
	}
}

func TestMergePatchReplacesLists(t *testing.T) {
	rs := load(t, `version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps}
  mergePatches:
  - patchData: '{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"x"}]}}}}'
`)
	u := obj(t)
	if _, err := rs.apply(u); err != nil {
		t.Fatal(err)
	}
	cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	if len(cs) != 1 {
		t.Errorf("containers = %v, want the merge patch's single container (RFC 7386 replaces lists)", cs)
	}
}

func TestConditionsSeeTheObjectBeforeEarlierPatches(t *testing.T) {
	rs := load(t, `version: v1
resourceModifierRules:
- conditions: {groupResource: deployments.apps}
  patches: [{operation: replace, path: /spec/replicas, value: "5"}]
- conditions:
    groupResource: deployments.apps
    matches: [{path: /spec/replicas, value: "5"}]
  patches: [{operation: add, path: /metadata/labels/second, value: "yes"}]
`)
	u := obj(t)
	n, err := rs.apply(u)
	if err != nil {
		t.Fatal(err)
	}
	// replicas was 3 in the original, so the second rule must not match.
	if n != 1 || u.GetLabels()["second"] != "" {
		t.Errorf("applied %d rules, labels %v; want only the first rule", n, u.GetLabels())
	}
}
