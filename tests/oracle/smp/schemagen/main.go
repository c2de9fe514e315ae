// Command schemagen writes crates/smp/src/schema_table.rs: the strategic-merge-patch schema
// (json field names, Go pointer-ness, patch strategy and merge key) of every type reachable from the
// core/v1, apps/v1 and batch/v1 kinds, read by reflection from the k8s.io/api version pinned in the
// module's go.mod. Run: go run ./schemagen > ../../../crates/smp/src/schema_table.rs
package main

import (
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type field struct {
	name     string
	ty       string // Rust expression of type gotype::Ty
	pointer  bool
	strategy string
	mergeKey string
}

type gen struct {
	index  map[reflect.Type]int
	order  []reflect.Type
	fields map[reflect.Type][]field
}

var (
	quantityT = reflect.TypeOf(resource.Quantity{})
	timeT     = reflect.TypeOf(metav1.Time{})
	microT    = reflect.TypeOf(metav1.MicroTime{})
	intStrT   = reflect.TypeOf(intstr.IntOrString{})
	durationT = reflect.TypeOf(metav1.Duration{})
	rawExtT   = reflect.TypeOf(runtime.RawExtension{})
)

// tyOf returns the Rust Ty expression for a Go type (pointers already stripped by the caller).
func (g *gen) tyOf(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case quantityT:
		return "Ty::Quantity"
	case timeT, microT:
		return "Ty::Time"
	case intStrT:
		return "Ty::IntOrString"
	case durationT:
		return "Ty::Duration"
	case rawExtT:
		return "Ty::Any"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "Ty::Bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "Ty::Int"
	case reflect.Float32, reflect.Float64:
		return "Ty::Float"
	case reflect.String:
		return "Ty::String"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "Ty::Bytes"
		}
		return fmt.Sprintf("Ty::Slice(&%s)", g.tyOf(t.Elem()))
	case reflect.Map:
		return fmt.Sprintf("Ty::Map(&%s)", g.tyOf(t.Elem()))
	case reflect.Interface:
		return "Ty::Any"
	case reflect.Struct:
		return fmt.Sprintf("Ty::Struct(%d)", g.visit(t))
	}
	panic("unsupported kind " + t.String())
}

func (g *gen) visit(t reflect.Type) int {
	if i, ok := g.index[t]; ok {
		return i
	}
	i := len(g.order)
	g.index[t] = i
	g.order = append(g.order, t)
	var fs []field
	g.collect(t, &fs)
	sort.Slice(fs, func(a, b int) bool { return fs[a].name < fs[b].name })
	g.fields[t] = fs
	return i
}

// collect gathers the json fields of struct t, flattening inline/embedded structs like encoding/json.
func (g *gen) collect(t reflect.Type, fs *[]field) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" {
			et := sf.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				g.collect(et, fs)
				continue
			}
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		*fs = append(*fs, field{
			name:     name,
			ty:       g.tyOf(sf.Type),
			pointer:  sf.Type.Kind() == reflect.Pointer,
			strategy: sf.Tag.Get("patchStrategy"),
			mergeKey: sf.Tag.Get("patchMergeKey"),
		})
	}
}

func rustName(t reflect.Type) string {
	return strings.TrimPrefix(t.PkgPath(), "k8s.io/") + "." + t.Name()
}

func main() {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	g := &gen{index: map[reflect.Type]int{}, fields: map[reflect.Type][]field{}}
	type kind struct {
		apiVersion, kind string
		idx              int
	}
	var kinds []kind
	for gvk, t := range scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal {
			continue
		}
		kinds = append(kinds, kind{gvk.GroupVersion().String(), gvk.Kind, -1})
		_ = t
	}
	sort.Slice(kinds, func(a, b int) bool {
		if kinds[a].apiVersion != kinds[b].apiVersion {
			return kinds[a].apiVersion < kinds[b].apiVersion
		}
		return kinds[a].kind < kinds[b].kind
	})
	known := scheme.AllKnownTypes()
	for i := range kinds {
		gv := strings.SplitN(kinds[i].apiVersion, "/", 2)
		var group, version string
		if len(gv) == 1 {
			version = gv[0]
		} else {
			group, version = gv[0], gv[1]
		}
		for gvk, t := range known {
			if gvk.Group == group && gvk.Version == version && gvk.Kind == kinds[i].kind {
				kinds[i].idx = g.visit(t)
			}
		}
	}
	named := map[string]reflect.Type{
		"POD":               reflect.TypeOf(corev1.Pod{}),
		"POD_TEMPLATE_SPEC": reflect.TypeOf(corev1.PodTemplateSpec{}),
		"POD_SPEC":          reflect.TypeOf(corev1.PodSpec{}),
		"OBJECT_META":       reflect.TypeOf(metav1.ObjectMeta{}),
		"DEPLOYMENT":        reflect.TypeOf(appsv1.Deployment{}),
	}
	w := os.Stdout
	fmt.Fprintln(w, "// @generated by tests/oracle/smp/schemagen from k8s.io/api and k8s.io/apimachinery as pinned in")
	fmt.Fprintln(w, "// tests/oracle/smp/go.mod. Do not edit; regenerate with tests/oracle/smp/gen-schema.sh.")
	fmt.Fprintln(w, "use super::gotype::{Field, Ty, TypeDef};")
	fmt.Fprintln(w)
	names := make([]string, 0, len(named))
	for n := range named {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "pub(crate) const %s: u16 = %d;\n", n, g.visit(named[n]))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "/// (apiVersion, kind, type index) of every kind Velero's scheme can strategic-merge-patch.")
	fmt.Fprintln(w, "pub(crate) static KINDS: &[(&str, &str, u16)] = &[")
	for _, k := range kinds {
		fmt.Fprintf(w, "    (%q, %q, %d),\n", k.apiVersion, k.kind, k.idx)
	}
	fmt.Fprintln(w, "];")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "/// Struct types; fields sorted by json name.")
	fmt.Fprintln(w, "pub(crate) static TYPES: &[TypeDef] = &[")
	for i, t := range g.order {
		fmt.Fprintf(w, "    // %d\n    TypeDef {\n        name: %q,\n        fields: &[\n", i, rustName(t))
		for _, f := range g.fields[t] {
			mk := "None"
			if f.mergeKey != "" {
				mk = fmt.Sprintf("Some(%q)", f.mergeKey)
			}
			fmt.Fprintf(w, "            Field { name: %q, ty: %s, pointer: %v, strategy: %q, merge_key: %s },\n",
				f.name, f.ty, f.pointer, f.strategy, mk)
		}
		fmt.Fprintln(w, "        ],\n    },")
	}
	fmt.Fprintln(w, "];")
}
