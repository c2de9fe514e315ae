package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// realStderr is fd 2 as the host gave it. go-plugin's Serve later points
// os.Stderr at its stdio-forwarding pipe (which Velero discards), so faulty
// log lines must be written here to reach the host's log parser.
var realStderr = os.Stderr

// faults are deliberate misbehaviours that let run.sh --self-test show each
// harness check failing for the reason it exists.
type faults map[string]bool

func parseFaults(s string) faults {
	f := faults{}
	for _, name := range strings.Split(s, ",") {
		if name = strings.TrimSpace(name); name != "" {
			f[name] = true
		}
	}
	return f
}

func (f faults) atStart() {
	if f["leak-stderr"] {
		// A grandchild holding the inherited stderr keeps go-plugin waiting
		// for pipe EOF after the plugin itself exited.
		cmd := exec.Command("sleep", "3")
		cmd.Stderr = os.Stderr
		_ = cmd.Start()
	}
}

func (f faults) inExecute(item *unstructured.Unstructured) {
	if f["mutate"] {
		labels := item.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels["fault.fsb-reference.io/mutated"] = "true"
		item.SetLabels(labels)
	}
	if f["rawlog"] {
		fmt.Fprintln(realStderr, "executing item without structured logging")
	}
	if f["warning-level"] {
		fmt.Fprintln(realStderr, `{"@level":"warning","@message":"level name hclog does not know"}`)
	}
}
