package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
	"github.com/vmware-tanzu/velero/pkg/util/logging"
)

// logEntry is one line as Velero's JSON log formatter wrote it (the form it
// takes in `velero restore logs` / the server log).
type logEntry struct {
	Level  string
	Msg    string
	Fields map[string]interface{}
	Raw    string
}

func (e logEntry) str(key string) string {
	v, ok := e.Fields[key]
	if !ok {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func (e logEntry) has(key string) bool {
	_, ok := e.Fields[key]
	return ok
}

// syncBuffer is the logger's output; logrus writes from go-plugin's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// capturingLogger builds the logger the way the Velero server does (Velero's
// default logger: location and error hooks, JSON format, at --log-level
// debug) and keeps its output in memory.
func capturingLogger() (*logrus.Logger, *syncBuffer) {
	logger := logging.DefaultLogger(logrus.DebugLevel, logging.FormatJSON)
	out := &syncBuffer{}
	logger.Out = out
	return logger, out
}

// entries parses everything logged so far.
func (b *syncBuffer) entries() ([]logEntry, error) {
	var res []logEntry
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var m map[string]interface{}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.UseNumber() // keep pids and counts exact
		if err := dec.Decode(&m); err != nil {
			return res, fmt.Errorf("host log line is not JSON: %q: %w", line, err)
		}
		e := logEntry{Raw: line, Fields: m}
		e.Level, _ = m["level"].(string)
		e.Msg, _ = m["msg"].(string)
		delete(m, "level")
		delete(m, "msg")
		delete(m, "time")
		res = append(res, e)
	}
	return res, nil
}
