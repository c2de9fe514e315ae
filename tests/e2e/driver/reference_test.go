package main

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

var nestedSlice = unstructured.NestedSlice

// The carries-intent check must fail on an uncorrected pod and pass on a corrected one; the
// expected toleration is hand-written from rules8578, not taken from the code under test.
func TestCarriesIntentCheckCanFail(t *testing.T) {
	s := scenarios[0]
	data := s.backup()
	rules, err := parseModifierRules(s.rules)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := newReferenceCorrection(s, data, rules)
	if err != nil || !rc.active {
		t.Fatalf("8578 rules must change the template: active=%v err=%v", rc.active, err)
	}
	pod := data.pods[0].DeepCopy()
	resetMetadataAndStatus(pod)
	if err := checkCarriesIntent(pod, rc.podPatch); err == nil {
		t.Fatal("an uncorrected pod passed the check")
	}
	if err := rc.correct("Pod", pod); err != nil {
		t.Fatal(err)
	}
	if err := checkCarriesIntent(pod, rc.podPatch); err != nil {
		t.Fatalf("a corrected pod failed: %v", err)
	}
	tol, _, _ := nestedSlice(pod.Object, "spec", "tolerations")
	if len(tol) != 1 || tol[0].(map[string]interface{})["key"] != "dedicated" {
		t.Fatalf("corrected pod tolerations: %v", tol)
	}
	// The steady scenario's rules leave the template alone: no correction.
	st := scenarios[3]
	if st.name != "steady" {
		t.Fatalf("scenario order changed: %s", st.name)
	}
	r2, _ := parseModifierRules(st.rules)
	if rc2, err := newReferenceCorrection(st, st.backup(), r2); err != nil || rc2.active {
		t.Fatalf("steady must need no correction: active=%v err=%v", rc2.active, err)
	}
}
