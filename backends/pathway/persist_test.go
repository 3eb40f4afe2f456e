package pathway_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse/backends/errs"
	"lakehouse/backends/pathway"
	"lakehouse/internal/crashtest"
)

// snapshot is everything a Pathway shows of its traces, as JSON.
func snapshot(t *testing.T, p *pathway.Pathway, all []string) string {
	t.Helper()
	var b strings.Builder
	for _, uid := range all {
		h, err := p.History(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(asJSON(t, h))
		b.WriteByte('\n')
	}
	st, err := p.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.LogBytes, st.IndexPending = 0, 0
	b.WriteString(asJSON(t, st))
	return b.String()
}

// workload makes traces of every kind: plain, replayed, revised, retired,
// updated. It returns every uid.
func workload(t *testing.T, p *pathway.Pathway, n int) []string {
	t.Helper()
	var all []string
	for i := range n {
		tags := []string{fmt.Sprintf("g%d", i%5)}
		tr := mustAdd(t, p, fmt.Sprintf(`{"i":%d,"pad":%q}`, i, strings.Repeat("x", i%40)), fmt.Sprintf("trace %d of the workload", i), tags...)
		all = append(all, tr.UID)
		switch i % 5 {
		case 1:
			if _, _, err := p.Add(ctx, json.RawMessage(`{}`), "", nil, tr.UID); err != nil {
				t.Fatal(err)
			}
		case 2:
			r, err := p.Revise(ctx, tr.UID, json.RawMessage(fmt.Sprintf(`{"rev":%d}`, i)), nil, []string{"revised"})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, r.UID)
		case 3:
			if _, err := p.Retire(ctx, tr.UID, "done"); err != nil {
				t.Fatal(err)
			}
		case 4:
			if _, err := p.Update(ctx, tr.UID, json.RawMessage(`[1,2]`), nil, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	return all
}

func TestPathway_Restart(t *testing.T) {
	dir := t.TempDir()
	p := mustOpen(t, dir, pathway.Config{})
	all := workload(t, p, 30)
	before := snapshot(t, p, all)
	found := uids(mustSearch(t, p, pathway.SearchOptions{Query: "trace 7 of the workload", Limit: 3}))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Get(ctx, all[0]); !errors.Is(err, pathway.ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}

	p = mustOpen(t, dir, pathway.Config{})
	if after := snapshot(t, p, all); after != before {
		t.Fatalf("state changed across a restart:\nbefore %s\nafter  %s", before, after)
	}
	if again := uids(mustSearch(t, p, pathway.SearchOptions{Query: "trace 7 of the workload", Limit: 3})); !slices.Equal(again, found) {
		t.Fatalf("search after restart: %v; before %v", again, found)
	}
	st, _ := p.Stats(ctx)
	if st.Total != 36 || st.Retired != 6 || st.Superseded != 6 || st.Active != 24 {
		t.Fatalf("stats after restart: %+v", st)
	}
}

func TestPathway_TornLastLine(t *testing.T) {
	dir := t.TempDir()
	p := mustOpen(t, dir, pathway.Config{})
	var all []string
	for i := range 3 {
		all = append(all, mustAdd(t, p, fmt.Sprintf(`{"i":%d}`, i), "torn test").UID)
	}
	p.Close()
	f, err := os.OpenFile(filepath.Join(dir, "pathway.log"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"op":"put","traces":[{"uid":"half`)
	f.Close()

	p = mustOpen(t, dir, pathway.Config{})
	st, _ := p.Stats(ctx)
	if st.Total != 3 {
		t.Fatalf("%d traces after a torn line; want 3", st.Total)
	}
	for _, uid := range all {
		mustGet(t, p, uid)
	}
	tr := mustAdd(t, p, `{"after":true}`, "")
	p.Close()
	p = mustOpen(t, dir, pathway.Config{})
	mustGet(t, p, tr.UID)
}

func TestPathway_BadInput(t *testing.T) {
	p := mustOpen(t, t.TempDir(), pathway.Config{MaxContentBytes: 1000})
	tr := mustAdd(t, p, `{}`, "")
	long := strings.Repeat("t", 65)
	many := make([]string, 33)
	for i := range many {
		many[i] = fmt.Sprint("t", i)
	}
	for _, c := range []struct {
		name string
		err  error
		kind *errs.Kind
		says string
	}{
		{"content over the cap", add(p, `"`+strings.Repeat("x", 1000)+`"`, "", nil), errs.TooLarge, "limit is 1000"},
		{"non-JSON content", add(p, `{oops}`, "", nil), errs.Invalid, "not valid JSON"},
		{"empty content", add(p, ``, "", nil), errs.Invalid, "empty"},
		{"too many tags", add(p, `1`, "", many), errs.Invalid, "at most 32"},
		{"too long tag", add(p, `1`, "", []string{long}), errs.Invalid, "1 to 64 characters"},
		{"empty tag", add(p, `1`, "", []string{" "}), errs.Invalid, "empty"},
		{"text over the cap", add(p, `1`, strings.Repeat("w", 64<<10+1), nil), errs.TooLarge, "text"},
		{"unknown uid: get", second(p.Get(ctx, "missing")), errs.NotFound, `"missing" not found`},
		{"unknown uid: update", second(p.Update(ctx, "missing", nil, strp("x"), nil)), errs.NotFound, "not found"},
		{"unknown uid: history", second(p.History(ctx, "missing")), errs.NotFound, "not found"},
		{"unknown uid: revise", second(p.Revise(ctx, "missing", json.RawMessage(`1`), nil, nil)), errs.NotFound, "not found"},
		{"empty predecessor", second(p.Revise(ctx, "", json.RawMessage(`1`), nil, nil)), errs.Invalid, "predecessor_uid"},
		{"revise with bad content", second(p.Revise(ctx, tr.UID, json.RawMessage(`nope`), nil, nil)), errs.Invalid, "JSON"},
		{"negative limit", second(p.Search(ctx, pathway.SearchOptions{Limit: -1})), errs.Invalid, "limit"},
		{"empty created range", second(p.Search(ctx, pathway.SearchOptions{CreatedAfter: time.Now(), CreatedBefore: time.Now().Add(-time.Hour)})), errs.Invalid, "created_after"},
	} {
		if !errors.Is(c.err, c.kind) || !strings.Contains(c.err.Error(), c.says) {
			t.Errorf("%s: got %v; want a %v error saying %q", c.name, c.err, c.kind, c.says)
		}
	}
	st, _ := p.Stats(ctx)
	if st.Total != 1 {
		t.Fatalf("bad input stored traces: %+v", st)
	}
}

func add(p *pathway.Pathway, content, text string, tags []string) error {
	_, _, err := p.Add(ctx, json.RawMessage(content), text, tags, "")
	return err
}

func second[T any](_ T, err error) error { return err }

func TestPathway_Compaction(t *testing.T) {
	dir := t.TempDir()
	cfg := pathway.Config{CompactBytes: 8 << 10}
	p := mustOpen(t, dir, cfg)
	all := workload(t, p, 300)
	before := snapshot(t, p, all)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// 300 adds and ~240 other changes, one line each, unless compacted.
	b, err := os.ReadFile(filepath.Join(dir, "pathway.log"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(string(b), "\n"); lines >= 400 {
		t.Fatalf("the log has %d lines (%d bytes): it was never compacted", lines, len(b))
	}
	p = mustOpen(t, dir, cfg)
	if after := snapshot(t, p, all); after != before {
		t.Fatalf("compaction changed the state:\nbefore %s\nafter  %s", before, after)
	}
	res := mustSearch(t, p, pathway.SearchOptions{Query: "trace 123 of the workload", IncludeRetired: true, IncludeSuperseded: true})
	if !slices.Contains(uids(res)[:3], all[slices.IndexFunc(all, func(u string) bool { return mustGet(t, p, u).Text == "trace 123 of the workload" })]) {
		t.Fatalf("search after compaction: %v", uids(res))
	}
}

func TestPathway_IndexRebuiltWhenRemoved(t *testing.T) {
	dir := t.TempDir()
	p := mustOpen(t, dir, pathway.Config{})
	c := corpus(t, p)
	p.Close()
	if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	p = mustOpen(t, dir, pathway.Config{})
	res := mustSearch(t, p, pathway.SearchOptions{Query: "semicolon delimiter for the sales csv"})
	if len(res.Traces) != 5 || res.Traces[0].UID != c["csv"].UID {
		t.Fatalf("search after the index was removed: %v", uids(res))
	}
}

func TestPathway_Concurrent(t *testing.T) {
	p := mustOpen(t, t.TempDir(), pathway.Config{CompactBytes: 64 << 10})
	const writers, each = 16, 40
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				word := fmt.Sprintf("w%dx%d", w, i)
				tr := mustAdd(t, p, fmt.Sprintf(`{"w":%d,"i":%d}`, w, i), "concurrent note "+word, fmt.Sprint("w", w))
				if i%10 == 0 { // read your own write
					res := mustSearch(t, p, pathway.SearchOptions{Query: word, Limit: 3, TagsAll: []string{fmt.Sprint("w", w)}})
					if len(res.Traces) == 0 || res.Traces[0].UID != tr.UID {
						t.Errorf("writer %d does not find its trace %s first: %v", w, tr.UID, uids(res))
					}
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mustSearch(t, p, pathway.SearchOptions{Query: "concurrent note", Limit: 10})
				mustSearch(t, p, pathway.SearchOptions{Limit: 10})
				p.Stats(ctx)
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	st, _ := p.Stats(ctx)
	if st.Total != writers*each {
		t.Fatalf("%d traces; want %d", st.Total, writers*each)
	}
	all, _ := searchAll(t, p, pathway.SearchOptions{Limit: 200})
	if len(all) != writers*each {
		t.Fatalf("listing found %d traces; want %d", len(all), writers*each)
	}
}

// TestCrash kills a process that is adding traces from 16 goroutines
// (SIGKILL, no chance to clean up) and checks that every add it
// acknowledged survives.
func TestCrash(t *testing.T) {
	if crashtest.Writer(crashWriter) {
		return
	}
	dir := t.TempDir()
	ids := crashtest.Kill(t, dir, 300*time.Millisecond)
	p := mustOpen(t, dir, crashConfig)
	for _, uid := range ids {
		tr, err := p.Get(ctx, uid)
		if err != nil {
			t.Fatalf("acknowledged trace %s is missing after the crash (%d acknowledged): %v", uid, len(ids), err)
		}
		if want := `{"uid":"` + uid + `"}`; string(tr.Content) != want {
			t.Fatalf("trace %s has content %s, want %s", uid, tr.Content, want)
		}
	}
	st, _ := p.Stats(ctx)
	t.Logf("%d adds acknowledged before the kill; %d traces after it", len(ids), st.Total)
	// The memory works on: searches find the acknowledged traces, and adds go on.
	res := mustSearch(t, p, pathway.SearchOptions{Query: "crash " + ids[0]})
	if len(res.Traces) == 0 || res.Traces[0].UID != ids[0] {
		t.Fatalf("search after the crash: %v", uids(res))
	}
	mustAdd(t, p, `{}`, "after the crash")
}

// crashConfig compacts often, so that the kill can land in a compaction.
var crashConfig = pathway.Config{CompactBytes: 256 << 10}

// crashWriter adds traces from 16 goroutines until it is killed,
// acknowledging each once Add has returned.
func crashWriter(dir string, ack func(...string)) {
	p, err := pathway.Open(dir, newEmbedder(), crashConfig)
	if err != nil {
		crashtest.Fail("%v", err)
	}
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				uid := fmt.Sprintf("w%d-%d", w, i)
				if _, _, err := p.Add(ctx, json.RawMessage(`{"uid":"`+uid+`"}`), "crash "+uid, []string{"crash"}, uid); err != nil {
					crashtest.Fail("add: %v", err)
				}
				ack(uid)
			}
		})
	}
	wg.Wait()
}
