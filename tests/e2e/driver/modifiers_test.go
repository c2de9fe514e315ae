package main

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Expected values come from facts/velero.md §6.4 (Velero's addQuotes rules), not from this code.
func TestPatchValue(t *testing.T) {
	for in, want := range map[string]string{
		"":          `""`,
		`"3"`:       `"3"`,
		"null":      "null",
		"TRUE":      "true",
		"{}":        "{}",
		`[1]`:       `[1]`,
		"3":         "3",
		"1e3":       "1e3",
		"app:2.0":   `"app:2.0"`,
		"some text": `"some text"`,
	} {
		if got := patchValue(in); got != want {
			t.Errorf("patchValue(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestRules8578OnTheDeployment(t *testing.T) {
	s := scenarios[0]
	rules, err := parseModifierRules(s.rules)
	if err != nil {
		t.Fatal(err)
	}
	dep := s.backup().deployment
	resetMetadataAndStatus(dep)
	if _, errs := rules.apply(dep, "deployments.apps"); len(errs) > 0 {
		t.Fatal(errs)
	}
	// "/spec/template/" addresses the key "" of the template (RFC 6901), so the user's rule adds it.
	if v, ok, _ := unstructured.NestedMap(dep.Object, "spec", "template", ""); !ok || len(v) != 0 {
		t.Errorf("want an empty object at template[\"\"], got %v %v", v, ok)
	}
	tol, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "tolerations")
	if len(tol) != 1 || tol[0].(map[string]interface{})["key"] != "dedicated" {
		t.Errorf("tolerations: %v", tol)
	}
	terms, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "affinity", "nodeAffinity",
		"requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
	if len(terms) != 1 {
		t.Errorf("nodeSelectorTerms: %v", terms)
	}
	// The rule is scoped to deployments.apps: pods and ReplicaSets stay untouched.
	rs := s.backup().replicaSet
	before := rs.DeepCopy()
	if applied, _ := rules.apply(rs, "replicasets.apps"); len(applied) != 0 || !equalJSON(before, rs) {
		t.Errorf("rule applied to a ReplicaSet: %v", applied)
	}
}

func TestImageRuleMatchesOnlyItsDeployment(t *testing.T) {
	rules, err := parseModifierRules(imageRules("catalog"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"catalog": true, "catalog-v2": false, "frontend": false} {
		s := scenario{deploy: name, replicas: 1, strategy: "RollingUpdate"}
		dep := s.backup().deployment
		applied, errs := rules.apply(dep, "deployments.apps")
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		img, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
		got := img[0].(map[string]interface{})["image"] == "registry.example/shop/app:2.0"
		if got != want || (len(applied) == 1) != want {
			t.Errorf("%s: image changed=%v applied=%v, want %v", name, got, applied, want)
		}
	}
}

func equalJSON(a, b *unstructured.Unstructured) bool {
	x, _ := a.MarshalJSON()
	y, _ := b.MarshalJSON()
	return string(x) == string(y)
}
