// Command modifiers-oracle evaluates Velero resource-modifier cases with the Go
// libraries Velero links (evanphx/json-patch v5, sigs.k8s.io/yaml, gobwas/glob,
// Go regexp, apimachinery labels and strategicpatch). The glue (rule types,
// value conversion, condition matching, rule loop) is our own Go code written
// from the facts in /work/shared/facts/velero.md §6, because Velero's package
// is internal and cannot be imported.
//
// Usage: modifiers-oracle <cases.json>  — prints one JSON result per line.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/gobwas/glob"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// ---- rule document types (same JSON field names as Velero's v1 schema) ----

type matchRule struct {
	Path  string `json:"path,omitempty"`
	Value string `json:"value,omitempty"`
}

type conditions struct {
	Namespaces        []string              `json:"namespaces,omitempty"`
	GroupResource     string                `json:"groupResource"`
	ResourceNameRegex string                `json:"resourceNameRegex,omitempty"`
	LabelSelector     *metav1.LabelSelector `json:"labelSelector,omitempty"`
	Matches           []matchRule           `json:"matches,omitempty"`
}

type jsonPatchOp struct {
	Operation string `json:"operation"`
	From      string `json:"from,omitempty"`
	Path      string `json:"path"`
	Value     string `json:"value,omitempty"`
}

type patchData struct {
	PatchData string `json:"patchData,omitempty"`
}

type rule struct {
	Conditions       conditions    `json:"conditions"`
	Patches          []jsonPatchOp `json:"patches,omitempty"`
	MergePatches     []patchData   `json:"mergePatches,omitempty"`
	StrategicPatches []patchData   `json:"strategicPatches,omitempty"`
}

type document struct {
	Version string `json:"version"`
	Rules   []rule `json:"resourceModifierRules"`
}

// ---- parsing and validation ----

func parseConfigMap(raw json.RawMessage) (*document, error) {
	var cm corev1.ConfigMap
	if err := json.Unmarshal(raw, &cm); err != nil {
		return nil, err
	}
	if len(cm.Data) != 1 {
		return nil, fmt.Errorf("configmap must have exactly one data key")
	}
	for _, v := range cm.Data {
		return parseYAML(v)
	}
	return nil, errors.New("unreachable")
}

func parseYAML(text string) (*document, error) {
	d := &document{}
	if err := yaml.UnmarshalStrict([]byte(text), d); err != nil {
		return nil, err
	}
	if err := d.validate(); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *document) validate() error {
	if !strings.EqualFold(d.Version, "v1") {
		return fmt.Errorf("unsupported version %q", d.Version)
	}
	if len(d.Rules) == 0 {
		return errors.New("no rules")
	}
	for i, r := range d.Rules {
		if r.Conditions.GroupResource == "" {
			return fmt.Errorf("rule %d: empty groupResource", i)
		}
		kinds := 0
		for _, n := range []int{len(r.Patches), len(r.MergePatches), len(r.StrategicPatches)} {
			if n > 0 {
				kinds++
			}
		}
		if kinds > 1 {
			return fmt.Errorf("rule %d: more than one patch kind", i)
		}
		for _, p := range r.Patches {
			switch strings.ToLower(p.Operation) {
			case "add", "remove", "replace", "test", "move", "copy":
			default:
				return fmt.Errorf("rule %d: bad operation %q", i, p.Operation)
			}
			if p.Path == "" {
				return fmt.Errorf("rule %d: empty path", i)
			}
		}
	}
	return nil
}

// ---- JSON patch glue: Velero's value conversion and string-built operations ----

// valueNeedsQuotes mirrors the documented heuristic: empty → string; wrapped in
// double quotes → inner text as string; null/true/false/objects/arrays/numbers raw.
func valueNeedsQuotes(v *string) bool {
	s := *v
	if s == "" {
		return true
	}
	if strings.HasPrefix(s, `"`) && strings.HasSuffix(s, `"`) {
		s = strings.TrimPrefix(s, `"`)
		s = strings.TrimSuffix(s, `"`)
		*v = s
		return true
	}
	if s == "null" {
		return false
	}
	if l := strings.ToLower(s); l == "true" || l == "false" {
		return false
	}
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		return false
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return false
	}
	return true
}

func opText(p jsonPatchOp) string {
	v := p.Value
	if valueNeedsQuotes(&v) {
		v = `"` + v + `"`
	}
	return fmt.Sprintf(`{"op": "%s", "from": "%s", "path": "%s", "value": %s}`, p.Operation, p.From, p.Path, v)
}

func applyJSONPatch(ops []jsonPatchOp, u *unstructured.Unstructured) ([]byte, error) {
	parts := make([]string, 0, len(ops))
	for _, p := range ops {
		parts = append(parts, opText(p))
	}
	patch, err := jsonpatch.DecodePatch([]byte("[" + strings.Join(parts, ",\n\t") + "]"))
	if err != nil {
		return nil, fmt.Errorf("decode: %s", err)
	}
	doc, err := u.MarshalJSON()
	if err != nil {
		return nil, err
	}
	return patch.Apply(doc)
}

// ---- conditions ----

var errNoMatch = errors.New("no match")

func namespaceIncluded(patterns []string, ns string) bool {
	set := sets.NewString(patterns...)
	if set.Len() == 0 || set.Has("*") {
		return true
	}
	for _, p := range set.List() { // sorted, like Velero's string set
		g, err := glob.Compile(p)
		if err != nil {
			return false
		}
		if g.Match(ns) {
			return true
		}
	}
	return false
}

func (r *rule) match(obj *unstructured.Unstructured, groupResource string) error {
	if ns := obj.GetNamespace(); ns != "" && !namespaceIncluded(r.Conditions.Namespaces, ns) {
		return errNoMatch
	}
	g, err := glob.Compile(r.Conditions.GroupResource, '.')
	if err != nil {
		return err
	}
	if !g.Match(groupResource) {
		return errNoMatch
	}
	if r.Conditions.ResourceNameRegex != "" {
		ok, err := regexp.MatchString(r.Conditions.ResourceNameRegex, obj.GetName())
		if err != nil {
			return err
		}
		if !ok {
			return errNoMatch
		}
	}
	if r.Conditions.LabelSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(r.Conditions.LabelSelector)
		if err != nil {
			return err
		}
		if !sel.Matches(labels.Set(obj.GetLabels())) {
			return errNoMatch
		}
	}
	if len(r.Conditions.Matches) > 0 {
		tests := make([]jsonPatchOp, 0, len(r.Conditions.Matches))
		for _, m := range r.Conditions.Matches {
			if m.Path == "" {
				return errors.New("match path required")
			}
			tests = append(tests, jsonPatchOp{Operation: "test", Path: m.Path, Value: m.Value})
		}
		if _, err := applyJSONPatch(tests, obj); err != nil {
			if errors.Is(err, jsonpatch.ErrTestFailed) || errors.Is(err, jsonpatch.ErrMissing) {
				return errNoMatch
			}
			return err
		}
	}
	return nil
}

// ---- patch application ----

var errSkipped = errors.New("test failed: skipped")

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

func (r *rule) apply(u *unstructured.Unstructured) error {
	switch {
	case len(r.Patches) > 0:
		out, err := applyJSONPatch(r.Patches, u)
		if err != nil {
			if errors.Is(err, jsonpatch.ErrTestFailed) {
				return errSkipped
			}
			return err
		}
		return replaceContent(u, out)
	case len(r.MergePatches) > 0:
		doc, err := u.MarshalJSON()
		if err != nil {
			return err
		}
		for _, p := range r.MergePatches {
			pj, err := yaml.YAMLToJSON([]byte(p.PatchData))
			if err != nil {
				return err
			}
			if doc, err = jsonpatch.MergePatch(doc, pj); err != nil {
				return err
			}
		}
		return replaceContent(u, doc)
	case len(r.StrategicPatches) > 0:
		return applyStrategic(r.StrategicPatches, u)
	default:
		return errors.New("no patch data found")
	}
}

func replaceContent(u *unstructured.Unstructured, data []byte) error {
	n := &unstructured.Unstructured{}
	if err := n.UnmarshalJSON(data); err != nil {
		return err
	}
	u.SetUnstructuredContent(n.Object)
	return nil
}

func applyStrategic(patches []patchData, u *unstructured.Unstructured) error {
	ref, err := scheme.New(u.GroupVersionKind())
	if err != nil {
		return err
	}
	current := u.DeepCopy()
	for _, p := range patches {
		pj, err := yaml.YAMLToJSON([]byte(p.PatchData))
		if err != nil {
			return err
		}
		orig, err := runtime.DefaultUnstructuredConverter.ToUnstructured(current)
		if err != nil {
			return err
		}
		pm := map[string]interface{}{}
		strictErrs, err := kjson.UnmarshalStrict(pj, &pm)
		if err != nil {
			return err
		}
		out, err := strategicpatch.StrategicMergeMapPatch(orig, pm, ref)
		if err != nil {
			return err
		}
		next := current.DeepCopy()
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(out, next, true); err != nil {
			return err
		}
		if len(strictErrs) > 0 {
			return fmt.Errorf("strict decoding: %v", strictErrs)
		}
		current = next
	}
	u.SetUnstructuredContent(current.Object)
	return nil
}

// ---- the rule loop ----

func run(d *document, u *unstructured.Unstructured, groupResource string) []string {
	origin := u
	if len(d.Rules) > 1 {
		origin = u.DeepCopy()
	}
	out := make([]string, 0, len(d.Rules))
	for i := range d.Rules {
		r := &d.Rules[i]
		if err := r.match(origin, groupResource); err != nil {
			if err == errNoMatch {
				out = append(out, "not_matched")
			} else {
				out = append(out, "error")
			}
			continue
		}
		switch err := r.apply(u); {
		case err == nil:
			out = append(out, "applied")
		case err == errSkipped:
			out = append(out, "skipped")
		default:
			out = append(out, "error")
		}
	}
	return out
}

// ---- corpus I/O ----

type testCase struct {
	Name          string          `json:"name"`
	Config        *string         `json:"config,omitempty"`
	ConfigMap     json.RawMessage `json:"configmap,omitempty"`
	Object        json.RawMessage `json:"object"`
	GroupResource string          `json:"groupResource"`
}

type result struct {
	Name        string                 `json:"name"`
	ConfigError bool                   `json:"config_error"`
	Rules       []string               `json:"rules"`
	Object      map[string]interface{} `json:"object"`
	Panic       string                 `json:"panic,omitempty"`
}

func evaluate(c testCase) (res result) {
	res = result{Name: c.Name, Rules: []string{}}
	defer func() {
		if p := recover(); p != nil {
			res = result{Name: c.Name, Rules: []string{}, Panic: fmt.Sprint(p)}
		}
	}()
	var d *document
	var err error
	if c.Config != nil {
		d, err = parseYAML(*c.Config)
	} else {
		d, err = parseConfigMap(c.ConfigMap)
	}
	if err != nil {
		res.ConfigError = true
		return res
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(c.Object); err != nil {
		panic("corpus object is not a valid Kubernetes object: " + err.Error())
	}
	res.Rules = run(d, u, c.GroupResource)
	res.Object = u.Object
	return res
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: modifiers-oracle <cases.json>")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var cases []testCase
	if err := json.Unmarshal(data, &cases); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	enc := json.NewEncoder(os.Stdout)
	for _, c := range cases {
		if err := enc.Encode(evaluate(c)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
}
