// Package conformance drives plugin binaries through Velero's own plugin
// client (pkg/plugin/clientmgmt), exactly as the Velero server does during a
// restore: registry discovery over a plugin directory, a plugin manager, the
// restartable v2 RestoreItemAction clients, and CleanupClients at the end.
//
// Targets are given by environment:
//
//	FSB_PLUGIN_BIN       the Rust plugin binary (plugin name FSB_PLUGIN_NAME,
//	                     default fsb-guard.io/template-guard)
//	FSB_REFERENCE_BIN    the Go reference plugin built from ./goplugin
//	                     (plugin name FSB_REFERENCE_NAME, default fsb-reference.io/echo)
//
// At least one must be set. Every check is a subtest; TestMain prints the
// closing tally "conformance: N passed, M failed".
package conformance

import (
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/vmware-tanzu/velero/pkg/plugin/framework"
)

func TestMain(m *testing.M) {
	// DiscoverPlugins always starts the running program first, as
	// `<argv0> run-plugins <server args>` — the Velero binary answers with its
	// built-in plugins. This harness stands in for the Velero binary, so it
	// answers with an empty plugin server (no built-in plugins registered).
	if len(os.Args) > 1 && os.Args[1] == "run-plugins" {
		framework.NewServer().Serve()
		return
	}
	code := m.Run()
	passed, failed := tally.counts()
	fmt.Printf("conformance: %d passed, %d failed\n", passed, failed)
	if failed > 0 && code == 0 {
		code = 1
	}
	os.Exit(code)
}

// tally counts leaf checks (subtests run through check()).
var tally checkTally

type checkTally struct {
	mu             sync.Mutex
	passed, failed int
}

func (c *checkTally) record(ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok {
		c.passed++
	} else {
		c.failed++
	}
}

func (c *checkTally) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.passed, c.failed
}

// check runs one named conformance check as a subtest and records its result.
// A panic inside the check (e.g. Velero's client dereferencing a nil field of
// a plugin response) fails the check instead of aborting the run.
func check(t *testing.T, name string, fn func(t *testing.T)) bool {
	t.Helper()
	return t.Run(name, func(t *testing.T) {
		t.Cleanup(func() { tally.record(!t.Failed()) })
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("panic in Velero client or harness: %v", r)
			}
		}()
		fn(t)
	})
}
