package pathway

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	fastjson "github.com/segmentio/encoding/json"

	"lakehouse/backends/eventlog"
)

// oddStrings are strings an encoder escapes or a decoder may trip on.
var oddStrings = []string{"", "plain", `q"uote`, `back\slash`, "tab\there", "nl\n", "\x00\x1f", "\u2028\u2029",
	"<script>&amp;", "ünïcödé", "\xff\xfe bad", "emoji 😀", "/slash/", "\x7f", "{\"a\":1}"}

// fastSeeds are lines as the log's encoder writes them, of records of
// every kind with odd strings, contents and times.
func fastSeeds() [][]byte {
	rng := rand.New(rand.NewPCG(4, 2))
	pick := func() string { return oddStrings[rng.IntN(len(oddStrings))] }
	contents := []string{`{}`, `[]`, `"s"`, `1.5e-3`, `-0`, `true`, `null`, `{"a":[1,{"b":"c\u0001"}],"d":null}`, `[[[]]]`}
	var out [][]byte
	for i := range 60 {
		var r record
		switch i % 3 {
		case 0:
			for range 1 + rng.IntN(3) {
				t := &Trace{UID: pick(), Content: json.RawMessage(contents[rng.IntN(len(contents))]), Text: pick(),
					PredecessorUID: pick(), SuccessorUID: pick(), Retired: rng.IntN(2) == 0, RetiredReason: pick(),
					ReplayCount: rng.IntN(5), CreatedAt: time.Unix(rng.Int64N(1<<33), rng.Int64N(1e9)).UTC(), UpdatedAt: time.Unix(0, 0).UTC()}
				for range rng.IntN(3) {
					t.Tags = append(t.Tags, pick())
				}
				r.Op, r.Traces = "put", append(r.Traces, t)
			}
		case 1:
			r = record{Op: "retire", UID: pick(), Reason: pick(), At: time.Unix(rng.Int64N(1<<33), 0).UTC()}
		default:
			r = record{Op: "replay", UID: pick()}
		}
		b, err := fastjson.Marshal(&r)
		if err != nil {
			panic(err)
		}
		out = append(out, b)
	}
	return append(out, []byte(`{"op":"put","traces":[]}`), []byte(`{"op":"put"}`), []byte(`{"Op":"put"}`),
		[]byte(`{"op":"put","traces":[{"uid":"a","tags":null}]}`), []byte(`{"op": "put"}`), []byte(`{"at":"2026-12-02T14:32:36+02:00"}`))
}

// FuzzDecodeFast: a line the fast path decodes, the general decoder
// decodes the same; a line the general decoder refuses, the fast path
// refuses too.
func FuzzDecodeFast(f *testing.F) {
	for _, s := range fastSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, ok := decodeFast(line)
		slow := new(record)
		err := eventlog.Unmarshal(line, slow)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("%q: the fast path decodes what the general decoder refuses (%v)", line, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q:\nfast    %s\ngeneral %s", line, dump(fast), dump(slow))
		}
	})
}

// The fast path takes every line the log's encoder writes.
func TestDecodeFast_TakesWhatTheLogWrites(t *testing.T) {
	for _, line := range fastSeeds()[:60] {
		if _, ok := decodeFast(line); !ok {
			t.Errorf("the fast path refuses %s", line)
		}
	}
}

func dump(r *record) string { return fmt.Sprintf("%+v %+v", *r, r.Traces) }
