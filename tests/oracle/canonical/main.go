// Oracle for the guard's Go-canonical JSON encoder (crates/guard-core/src/toolkit/gojson.rs).
//
// `oracle gen N SEED` writes N random JSON documents, one per line (random unicode strings with
// control characters, `<>&`, U+2028/9, astral characters; integers and floats of every magnitude;
// nesting; empty objects and arrays).
//
// `oracle check CORPUS OURS` decodes every corpus line as Velero and client-go do
// (k8s.io/apimachinery/pkg/util/json.Unmarshal: integers stay int64) and encodes it with
// encoding/json.Marshal, then computes the ControllerRevision hash of those bytes as the
// history package does (FNV-1 32 over the bytes and the collision count "0",
// k8s.io/apimachinery/pkg/util/rand.SafeEncodeString). Each line of OURS is
// "<canonical bytes>\t<hash>" from the Rust encoder; both must match. Prints
// "N passed, M failed" and exits 1 on any failure.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand"
	"os"
	"strconv"
	"strings"

	utiljson "k8s.io/apimachinery/pkg/util/json"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: oracle gen N SEED | oracle check CORPUS OURS")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "gen":
		n, _ := strconv.Atoi(os.Args[2])
		seed, _ := strconv.ParseInt(os.Args[3], 10, 64)
		gen(n, seed)
	case "check":
		os.Exit(check(os.Args[2], os.Args[3]))
	default:
		os.Exit(2)
	}
}

func lines(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	text := strings.TrimSuffix(string(data), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

func revisionHash(data []byte) string {
	h := fnv.New32()
	h.Write(data)
	h.Write([]byte(strconv.FormatInt(0, 10)))
	return utilrand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

func check(corpusPath, oursPath string) int {
	corpus, ours := lines(corpusPath), lines(oursPath)
	if len(corpus) != len(ours) {
		fmt.Printf("corpus has %d documents, our encoder printed %d lines\n", len(corpus), len(ours))
		fmt.Printf("0 passed, %d failed\n", len(corpus))
		return 1
	}
	passed, failed := 0, 0
	for i, doc := range corpus {
		var v interface{}
		if err := utiljson.Unmarshal([]byte(doc), &v); err != nil {
			fmt.Printf("line %d: Go cannot decode the corpus document: %v\n", i+1, err)
			failed++
			continue
		}
		want, err := json.Marshal(v)
		if err != nil {
			fmt.Printf("line %d: Go cannot encode: %v\n", i+1, err)
			failed++
			continue
		}
		wantLine := string(want) + "\t" + revisionHash(want)
		if ours[i] != wantLine {
			failed++
			fmt.Printf("line %d differs:\n  go:   %q\n  ours: %q\n", i+1, wantLine, ours[i])
			continue
		}
		passed++
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// Characters the generator draws from: escapes, HTML, separators, non-BMP, plain.
var alphabet = []rune{
	0, 1, 7, '\b', '\t', '\n', 0x0b, '\f', '\r', 0x1b, 0x1f, ' ', '"', '\\', '/', '<', '>', '&',
	'\'', 'a', 'Z', '0', '$', '~', 0x7f, 0x80, 0xa0, 0xe9, 0x2028, 0x2029, 0x200b, 0xfeff,
	0xfffd, 0x1f600, 0x10ffff, 'k', 'e', 'y',
}

func randString(r *rand.Rand) string {
	var b strings.Builder
	for i, n := 0, r.Intn(12); i < n; i++ {
		b.WriteRune(alphabet[r.Intn(len(alphabet))])
	}
	return b.String()
}

// randNumber returns the JSON text of a number, as a document could carry it.
func randNumber(r *rand.Rand) string {
	switch r.Intn(8) {
	case 0:
		return strconv.FormatInt(r.Int63()-r.Int63(), 10)
	case 1:
		return strconv.FormatInt(int64(r.Intn(1000)), 10)
	case 2: // beyond int64: a float after apimachinery's decoder
		return strconv.FormatUint(uint64(math.MaxInt64)+1+uint64(r.Int63n(math.MaxInt64)), 10)
	case 3:
		return strconv.FormatFloat(r.NormFloat64()*math.Pow(10, float64(r.Intn(60)-30)), 'g', -1, 64)
	case 4:
		return strconv.FormatFloat(float64(r.Intn(100000))/8, 'f', -1, 64)
	case 5:
		return strconv.FormatFloat(math.Pow(10, float64(r.Intn(44)-22)), 'e', -1, 64)
	case 6:
		return strconv.Itoa(r.Intn(10)) + ".0"
	default:
		return strconv.FormatFloat(r.Float64()*1e21, 'g', -1, 64)
	}
}

func randValue(r *rand.Rand, depth int) string {
	k := r.Intn(8)
	if depth > 3 {
		k = r.Intn(5)
	}
	switch k {
	case 0:
		return "null"
	case 1:
		return []string{"true", "false"}[r.Intn(2)]
	case 2:
		return randNumber(r)
	case 3, 4:
		s, _ := marshalNoHTML(randString(r))
		return s
	case 5:
		var parts []string
		for i, n := 0, r.Intn(4); i < n; i++ {
			parts = append(parts, randValue(r, depth+1))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		var parts []string
		for i, n := 0, r.Intn(5); i < n; i++ {
			key, _ := marshalNoHTML(randString(r))
			parts = append(parts, key+": "+randValue(r, depth+1))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
}

// marshalNoHTML writes a string the way a non-Go writer might: HTML characters raw.
func marshalNoHTML(s string) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return "", err
	}
	out := strings.TrimSuffix(buf.String(), "\n")
	// Raw U+2028/9 inside the document, as another writer may leave them.
	out = strings.ReplaceAll(out, `\u2028`, "\u2028")
	return strings.ReplaceAll(out, `\u2029`, "\u2029"), nil
}

func gen(n int, seed int64) {
	r := rand.New(rand.NewSource(seed))
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for i := 0; i < n; i++ {
		// Documents are objects, as revision data is; duplicate keys are avoided (Go keeps the
		// last, serde_json too, but a document with them is not what a controller writes).
		doc := randValue(r, 0)
		var probe map[string]interface{}
		if json.Unmarshal([]byte(doc), &probe) != nil || hasDuplicateKeys(doc) {
			i--
			continue
		}
		fmt.Fprintln(w, doc)
	}
}

func hasDuplicateKeys(doc string) bool {
	dec := json.NewDecoder(strings.NewReader(doc))
	type frame struct {
		keys    map[string]bool
		object  bool
		wantKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		top := func() *frame {
			if len(stack) == 0 {
				return nil
			}
			return stack[len(stack)-1]
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				if f := top(); f != nil && f.object {
					f.wantKey = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, object: true, wantKey: true})
			case '[':
				if f := top(); f != nil && f.object {
					f.wantKey = true
				}
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
			}
		default:
			f := top()
			if f != nil && f.object {
				if f.wantKey {
					key, _ := t.(string)
					if f.keys[key] {
						return true
					}
					f.keys[key] = true
					f.wantKey = false
				} else {
					f.wantKey = true
				}
			}
		}
	}
}
