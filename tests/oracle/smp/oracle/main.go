// Command oracle is the Go reference for crates/smp: it runs the strategic-merge-patch corpus through
// apimachinery (the library Velero links) and compares our Rust evaluator's answers with it.
//
//	oracle expect <corpus-dir>            JSON lines of Go's answers, one per case
//	oracle compare <corpus-dir> <expected> <actual>
//	                                      per-case report, "N passed, M failed"; exit 1 on mismatch
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// Case is one corpus entry; which fields are used depends on Op.
type Case struct {
	Name     string          `json:"name"`
	Op       string          `json:"op"` // apply | diff | diff_apply | equal | pod_template_equal
	Root     string          `json:"root"`
	Original json.RawMessage `json:"original,omitempty"`
	Patch    json.RawMessage `json:"patch,omitempty"`
	Modified json.RawMessage `json:"modified,omitempty"`
	Target   json.RawMessage `json:"target,omitempty"`
	// TargetRoot is the root type of Target for diff_apply (default Pod).
	TargetRoot string          `json:"target_root,omitempty"`
	A          json.RawMessage `json:"a,omitempty"`
	B          json.RawMessage `json:"b,omitempty"`
}

// Answer is one line of output, shared with the Rust evaluator.
type Answer struct {
	Name    string      `json:"name"`
	Error   string      `json:"error,omitempty"`
	Result  interface{} `json:"result"`
	Applied interface{} `json:"applied"`
	// Scoped (ours only, diff_apply cases): our member-scoped delta and our application of it to
	// the target; compare re-applies the delta with apimachinery and checks the result.
	Scoped *struct {
		Delta   json.RawMessage `json:"delta"`
		Applied interface{}     `json:"applied"`
	} `json:"scoped,omitempty"`
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}

var scheme = newScheme()

// rootObject resolves "PodTemplateSpec" or "<apiVersion>/<Kind>" the way Velero does (scheme.New).
func rootObject(root string) (interface{}, error) {
	if root == "PodTemplateSpec" {
		return &corev1.PodTemplateSpec{}, nil
	}
	i := strings.LastIndex(root, "/")
	if i < 0 {
		return nil, fmt.Errorf("bad root %q", root)
	}
	gv, err := schema.ParseGroupVersion(root[:i])
	if err != nil {
		return nil, err
	}
	return scheme.New(gv.WithKind(root[i+1:]))
}

// toMap decodes like the apiserver/Velero side does: integral numbers become int64, others float64.
func toMap(raw json.RawMessage) (map[string]interface{}, error) {
	m := map[string]interface{}{}
	if err := utiljson.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func apply(original, patch json.RawMessage, root string) (map[string]interface{}, error) {
	obj, err := rootObject(root)
	if err != nil {
		return nil, err
	}
	o, err := toMap(original)
	if err != nil {
		return nil, err
	}
	p, err := toMap(patch)
	if err != nil {
		return nil, err
	}
	return strategicpatch.StrategicMergeMapPatch(o, p, obj)
}

func diff(original, modified json.RawMessage, root string) (json.RawMessage, error) {
	obj, err := rootObject(root)
	if err != nil {
		return nil, err
	}
	return strategicpatch.CreateTwoWayMergePatch(original, modified, obj)
}

func decodeTyped(raw json.RawMessage, root string) (interface{}, error) {
	obj, err := rootObject(root)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

func run(c Case) (ans Answer) {
	ans.Name = c.Name
	defer func() {
		if r := recover(); r != nil {
			ans = Answer{Name: c.Name, Error: fmt.Sprintf("panic: %v", r)}
		}
	}()
	fail := func(err error) Answer { return Answer{Name: c.Name, Error: err.Error()} }
	switch c.Op {
	case "apply":
		out, err := apply(c.Original, c.Patch, c.Root)
		if err != nil {
			return fail(err)
		}
		ans.Result = out
	case "diff", "diff_apply":
		d, err := diff(c.Original, c.Modified, c.Root)
		if err != nil {
			return fail(err)
		}
		var dm interface{}
		if err := json.Unmarshal(d, &dm); err != nil {
			return fail(err)
		}
		ans.Result = dm
		target, targetRoot := c.Original, c.Root
		if c.Op == "diff_apply" {
			target, targetRoot = c.Target, c.TargetRoot
			if targetRoot == "" {
				targetRoot = "v1/Pod"
			}
		}
		applied, err := apply(target, d, targetRoot)
		if err != nil {
			return fail(err)
		}
		ans.Applied = applied
	case "equal", "pod_template_equal":
		a, err := decodeTyped(c.A, c.Root)
		if err != nil {
			return fail(err)
		}
		b, err := decodeTyped(c.B, c.Root)
		if err != nil {
			return fail(err)
		}
		if c.Op == "pod_template_equal" {
			for _, t := range []interface{}{a, b} {
				delete(t.(*corev1.PodTemplateSpec).Labels, "pod-template-hash")
			}
		}
		ans.Result = apiequality.Semantic.DeepEqual(a, b)
	default:
		return fail(fmt.Errorf("unknown op %q", c.Op))
	}
	return ans
}

func loadCorpus(dir string) ([]Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var all []Case
	seen := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var cs []Case
		if err := json.Unmarshal(data, &cs); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		for _, c := range cs {
			if seen[c.Name] {
				return nil, fmt.Errorf("%s: duplicate case name %q", f, c.Name)
			}
			seen[c.Name] = true
		}
		all = append(all, cs...)
	}
	return all, nil
}

func readAnswers(path string) (map[string]Answer, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	out := map[string]Answer{}
	var order []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var a Answer
		if err := json.Unmarshal(line, &a); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		out[a.Name] = a
		order = append(order, a.Name)
	}
	return out, order, sc.Err()
}

// canon re-encodes a decoded value: sorted keys, numbers as float64, like Go's own output.
func canon(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "<unencodable>"
	}
	var x interface{}
	_ = json.Unmarshal(b, &x)
	b, _ = json.Marshal(x)
	return string(b)
}

func compare(corpusDir, expectedPath, actualPath string) int {
	cases, err := loadCorpus(corpusDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	byName := map[string]Case{}
	for _, c := range cases {
		byName[c.Name] = c
	}
	exp, order, err := readAnswers(expectedPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	act, _, err := readAnswers(actualPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	passed, failed := 0, 0
	for _, name := range order {
		e := exp[name]
		a, ok := act[name]
		var why string
		switch {
		case !ok:
			why = "missing from our answers"
		case (e.Error != "") != (a.Error != ""):
			why = fmt.Sprintf("error mismatch: go=%q ours=%q", e.Error, a.Error)
		case e.Error != "":
			// both errored: only "errored or not" is compared
		case canon(e.Applied) != canon(a.Applied):
			why = fmt.Sprintf("applied result differs:\n    go:   %s\n    ours: %s", canon(e.Applied), canon(a.Applied))
		case canon(e.Result) != canon(a.Result):
			why = fmt.Sprintf("result differs:\n    go:   %s\n    ours: %s", canon(e.Result), canon(a.Result))
		case a.Scoped != nil:
			c := byName[name]
			root := c.TargetRoot
			if root == "" {
				root = "v1/Pod"
			}
			goApplied, err := apply(c.Target, a.Scoped.Delta, root)
			if err != nil {
				why = fmt.Sprintf("apimachinery rejects our member-scoped delta: %v", err)
			} else if canon(goApplied) != canon(a.Scoped.Applied) {
				why = fmt.Sprintf("member-scoped delta applied differently:\n    go:   %s\n    ours: %s", canon(goApplied), canon(a.Scoped.Applied))
			}
		}
		if why == "" {
			passed++
		} else {
			failed++
			fmt.Printf("FAIL %s: %s\n", name, why)
		}
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: oracle expect <corpus-dir> | oracle compare <corpus-dir> <expected> <actual>")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "expect":
		cases, err := loadCorpus(os.Args[2])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		w := bufio.NewWriter(os.Stdout)
		enc := json.NewEncoder(w)
		for _, c := range cases {
			if err := enc.Encode(run(c)); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
		}
		_ = w.Flush()
	case "compare":
		if len(os.Args) < 5 {
			os.Exit(2)
		}
		os.Exit(compare(os.Args[2], os.Args[3], os.Args[4]))
	default:
		os.Exit(2)
	}
}
