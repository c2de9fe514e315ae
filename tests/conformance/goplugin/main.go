// Command goplugin is a reference Velero plugin built on Velero's own plugin
// framework (pkg/plugin/framework). It registers one RestoreItemActionV2 that
// answers like our Rust plugin does while it has nothing to change: it echoes
// the item. The conformance harness runs it first, to prove that the harness
// itself is right before it judges the Rust binary; the benchmarks (issue 6)
// run it as the Go baseline.
//
// Environment:
//
//	FSB_GOPLUGIN_NAME   registered plugin name (default fsb-reference.io/echo)
//	FSB_GOPLUGIN_RULES  path to a resource-modifier rules file (Velero's
//	                    `version: v1` / `resourceModifierRules` YAML); when set,
//	                    Execute applies the rules to the item before answering,
//	                    so the benchmark's Go side does comparable work.
//	FSB_GOPLUGIN_FAULT  comma list of deliberate faults, used only to prove that
//	                    the harness's checks can fail (run.sh --self-test):
//	                    mutate (Execute changes the item), rawlog (a plain-text
//	                    stderr line), warning-level (a JSON line with the
//	                    unrecognised level "warning"), leak-stderr (a child
//	                    process keeps stderr open after the plugin exits).
package main

import (
	"os"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"
	"github.com/vmware-tanzu/velero/pkg/plugin/framework"
)

const defaultName = "fsb-reference.io/echo"

func main() {
	name := os.Getenv("FSB_GOPLUGIN_NAME")
	if name == "" {
		name = defaultName
	}
	faults := parseFaults(os.Getenv("FSB_GOPLUGIN_FAULT"))
	faults.atStart()
	framework.NewServer().
		// Bind Velero's server flags like a production plugin does, so the
		// reference honours --log-level and tolerates every other server flag.
		BindFlags(pflag.CommandLine).
		RegisterRestoreItemActionV2(name, func(logger logrus.FieldLogger) (interface{}, error) {
			rules, err := loadRules(os.Getenv("FSB_GOPLUGIN_RULES"))
			if err != nil {
				return nil, err
			}
			return &echoAction{log: logger, rules: rules, faults: faults}, nil
		}).
		Serve()
}
