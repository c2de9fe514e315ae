package main

// Our plugin is reached through Velero's real plugin client: the registry discovers binaries in a
// plugin directory, the manager starts them and hands back restartable RestoreItemActionV2 clients,
// exactly as Velero's restore controller does once per restore.

import (
	"fmt"
	"os"
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt"
	"github.com/vmware-tanzu/velero/pkg/plugin/clientmgmt/process"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	riav2 "github.com/vmware-tanzu/velero/pkg/plugin/velero/restoreitemaction/v2"
	"k8s.io/apimachinery/pkg/labels"
)

// serveEmptyPluginSet answers `<driver> run-plugins`: the registry always lists its own program
// first (as the Velero binary would serve Velero's built-ins); we register nothing there.
func serveEmptyPluginSet() {
	framework.NewServer().Serve()
}

type pluginSession struct {
	manager clientmgmt.Manager
	actions []riav2.RestoreItemAction
}

// openPlugins starts every RestoreItemAction in dir, like one Velero restore does.
func openPlugins(dir string, log logrus.FieldLogger) (*pluginSession, error) {
	// Velero (>= 1.15) hands plugin processes os.Args[2:] of the server; give them the command line
	// `velero install` gives the server (our own flags would confuse plugins built on Velero's
	// framework, and a plugin may tell Velero's release from these flags).
	saved := os.Args
	os.Args = []string{saved[0], "server", "--uploader-type=kopia", "--log-level", "debug"}
	defer func() { os.Args = saved }()
	reg := process.NewRegistry(dir, log, logrus.DebugLevel)
	if err := reg.DiscoverPlugins(); err != nil {
		return nil, fmt.Errorf("discover plugins in %s: %w", dir, err)
	}
	m := clientmgmt.NewManager(log, logrus.DebugLevel, reg)
	actions, err := m.GetRestoreItemActionsV2()
	if err != nil {
		m.CleanupClients()
		return nil, fmt.Errorf("start restore item actions: %w", err)
	}
	return &pluginSession{manager: m, actions: actions}, nil
}

func (p *pluginSession) close() {
	if p != nil {
		p.manager.CleanupClients()
	}
}

func (p *pluginSession) names() []string {
	var out []string
	for _, a := range p.actions {
		out = append(out, a.Name())
	}
	return out
}

// applies is a simplified ResourceSelector check (Velero resolves names through discovery; our
// scenario items are pods, replicasets.apps and deployments.apps, so plural, plural.group and kind
// spellings are enough).
func applies(sel velero.ResourceSelector, resource, group, kind, namespace string, lbls map[string]string) bool {
	spellings := map[string]bool{resource: true, strings.ToLower(kind): true, "*": true}
	if group != "" {
		spellings[resource+"."+group] = true
	}
	if len(sel.IncludedResources) > 0 {
		ok := false
		for _, r := range sel.IncludedResources {
			ok = ok || spellings[strings.ToLower(r)]
		}
		if !ok {
			return false
		}
	}
	for _, r := range sel.ExcludedResources {
		if r != "*" && spellings[strings.ToLower(r)] {
			return false
		}
	}
	if len(sel.IncludedNamespaces) > 0 {
		ok := false
		for _, n := range sel.IncludedNamespaces {
			ok = ok || n == "*" || n == namespace
		}
		if !ok {
			return false
		}
	}
	for _, n := range sel.ExcludedNamespaces {
		if n == namespace {
			return false
		}
	}
	if sel.LabelSelector != "" {
		s, err := labels.Parse(sel.LabelSelector)
		if err != nil || !s.Matches(labels.Set(lbls)) {
			return false
		}
	}
	return true
}

func listPlugins(dir string) error {
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	log.SetOutput(os.Stderr)
	p, err := openPlugins(dir, log)
	if err != nil {
		return err
	}
	defer p.close()
	for _, a := range p.actions {
		sel, err := a.AppliesTo()
		if err != nil {
			return fmt.Errorf("%s AppliesTo: %w", a.Name(), err)
		}
		fmt.Printf("PLUGIN %s applies-to=%+v\n", a.Name(), sel)
	}
	return nil
}

func isVeleroBuiltin(name string) bool { return strings.HasPrefix(name, "velero.io/") }

// external lists the actions that are not Velero's own.
func (p *pluginSession) external() []string {
	var out []string
	for _, n := range p.names() {
		if !isVeleroBuiltin(n) {
			out = append(out, n)
		}
	}
	return out
}
