package main

// The plugin's stderr reaches the driver the way it reaches the Velero server: go-plugin parses each
// JSON line (hclog convention) and Velero's logrus adapter re-logs it with its level and fields. A
// hook on each restore's logger keeps those entries, so a scenario can assert the plugin's decisions
// (e.g. a warn line per skipped pod) without scraping files.

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

type logEntry struct {
	level   logrus.Level
	message string
	fields  map[string]string
}

// line renders the entry as one searchable line: the message, then the fields sorted by key.
func (e logEntry) line() string {
	keys := make([]string, 0, len(e.fields))
	for k := range e.fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(e.message)
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, e.fields[k])
	}
	return b.String()
}

type logCapture struct {
	mu      sync.Mutex
	entries []logEntry
}

func (c *logCapture) Levels() []logrus.Level { return logrus.AllLevels }

func (c *logCapture) Fire(e *logrus.Entry) error {
	fields := map[string]string{}
	for k, v := range e.Data {
		fields[k] = fmt.Sprint(v)
	}
	c.mu.Lock()
	c.entries = append(c.entries, logEntry{level: e.Level, message: e.Message, fields: fields})
	c.mu.Unlock()
	return nil
}

// find returns the lines at level lvl or more severe (warn finds warn and error) that contain
// every one of the words.
func (c *logCapture) find(lvl logrus.Level, words ...string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.entries {
		if e.level > lvl {
			continue
		}
		l := e.line()
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}
