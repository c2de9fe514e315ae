package main

// --mode reference: the correction of design.md §2 done by the driver itself with Go's reference
// libraries (no plugin), to show that each scenario's "no rollout" outcome is reachable with the real
// controllers. If reference passes and plugin fails, the difference is the plugin's.
//
//   T  = the backed-up Deployment's template; T' = T after the restore's rules, applied to the
//   Deployment as Velero will hand it to the modifiers (metadata reset, status removed, original ns).
//   Pods of the Deployment get the two-way strategic merge patch T→T'; the ReplicaSet whose template
//   equals T gets T' with its own pod-template-hash label. Workloads without FSB pods are left alone.

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

type referenceCorrection struct {
	active   bool
	podPatch []byte                 // two-way SMP T→T' for pods
	tPrime   map[string]interface{} // T' as JSON object
}

func newReferenceCorrection(s scenario, data backedUp, rules *modifierRules) (*referenceCorrection, error) {
	if len(data.fsbVolumes) == 0 {
		return &referenceCorrection{}, nil
	}
	dep := data.deployment.DeepCopy()
	resetMetadataAndStatus(dep)
	t, _, _ := unstructured.NestedMap(dep.Object, "spec", "template")
	if _, errs := rules.apply(dep, "deployments.apps"); len(errs) > 0 {
		return nil, fmt.Errorf("rules on the Deployment: %v", errs)
	}
	tp, _, _ := unstructured.NestedMap(dep.Object, "spec", "template")
	same, err := semanticallyEqualTemplates(t, tp)
	if err != nil || same {
		return &referenceCorrection{}, err
	}
	// The pod delta is taken between the typed templates, i.e. as the apiserver will store them:
	// keys the API does not know (the "" that "/spec/template/" adds) are not part of it.
	tj, err := typedJSON(t)
	if err != nil {
		return nil, err
	}
	tpj, err := typedJSON(tp)
	if err != nil {
		return nil, err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(tj, tpj, corev1.PodTemplateSpec{})
	if err != nil {
		return nil, err
	}
	return &referenceCorrection{active: true, podPatch: patch, tPrime: tp}, nil
}

// semanticallyEqualTemplates compares as the Deployment controller does: typed, semantic equality,
// pod-template-hash ignored (typed decoding also drops fields the API does not know, like "").
func semanticallyEqualTemplates(a, b map[string]interface{}) (bool, error) {
	var ta, tb corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(a, &ta); err != nil {
		return false, err
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(b, &tb); err != nil {
		return false, err
	}
	delete(ta.Labels, "pod-template-hash")
	delete(tb.Labels, "pod-template-hash")
	return equality.Semantic.DeepEqual(ta, tb), nil
}

func (rc *referenceCorrection) correct(kind string, obj *unstructured.Unstructured) error {
	if !rc.active {
		return nil
	}
	switch kind {
	case "Pod":
		raw, err := json.Marshal(obj.Object)
		if err != nil {
			return err
		}
		out, err := strategicpatch.StrategicMergePatch(raw, rc.podPatch, corev1.Pod{})
		if err != nil {
			return err
		}
		return json.Unmarshal(out, &obj.Object)
	case "ReplicaSet":
		hash, _, _ := unstructured.NestedString(obj.Object, "spec", "template", "metadata", "labels", "pod-template-hash")
		tp := runtime.DeepCopyJSON(rc.tPrime)
		if hash != "" {
			if err := unstructured.SetNestedField(tp, hash, "metadata", "labels", "pod-template-hash"); err != nil {
				return err
			}
		}
		return unstructured.SetNestedMap(obj.Object, tp, "spec", "template")
	}
	return nil
}

// checkCarriesIntent fails when applying the T→T' patch to the pod would still change its spec.
func checkCarriesIntent(obj *unstructured.Unstructured, patch []byte) error {
	raw, err := json.Marshal(obj.Object)
	if err != nil {
		return err
	}
	var p corev1.Pod // typed, as the apiserver decodes it (unknown keys like "" dropped)
	if err := json.Unmarshal(raw, &p); err != nil {
		return err
	}
	if raw, err = json.Marshal(&p); err != nil {
		return err
	}
	out, err := strategicpatch.StrategicMergePatch(raw, patch, corev1.Pod{})
	if err != nil {
		return err
	}
	var patched corev1.Pod
	if err := json.Unmarshal(out, &patched); err != nil {
		return err
	}
	if !equality.Semantic.DeepEqual(p.Spec, patched.Spec) {
		return fmt.Errorf("does not carry the template change (T→T' would still change its spec)")
	}
	return nil
}

func typedJSON(template map[string]interface{}) ([]byte, error) {
	raw, err := json.Marshal(template)
	if err != nil {
		return nil, err
	}
	var t corev1.PodTemplateSpec
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, err
	}
	return json.Marshal(&t)
}
