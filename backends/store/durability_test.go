package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"lakehouse/backends/errs"
	"lakehouse/internal/disk/disktest"
)

// TestFS_PowerCut checks that every acknowledged Put, Adopt and Delete
// survives a power cut that drops whatever was not fsynced.
func TestFS_PowerCut(t *testing.T) {
	root := t.TempDir()
	pc := disktest.NewPowerCut(t, root)
	st, err := OpenFS(root)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	want := map[string]string{}
	for i := range 20 {
		key := fmt.Sprintf("k/%d/obj.txt", i%7)
		content := fmt.Sprintf("version %d", i)
		mustPut(t, st, key, content)
		want[key] = content
	}
	local := filepath.Join(st.TempDir(), "adopt.bin")
	if err := os.WriteFile(local, []byte("adopted"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Adopt(ctx, "_datasets/a/0.parquet", local, ""); err != nil {
		t.Fatal(err)
	}
	want["_datasets/a/0.parquet"] = "adopted"
	if err := st.Delete(ctx, "k/3/obj.txt"); err != nil {
		t.Fatal(err)
	}
	delete(want, "k/3/obj.txt")
	mustPut(t, st, "gone/x", "x")
	if err := st.DeletePrefix(ctx, "gone/"); err != nil {
		t.Fatal(err)
	}

	after, err := OpenFS(pc.Cut(t))
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	items, _, err := after.List(ctx, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(want) {
		t.Errorf("after the cut: %d objects %v, want %d", len(items), keysOf(items), len(want))
	}
	for key, content := range want {
		got, info := mustGet(t, after, key)
		if got != content || info.ETag != sha(content) {
			t.Errorf("after the cut, %s = %q (etag %s), want %q", key, got, info.ETag, content)
		}
	}
}

// TestFS_Faults fails writes and fsyncs: the call fails with the disk's
// error, the object already there stays readable and unchanged, and once
// the fault is gone the store works again.
func TestFS_Faults(t *testing.T) {
	for _, tc := range disktest.FaultCases {
		t.Run(tc.Name, func(t *testing.T) {
			root := t.TempDir()
			pc := disktest.NewPowerCut(t, root)
			st, err := OpenFS(root)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			mustPut(t, st, "doc.txt", "old")

			tc.Inject(pc.Faults())
			_, err = st.Put(ctx, "doc.txt", strings.NewReader(strings.Repeat("new", 1000)), "", 0)
			if !errors.Is(err, tc.Err) || errs.KindOf(err) != nil {
				t.Fatalf("Put under fault: %v, want a fault wrapping %v", err, tc.Err)
			}
			if got, _ := mustGet(t, st, "doc.txt"); got != "old" {
				t.Errorf("Get under fault = %q, want the old content", got)
			}
			if entries := tmpEntries(t, st); len(entries) != 0 {
				t.Errorf("temp files left by the failed Put: %v", entries)
			}

			pc.Faults().Clear()
			mustPut(t, st, "doc.txt", "newer")
			after, err := OpenFS(pc.Cut(t))
			if err != nil {
				t.Fatal(err)
			}
			defer after.Close()
			if got, _ := mustGet(t, after, "doc.txt"); got != "newer" {
				t.Errorf("after recovery and a cut, doc.txt = %q, want newer", got)
			}
		})
	}
}
