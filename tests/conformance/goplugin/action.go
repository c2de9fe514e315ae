package main

import (
	"time"

	"github.com/sirupsen/logrus"
	api "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"github.com/vmware-tanzu/velero/pkg/plugin/velero"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// echoAction is a v2 RestoreItemAction that returns the item unchanged, or
// with the configured resource-modifier rules applied.
type echoAction struct {
	log    logrus.FieldLogger
	rules  *ruleSet
	faults faults
}

// AppliesTo selects the same resources as the Rust plugin, so both are called
// for the same items.
func (a *echoAction) AppliesTo() (velero.ResourceSelector, error) {
	return velero.ResourceSelector{
		IncludedResources: []string{"pods", "replicasets.apps", "deployments.apps", "controllerrevisions.apps", "daemonsets.apps", "statefulsets.apps"},
	}, nil
}

func (a *echoAction) Execute(input *velero.RestoreItemActionExecuteInput) (*velero.RestoreItemActionExecuteOutput, error) {
	item, ok := input.Item.(*unstructured.Unstructured)
	if !ok {
		// The framework always decodes into *unstructured.Unstructured; keep a
		// copy path for anything else rather than failing the restore.
		item = &unstructured.Unstructured{Object: input.Item.UnstructuredContent()}
	}
	log := a.log.WithFields(logrus.Fields{
		"kind":      item.GetKind(),
		"namespace": item.GetNamespace(),
		"name":      item.GetName(),
	})
	if a.rules != nil {
		applied, err := a.rules.apply(item)
		if err != nil {
			return nil, err
		}
		log.WithField("rulesApplied", applied).Info("reference plugin applied resource-modifier rules")
	} else {
		log.Info("reference plugin echoed item")
	}
	a.faults.inExecute(item)
	return velero.NewRestoreItemActionExecuteOutput(item), nil
}

// Progress reports a completed operation: the reference starts no
// asynchronous work.
func (a *echoAction) Progress(operationID string, _ *api.Restore) (velero.OperationProgress, error) {
	now := time.Now()
	return velero.OperationProgress{
		Completed:   true,
		Description: "no asynchronous operations",
		Started:     now,
		Updated:     now,
	}, nil
}

func (a *echoAction) Cancel(string, *api.Restore) error { return nil }

func (a *echoAction) AreAdditionalItemsReady([]velero.ResourceIdentifier, *api.Restore) (bool, error) {
	return true, nil
}

func (a *echoAction) Name() string { return "" }
