module fsb-guard/oracle/canonical

go 1.24.0

require k8s.io/apimachinery v0.34.4

require sigs.k8s.io/json v0.0.0-20241014173422-cfa47c3a1cc8 // indirect
