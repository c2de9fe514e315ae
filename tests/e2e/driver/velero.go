package main

// What Velero's restore does to an item around the restore item actions, written from the facts in
// ../../../../shared/facts/velero.md §4.2 and §5.2 (our own code: Velero's restore package is not
// importable as a library). Order inside restoreItem: copy as itemFromBackup → reset metadata and
// status → built-in actions (velero.io/pod, velero.io/pod-volume-restore) → external plugins →
// resource modifiers → namespace mapping → restore labels → create.

import (
	"crypto/sha256"
	"encoding/hex"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// resetMetadataAndStatus mirrors Velero's resetMetadata + status removal: identity and ownership
// fields go, labels/annotations/finalizers/managedFields stay.
func resetMetadataAndStatus(obj *unstructured.Unstructured) {
	for _, f := range []string{"generateName", "selfLink", "uid", "resourceVersion", "generation",
		"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences"} {
		unstructured.RemoveNestedField(obj.Object, "metadata", f)
	}
	delete(obj.Object, "status")
}

// podAction stands in for velero.io/pod: a restored pod must be schedulable afresh.
func podAction(pod *unstructured.Unstructured) {
	unstructured.RemoveNestedField(pod.Object, "spec", "nodeName")
	unstructured.RemoveNestedField(pod.Object, "spec", "priority")
}

// prependRestoreWait stands in for velero.io/pod-volume-restore (v1.17+ behaviour): drop any earlier
// restore-wait/restic-wait init container, then put a fresh one first, mounting every FSB volume.
func prependRestoreWait(pod *unstructured.Unstructured, restoreUID, image string, fsbVolumes []string) {
	if len(fsbVolumes) == 0 {
		return
	}
	inits, _, _ := unstructured.NestedSlice(pod.Object, "spec", "initContainers")
	kept := []interface{}{}
	for _, c := range inits {
		if m, ok := c.(map[string]interface{}); ok && (m["name"] == "restore-wait" || m["name"] == "restic-wait") {
			continue
		}
		kept = append(kept, c)
	}
	mounts := []interface{}{}
	for _, v := range fsbVolumes {
		mounts = append(mounts, map[string]interface{}{"name": v, "mountPath": "/restores/" + v})
	}
	fieldEnv := func(name, path string) map[string]interface{} {
		return map[string]interface{}{"name": name, "valueFrom": map[string]interface{}{
			"fieldRef": map[string]interface{}{"fieldPath": path}}}
	}
	res := map[string]interface{}{"cpu": "100m", "memory": "128Mi"}
	wait := map[string]interface{}{
		"name":         "restore-wait",
		"image":        image,
		"command":      []interface{}{"/velero-restore-helper"},
		"args":         []interface{}{restoreUID},
		"env":          []interface{}{fieldEnv("POD_NAMESPACE", "metadata.namespace"), fieldEnv("POD_NAME", "metadata.name")},
		"volumeMounts": mounts,
		"resources":    map[string]interface{}{"requests": res, "limits": res},
	}
	_ = unstructured.SetNestedSlice(pod.Object, append([]interface{}{wait}, kept...), "spec", "initContainers")
}

// validLabelValue mirrors Velero's label.GetValidName: values over 63 characters are cut to 57 and
// suffixed with 6 hex digits of their SHA-256.
func validLabelValue(s string) string {
	if len(s) <= 63 {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return s[:57] + hex.EncodeToString(sum[:])[:6]
}

// addRestoreLabels is Velero's addRestoreLabels: the backup and restore names as labels.
func addRestoreLabels(obj *unstructured.Unstructured, backup, restore string) {
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l["velero.io/backup-name"] = validLabelValue(backup)
	l["velero.io/restore-name"] = validLabelValue(restore)
	obj.SetLabels(l)
}
