package conformance

import (
	"testing"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The three objects of one Deployment as a backup holds them (status and
// server-set metadata included): Deployment web → ReplicaSet web-6d4cf56db6 →
// pod web-6d4cf56db6-x7k2p with a volume backed up by the file-system backup.

const deploymentJSON = `{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {
    "name": "web",
    "namespace": "shop",
    "uid": "7e0a7a8e-5a43-4f0c-9f55-3d2b8a0e1c11",
    "resourceVersion": "48213",
    "generation": 3,
    "creationTimestamp": "2026-11-20T09:12:44Z",
    "labels": {"app": "web", "tier": "frontend"},
    "annotations": {"deployment.kubernetes.io/revision": "3"}
  },
  "spec": {
    "replicas": 1,
    "revisionHistoryLimit": 10,
    "progressDeadlineSeconds": 600,
    "selector": {"matchLabels": {"app": "web"}},
    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
    "template": {
      "metadata": {
        "labels": {"app": "web", "tier": "frontend"},
        "annotations": {"backup.velero.io/backup-volumes": "data"}
      },
      "spec": {
        "containers": [{
          "name": "web",
          "image": "registry.example.com/shop/web:1.4.2",
          "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
          "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "CACHE_MB", "value": "256"}],
          "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
          "volumeMounts": [{"name": "data", "mountPath": "/var/lib/web"}],
          "terminationMessagePath": "/dev/termination-log",
          "terminationMessagePolicy": "File",
          "imagePullPolicy": "IfNotPresent"
        }],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {"fsGroup": 1000},
        "schedulerName": "default-scheduler"
      }
    }
  },
  "status": {
    "observedGeneration": 3, "replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
    "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
      "lastUpdateTime": "2026-11-20T09:13:01Z", "lastTransitionTime": "2026-11-20T09:13:01Z",
      "message": "Deployment has minimum availability."}]
  }
}`

const replicaSetJSON = `{
  "apiVersion": "apps/v1",
  "kind": "ReplicaSet",
  "metadata": {
    "name": "web-6d4cf56db6",
    "namespace": "shop",
    "uid": "c2b1f3a4-0d7e-4e43-8a53-1f0f5b6a7c22",
    "resourceVersion": "48210",
    "generation": 1,
    "creationTimestamp": "2026-11-20T09:12:44Z",
    "labels": {"app": "web", "tier": "frontend", "pod-template-hash": "6d4cf56db6"},
    "annotations": {"deployment.kubernetes.io/desired-replicas": "1", "deployment.kubernetes.io/max-replicas": "2",
      "deployment.kubernetes.io/revision": "3"},
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
      "uid": "7e0a7a8e-5a43-4f0c-9f55-3d2b8a0e1c11", "controller": true, "blockOwnerDeletion": true}]
  },
  "spec": {
    "replicas": 1,
    "selector": {"matchLabels": {"app": "web", "pod-template-hash": "6d4cf56db6"}},
    "template": {
      "metadata": {
        "labels": {"app": "web", "tier": "frontend", "pod-template-hash": "6d4cf56db6"},
        "annotations": {"backup.velero.io/backup-volumes": "data"}
      },
      "spec": {
        "containers": [{
          "name": "web",
          "image": "registry.example.com/shop/web:1.4.2",
          "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
          "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "CACHE_MB", "value": "256"}],
          "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
          "volumeMounts": [{"name": "data", "mountPath": "/var/lib/web"}],
          "terminationMessagePath": "/dev/termination-log",
          "terminationMessagePolicy": "File",
          "imagePullPolicy": "IfNotPresent"
        }],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}}],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "securityContext": {"fsGroup": 1000},
        "schedulerName": "default-scheduler"
      }
    }
  },
  "status": {"replicas": 1, "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 1}
}`

const podJSON = `{
  "apiVersion": "v1",
  "kind": "Pod",
  "metadata": {
    "name": "web-6d4cf56db6-x7k2p",
    "generateName": "web-6d4cf56db6-",
    "namespace": "shop",
    "uid": "0f3e2d1c-9b8a-4c7d-8e6f-5a4b3c2d1e33",
    "resourceVersion": "48207",
    "creationTimestamp": "2026-11-20T09:12:45Z",
    "labels": {"app": "web", "tier": "frontend", "pod-template-hash": "6d4cf56db6"},
    "annotations": {"backup.velero.io/backup-volumes": "data"},
    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6d4cf56db6",
      "uid": "c2b1f3a4-0d7e-4e43-8a53-1f0f5b6a7c22", "controller": true, "blockOwnerDeletion": true}]
  },
  "spec": {
    "containers": [{
      "name": "web",
      "image": "registry.example.com/shop/web:1.4.2",
      "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
      "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "CACHE_MB", "value": "256"}],
      "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
      "volumeMounts": [
        {"name": "data", "mountPath": "/var/lib/web"},
        {"name": "kube-api-access-9xq2z", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
      ],
      "terminationMessagePath": "/dev/termination-log",
      "terminationMessagePolicy": "File",
      "imagePullPolicy": "IfNotPresent"
    }],
    "volumes": [
      {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
      {"name": "kube-api-access-9xq2z", "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}
      ]}}
    ],
    "restartPolicy": "Always",
    "terminationGracePeriodSeconds": 30,
    "dnsPolicy": "ClusterFirst",
    "serviceAccountName": "default",
    "serviceAccount": "default",
    "nodeName": "worker-2",
    "securityContext": {"fsGroup": 1000},
    "schedulerName": "default-scheduler",
    "tolerations": [
      {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
      {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
    ],
    "priority": 0,
    "enableServiceLinks": true,
    "preemptionPolicy": "PreemptLowerPriority"
  },
  "status": {
    "phase": "Running",
    "podIP": "10.244.2.17",
    "startTime": "2026-11-20T09:12:45Z",
    "qosClass": "Burstable",
    "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-20T09:12:58Z"}]
  }
}`

// restoreItem is one Execute input: the item as Velero hands it to restore
// item actions, and the pristine copy from the backup.
type restoreItem struct {
	name           string
	item           *unstructured.Unstructured
	itemFromBackup *unstructured.Unstructured
}

func mustUnstructured(t *testing.T, js string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(js)); err != nil {
		t.Fatalf("fixture does not decode: %v", err)
	}
	return u
}

// asVeleroHandsIt mimics what Velero does to an item before restore item
// actions run (pkg/restore/restore.go resetMetadataAndStatus): server-set
// metadata and ownerReferences go, status goes; name, namespace, labels and
// annotations stay.
func asVeleroHandsIt(fromBackup *unstructured.Unstructured) *unstructured.Unstructured {
	item := fromBackup.DeepCopy()
	meta, _ := item.Object["metadata"].(map[string]interface{})
	for _, k := range []string{"generateName", "selfLink", "uid", "resourceVersion", "generation",
		"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences"} {
		delete(meta, k)
	}
	unstructured.RemoveNestedField(item.Object, "status")
	return item
}

func restoreItems(t *testing.T) []restoreItem {
	var items []restoreItem
	// Velero's restore order: pods, then replicasets.apps, then deployments.apps.
	for _, f := range []struct{ name, js string }{
		{"pod", podJSON}, {"replicaset", replicaSetJSON}, {"deployment", deploymentJSON},
	} {
		fromBackup := mustUnstructured(t, f.js)
		items = append(items, restoreItem{name: f.name, item: asVeleroHandsIt(fromBackup), itemFromBackup: fromBackup})
	}
	return items
}

// testRestore is the Restore object Velero passes with every call. No
// resource modifiers: the plugin has nothing to change.
func testRestore() *velerov1.Restore {
	return &velerov1.Restore{
		TypeMeta: metav1.TypeMeta{APIVersion: "velero.io/v1", Kind: "Restore"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      "shop-restore-20261125",
			Namespace: "velero",
			UID:       "5b7c9d1e-2f3a-4b5c-8d6e-7f8091a2b3c4",
		},
		Spec: velerov1.RestoreSpec{
			BackupName:         "shop-backup-20261124",
			IncludedNamespaces: []string{"shop"},
		},
		Status: velerov1.RestoreStatus{Phase: velerov1.RestorePhaseInProgress},
	}
}
