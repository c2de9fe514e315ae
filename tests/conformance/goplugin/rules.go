package main

// A compact evaluator of Velero's resource-modifier rules, written from the
// facts in /work/shared/facts/velero.md §6 (Velero keeps its own engine in an
// internal package, which another module cannot import). It links the same Go
// libraries Velero uses (evanphx/json-patch/v5, apimachinery strategicpatch,
// gobwas/glob, sigs.k8s.io/yaml), so the benchmark's Go side pays the same
// decoding and patching costs as Velero. It is a benchmark baseline, not the
// correctness oracle (that lives in tests/oracle).

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/gobwas/glob"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

type ruleFile struct {
	Version string `json:"version"`
	Rules   []rule `json:"resourceModifierRules"`
}

type rule struct {
	Conditions struct {
		GroupResource     string                `json:"groupResource"`
		ResourceNameRegex string                `json:"resourceNameRegex,omitempty"`
		Namespaces        []string              `json:"namespaces,omitempty"`
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

// compiledRule holds what can be prepared once per process.
type compiledRule struct {
	rule
	groupResource glob.Glob
	namespaces    []glob.Glob
	nameRegex     *regexp.Regexp
	selector      labels.Selector
	jsonPatch     jsonpatch.Patch
	testPatch     jsonpatch.Patch
	mergePatches  [][]byte
	smpPatches    [][]byte
}

type ruleSet struct{ rules []compiledRule }

// loadRules reads a rules file; an empty path means "no rules" (pure echo).
func loadRules(path string) (*ruleSet, error) {
	if path == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading rules: %w", err)
	}
	var file ruleFile
	if err := yaml.UnmarshalStrict(raw, &file); err != nil {
		return nil, fmt.Errorf("decoding rules: %w", err)
	}
	if !strings.EqualFold(file.Version, "v1") {
		return nil, fmt.Errorf("unsupported rules version %q", file.Version)
	}
	set := &ruleSet{}
	for i, r := range file.Rules {
		c, err := compile(r)
		if err != nil {
			return nil, fmt.Errorf("rule %d: %w", i, err)
		}
		set.rules = append(set.rules, c)
	}
	return set, nil
}

func compile(r rule) (compiledRule, error) {
	c := compiledRule{rule: r}
	var err error
	if c.groupResource, err = glob.Compile(r.Conditions.GroupResource, '.'); err != nil {
		return c, err
	}
	for _, ns := range r.Conditions.Namespaces {
		g, err := glob.Compile(ns)
		if err != nil {
			return c, err
		}
		c.namespaces = append(c.namespaces, g)
	}
	if r.Conditions.ResourceNameRegex != "" {
		if c.nameRegex, err = regexp.Compile(r.Conditions.ResourceNameRegex); err != nil {
			return c, err
		}
	}
	if r.Conditions.LabelSelector != nil {
		if c.selector, err = metav1.LabelSelectorAsSelector(r.Conditions.LabelSelector); err != nil {
			return c, err
		}
	}
	if len(r.Conditions.Matches) > 0 {
		ops := make([]string, 0, len(r.Conditions.Matches))
		for _, m := range r.Conditions.Matches {
			ops = append(ops, fmt.Sprintf(`{"op":"test","path":%q,"value":%s}`, m.Path, jsonValue(m.Value)))
		}
		if c.testPatch, err = jsonpatch.DecodePatch([]byte("[" + strings.Join(ops, ",") + "]")); err != nil {
			return c, err
		}
	}
	if len(r.Patches) > 0 {
		ops := make([]string, 0, len(r.Patches))
		for _, p := range r.Patches {
			op := fmt.Sprintf(`{"op":%q,"path":%q`, p.Operation, p.Path)
			if p.From != "" {
				op += fmt.Sprintf(`,"from":%q`, p.From)
			}
			if p.Value != "" {
				op += `,"value":` + jsonValue(p.Value)
			}
			ops = append(ops, op+"}")
		}
		if c.jsonPatch, err = jsonpatch.DecodePatch([]byte("[" + strings.Join(ops, ",") + "]")); err != nil {
			return c, err
		}
	}
	for _, m := range r.MergePatches {
		j, err := yaml.YAMLToJSON([]byte(m.PatchData))
		if err != nil {
			return c, err
		}
		c.mergePatches = append(c.mergePatches, j)
	}
	for _, s := range r.StrategicPatches {
		j, err := yaml.YAMLToJSON([]byte(s.PatchData))
		if err != nil {
			return c, err
		}
		c.smpPatches = append(c.smpPatches, j)
	}
	return c, nil
}

// jsonValue renders a rule value the way Velero's JSON-patch rules do: quoted
// strings force a string, null/true/false/numbers/objects/arrays stay raw,
// everything else becomes a string.
func jsonValue(v string) string {
	switch {
	case v == "":
		return `""`
	case len(v) >= 2 && strings.HasPrefix(v, `"`) && strings.HasSuffix(v, `"`):
		return strconv.Quote(v[1 : len(v)-1])
	case v == "null", strings.EqualFold(v, "true"), strings.EqualFold(v, "false"):
		return strings.ToLower(v)
	case strings.HasPrefix(v, "{"), strings.HasPrefix(v, "["):
		return v
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return v
	}
	return strconv.Quote(v)
}

// groupResourceOf derives `resource.group` for the kinds the plugin handles.
func groupResourceOf(obj *unstructured.Unstructured) string {
	gvk := obj.GroupVersionKind()
	gr := schema.GroupResource{Group: gvk.Group, Resource: strings.ToLower(gvk.Kind) + "s"}
	return gr.String()
}

// apply applies every matching rule in order; conditions are evaluated on the
// object as it was before any rule's patch.
func (s *ruleSet) apply(obj *unstructured.Unstructured) (int, error) {
	origin := obj.DeepCopy()
	gr := groupResourceOf(obj)
	applied := 0
	for i := range s.rules {
		r := &s.rules[i]
		ok, err := r.matches(origin, gr)
		if err != nil {
			return applied, err
		}
		if !ok {
			continue
		}
		if err := r.patch(obj); err != nil {
			return applied, err
		}
		applied++
	}
	return applied, nil
}

func (r *compiledRule) matches(obj *unstructured.Unstructured, gr string) (bool, error) {
	if !r.groupResource.Match(gr) {
		return false, nil
	}
	if ns := obj.GetNamespace(); ns != "" && len(r.namespaces) > 0 {
		found := false
		for _, g := range r.namespaces {
			if g.Match(ns) {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	if r.nameRegex != nil && !r.nameRegex.MatchString(obj.GetName()) {
		return false, nil
	}
	if r.selector != nil && !r.selector.Matches(labels.Set(obj.GetLabels())) {
		return false, nil
	}
	if r.testPatch != nil {
		doc, err := obj.MarshalJSON()
		if err != nil {
			return false, err
		}
		if _, err := r.testPatch.Apply(doc); err != nil {
			return false, nil
		}
	}
	return true, nil
}

func (r *compiledRule) patch(obj *unstructured.Unstructured) error {
	doc, err := obj.MarshalJSON()
	if err != nil {
		return err
	}
	switch {
	case r.jsonPatch != nil:
		if doc, err = r.jsonPatch.Apply(doc); err != nil {
			return err
		}
	case len(r.mergePatches) > 0:
		for _, p := range r.mergePatches {
			if doc, err = jsonpatch.MergePatch(doc, p); err != nil {
				return err
			}
		}
	case len(r.smpPatches) > 0:
		typed, err := scheme.Scheme.New(obj.GroupVersionKind())
		if err != nil {
			return err
		}
		var m map[string]interface{}
		if err := json.Unmarshal(doc, &m); err != nil {
			return err
		}
		for _, p := range r.smpPatches {
			var pm map[string]interface{}
			if err := json.Unmarshal(p, &pm); err != nil {
				return err
			}
			if m, err = strategicpatch.StrategicMergeMapPatch(m, pm, typed); err != nil {
				return err
			}
		}
		obj.Object = m
		return nil
	default:
		return nil
	}
	return obj.UnmarshalJSON(doc)
}
