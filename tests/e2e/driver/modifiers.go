package main

// A stand-in for Velero's internal/resourcemodifiers (not importable: Go's internal rule), written
// from facts/velero.md §6. It covers what the fixed scenario rules use: conditions (groupResource
// glob with '.' separator, unanchored resourceNameRegex, namespace globs, labelSelector, matches)
// and JSON patches with Velero's value conversion, plus JSON merge patches. Strategic patches are
// rejected loudly rather than approximated. The oracle in tests/oracle/modifiers is the reference
// for the full engine; this applier only has to be right for the scenarios in scenarios.go.

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/gobwas/glob"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

type modifierRules struct {
	Version               string         `json:"version"`
	ResourceModifierRules []modifierRule `json:"resourceModifierRules"`
}

type modifierRule struct {
	Conditions struct {
		Namespaces        []string              `json:"namespaces,omitempty"`
		GroupResource     string                `json:"groupResource"`
		ResourceNameRegex string                `json:"resourceNameRegex,omitempty"`
		LabelSelector     *metav1.LabelSelector `json:"labelSelector,omitempty"`
		Matches           []struct {
			Path  string `json:"path"`
			Value string `json:"value"`
		} `json:"matches,omitempty"`
	} `json:"conditions"`
	Patches []struct {
		Operation string `json:"operation"`
		From      string `json:"from,omitempty"`
		Path      string `json:"path"`
		Value     string `json:"value,omitempty"`
	} `json:"patches,omitempty"`
	MergePatches []struct {
		PatchData string `json:"patchData"`
	} `json:"mergePatches,omitempty"`
	StrategicPatches []struct {
		PatchData string `json:"patchData"`
	} `json:"strategicPatches,omitempty"`
}

func parseModifierRules(text string) (*modifierRules, error) {
	var r modifierRules
	if err := yaml.UnmarshalStrict([]byte(text), &r); err != nil {
		return nil, err
	}
	if !strings.EqualFold(r.Version, "v1") || len(r.ResourceModifierRules) == 0 {
		return nil, fmt.Errorf("unsupported rules: version %q, %d rules", r.Version, len(r.ResourceModifierRules))
	}
	return &r, nil
}

// patchValue is Velero's conversion of a rule's string value into a JSON fragment.
func patchValue(v string) string {
	switch {
	case v == "":
		return `""`
	case len(v) >= 2 && strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`):
		return v // already a JSON string: the user forced "string"
	case v == "null":
		return v
	case strings.EqualFold(v, "true") || strings.EqualFold(v, "false"):
		return strings.ToLower(v)
	case strings.HasPrefix(v, "{") || strings.HasPrefix(v, "["):
		return v
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	return `"` + v + `"`
}

// jsonPatchDoc renders ops the way Velero does: plain string formatting, no escaping.
func jsonPatchDoc(ops []string) string { return "[" + strings.Join(ops, ",") + "]" }

func (r *modifierRule) match(origin []byte, obj *unstructured.Unstructured, groupResource string) (bool, error) {
	c := r.Conditions
	g, err := glob.Compile(c.GroupResource, '.')
	if err != nil {
		return false, err
	}
	if !g.Match(groupResource) {
		return false, nil
	}
	if ns := obj.GetNamespace(); ns != "" && len(c.Namespaces) > 0 {
		ok := false
		for _, p := range c.Namespaces {
			if pg, err := glob.Compile(p); err == nil && pg.Match(ns) {
				ok = true
			}
		}
		if !ok {
			return false, nil
		}
	}
	if c.ResourceNameRegex != "" {
		re, err := regexp.Compile(c.ResourceNameRegex)
		if err != nil {
			return false, err
		}
		if !re.MatchString(obj.GetName()) {
			return false, nil
		}
	}
	if c.LabelSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			return false, err
		}
		if !sel.Matches(labelSet(obj.GetLabels())) {
			return false, nil
		}
	}
	if len(c.Matches) > 0 {
		var ops []string
		for _, m := range c.Matches {
			ops = append(ops, fmt.Sprintf(`{"op": "test", "path": "%s", "value": %s}`, m.Path, patchValue(m.Value)))
		}
		p, err := jsonpatch.DecodePatch([]byte(jsonPatchDoc(ops)))
		if err != nil {
			return false, err
		}
		if _, err := p.Apply(origin); err != nil {
			if errors.Is(err, jsonpatch.ErrTestFailed) {
				return false, nil
			}
			return false, err
		}
	}
	return true, nil
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool              { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string            { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) { v, ok := l[k]; return v, ok }

// apply runs every matching rule on obj in order; conditions see the object before any rule patched it.
// Errors are returned per rule (Velero records them as restore errors and still creates the object).
func (rs *modifierRules) apply(obj *unstructured.Unstructured, groupResource string) ([]string, []error) {
	origin, err := json.Marshal(obj.Object)
	if err != nil {
		return nil, []error{err}
	}
	var applied []string
	var errs []error
	for i := range rs.ResourceModifierRules {
		r := &rs.ResourceModifierRules[i]
		ok, err := r.match(origin, obj, groupResource)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %d: %w", i, err))
			continue
		}
		if !ok {
			continue
		}
		doc, err := json.Marshal(obj.Object)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case len(r.Patches) > 0:
			var ops []string
			for _, p := range r.Patches {
				ops = append(ops, fmt.Sprintf(`{"op": "%s", "from": "%s", "path": "%s", "value": %s}`,
					p.Operation, p.From, p.Path, patchValue(p.Value)))
			}
			patch, err := jsonpatch.DecodePatch([]byte(jsonPatchDoc(ops)))
			if err == nil {
				doc, err = patch.Apply(doc)
			}
			if errors.Is(err, jsonpatch.ErrTestFailed) {
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("rule %d: %w", i, err))
				continue
			}
		case len(r.MergePatches) > 0:
			failed := false
			for _, mp := range r.MergePatches {
				pj, err := yaml.YAMLToJSON([]byte(mp.PatchData))
				if err == nil {
					doc, err = jsonpatch.MergePatch(doc, pj)
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("rule %d: %w", i, err))
					failed = true
					break
				}
			}
			if failed {
				continue
			}
		case len(r.StrategicPatches) > 0:
			errs = append(errs, fmt.Errorf("rule %d: strategic patches are not supported by the e2e applier", i))
			continue
		}
		var out map[string]interface{}
		if err := json.Unmarshal(doc, &out); err != nil {
			errs = append(errs, err)
			continue
		}
		obj.Object = out
		applied = append(applied, fmt.Sprintf("rule%d", i))
	}
	return applied, errs
}
