package main

// Velero's own restore item actions, served the way the Velero binary serves them: the registry
// always starts its own program first with `run-plugins`, so the driver answers that with Velero's
// plugin command (pkg/cmd/server/plugin) and a client factory reading KUBECONFIG/VELERO_NAMESPACE.
// The real velero.io/pod (clears nodeName/priority, round-trips through typed Pod) and
// velero.io/pod-volume-restore (inserts restore-wait from the PodVolumeBackups) then run before
// external plugins, in production order. pod-volume-restore reads the image of Deployment
// velero/velero, which the driver's setup creates with zero replicas.

import (
	"os"

	"github.com/vmware-tanzu/velero/pkg/client"
	veleroplugin "github.com/vmware-tanzu/velero/pkg/cmd/server/plugin"
)

func serveVeleroBuiltins() {
	f := client.NewFactory("velero", client.VeleroConfig{})
	cmd := veleroplugin.NewCommand(f)
	cmd.SetArgs(os.Args[2:])
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
