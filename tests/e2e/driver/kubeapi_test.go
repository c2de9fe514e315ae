package main

// API basics the plugin's kube adapter relies on, checked against the e2e apiserver (run.sh sets
// E2E_KUBECONFIG; without it these tests skip). They pin down server behaviour the adapter is written
// against: label-selected PodVolumeBackup listing, ConfigMap reads, a ReplicaSet template patch, and
// what an RBAC denial looks like to a service account.

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func e2eClients(t *testing.T) (*rest.Config, clients, string) {
	t.Helper()
	kc := os.Getenv("E2E_KUBECONFIG")
	if kc == "" {
		t.Skip("E2E_KUBECONFIG not set: run tests/e2e/run.sh")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	c := clients{dyn: dynamic.NewForConfigOrDie(cfg), kube: kubernetes.NewForConfigOrDie(cfg)}
	ns := fmt.Sprintf("kubeapi-%d", time.Now().UnixNano()%1000000)
	if err := ensureNamespace(context.Background(), c, ns); err != nil {
		t.Fatal(err)
	}
	if err := ensureNamespace(context.Background(), c, veleroNamespace); err != nil {
		t.Fatal(err)
	}
	return cfg, c, ns
}

func TestListPodVolumeBackupsByBackupLabel(t *testing.T) {
	_, c, ns := e2eClients(t)
	ctx := context.Background()
	wanted := "bk-" + ns
	for i, backup := range []string{wanted, wanted, "other-" + ns} {
		pvb := map[string]interface{}{
			"apiVersion": "velero.io/v1", "kind": "PodVolumeBackup",
			"metadata": map[string]interface{}{"name": fmt.Sprintf("%s-%d", ns, i), "namespace": veleroNamespace,
				"labels": map[string]interface{}{"velero.io/backup-name": backup}},
			"spec": map[string]interface{}{"volume": "data", "node": "n", "backupStorageLocation": "default",
				"repoIdentifier": "r", "pod": map[string]interface{}{"kind": "Pod", "namespace": "shop", "name": fmt.Sprintf("p%d", i)}},
			"status": map[string]interface{}{"phase": "Completed", "snapshotID": "s"},
		}
		if _, err := createUnstructured(ctx, c, gvrPVBs, veleroNamespace, pvb); err != nil {
			t.Fatal(err)
		}
	}
	list, err := c.dyn.Resource(gvrPVBs).Namespace(veleroNamespace).List(ctx,
		metav1.ListOptions{LabelSelector: "velero.io/backup-name=" + wanted})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 2 {
		t.Fatalf("want the 2 PVBs of %s, got %d", wanted, len(list.Items))
	}
	// status is stored on create: the CRD has no status subresource.
	if id, _, _ := unstructured.NestedString(list.Items[0].Object, "status", "snapshotID"); id != "s" {
		t.Fatalf("snapshotID not stored: %q", id)
	}
}

func TestReadConfigMap(t *testing.T) {
	_, c, ns := e2eClients(t)
	ctx := context.Background()
	if _, err := c.kube.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "rules"}, Data: map[string]string{"r.yaml": rules8578}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.kube.CoreV1().ConfigMaps(ns).Get(ctx, "rules", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 1 || got.Data["r.yaml"] != rules8578 {
		t.Fatalf("ConfigMap data changed on the round trip")
	}
	if _, err := c.kube.CoreV1().ConfigMaps(ns).Get(ctx, "absent", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("want NotFound for a missing ConfigMap, got %v", err)
	}
}

func TestPatchReplicaSetTemplate(t *testing.T) {
	_, c, ns := e2eClients(t)
	ctx := context.Background()
	s := scenario{deploy: "patchme", replicas: 1, strategy: "RollingUpdate", fsb: true}
	rs := s.backup().replicaSet
	resetMetadataAndStatus(rs)
	rs.SetNamespace(ns)
	_ = unstructured.SetNestedField(rs.Object, int64(0), "spec", "replicas")
	created, err := c.dyn.Resource(gvrReplicaSets).Namespace(ns).Create(ctx, rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A strategic merge patch adding tolerations and changing the image; the hash label must stay.
	patch := `{"spec":{"template":{"spec":{"tolerations":[{"key":"dedicated","operator":"Equal","value":"restore","effect":"NoSchedule"}],` +
		`"containers":[{"name":"app","image":"registry.example/shop/app:2.0"}]}}}}`
	_, err = c.dyn.Resource(gvrReplicaSets).Namespace(ns).Patch(ctx, created.GetName(), types.StrategicMergePatchType,
		[]byte(patch), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.kube.AppsV1().ReplicaSets(ns).Get(ctx, created.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spec := got.Spec.Template.Spec
	if len(spec.Tolerations) != 1 || spec.Tolerations[0].Key != "dedicated" {
		t.Fatalf("tolerations not patched: %+v", spec.Tolerations)
	}
	// Strategic merge: containers merge by name, so the volume mount survives the image change.
	if len(spec.Containers) != 1 || spec.Containers[0].Image != "registry.example/shop/app:2.0" || len(spec.Containers[0].VolumeMounts) != 1 {
		t.Fatalf("container not merged by name: %+v", spec.Containers)
	}
	if got.Spec.Template.Labels["pod-template-hash"] != podTemplateHash {
		t.Fatalf("pod-template-hash label lost: %v", got.Spec.Template.Labels)
	}
}

// A service account without RBAC gets 403 Forbidden whose message names verb, resource and namespace;
// granting exactly list on podvolumebackups makes the same call succeed.
func TestServiceAccountDeniedThenGranted(t *testing.T) {
	cfg, c, ns := e2eClients(t)
	ctx := context.Background()
	sa, err := c.kube.CoreV1().ServiceAccounts(veleroNamespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "plugin-" + ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	exp := int64(600)
	tr, err := c.kube.CoreV1().ServiceAccounts(veleroNamespace).CreateToken(ctx, sa.Name,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saCfg := rest.AnonymousClientConfig(cfg)
	saCfg.BearerToken = tr.Status.Token
	saDyn := dynamic.NewForConfigOrDie(saCfg)

	_, err = saDyn.Resource(gvrPVBs).Namespace(veleroNamespace).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("want 403 Forbidden, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"cannot list", `"podvolumebackups"`, `"velero.io"`, `"velero"`, sa.Name} {
		if !strings.Contains(msg, want) {
			t.Errorf("denial %q does not mention %s", msg, want)
		}
	}

	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: sa.Name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"velero.io"}, Resources: []string{"podvolumebackups"}, Verbs: []string{"list"}}}}
	if _, err := c.kube.RbacV1().Roles(veleroNamespace).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: sa.Name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: sa.Name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: veleroNamespace}}}
	if _, err := c.kube.RbacV1().RoleBindings(veleroNamespace).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second) // the RBAC authorizer watches roles: allow propagation
	for {
		_, err = saDyn.Resource(gvrPVBs).Namespace(veleroNamespace).List(ctx, metav1.ListOptions{})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("list still denied after the RoleBinding: %v", err)
	}
	// Still denied for what the role does not grant.
	if _, err := saDyn.Resource(gvrPVBs).Namespace(veleroNamespace).Get(ctx, "x", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("get should stay forbidden, got %v", err)
	}
}

// The DownloadRequest flow the plugin will use for the backup contents, answered by the driver's
// stand-in controller: create a request, wait for status.downloadURL, GET the tar.gz, find the
// Deployment at its unversioned path. A request for an unknown backup is never answered.
func TestDownloadRequestBackupContents(t *testing.T) {
	_, c, ns := e2eClients(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := startBackupStore()
	if err != nil {
		t.Fatal(err)
	}
	s := scenario{deploy: "dl-" + ns, replicas: 1, strategy: "Recreate", fsb: true}
	data := s.backup()
	tarball, err := backupTarball([]*unstructured.Unstructured{data.pods[0], data.replicaSet, data.deployment})
	if err != nil {
		t.Fatal(err)
	}
	store.add("bk-"+ns, tarball)
	go store.answerDownloadRequests(ctx, c)

	request := func(backup string) string {
		dr := map[string]interface{}{"apiVersion": "velero.io/v1", "kind": "DownloadRequest",
			"metadata": map[string]interface{}{"generateName": backup + "-", "namespace": veleroNamespace},
			"spec":     map[string]interface{}{"target": map[string]interface{}{"kind": "BackupContents", "name": backup}}}
		created, err := createUnstructured(ctx, c, gvrDownloadRequests, veleroNamespace, dr)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			got, err := c.dyn.Resource(gvrDownloadRequests).Namespace(veleroNamespace).Get(ctx, created.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if u, _, _ := unstructured.NestedString(got.Object, "status", "downloadURL"); u != "" {
				return u
			}
			time.Sleep(25 * time.Millisecond)
		}
		return ""
	}
	if u := request("unknown-" + ns); u != "" {
		t.Fatalf("a request for an unknown backup was answered: %s", u)
	}
	url := request("bk-" + ns)
	if url == "" {
		t.Fatal("no downloadURL within 3s")
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	gz, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	want := "resources/deployments.apps/namespaces/shop/" + s.deploy + ".json"
	for {
		h, err := tr.Next()
		if err == io.EOF {
			t.Fatalf("%s not in the tarball", want)
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name != want {
			continue
		}
		var dep map[string]interface{}
		if err := json.NewDecoder(tr).Decode(&dep); err != nil {
			t.Fatal(err)
		}
		if name, _, _ := unstructured.NestedString(dep, "metadata", "name"); name != s.deploy {
			t.Fatalf("wrong item at %s: %s", want, name)
		}
		return
	}
}
