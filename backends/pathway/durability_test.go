package pathway_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"lakehouse/backends/errs"
	"lakehouse/backends/pathway"
	"lakehouse/internal/disk/disktest"
)

// TestPathway_PowerCut: every acknowledged add and revise survives a power
// cut that drops what was not fsynced.
func TestPathway_PowerCut(t *testing.T) {
	root := t.TempDir()
	pc := disktest.NewPowerCut(t, root)
	p := mustOpen(t, root, pathway.Config{})
	var want []pathway.Trace
	for i := range 10 {
		want = append(want, mustAdd(t, p, fmt.Sprintf(`{"step":%d}`, i), fmt.Sprintf("tried step %d", i), "power"))
	}
	after := mustOpen(t, pc.Cut(t), pathway.Config{})
	for _, tr := range want {
		got := mustGet(t, after, tr.UID)
		if string(got.Content) != string(tr.Content) {
			t.Errorf("after the cut, %s = %s, want %s", tr.UID, got.Content, tr.Content)
		}
	}
}

// TestPathway_FailedFsync: an add whose fsync fails is an error, and adds
// after the fault succeed and are durable.
func TestPathway_FailedFsync(t *testing.T) {
	root := t.TempDir()
	pc := disktest.NewPowerCut(t, root)
	p := mustOpen(t, root, pathway.Config{})
	first := mustAdd(t, p, `{"a":1}`, "before the fault")
	pc.Faults().Only("pathway.log") // not the trace index, which builds in the background
	pc.Faults().FailSyncs(syscall.EIO, 1)
	const failed = "6f9b1c1e-0000-4000-8000-000000000002"
	if _, _, err := p.Add(ctx, []byte(`{"a":2}`), "during the fault", nil, failed); err == nil {
		t.Fatalf("Add under a failed fsync succeeded")
	}
	// The trace whose write failed is not visible, as if acknowledged.
	if _, err := p.Get(ctx, failed); !errors.Is(err, errs.NotFound) {
		t.Errorf("Get of the trace whose write failed = %v, want NotFound", err)
	}
	pc.Faults().Clear()
	later := mustAdd(t, p, `{"a":3}`, "after the fault")
	after := mustOpen(t, pc.Cut(t), pathway.Config{})
	for _, tr := range []pathway.Trace{first, later} {
		if got := mustGet(t, after, tr.UID); string(got.Content) != string(tr.Content) {
			t.Errorf("after the cut, %s = %s, want %s", tr.UID, got.Content, tr.Content)
		}
	}
}
