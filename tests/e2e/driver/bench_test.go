package main

import (
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// The plugin's `restore inputs read` line reaches the driver through go-plugin (JSON numbers
// decoded as float64) and Velero's logrus adapter (fields printed with fmt.Sprint).
func TestBreakdownOf(t *testing.T) {
	lc := &logCapture{}
	if got, _ := breakdownOf(lc); got != nil {
		t.Fatalf("no line: got %v", got)
	}
	_ = lc.Fire(&logrus.Entry{Message: "execute done", Data: logrus.Fields{"settings_ms": 1.0}})
	_ = lc.Fire(&logrus.Entry{Message: downloadMessage, Data: logrus.Fields{
		"download_url_ms": float64(251), "download_index_ms": float64(1.2e6), "backup": "nightly"}})
	_ = lc.Fire(&logrus.Entry{Message: breakdownMessage, Data: logrus.Fields{
		"settings_ms": float64(3), "rules_ms": float64(2), "pvbs_ms": float64(4), "backup_ms": float64(7), "other": "x"}})
	got, line := breakdownOf(lc)
	want := map[string]int{"settings_ms": 3, "rules_ms": 2, "pvbs_ms": 4, "download_url_ms": 251, "download_index_ms": 1200000, "backup_ms": 7}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v (line %q)", got, want, line)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s: got %d, want %d", k, got[k], v)
		}
	}
	order := breakdownOrder(map[string]float64{"backup_ms": 1, "rules_ms": 1, "settings_ms": 1, "a_ms": 1})
	if strings.Join(order, ",") != "settings_ms,rules_ms,a_ms,backup_ms" {
		t.Fatalf("order: %v", order)
	}
	lc2 := &logCapture{}
	_ = lc2.Fire(&logrus.Entry{Message: breakdownMessage, Data: logrus.Fields{"elapsed": "5ms"}})
	if got, line := breakdownOf(lc2); got != nil || line == "" {
		t.Fatalf("a line without the fields: got %v, line %q", got, line)
	}
}
