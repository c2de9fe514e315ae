package main

// Stage 1 has no Velero server, so nothing would answer the plugin's DownloadRequest for the backup
// contents. The driver stands in for Velero's DownloadRequest controller (facts/velero.md §7.1): it
// serves each scenario's backup tarball (Velero's layout, §7.2) over HTTP on loopback and fills in
// status.downloadURL / phase Processed for BackupContents requests naming a backup it knows. Requests
// for unknown backups are left unanswered, as Velero leaves them. Stage 2 replaces this with the real
// server and object store.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var gvrDownloadRequests = schema.GroupVersionResource{Group: "velero.io", Version: "v1", Resource: "downloadrequests"}

type backupStore struct {
	mu       sync.Mutex
	tarballs map[string][]byte // backup name → tar.gz
	files    map[string]string // backup name → a tar.gz file, streamed (too large to hold)
	base     string
	served   int
}

func startBackupStore() (*backupStore, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &backupStore{tarballs: map[string][]byte{}, files: map[string]string{}, base: "http://" + l.Addr().String()}
	go func() {
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/backups/"), ".tar.gz")
			s.mu.Lock()
			b, ok := s.tarballs[name]
			path := s.files[name]
			if ok {
				s.served++
			}
			s.mu.Unlock()
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/gzip")
			if path == "" {
				_, _ = w.Write(b)
				return
			}
			f, err := os.Open(path)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			defer f.Close()
			st, _ := f.Stat()
			http.ServeContent(w, r, "", st.ModTime(), f)
		}))
	}()
	return s, nil
}

func (s *backupStore) add(name string, b []byte) {
	s.mu.Lock()
	s.tarballs[name] = b
	s.mu.Unlock()
}

// addFile serves backup name from the tar.gz file at path, streamed, never loaded.
func (s *backupStore) addFile(name, path string) {
	s.mu.Lock()
	s.tarballs[name] = nil // known to the DownloadRequest answerer
	s.files[name] = path
	s.mu.Unlock()
}

// downloads is how many backup downloads the store served.
func (s *backupStore) downloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.served
}

// backupTarball writes the items the way Velero's backup does: metadata/version, then each item at
// its unversioned path and its <version>-preferredversion path, compact JSON, mode 0755.
func backupTarball(items []*unstructured.Unstructured) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	write := func(path string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: path, Size: int64(len(data)), Mode: 0o755, Typeflag: tar.TypeReg, ModTime: time.Now()}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	if err := write("metadata/version", []byte("1.1.0\n")); err != nil {
		return nil, err
	}
	ns := map[string]interface{}{"apiVersion": "v1", "kind": "Namespace",
		"metadata": map[string]interface{}{"name": sourceNamespace}, "status": map[string]interface{}{"phase": "Active"}}
	nsJSON, _ := json.Marshal(ns)
	if err := write("resources/namespaces/cluster/"+sourceNamespace+".json", nsJSON); err != nil {
		return nil, err
	}
	if err := write("resources/namespaces/v1-preferredversion/cluster/"+sourceNamespace+".json", nsJSON); err != nil {
		return nil, err
	}
	for _, it := range items {
		gvk := it.GroupVersionKind()
		dir := strings.ToLower(gvk.Kind) + "s"
		if gvk.Group != "" {
			dir += "." + gvk.Group
		}
		data, err := json.Marshal(it.Object)
		if err != nil {
			return nil, err
		}
		for _, p := range []string{
			fmt.Sprintf("resources/%s/namespaces/%s/%s.json", dir, it.GetNamespace(), it.GetName()),
			fmt.Sprintf("resources/%s/%s-preferredversion/namespaces/%s/%s.json", dir, gvk.Version, it.GetNamespace(), it.GetName()),
		} {
			if err := write(p, data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// answerDownloadRequests polls DownloadRequests in the velero namespace until ctx ends.
func (s *backupStore) answerDownloadRequests(ctx context.Context, c clients) {
	for ctx.Err() == nil {
		list, err := c.dyn.Resource(gvrDownloadRequests).Namespace(veleroNamespace).List(ctx, metav1.ListOptions{})
		if err == nil {
			for i := range list.Items {
				dr := &list.Items[i]
				name, ok := s.toAnswer(dr)
				if !ok {
					continue
				}
				_ = unstructured.SetNestedField(dr.Object, map[string]interface{}{
					"phase":       "Processed",
					"downloadURL": s.base + "/backups/" + name + ".tar.gz",
					"expiration":  time.Now().Add(10 * time.Minute).UTC().Format(time.RFC3339),
				}, "status")
				if _, err := c.dyn.Resource(gvrDownloadRequests).Namespace(veleroNamespace).Update(ctx, dr, metav1.UpdateOptions{}); err != nil {
					fmt.Fprintf(os.Stderr, "driver: answering DownloadRequest %s: %v\n", dr.GetName(), err)
				} else {
					fmt.Fprintf(os.Stderr, "driver: DownloadRequest %s answered for backup %s\n", dr.GetName(), name)
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// toAnswer is the backup a DownloadRequest asks for, when it is a new BackupContents request for
// a backup this store serves.
func (s *backupStore) toAnswer(dr *unstructured.Unstructured) (string, bool) {
	phase, _, _ := unstructured.NestedString(dr.Object, "status", "phase")
	kind, _, _ := unstructured.NestedString(dr.Object, "spec", "target", "kind")
	name, _, _ := unstructured.NestedString(dr.Object, "spec", "target", "name")
	s.mu.Lock()
	_, known := s.tarballs[name]
	s.mu.Unlock()
	return name, (phase == "" || phase == "New") && kind == "BackupContents" && known
}
