// Placeholder module file. The conformance harness is always built against a
// pinned Velero release through one of the alternate module files:
//
//	go test -modfile=go.v1.15.mod ...   (Velero v1.15.2)
//	go test -modfile=go.v1.18.mod ...   (Velero v1.18.3; go.v1.12 … go.v1.17 for the matrix)
//
// The go command still needs this file to find the module root. Use run.sh.
module github.com/fsb-guard/velero-fsb-guard/tests/conformance

go 1.22.0
