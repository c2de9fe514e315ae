package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiext "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// installCRDs creates every CRD in dir (Velero's config/crd/v1/bases from the module cache) that
// does not exist yet and waits until all are Established.
func installCRDs(ctx context.Context, cfg *rest.Config, dir string) error {
	cs, err := apiext.NewForConfig(cfg)
	if err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no CRD files in %s (%v)", dir, err)
	}
	var names []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.Unmarshal(raw, &crd); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		names = append(names, crd.Name)
		_, err = cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, &crd, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create CRD %s: %w", crd.Name, err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, n := range names {
		for {
			crd, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, n, metav1.GetOptions{})
			if err == nil && established(crd) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established: %v", n, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	fmt.Fprintf(os.Stderr, "driver: %d Velero CRDs established: %s\n", len(names), strings.Join(names, " "))
	return nil
}

func established(crd *apiextv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextv1.Established && c.Status == apiextv1.ConditionTrue {
			return true
		}
	}
	return false
}

func ensureNamespace(ctx context.Context, c clients, name string) error {
	_, err := c.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// The ServiceAccount admission plugin rejects pods until the serviceaccount controller has
	// created the namespace's default account.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := c.kube.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s: no default service account after 30s: %w", name, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ensureStorageLocation creates the "default" BackupStorageLocation the scenario backups name, so a
// plugin that reads the location (caCert, insecureSkipTLSVerify) finds one.
func ensureStorageLocation(ctx context.Context, c clients) error {
	bsl := map[string]interface{}{
		"apiVersion": "velero.io/v1", "kind": "BackupStorageLocation",
		"metadata": map[string]interface{}{"name": "default", "namespace": veleroNamespace},
		"spec": map[string]interface{}{"provider": "aws", "default": true,
			"objectStorage": map[string]interface{}{"bucket": "velero"},
			"config":        map[string]interface{}{"region": "minio", "s3Url": "http://127.0.0.1:9000"}},
		"status": map[string]interface{}{"phase": "Available"},
	}
	_, err := createUnstructured(ctx, c, gvrBSLs, veleroNamespace, bsl)
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	// Velero's pod-volume-restore action takes the restore-wait image from this Deployment.
	zero := int32(0)
	labels := map[string]string{"component": "velero", "deploy": "velero"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "velero", Namespace: veleroNamespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "velero", Image: "velero/velero:v1.18.3",
					Command: []string{"/velero"}, Args: []string{"server"}}}},
			},
		},
	}
	_, err = c.kube.AppsV1().Deployments(veleroNamespace).Create(ctx, dep, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}
