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
	"lakehouse/internal/pgtest"
)

// sharedWait bounds every wait for a node to see another's write.
const sharedWait = pgtest.Wait

// openShared opens a node of the shared memory on dsn with its index in
// dir, closed when t ends.
func openShared(t testing.TB, dir, dsn string) *pathway.Pathway {
	t.Helper()
	p, err := pathway.OpenShared(ctx, dir, newEmbedder(), pathway.Config{}, pathway.PostgresConfig{DSN: dsn, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// eventually waits for cond, which another node's writes make true (see
// pgtest.Eventually).
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	pgtest.Eventually(t, what, cond)
}

// found is a condition: a query search of p for query finds trace uid.
func found(p *pathway.Pathway, query, uid string) func() (bool, string) {
	return func() (bool, string) {
		res, err := p.Search(ctx, pathway.SearchOptions{Query: query, Limit: 20})
		if err != nil {
			return false, err.Error()
		}
		var uids []string
		for _, h := range res.Traces {
			if h.UID == uid {
				return true, ""
			}
			uids = append(uids, h.UID)
		}
		return false, fmt.Sprintf("found %v", uids)
	}
}

// has is a condition: p holds trace uid in a state that ok accepts.
func has(p *pathway.Pathway, uid string, ok func(pathway.Trace) bool) func() (bool, string) {
	return func() (bool, string) {
		tr, err := p.Get(ctx, uid)
		if err != nil {
			return false, err.Error()
		}
		return ok(tr), fmt.Sprintf("%+v", tr)
	}
}

func anyTrace(pathway.Trace) bool { return true }

// A trace added on one node is found by Get and by search on another, and
// at once on its own.
func TestShared_OtherNodeFinds(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openShared(t, t.TempDir(), dsn)
	b := openShared(t, t.TempDir(), dsn)
	if err := b.WaitIndexed(ctx); err != nil { // set up: from here only the follower's marks index a's traces on b
		t.Fatal(err)
	}
	tr := mustAdd(t, a, `{"step":"<retry & back off>"}`, "connection reset while uploading the nightly backup", "backup", "network")
	if ok, said := found(a, "nightly backup upload", tr.UID)(); !ok {
		t.Fatalf("the writer's own search misses its trace: %s", said)
	}
	eventually(t, "node b to get the trace", has(b, tr.UID, anyTrace))
	got := mustGet(t, b, tr.UID)
	if !traceEqual(got, tr) {
		t.Fatalf("node b holds %+v, node a wrote %+v", got, tr)
	}
	eventually(t, "node b's search to find the trace", found(b, "nightly backup upload", tr.UID))
	st, err := b.Stats(ctx)
	if err != nil || st.Total != 1 || st.Active != 1 {
		t.Fatalf("node b's stats %+v, %v; want one active trace", st, err)
	}
}

// traceEqual compares two traces as JSON, which is what callers see.
func traceEqual(a, b pathway.Trace) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// Adds of one uid on two nodes at once give what one node gives for them
// in some order: one new trace and a replay for each other add.
func TestShared_SameUIDAtOnce(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	nodes := []*pathway.Pathway{openShared(t, t.TempDir(), dsn), openShared(t, t.TempDir(), dsn)}
	const each = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		fresh int
		fails []error
	)
	for i := range 2 * each {
		wg.Go(func() {
			_, replayed, err := nodes[i%2].Add(ctx, json.RawMessage(fmt.Sprintf(`{"from":%d}`, i)), "same uid", nil, "shared-uid")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fails = append(fails, err)
			} else if !replayed {
				fresh++
			}
		})
	}
	wg.Wait()
	if len(fails) > 0 || fresh != 1 {
		t.Fatalf("%d adds made a new trace (want 1); errors %v", fresh, fails)
	}
	for i, p := range nodes {
		eventually(t, fmt.Sprintf("node %d to count every replay", i), has(p, "shared-uid", func(tr pathway.Trace) bool {
			return tr.ReplayCount == 2*each-1
		}))
		if st, _ := p.Stats(ctx); st.Total != 1 {
			t.Fatalf("node %d holds %d traces, want 1", i, st.Total)
		}
	}
	if a, b := mustGet(t, nodes[0], "shared-uid"), mustGet(t, nodes[1], "shared-uid"); !traceEqual(a, b) {
		t.Fatalf("the nodes disagree:\n%+v\n%+v", a, b)
	}
}

// Revisions of one tip on two nodes at once: one becomes its successor,
// the other is refused as a conflict, on either node.
func TestShared_ReviseAtOnce(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	nodes := []*pathway.Pathway{openShared(t, t.TempDir(), dsn), openShared(t, t.TempDir(), dsn)}
	for round := range 5 {
		root := mustAdd(t, nodes[0], fmt.Sprintf(`{"round":%d}`, round), "first try")
		var wg sync.WaitGroup
		res := make([]pathway.Trace, 2)
		got := make([]error, 2)
		for i := range 2 {
			wg.Go(func() {
				res[i], got[i] = nodes[i].Revise(ctx, root.UID, json.RawMessage(fmt.Sprintf(`{"node":%d}`, i)), nil, nil)
			})
		}
		wg.Wait()
		won := slices.IndexFunc(got, func(err error) bool { return err == nil })
		lost := 1 - won
		if won < 0 || !errors.Is(got[lost], errs.Conflict) {
			t.Fatalf("round %d: revisions gave %v and %v; want one success and one conflict", round, got[0], got[1])
		}
		for i, p := range nodes {
			eventually(t, fmt.Sprintf("node %d to see the revision", i), has(p, root.UID, func(tr pathway.Trace) bool {
				return tr.SuccessorUID == res[won].UID
			}))
		}
	}
}

// A trace retired on one node is retired on the other, which refuses to
// change it at once, before its follower need have applied the retire.
func TestShared_RetireAcrossNodes(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openShared(t, t.TempDir(), dsn)
	b := openShared(t, t.TempDir(), dsn)
	tr := mustAdd(t, a, `{"k":1}`, "a flaky migration step", "db")
	eventually(t, "node b to get the trace", has(b, tr.UID, anyTrace))
	if _, err := b.Retire(ctx, tr.UID, "obsolete"); err != nil {
		t.Fatal(err)
	}
	text := "changed"
	if _, err := a.Update(ctx, tr.UID, nil, &text, nil); !errors.Is(err, errs.Conflict) {
		t.Fatalf("update of a trace retired on another node: %v; want a conflict", err)
	}
	eventually(t, "node a to see it retired", has(a, tr.UID, func(tr pathway.Trace) bool { return tr.Retired && tr.RetiredReason == "obsolete" }))
	res, err := a.Search(ctx, pathway.SearchOptions{Query: "flaky migration"})
	if err != nil || len(res.Traces) != 0 {
		t.Fatalf("node a's search finds %+v (%v); a retired trace is hidden", res.Traces, err)
	}
}

// A node closed and opened again catches up with what the others wrote
// meanwhile, and its search finds it.
func TestShared_RestartCatchesUp(t *testing.T) {
	dsn := pgtest.Start(t).CreateDatabase()
	a := openShared(t, t.TempDir(), dsn)
	dirB := t.TempDir()
	b := openShared(t, dirB, dsn)
	first := mustAdd(t, b, `{"k":1}`, "before the restart")
	if err := b.WaitIndexed(ctx); err != nil {
		t.Fatal(err)
	}
	b.Close()
	var later []pathway.Trace
	for i := range 20 {
		later = append(later, mustAdd(t, a, fmt.Sprintf(`{"i":%d}`, i), fmt.Sprintf("written while node b was down %d", i)))
	}
	if _, err := a.Retire(ctx, first.UID, "done"); err != nil {
		t.Fatal(err)
	}
	b = openShared(t, dirB, dsn)
	if st, _ := b.Stats(ctx); st.Total != 21 || st.Retired != 1 {
		t.Fatalf("reopened node b holds %+v; want 21 traces, 1 retired", st)
	}
	if ok, said := found(b, "written while node b was down 7", later[7].UID)(); !ok {
		t.Fatalf("reopened node b's search misses a trace: %s", said)
	}
}

// While the database is down, writes fail naming it and reads answer from
// memory; once it is back, writes work again and reach the other node.
func TestShared_DatabaseRestart(t *testing.T) {
	srv := pgtest.Start(t)
	dsn := srv.CreateDatabase()
	a := openShared(t, t.TempDir(), dsn)
	b := openShared(t, t.TempDir(), dsn)
	tr := mustAdd(t, a, `{"k":1}`, "kept through the outage")
	eventually(t, "node b to get the trace", has(b, tr.UID, anyTrace))
	srv.Stop()
	_, _, err := a.Add(ctx, json.RawMessage(`{"k":2}`), "during the outage", nil, "")
	if !errors.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "PostgreSQL") {
		t.Fatalf("add while the database is down: %v; want errs.Unavailable naming PostgreSQL", err)
	}
	if _, err := b.Get(ctx, tr.UID); err != nil {
		t.Fatalf("get while the database is down: %v", err)
	}
	if ok, said := found(b, "kept through the outage", tr.UID)(); !ok {
		t.Fatalf("search while the database is down: %s", said)
	}
	if err := b.Health(ctx); err == nil {
		t.Fatal("health is fine while the database is down")
	}
	srv.Start()
	var back pathway.Trace
	eventually(t, "a write to work again", func() (bool, string) {
		var err error
		back, _, err = a.Add(ctx, json.RawMessage(`{"k":3}`), "after the outage", nil, "")
		return err == nil, fmt.Sprint(err)
	})
	eventually(t, "node b to get the write after the outage", has(b, back.UID, anyTrace))
	eventually(t, "node b's health", func() (bool, string) { err := b.Health(ctx); return err == nil, fmt.Sprint(err) })
	if st, _ := b.Stats(ctx); st.Total != 2 {
		t.Fatalf("node b holds %d traces; want 2 (the outage's write was refused)", st.Total)
	}
}

// A writer killed with SIGKILL mid-write loses none of the writes it
// acknowledged: a node opened after finds each once.
func TestShared_KillLosesNoAcknowledgedWrite(t *testing.T) {
	if crashtest.Writer(sharedCrashWriter) {
		return
	}
	dsn := pgtest.Start(t).CreateDatabase()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dsn"), []byte(dsn), 0o600); err != nil {
		t.Fatal(err)
	}
	acked := crashtest.Kill(t, dir, 500*time.Millisecond)
	p := openShared(t, t.TempDir(), dsn)
	for _, uid := range acked {
		if _, err := p.Get(ctx, uid); err != nil {
			t.Fatalf("acknowledged trace %s lost: %v (%d acknowledged)", uid, err, len(acked))
		}
	}
	st, _ := p.Stats(ctx)
	if st.Total < len(acked) {
		t.Fatalf("%d traces, %d acknowledged", st.Total, len(acked))
	}
	t.Logf("%d writes acknowledged before the kill, %d traces stored", len(acked), st.Total)
}

// sharedCrashWriter adds traces from four goroutines until it is killed.
func sharedCrashWriter(dir string, ack func(ids ...string)) {
	dsn, err := os.ReadFile(filepath.Join(dir, "dsn"))
	if err != nil {
		crashtest.Fail("read dsn: %v", err)
	}
	p, err := pathway.OpenShared(ctx, filepath.Join(dir, "node"), newEmbedder(), pathway.Config{}, pathway.PostgresConfig{DSN: string(dsn)})
	if err != nil {
		crashtest.Fail("open: %v", err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				uid := fmt.Sprintf("crash-%d-%d", g, i)
				if _, _, err := p.Add(ctx, json.RawMessage(`{"k":1}`), "written before a kill", nil, uid); err != nil {
					crashtest.Fail("add: %v", err)
				}
				ack(uid)
			}
		})
	}
	wg.Wait()
}
