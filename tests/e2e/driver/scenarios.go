package main

// The fixed scenarios. Each one is a backup of one Deployment in namespace "shop" of a source cluster:
// the Deployment, its current ReplicaSet (template = Deployment template + pod-template-hash) and its
// pods, all as the source apiserver returned them (uid, ownerReferences, status…), plus the
// PodVolumeBackups Velero's backup made for the FSB volumes and the restore's resource-modifier rules.

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

const sourceNamespace = "shop"

type scenario struct {
	name     string
	deploy   string
	replicas int
	strategy string // RollingUpdate | Recreate
	fsb      bool   // pods carry an emptyDir "data" backed up by FSB
	rules    string // resource-modifier ConfigMap data
	// pluginShouldPrevent: with the plugin, no rollout may happen. False when the plugin must leave the
	// workload alone (no FSB data), so the controller rolls exactly as without the plugin.
	pluginShouldPrevent bool
	// steady: the rules leave the pod template alone, so neither mode may roll. This is the harness's
	// negative control: Velero's own transformations (restore-wait, restore labels, metadata reset)
	// must not look like a rollout.
	steady bool
}

// Velero issue 8578: Deployment-scoped JSON patches, including the user's trailing-slash paths
// ("/spec/template/" adds a key "" under template), adding node affinity and tolerations.
const rules8578 = `version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^(growi-mongodb)$"
    namespaces:
    - shop
  patches:
  - operation: add
    path: "/spec/template/"
    value: "{}"
  - operation: add
    path: "/spec/template/spec/"
    value: "{}"
  - operation: add
    path: "/spec/template/spec/affinity"
    value: "{}"
  - operation: add
    path: "/spec/template/spec/affinity/nodeAffinity"
    value: "{}"
  - operation: add
    path: "/spec/template/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution"
    value: '{"nodeSelectorTerms":[{"matchExpressions":[{"key":"topology.kubernetes.io/zone","operator":"In","values":["zone-b"]}]}]}'
  - operation: add
    path: "/spec/template/spec/tolerations"
    value: '[{"key":"dedicated","operator":"Equal","value":"restore","effect":"NoSchedule"}]'
`

func imageRules(deploy string) string {
	return fmt.Sprintf(`version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^%s$"
  patches:
  - operation: replace
    path: "/spec/template/spec/containers/0/image"
    value: "registry.example/shop/app:2.0"
`, deploy)
}

// labelRules changes only the Deployment's own metadata: no template change, nothing may roll.
func labelRules(deploy string) string {
	return fmt.Sprintf(`version: v1
resourceModifierRules:
- conditions:
    groupResource: deployments.apps
    resourceNameRegex: "^%s$"
  mergePatches:
  - patchData: |
      metadata:
        labels:
          restored-by: velero
`, deploy)
}

var scenarios = []scenario{
	{name: "8578-rolling", deploy: "growi-mongodb", replicas: 1, strategy: "RollingUpdate", fsb: true, rules: rules8578, pluginShouldPrevent: true},
	{name: "8578-recreate", deploy: "growi-mongodb", replicas: 1, strategy: "Recreate", fsb: true, rules: rules8578, pluginShouldPrevent: true},
	{name: "image-2-replicas", deploy: "catalog", replicas: 2, strategy: "RollingUpdate", fsb: true, rules: imageRules("catalog"), pluginShouldPrevent: true},
	{name: "steady", deploy: "ledger", replicas: 1, strategy: "Recreate", fsb: true, rules: labelRules("ledger"), steady: true, pluginShouldPrevent: true},
	{name: "no-fsb", deploy: "frontend", replicas: 1, strategy: "RollingUpdate", fsb: false, rules: imageRules("frontend"), pluginShouldPrevent: false},
}

// backedUp is what the backup tarball would hold for one scenario.
type backedUp struct {
	deployment *unstructured.Unstructured
	replicaSet *unstructured.Unstructured
	pods       []*unstructured.Unstructured
	fsbVolumes map[string][]string // pod name → FSB volume names
}

const podTemplateHash = "5dcfb75c59" // the source cluster's hash; never recomputed on restore

func (s scenario) podTemplate(withHash bool) map[string]interface{} {
	labels := map[string]interface{}{"app": s.deploy}
	if withHash {
		labels["pod-template-hash"] = podTemplateHash
	}
	container := map[string]interface{}{
		"name":                     "app",
		"image":                    "registry.example/shop/app:1.0",
		"imagePullPolicy":          "IfNotPresent",
		"terminationMessagePath":   "/dev/termination-log",
		"terminationMessagePolicy": "File",
		"resources":                map[string]interface{}{},
	}
	spec := map[string]interface{}{
		"containers":                    []interface{}{container},
		"restartPolicy":                 "Always",
		"terminationGracePeriodSeconds": int64(30),
		"dnsPolicy":                     "ClusterFirst",
		"securityContext":               map[string]interface{}{},
		"schedulerName":                 "default-scheduler",
	}
	if s.fsb {
		container["volumeMounts"] = []interface{}{map[string]interface{}{"name": "data", "mountPath": "/data"}}
		spec["volumes"] = []interface{}{map[string]interface{}{"name": "data", "emptyDir": map[string]interface{}{}}}
	}
	return map[string]interface{}{"metadata": map[string]interface{}{"labels": labels}, "spec": spec}
}

func (s scenario) strategyObject() map[string]interface{} {
	if s.strategy == "Recreate" {
		return map[string]interface{}{"type": "Recreate"}
	}
	return map[string]interface{}{"type": "RollingUpdate",
		"rollingUpdate": map[string]interface{}{"maxSurge": "25%", "maxUnavailable": "25%"}}
}

func (s scenario) backup() backedUp {
	const created = "2026-11-01T10:00:00Z"
	depUID := "0d7e0000-0000-4000-8000-00000000d001"
	rsUID := "0d7e0000-0000-4000-8000-00000000r001"
	rsName := s.deploy + "-" + podTemplateHash
	dep := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]interface{}{
			"name": s.deploy, "namespace": sourceNamespace, "uid": depUID, "resourceVersion": "4711",
			"generation": int64(1), "creationTimestamp": created,
			"labels":      map[string]interface{}{"app": s.deploy},
			"annotations": map[string]interface{}{"deployment.kubernetes.io/revision": "1"},
		},
		"spec": map[string]interface{}{
			"replicas":                int64(s.replicas),
			"selector":                map[string]interface{}{"matchLabels": map[string]interface{}{"app": s.deploy}},
			"template":                s.podTemplate(false),
			"strategy":                s.strategyObject(),
			"revisionHistoryLimit":    int64(10),
			"progressDeadlineSeconds": int64(600),
		},
		"status": map[string]interface{}{"observedGeneration": int64(1), "replicas": int64(s.replicas),
			"readyReplicas": int64(s.replicas), "availableReplicas": int64(s.replicas), "updatedReplicas": int64(s.replicas)},
	}}
	rs := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "apps/v1", "kind": "ReplicaSet",
		"metadata": map[string]interface{}{
			"name": rsName, "namespace": sourceNamespace, "uid": rsUID, "resourceVersion": "4712",
			"generation": int64(1), "creationTimestamp": created,
			"labels": map[string]interface{}{"app": s.deploy, "pod-template-hash": podTemplateHash},
			"annotations": map[string]interface{}{
				"deployment.kubernetes.io/revision":         "1",
				"deployment.kubernetes.io/desired-replicas": fmt.Sprint(s.replicas),
				"deployment.kubernetes.io/max-replicas":     fmt.Sprint(maxReplicas(s)),
			},
			"ownerReferences": []interface{}{ownerRef("Deployment", s.deploy, depUID)},
		},
		"spec": map[string]interface{}{
			"replicas": int64(s.replicas),
			"selector": map[string]interface{}{"matchLabels": map[string]interface{}{
				"app": s.deploy, "pod-template-hash": podTemplateHash}},
			"template": s.podTemplate(true),
		},
		"status": map[string]interface{}{"replicas": int64(s.replicas), "readyReplicas": int64(s.replicas),
			"availableReplicas": int64(s.replicas), "fullyLabeledReplicas": int64(s.replicas), "observedGeneration": int64(1)},
	}}
	out := backedUp{deployment: dep, replicaSet: rs, fsbVolumes: map[string][]string{}}
	suffixes := []string{"qvdmt", "x7k2p", "m4n8w"}
	for i := 0; i < s.replicas; i++ {
		name := rsName + "-" + suffixes[i]
		tpl := s.podTemplate(true)
		spec := tpl["spec"].(map[string]interface{})
		spec["nodeName"] = "source-node-1"
		spec["priority"] = int64(0)
		pod := &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "v1", "kind": "Pod",
			"metadata": map[string]interface{}{
				"name": name, "namespace": sourceNamespace, "uid": fmt.Sprintf("0d7e0000-0000-4000-8000-00000000p%03d", i),
				"resourceVersion": fmt.Sprint(4713 + i), "creationTimestamp": created, "generateName": rsName + "-",
				"labels":          tpl["metadata"].(map[string]interface{})["labels"],
				"ownerReferences": []interface{}{ownerRef("ReplicaSet", rsName, rsUID)},
			},
			"spec":   spec,
			"status": map[string]interface{}{"phase": "Running", "podIP": "10.0.0.1"},
		}}
		if s.fsb {
			out.fsbVolumes[name] = []string{"data"}
		}
		out.pods = append(out.pods, pod)
	}
	return out
}

func maxReplicas(s scenario) int {
	if s.strategy == "Recreate" {
		return s.replicas
	}
	return s.replicas + (s.replicas*25+99)/100 // maxSurge 25%, rounded up
}

func ownerRef(kind, name, uid string) map[string]interface{} {
	return map[string]interface{}{"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": uid,
		"controller": true, "blockOwnerDeletion": true}
}
