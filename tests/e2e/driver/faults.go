package main

// Fault scenarios (--mode faults): our plugin, reached through Velero's plugin client, restores one
// FSB scenario while its own view of the real kube-apiserver is broken. The plugin process inherits
// KUBECONFIG from the driver (as it inherits the Velero pod's service account), so each fault is a
// kubeconfig written here and set in the driver's environment just before the plugins start:
//
//	rbac-403      a ServiceAccount token bound to deploy/rbac.yaml minus list podvolumebackups
//	api-down      the server is a closed local port (same CA and credentials)
//	api-slow      a TCP proxy that holds every server byte longer than the plugin's call deadline
//
// Each must fail open (RELIABILITY.md F1-F3): every item comes back unchanged, no Execute errors, the
// restore ends within a bound, and one warn line of the plugin says why. The driver's own calls keep
// the admin kubeconfig. Velero's built-in actions are emulated in this mode, because the real ones
// would read the same broken KUBECONFIG and fail before our plugin is asked.
//
// Then the conflict scenarios (conflicts.go): another writer changes the live ReplicaSet (the
// Deployment step's alignment PATCH) or the live ControllerRevision (the StatefulSet step's
// DELETE + create) between the plugin's read and its write, once (the plugin reads again and
// succeeds) or twice (it fails open, never writes blindly), each with a no-conflict baseline.
// In this mode --scenario a,b runs only the named faults.
//
// Per fault: `FAULT name=… result=PASS|FAIL elapsed=… warn="…"`; at the end `FAULTS-RESULT faults=P/N`.

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"
)

// pluginCallDeadline is MAX_CALL_TIMEOUT in src/cluster/mod.rs: the plugin's bound on one API call.
const pluginCallDeadline = 10 * time.Second

type fault struct {
	name string
	// allOf must all appear in one warn line of the plugin; anyOf (if set): at least one of them.
	allOf, anyOf []string
	// setup returns the kubeconfig the plugin gets, and what undoes the fault.
	setup func(ctx context.Context) (kubeconfig string, cleanup func(), err error)
	// run, when set, replaces setup and runFault: the scenario restores and judges by itself and
	// returns its FAULT line (the conflict scenarios, conflicts.go).
	run func(ctx context.Context) (line string, ok bool)
}

func runFaults(ctx context.Context, cfg *rest.Config, c clients, o options, store *backupStore) error {
	dir, err := os.MkdirTemp("", "fsb-faults-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var s scenario
	for _, sc := range scenarios {
		if sc.name == "8578-rolling" {
			s = sc
		}
	}
	if s.name == "" {
		return fmt.Errorf("faults: scenario 8578-rolling not found")
	}
	write := func(name, server, token string) (string, error) {
		return writeKubeconfig(filepath.Join(dir, name), cfg, server, token)
	}
	faults := []fault{
		{
			name: "rbac-403",
			// The denied call, named by verb, resource and namespace (RBAC spelling).
			allOf: []string{"forbidden", "list", "podvolumebackups.velero.io", "namespace " + veleroNamespace},
			setup: func(ctx context.Context) (string, func(), error) {
				token, cleanup, err := leastPrivilegeToken(ctx, cfg, c, o)
				if err != nil {
					return "", cleanup, err
				}
				kc, err := write("rbac.kubeconfig", cfg.Host, token)
				return kc, cleanup, err
			},
		},
		{
			name:  "api-down",
			allOf: []string{"namespace " + veleroNamespace},
			anyOf: []string{"unreachable", "timed out"},
			setup: func(ctx context.Context) (string, func(), error) {
				// A port that was just free: nothing listens there, connections are refused.
				l, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					return "", func() {}, err
				}
				addr := l.Addr().String()
				l.Close()
				kc, err := write("down.kubeconfig", "https://"+addr, "")
				return kc, func() {}, err
			},
		},
		{
			name:  "api-slow",
			allOf: []string{"timed out", "namespace " + veleroNamespace},
			setup: func(ctx context.Context) (string, func(), error) {
				p, err := startSlowProxy(strings.TrimPrefix(cfg.Host, "https://"), pluginCallDeadline+5*time.Second)
				if err != nil {
					return "", func() {}, err
				}
				kc, err := write("slow.kubeconfig", "https://"+p.addr(), "")
				return kc, p.close, err
			},
		},
	}
	faults = append(faults, conflictFaults(cfg, c, o, store, s, dir)...)
	if o.only != "" { // --scenario a,b: only these faults
		var only []fault
		for _, f := range faults {
			if contains(strings.Split(o.only, ","), f.name) {
				only = append(only, f)
			}
		}
		faults = only
	}
	passed := 0
	for _, f := range faults {
		if f.run != nil {
			line, ok := f.run(ctx)
			fmt.Println(line)
			if ok {
				passed++
			}
			continue
		}
		kc, cleanup, err := f.setup(ctx)
		if err != nil {
			fmt.Printf("FAULT name=%s result=FAIL elapsed=0s warn=\"\" (setup: %v)\n", f.name, err)
			if cleanup != nil {
				cleanup()
			}
			continue
		}
		line, ok := runFault(ctx, c, o, s, store, f, kc)
		cleanup()
		fmt.Println(line)
		if ok {
			passed++
		}
	}
	fmt.Printf("FAULTS-RESULT faults=%d/%d\n", passed, len(faults))
	if passed != len(faults) {
		os.Exit(1)
	}
	return nil
}

// runFault restores the scenario with the plugin seeing kubeconfig kc and judges the outcome.
func runFault(ctx context.Context, c clients, o options, s scenario, store *backupStore, f fault, kc string) (string, bool) {
	// Read by the plugin processes openPlugins starts (they inherit the environment).
	prev := os.Getenv("KUBECONFIG")
	_ = os.Setenv("KUBECONFIG", kc)
	defer os.Setenv("KUBECONFIG", prev)

	data := s.backup()
	job := restoreJob{
		name:       "fault-" + f.name,
		items:      append(append([]*unstructured.Unstructured{}, data.pods...), data.replicaSet, data.deployment),
		fsbVolumes: data.fsbVolumes,
		rules:      s.rules,
		correction: &referenceCorrection{},
	}
	fo := o
	fo.mode = "plugin" // restoreItems opens the plugins in plugin mode only
	// Each Execute may wait for a few calls of at most the deadline each; 3x per item is generous
	// for a plugin that gives up in time, and far below what a hang or retry loop would take.
	bound := 3 * pluginCallDeadline * time.Duration(len(job.items))
	type done struct {
		obs *observation
		err error
	}
	ch := make(chan done, 1)
	start := time.Now()
	go func() {
		obs, err := restoreItems(ctx, c, fo, job, store)
		ch <- done{obs, err}
	}()
	var d done
	var problems []string
	select {
	case d = <-ch:
	case <-time.After(bound + 30*time.Second):
		// Left running: the driver exits non-zero after the summary anyway.
		d.err = fmt.Errorf("hung: no answer within %s", bound+30*time.Second)
	}
	elapsed := time.Since(start)
	warn := ""
	switch {
	case d.err != nil:
		problems = append(problems, d.err.Error())
	default:
		obs := d.obs
		if len(obs.skipped) > 0 {
			problems = append(problems, fmt.Sprintf("items skipped: %v", obs.skipped))
		}
		if len(obs.pluginChanged) > 0 {
			problems = append(problems, fmt.Sprintf("the plugin changed items: %v", obs.pluginChanged))
		}
		if obs.pluginCalls != len(job.items) {
			problems = append(problems, fmt.Sprintf("expected one Execute per item (%d), made %d", len(job.items), obs.pluginCalls))
		}
		if elapsed > bound {
			problems = append(problems, fmt.Sprintf("took longer than %s", bound))
		}
		if w := findWarn(obs.pluginLog, f.allOf, f.anyOf); w != "" {
			warn = w
		} else {
			problems = append(problems, fmt.Sprintf("no warn line with all of %q and one of %q", f.allOf, f.anyOf))
		}
	}
	if len(warn) > 160 {
		warn = warn[:160]
	}
	status := "PASS"
	if len(problems) > 0 {
		status = "FAIL"
	}
	line := fmt.Sprintf("FAULT name=%s result=%s elapsed=%s execute-bound=%s warn=%s", f.name, status,
		elapsed.Round(100*time.Millisecond), bound, strconv.Quote(warn))
	if len(problems) > 0 {
		line += " (" + strings.Join(problems, "; ") + ")"
	}
	return line, len(problems) == 0
}

// findWarn returns the message (not the fields: they name workloads) of the first warn-or-worse
// entry containing every word of allOf and, if anyOf is set, one of anyOf.
func findWarn(lc *logCapture, allOf, anyOf []string) string {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	for _, e := range lc.entries {
		if e.level > logrus.WarnLevel {
			continue
		}
		ok := true
		for _, w := range allOf {
			ok = ok && strings.Contains(e.message, w)
		}
		oneOf := len(anyOf) == 0
		for _, w := range anyOf {
			oneOf = oneOf || strings.Contains(e.message, w)
		}
		if ok && oneOf {
			return e.message
		}
	}
	return ""
}

// writeKubeconfig writes a kubeconfig for server with the admin's CA; with a token it authenticates
// with the token alone, else with the admin's client certificate.
func writeKubeconfig(path string, cfg *rest.Config, server, token string) (string, error) {
	user := &clientcmdapi.AuthInfo{Token: token}
	if token == "" {
		user = &clientcmdapi.AuthInfo{ClientCertificate: cfg.CertFile, ClientCertificateData: cfg.CertData,
			ClientKey: cfg.KeyFile, ClientKeyData: cfg.KeyData}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["fault"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: cfg.CAFile,
		CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["fault"] = user
	kc.Contexts["fault"] = &clientcmdapi.Context{Cluster: "fault", AuthInfo: "fault"}
	kc.CurrentContext = "fault"
	return path, clientcmd.WriteToFile(*kc, path)
}

// leastPrivilegeToken creates a ServiceAccount bound to the documented least-privilege RBAC
// (deploy/rbac.yaml, --rbac) without list on podvolumebackups, which the guard needs to find FSB
// pods; it waits until the grants are in effect and returns a token for the account.
func leastPrivilegeToken(ctx context.Context, cfg *rest.Config, c clients, o options) (string, func(), error) {
	var undo []func()
	cleanup := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if o.rbacFile == "" {
		return "", cleanup, fmt.Errorf("--rbac (deploy/rbac.yaml) is required")
	}
	raw, err := os.ReadFile(o.rbacFile)
	if err != nil {
		return "", cleanup, err
	}
	suffix := "-fault-" + o.runID
	sa, err := c.kube.CoreV1().ServiceAccounts(veleroNamespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "fsb-guard" + suffix}}, metav1.CreateOptions{})
	if err != nil {
		return "", cleanup, err
	}
	undo = append(undo, func() {
		_ = c.kube.CoreV1().ServiceAccounts(veleroNamespace).Delete(context.Background(), sa.Name, metav1.DeleteOptions{})
	})
	subject := []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: veleroNamespace}}
	bg := context.Background()
	dropped := false
	for _, doc := range strings.Split(string(raw), "\n---") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return "", cleanup, fmt.Errorf("%s: %w", o.rbacFile, err)
		}
		switch meta.Kind {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			if err := yaml.Unmarshal([]byte(doc), &r); err != nil {
				return "", cleanup, err
			}
			var rules []rbacv1.PolicyRule
			for _, rule := range r.Rules {
				if contains(rule.Resources, "podvolumebackups") && contains(rule.Verbs, "list") {
					rule.Verbs = without(rule.Verbs, "list")
					dropped = true
				}
				if len(rule.Verbs) > 0 { // a rule without verbs is invalid
					rules = append(rules, rule)
				}
			}
			r.Rules = rules
			r.ObjectMeta = metav1.ObjectMeta{Name: r.Name + suffix}
			if _, err := c.kube.RbacV1().ClusterRoles().Create(ctx, &r, metav1.CreateOptions{}); err != nil {
				return "", cleanup, err
			}
			undo = append(undo, func() { _ = c.kube.RbacV1().ClusterRoles().Delete(bg, r.Name, metav1.DeleteOptions{}) })
		case "RoleBinding":
			var b rbacv1.RoleBinding
			if err := yaml.Unmarshal([]byte(doc), &b); err != nil {
				return "", cleanup, err
			}
			b.ObjectMeta = metav1.ObjectMeta{Name: b.Name + suffix, Namespace: veleroNamespace}
			b.RoleRef.Name += suffix
			b.Subjects = subject
			if _, err := c.kube.RbacV1().RoleBindings(veleroNamespace).Create(ctx, &b, metav1.CreateOptions{}); err != nil {
				return "", cleanup, err
			}
			undo = append(undo, func() { _ = c.kube.RbacV1().RoleBindings(veleroNamespace).Delete(bg, b.Name, metav1.DeleteOptions{}) })
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			if err := yaml.Unmarshal([]byte(doc), &b); err != nil {
				return "", cleanup, err
			}
			b.ObjectMeta = metav1.ObjectMeta{Name: b.Name + suffix}
			b.RoleRef.Name += suffix
			b.Subjects = subject
			if _, err := c.kube.RbacV1().ClusterRoleBindings().Create(ctx, &b, metav1.CreateOptions{}); err != nil {
				return "", cleanup, err
			}
			undo = append(undo, func() { _ = c.kube.RbacV1().ClusterRoleBindings().Delete(bg, b.Name, metav1.DeleteOptions{}) })
		}
	}
	if !dropped {
		return "", cleanup, fmt.Errorf("%s grants no list on podvolumebackups to take away", o.rbacFile)
	}
	exp := int64(600)
	tr, err := c.kube.CoreV1().ServiceAccounts(veleroNamespace).CreateToken(ctx, sa.Name,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		return "", cleanup, err
	}
	// The RBAC authorizer learns of new bindings through a watch: wait until a granted call passes
	// and the withheld one is still denied, so the fault is the one intended.
	saCfg := rest.AnonymousClientConfig(cfg)
	saCfg.BearerToken = tr.Status.Token
	saKube := kubernetes.NewForConfigOrDie(saCfg)
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err = saKube.CoreV1().ConfigMaps(veleroNamespace).List(ctx, metav1.ListOptions{Limit: 1})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return "", cleanup, fmt.Errorf("granted list configmaps still fails: %w", err)
	}
	if _, err := dynamic.NewForConfigOrDie(saCfg).Resource(gvrPVBs).Namespace(veleroNamespace).List(ctx, metav1.ListOptions{Limit: 1}); !apierrors.IsForbidden(err) {
		return "", cleanup, fmt.Errorf("list podvolumebackups should be forbidden, got %v", err)
	}
	return tr.Status.Token, cleanup, nil
}

func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// slowProxy forwards TCP to the apiserver but holds back what the server sends for delay per chunk
// (the TLS handshake included), so every plugin call outlives its deadline while the connection
// itself is accepted: a slow server, not a down one.
type slowProxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

func startSlowProxy(target string, delay time.Duration) (*slowProxy, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &slowProxy{l: l, done: make(chan struct{})}
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in) }()
			go func() {
				buf := make([]byte, 32*1024)
				for {
					n, err := out.Read(buf)
					if n > 0 {
						select {
						case <-time.After(delay):
						case <-p.done:
							return
						}
						if _, werr := in.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						in.Close()
						return
					}
				}
			}()
		}
	}()
	return p, nil
}

func (p *slowProxy) addr() string { return p.l.Addr().String() }

func (p *slowProxy) close() {
	close(p.done)
	p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
}
