package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"lakehouse/backends/catalog"
	"lakehouse/backends/errs"
	"lakehouse/backends/store"
)

// mustStore opens a file store in a fresh temp folder.
func mustStore(tb testing.TB) *store.FS {
	tb.Helper()
	st, err := store.OpenFS(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// mustOpen opens the catalog of st.
func mustOpen(tb testing.TB, st store.Store) *catalog.Catalog {
	tb.Helper()
	c, err := catalog.Open(context.Background(), st)
	if err != nil {
		tb.Fatalf("open catalog: %v", err)
	}
	return c
}

// newVersion returns version n of a dataset with one file and two columns.
func newVersion(name string, n int, rows int64) catalog.Version {
	return catalog.Version{
		Version:   n,
		Mode:      "create",
		Source:    "content",
		SourceSHA: strings.Repeat("ab", 32),
		Format:    "csv",
		Rows:      rows,
		AddedRows: rows,
		Bytes:     100 * int64(n),
		Files:     []string{catalog.DataKey(name, n, 0)},
		Columns:   []catalog.Column{{Name: "id", Type: "BIGINT"}, {Name: "name", Type: "VARCHAR"}},
		Created:   time.Date(2024, 5, 1, 12, n, 0, 0, time.UTC),
	}
}

// mustCommit commits v as a version of name.
func mustCommit(tb testing.TB, c *catalog.Catalog, name string, v catalog.Version) *catalog.Manifest {
	tb.Helper()
	m, err := c.Commit(context.Background(), name, v)
	if err != nil {
		tb.Fatalf("commit %s v%d: %v", name, v.Version, err)
	}
	return m
}

// mustPut stores body under key.
func mustPut(tb testing.TB, st store.Store, key, body string) {
	tb.Helper()
	if _, err := st.Put(context.Background(), key, strings.NewReader(body), "", 0); err != nil {
		tb.Fatalf("put %s: %v", key, err)
	}
}

// asJSON encodes v, so that manifests can be compared whatever the time
// zones' in-memory form.
func asJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// names returns the dataset names of ms, in order.
func names(ms []*catalog.Manifest) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// wantErr checks that err is of kind k and that its text holds every part.
func wantErr(tb testing.TB, err error, k *errs.Kind, parts ...string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("no error, want %v", k)
	}
	if !errors.Is(err, k) {
		tb.Fatalf("error %q is of kind %v, want %v", err, errs.KindOf(err), k)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			tb.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func TestCatalog_Commit_CreatesThenAddsVersion(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		c := f.open(t)

		m := mustCommit(t, c, "sales", newVersion("sales", 1, 10))
		if m.Name != "sales" || m.ID != catalog.ID("sales") || len(m.Versions) != 1 {
			t.Fatalf("after first commit: name %q id %q versions %d", m.Name, m.ID, len(m.Versions))
		}
		if got := m.Current().Version; got != 1 {
			t.Fatalf("current version = %d, want 1", got)
		}
		if !m.Created.Equal(m.Updated) {
			t.Errorf("new dataset: created %v, updated %v; want equal", m.Created, m.Updated)
		}

		m = mustCommit(t, c, "sales", newVersion("sales", 2, 25))
		if got := m.Current(); got.Version != 2 || got.Rows != 25 {
			t.Fatalf("current = v%d with %d rows, want v2 with 25", got.Version, got.Rows)
		}
		var order []int
		for _, v := range m.Versions {
			order = append(order, v.Version)
		}
		if !slices.Equal(order, []int{1, 2}) {
			t.Errorf("versions %v, want [1 2] (oldest first)", order)
		}
		if v := m.Version(1); v == nil || v.Rows != 10 {
			t.Errorf("Version(1) = %+v, want the first version with 10 rows", v)
		}
		if v := m.Version(3); v != nil {
			t.Errorf("Version(3) = %+v, want nil", v)
		}
		if !m.Created.Equal(newVersion("sales", 1, 0).Created) || !m.Updated.Equal(newVersion("sales", 2, 0).Created) {
			t.Errorf("created %v updated %v, want the times of v1 and v2", m.Created, m.Updated)
		}

		got, err := c.Get("sales")
		if err != nil {
			t.Fatal(err)
		}
		if asJSON(t, got) != asJSON(t, m) {
			t.Errorf("Get = %s\nwant the manifest Commit returned: %s", asJSON(t, got), asJSON(t, m))
		}
		if c.Lookup("sales") == nil {
			t.Error("Lookup(sales) = nil")
		}
	})
}

func TestCatalog_Get_ReturnsCopy(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		c := f.open(t)
		mustCommit(t, c, "a", newVersion("a", 1, 1))

		m, err := c.Get("a")
		if err != nil {
			t.Fatal(err)
		}
		m.Name = "changed"
		m.Versions[0].Rows = 99
		m.Versions = append(m.Versions, newVersion("a", 2, 2))

		again, err := c.Get("a")
		if err != nil {
			t.Fatal(err)
		}
		if again.Name != "a" || len(again.Versions) != 1 || again.Current().Rows != 1 {
			t.Errorf("changing a returned manifest changed the catalog: %s", asJSON(t, again))
		}
	})
}

func TestCatalog_Generation(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c := f.open(t)
		g0 := c.Generation()

		mustCommit(t, c, "a", newVersion("a", 1, 1))
		g1 := c.Generation()
		if g1 <= g0 {
			t.Fatalf("generation %d after create, was %d", g1, g0)
		}
		mustCommit(t, c, "a", newVersion("a", 2, 1))
		g2 := c.Generation()
		if g2 <= g1 {
			t.Fatalf("generation %d after a new version, was %d", g2, g1)
		}
		if _, err := c.Drop(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		g3 := c.Generation()
		if g3 <= g2 {
			t.Fatalf("generation %d after drop, was %d", g3, g2)
		}

		// Reading changes nothing.
		c.List()
		c.Tables()
		c.Lookup("a")
		if g := c.Generation(); g != g3 {
			t.Errorf("generation %d after reads, want %d", g, g3)
		}
		// A failed drop changes nothing either.
		if _, err := c.Drop(ctx, "a"); err == nil {
			t.Fatal("second drop succeeded")
		}
		if g := c.Generation(); g != g3 {
			t.Errorf("generation %d after a failed drop, want %d", g, g3)
		}
	})
}

func TestCatalog_Get_NotFound(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		c := f.open(t)

		_, err := c.Get("nope")
		wantErr(t, err, errs.NotFound, `"nope"`, "no datasets yet")
		if m := c.Lookup("nope"); m != nil {
			t.Errorf("Lookup(nope) = %+v, want nil", m)
		}

		mustCommit(t, c, "b", newVersion("b", 1, 1))
		mustCommit(t, c, "a", newVersion("a", 1, 1))
		_, err = c.Get("nope")
		wantErr(t, err, errs.NotFound, `"nope"`, "list_datasets shows 2 datasets: a, b")
		if strings.Contains(err.Error(), "no datasets yet") {
			t.Errorf("error %q says there are no datasets", err)
		}
	})
}

func TestCatalog_List_Sorted(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		c := f.open(t)
		if got := c.List(); len(got) != 0 {
			t.Fatalf("empty catalog lists %v", names(got))
		}
		for _, n := range []string{"orders", "a_b", "zeta", "_tmp", "alpha"} {
			mustCommit(t, c, n, newVersion(n, 1, 1))
		}
		want := []string{"_tmp", "a_b", "alpha", "orders", "zeta"}
		if got := names(c.List()); !slices.Equal(got, want) {
			t.Errorf("List = %v, want %v", got, want)
		}
	})
}

func TestCatalog_Tables(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		c := f.open(t)
		v1 := newVersion("sales", 1, 2)
		v2 := newVersion("sales", 2, 4)
		v2.Files = []string{v1.Files[0], catalog.DataKey("sales", 2, 1)} // an append
		mustCommit(t, c, "sales", v1)
		mustCommit(t, c, "sales", v2)
		mustCommit(t, c, "b", newVersion("b", 1, 1))

		gen, tables := c.Tables()
		if gen != c.Generation() {
			t.Errorf("Tables generation %d, Generation %d", gen, c.Generation())
		}
		want := []catalog.Table{
			{Name: "b", Files: []string{"_datasets/b/v1/part-0.parquet"}},
			{Name: "b@v1", Files: []string{"_datasets/b/v1/part-0.parquet"}},
			{Name: "sales", Files: []string{"_datasets/sales/v1/part-0.parquet", "_datasets/sales/v2/part-1.parquet"}},
			{Name: "sales@v1", Files: []string{"_datasets/sales/v1/part-0.parquet"}},
			{Name: "sales@v2", Files: []string{"_datasets/sales/v1/part-0.parquet", "_datasets/sales/v2/part-1.parquet"}},
		}
		if asJSON(t, tables) != asJSON(t, want) {
			t.Errorf("Tables =\n%s\nwant\n%s", asJSON(t, tables), asJSON(t, want))
		}
	})
}

func TestID(t *testing.T) {
	a := catalog.ID("sales")
	if a != catalog.ID("sales") {
		t.Errorf("ID(sales) changed between calls")
	}
	if a == catalog.ID("sales2") || a == catalog.ID("Sales") {
		t.Errorf("ID(sales) equals the ID of another name")
	}
	u, err := uuid.Parse(a)
	if err != nil {
		t.Fatalf("ID(sales) = %q: %v", a, err)
	}
	if u.Version() != 5 || u.Variant() != uuid.RFC4122 {
		t.Errorf("ID(sales) = %s: version %d variant %v, want version 5 RFC 4122", a, u.Version(), u.Variant())
	}
	// The id depends on the name only, not on the catalog or the store.
	c := mustOpen(t, mustStore(t))
	if m := mustCommit(t, c, "sales", newVersion("sales", 1, 1)); m.ID != a {
		t.Errorf("manifest id %q, want ID(sales) %q", m.ID, a)
	}
}

func TestVersion_Fingerprint(t *testing.T) {
	cols := func(pairs ...string) catalog.Version {
		var v catalog.Version
		for i := 0; i < len(pairs); i += 2 {
			v.Columns = append(v.Columns, catalog.Column{Name: pairs[i], Type: pairs[i+1]})
		}
		return v
	}
	base := cols("id", "BIGINT", "name", "VARCHAR")
	fp := base.Fingerprint()
	if len(fp) != 16 {
		t.Errorf("fingerprint %q has %d characters, want 16", fp, len(fp))
	}

	same := cols("id", "BIGINT", "name", "VARCHAR")
	same.Rows, same.Version, same.Files = 7, 3, []string{"x"} // not part of the schema
	if got := same.Fingerprint(); got != fp {
		t.Errorf("equal schemas: fingerprints %q and %q", fp, got)
	}

	for _, tc := range []struct {
		name string
		v    catalog.Version
	}{
		{"type changed", cols("id", "INTEGER", "name", "VARCHAR")},
		{"column renamed", cols("id", "BIGINT", "label", "VARCHAR")},
		{"columns swapped", cols("name", "VARCHAR", "id", "BIGINT")},
		{"column added", cols("id", "BIGINT", "name", "VARCHAR", "x", "DOUBLE")},
		{"column dropped", cols("id", "BIGINT")},
		{"no columns", cols()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.Fingerprint(); got == fp {
				t.Errorf("fingerprint %q equals that of the base schema", got)
			}
		})
	}
}

func TestCatalog_Open_Reload(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		c := f.open(t)
		mustCommit(t, c, "sales", newVersion("sales", 1, 3))
		mustCommit(t, c, "sales", newVersion("sales", 2, 5))
		mustCommit(t, c, "b", newVersion("b", 1, 1))
		mustCommit(t, c, "gone", newVersion("gone", 1, 1))
		if _, err := c.Drop(context.Background(), "gone"); err != nil {
			t.Fatal(err)
		}

		again := f.open(t)
		if d := again.Damaged(); len(d) != 0 {
			t.Errorf("Damaged = %v, want none", d)
		}
		wantSame(t, c, again)
		if again.Lookup("gone") != nil {
			t.Error("dropped dataset is back after reopen")
		}

		// The reopened catalog carries on where the old one stopped.
		m := mustCommit(t, again, "sales", newVersion("sales", 3, 9))
		if len(m.Versions) != 3 || m.Current().Version != 3 {
			t.Errorf("after reopen and commit: %s", asJSON(t, m))
		}
	})
}

func TestCatalog_Open_DamagedManifest(t *testing.T) {
	st := mustStore(t)
	c := mustOpen(t, st)
	mustCommit(t, c, "good", newVersion("good", 1, 4))
	mustCommit(t, c, "zed", newVersion("zed", 1, 2))

	// A valid manifest of "x", stored under the key of another name.
	misplaced, err := json.Marshal(catalog.Manifest{
		ID: catalog.ID("x"), Name: "x", Versions: []catalog.Version{newVersion("x", 1, 1)},
	})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, st, "_catalog/bad.json", `{"name": "bad", "versions": [`)
	mustPut(t, st, "_catalog/other.json", string(misplaced))
	mustPut(t, st, "_catalog/empty.json", `{"id": "", "name": "empty", "versions": []}`)
	mustPut(t, st, "_catalog/noname.json", `{"versions": [{"version": 1}]}`)

	again, err := catalog.Open(context.Background(), st)
	if err != nil {
		t.Fatalf("Open with damaged manifests: %v", err)
	}
	if got, want := names(again.List()), []string{"good", "zed"}; !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	wantDamaged := []string{"_catalog/bad.json", "_catalog/empty.json", "_catalog/noname.json", "_catalog/other.json"}
	got := again.Damaged()
	slices.Sort(got)
	if !slices.Equal(got, wantDamaged) {
		t.Errorf("Damaged = %v, want %v", got, wantDamaged)
	}
	for _, n := range []string{"x", "bad", "other", "empty"} {
		_, err := again.Get(n)
		wantErr(t, err, errs.NotFound, "list_datasets shows 2 datasets: good, zed")
	}
	if m := again.Lookup("good"); m == nil || m.Current().Rows != 4 {
		t.Errorf("good dataset = %+v, want one with 4 rows", m)
	}

	// Damaged is a copy.
	d := again.Damaged()
	d[0] = "changed"
	if again.Damaged()[0] == "changed" {
		t.Error("changing the slice Damaged returned changed the catalog")
	}
}

func TestCatalog_Drop(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		st := f.st
		c := f.open(t)
		mustCommit(t, c, "sales", newVersion("sales", 1, 1))
		mustCommit(t, c, "sales", newVersion("sales", 2, 1))
		mustCommit(t, c, "sales_2", newVersion("sales_2", 1, 1))
		for _, k := range []string{
			catalog.DataKey("sales", 1, 0),
			catalog.DataKey("sales", 2, 0),
			"_datasets/sales/v1/stray.txt",
			catalog.DataKey("sales_2", 1, 0),
			"sales/user-object.csv",
		} {
			mustPut(t, st, k, "fake parquet")
		}

		m, err := c.Drop(ctx, "sales")
		if err != nil {
			t.Fatal(err)
		}
		if m.Name != "sales" || len(m.Versions) != 2 {
			t.Errorf("Drop returned %s, want the dropped manifest with 2 versions", asJSON(t, m))
		}
		if _, err := c.Get("sales"); !errors.Is(err, errs.NotFound) {
			t.Errorf("Get after drop: %v, want not found", err)
		}
		_, err = st.Stat(ctx, "_catalog/sales.json")
		wantErr(t, err, errs.NotFound)
		items, _, err := st.List(ctx, "_datasets/sales/", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 0 {
			t.Errorf("objects left under _datasets/sales/: %v", items)
		}
		// Other datasets and user objects stay.
		kept := []string{catalog.DataKey("sales_2", 1, 0), "sales/user-object.csv"}
		if f.kind == "store" {
			kept = append(kept, "_catalog/sales_2.json")
		}
		for _, k := range kept {
			if _, err := st.Stat(ctx, k); err != nil {
				t.Errorf("stat %s after dropping sales: %v", k, err)
			}
		}
		if got := names(c.List()); !slices.Equal(got, []string{"sales_2"}) {
			t.Errorf("List after drop = %v", got)
		}
		if _, tables := c.Tables(); len(tables) != 2 {
			t.Errorf("Tables after drop = %v, want sales_2 and sales_2@v1", tables)
		}

		_, err = c.Drop(ctx, "sales")
		wantErr(t, err, errs.NotFound, `"sales"`, "list_datasets shows", "sales_2")

		// Dropped for good: a reopened catalog does not see it either.
		if again := f.open(t); again.Lookup("sales") != nil {
			t.Error("dropped dataset is back after reopen")
		}

		// The name can be used again from version 1.
		m = mustCommit(t, c, "sales", newVersion("sales", 1, 7))
		if len(m.Versions) != 1 || m.Current().Rows != 7 {
			t.Errorf("recreated dataset: %s", asJSON(t, m))
		}
	})
}

// TestFileKeys: a new incarnation's files get keys of their own folder,
// fresh ones each time, and FolderOf finds the folder again from them; the
// old layout's folder is the dataset's.
func TestFileKeys(t *testing.T) {
	folder := catalog.NewFolder("sales")
	if folder == catalog.NewFolder("sales") || !strings.HasPrefix(folder, catalog.DataPrefix+"sales/i") || !strings.HasSuffix(folder, "/") {
		t.Fatalf("NewFolder = %q: want a fresh folder under %si each time", folder, catalog.DataPrefix+"sales/")
	}
	a, b := catalog.FileKey(folder, 3, 2), catalog.FileKey(folder, 3, 2)
	if a == b || !strings.HasPrefix(a, folder+"v3/part-2-") || !strings.HasSuffix(a, ".parquet") {
		t.Errorf("FileKey = %q, %q: want two keys under %sv3/part-2-", a, b, folder)
	}
	if got := catalog.FolderOf("sales", []string{a}); got != folder {
		t.Errorf("FolderOf(%q) = %q, want %q", a, got, folder)
	}
	legacy := catalog.DataKey("sales", 3, 2)
	if got, want := legacy, "_datasets/sales/v3/part-2.parquet"; got != want {
		t.Errorf("DataKey = %q, want %q", got, want)
	}
	if got := catalog.FolderOf("sales", []string{legacy}); got != catalog.DataPrefix+"sales/" {
		t.Errorf("FolderOf(%q) = %q, want the dataset's folder", legacy, got)
	}
}

// TestCatalog_DropRecreated: a drop deletes the dropped incarnation's
// files only, not those of the dataset made again under the same name
// (by another node) before the drop got to its files.
func TestCatalog_DropRecreated(t *testing.T) {
	eachJournal(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		c := f.open(t)
		old, fresh := catalog.NewFolder("sales"), catalog.NewFolder("sales")
		v := newVersion("sales", 1, 1)
		v.Files = []string{catalog.FileKey(old, 1, 0)}
		mustCommit(t, c, "sales", v)
		newKey := catalog.FileKey(fresh, 1, 0)
		for _, k := range []string{v.Files[0], catalog.FileKey(old, 2, 1), newKey} {
			mustPut(t, f.st, k, "fake parquet")
		}
		if _, err := c.Drop(ctx, "sales"); err != nil {
			t.Fatal(err)
		}
		items, _, err := f.st.List(ctx, "_datasets/sales/", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 1 || items[0].Key != newKey {
			t.Errorf("left under _datasets/sales/: %v, want only %s", items, newKey)
		}
	})
}
