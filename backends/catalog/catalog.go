// Package catalog keeps the manifests of datasets: their versions, the Parquet
// files behind each version, schemas and row counts.
//
// A dataset's manifest is stored as a log of entries, not as one document
// rewritten whole. An entry either adds a version (its metadata, and the
// files it adds to those of the version before it or replaces them with) or
// gives an existing version a new layout: the same rows in other files,
// which is what compaction writes. The full file list of a version is never
// written out; Open derives it by replaying the entries in order. So the
// bytes one commit writes do not grow with the number of versions, and
// version N reads exactly the files it read when it was committed, or a
// layout of the same rows.
//
// In the store, "_catalog/<name>.json" is the dataset's root: its id, name,
// creation time and first entries. The entries after those are in segments
// "_catalog/<name>/log-<seq>.json" of at most 32 entries each. A commit
// rewrites only the last segment, or starts the next one, with one atomic
// Put, so a crash leaves the log as it was before the commit or after it.
// Creating a dataset writes its root; dropping one deletes its root first,
// so segments without a root are leftovers of a drop, removed by Open.
//
// The Parquet files live under "_datasets/<name>/", in a folder of the
// dataset's incarnation (see keys.go). The catalog deletes them only when
// the dataset is dropped: a new layout adds files, so the files that older
// versions read stay where they are. They may be in another store than
// the journal's (a bucket, see [Catalog.SetFiles]).
//
// Manifests written before the log (a root holding every version with its
// full file list) are read too: Open rewrites such a root, in one Put, as a
// root holding the same versions as entries.
//
// A version made by SQL over other datasets carries its Lineage: the
// statement, the dataset versions it read and a checksum of its result. It
// is part of the version's entry, so manifests written before lineage
// existed read as versions without one.
//
// The catalog is loaded into memory on Open; a dataset whose root or log
// cannot be read is reported and skipped rather than stopping the server.
package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"lakehouse/backends/errs"
)

// Store prefixes owned by the catalog.
const (
	ManifestPrefix = "_catalog/"
	DataPrefix     = "_datasets/"
)

// namespace is the UUIDv5 namespace of dataset ids, so a dataset's id depends
// on its name alone and is the same on every machine.
var namespace = uuid.NewSHA1(uuid.NameSpaceURL, []byte("lakehouse-mcp:dataset"))

// Column is one column of a dataset's schema, with its DuckDB type.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// Version is one state of a dataset. Its rows never change once committed;
// its files change only when [Catalog.Relayout] stores the same rows in
// other files.
type Version struct {
	Version   int       `json:"version"`
	Mode      string    `json:"mode"`   // create, append or replace
	Source    string    `json:"source"` // "content", "upload", "sql", "object:<key>" or "path:<path>"
	SourceSHA string    `json:"source_sha256"`
	Format    string    `json:"format"`
	Options   string    `json:"options,omitempty"` // canonical JSON of the reading options
	Rows      int64     `json:"rows"`              // rows in this version, all files together
	AddedRows int64     `json:"added_rows"`        // rows this ingest added
	Bytes     int64     `json:"bytes"`             // bytes of all files as committed; a new layout leaves it as it was
	Files     []string  `json:"files,omitempty"`   // store keys of the Parquet files, in row order
	Columns   []Column  `json:"columns"`
	Created   time.Time `json:"created"`
	Lineage   *Lineage  `json:"lineage,omitempty"` // how the version was derived by SQL; nil for any other source
}

// Lineage says how a version was made from other datasets: it holds the
// whole result of one read-only SQL statement over them. Versions written
// before lineage was recorded, and versions of any other source, have none.
type Lineage struct {
	// SQL is the statement as the caller wrote it. Refreshing runs it again:
	// a plain dataset name then reads that dataset's current version,
	// "name@vK" still version K.
	SQL string `json:"sql"`
	// Inputs are the dataset versions the statement read, as "name@vN",
	// sorted: a plain name is pinned to the version that was current when
	// the statement ran.
	Inputs []string `json:"inputs"`
	// Checksum identifies the result whatever the order of its rows:
	// "<rows>:<sum of the rows' hashes>", both computed by DuckDB, when a
	// re-run of the statement had to be compared with the version before
	// (the ingest does not read the rows again only to make it).
	Checksum string `json:"checksum,omitempty"`
}

// InputNames returns the names of the datasets l read, without versions.
func (l *Lineage) InputNames() []string {
	var names []string
	for _, in := range l.Inputs {
		name, _ := SplitVersion(in)
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// SplitVersion splits "name@vN" into name and N; a plain name has N = 0.
func SplitVersion(table string) (name string, version int) {
	i := strings.LastIndex(table, "@v")
	if i <= 0 {
		return table, 0
	}
	n, err := strconv.Atoi(table[i+2:])
	if err != nil || n <= 0 || strconv.Itoa(n) != table[i+2:] {
		return table, 0
	}
	return table[:i], n
}

// Fingerprint is a short hash of the (column, type) pairs of v: equal
// fingerprints mean equal schemas.
func (v *Version) Fingerprint() string {
	h := sha256.New()
	for _, c := range v.Columns {
		fmt.Fprintf(h, "%s\x00%s\x00", c.Name, c.Type)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Manifest is everything the catalog knows of one dataset.
type Manifest struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`  // when the current version was committed
	Versions []Version `json:"versions"` // oldest first; the last is current
}

// Current returns the newest version.
func (m *Manifest) Current() *Version { return &m.Versions[len(m.Versions)-1] }

// Version returns version n, or nil.
func (m *Manifest) Version(n int) *Version {
	for i := range m.Versions {
		if m.Versions[i].Version == n {
			return &m.Versions[i]
		}
	}
	return nil
}

// Catalog is the in-memory index of all manifests, backed by a journal:
// the log in the store ([Open]) or PostgreSQL ([OpenPostgres]).
type Catalog struct {
	st Files // the datasets' files
	j  journal

	mu         sync.RWMutex
	datasets   map[string]*dataset
	generation uint64
	damaged    []string // catalog keys that could not be read at Open
}

// damagedKeyLocked returns a damaged catalog key of dataset name, or "".
func (c *Catalog) damagedKeyLocked(name string) string {
	for _, key := range c.damaged {
		if datasetOfKey(key) == name {
			return key
		}
	}
	return ""
}

// datasetOfKey names the dataset a catalog key belongs to: its root
// "_catalog/<name>.json" or a segment "_catalog/<name>/...".
func datasetOfKey(key string) string {
	rest := strings.TrimPrefix(key, ManifestPrefix)
	if name, _, ok := strings.Cut(rest, "/"); ok {
		return name
	}
	return strings.TrimSuffix(rest, ".json")
}

// Damaged lists the catalog keys skipped at Open because they could not be
// read: a dataset's root, or the segment of its log that failed.
func (c *Catalog) Damaged() []string {
	c.j.refresh(c)
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.damaged)
}

// Generation changes whenever a dataset is created, changed or dropped.
func (c *Catalog) Generation() uint64 {
	c.j.refresh(c)
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.generation
}

// Get returns a copy of the manifest of name, or an errs.NotFound error that
// names the datasets that do exist. The caller must not change the elements
// of its versions' Files and Columns, nor their Lineage, which the catalog
// shares.
func (c *Catalog) Get(name string) (*Manifest, error) {
	c.j.refresh(c)
	c.mu.RLock()
	defer c.mu.RUnlock()
	d, ok := c.datasets[name]
	if !ok {
		return nil, errs.New(errs.NotFound, "dataset %q not found; %s", name, c.describeLocked())
	}
	return clone(d.m), nil
}

// Lookup is Get without the error: nil when name does not exist.
func (c *Catalog) Lookup(name string) *Manifest {
	m, err := c.Get(name)
	if err != nil {
		return nil
	}
	return m
}

// describeLocked says which datasets exist, for error messages.
func (c *Catalog) describeLocked() string {
	names := c.namesLocked()
	switch {
	case len(names) == 0:
		return "there are no datasets yet (ingest_dataset creates one)"
	case len(names) == 1:
		return "list_datasets shows 1 dataset: " + names[0]
	case len(names) > 20:
		return fmt.Sprintf("list_datasets shows %d datasets: %s, …", len(names), strings.Join(names[:20], ", "))
	default:
		return fmt.Sprintf("list_datasets shows %d datasets: %s", len(names), strings.Join(names, ", "))
	}
}

func (c *Catalog) namesLocked() []string {
	names := make([]string, 0, len(c.datasets))
	for n := range c.datasets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// List returns copies of all manifests, sorted by name.
func (c *Catalog) List() []*Manifest {
	c.j.refresh(c)
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Manifest, 0, len(c.datasets))
	for _, n := range c.namesLocked() {
		out = append(out, clone(c.datasets[n].m))
	}
	return out
}

// Dependents returns, sorted, the datasets other than name whose current
// version was derived by SQL from some version of name.
func (c *Catalog) Dependents(name string) []string {
	c.j.refresh(c)
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []string
	for _, n := range c.namesLocked() {
		if n == name {
			continue
		}
		if l := c.datasets[n].m.Current().Lineage; l != nil && slices.Contains(l.InputNames(), name) {
			out = append(out, n)
		}
	}
	return out
}

// Commit adds v as the newest version of dataset name, creating the dataset
// when it does not exist. v.Files lists all the version's files; what is
// stored is how they differ from the current version's (typically one file
// added, or all replaced). v.Version must be above the current version's
// number. The version is durable when Commit returns.
//
// When other nodes committed to the dataset after version v.Version-1,
// which the caller read, v is rebased on the current version (see rebase),
// so that commits of several nodes at once each get a version of their
// own. A version this catalog committed itself after that one is not
// something the caller can have missed: v's number is then taken, and the
// commit an errs.Conflict error, as it always is with the store's log.
func (c *Catalog) Commit(ctx context.Context, name string, v Version) (*Manifest, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	known := c.datasets[name]
	if known == nil {
		if key := c.damagedKeyLocked(name); key != "" {
			return nil, errs.New(errs.Conflict, "dataset %q has a damaged manifest (%s), kept as it is with its files; creating it again would throw its history away: ingest under another name, or drop_dataset %q to discard it", name, key, name)
		}
	}
	d, err := c.j.update(ctx, name, known, func(d *dataset) (step, error) {
		e, err := commitEntry(name, d, known, v, c.j.shared())
		if err != nil {
			return step{}, err
		}
		s, err := prepare(d, e)
		if err != nil {
			return step{}, errs.New(errs.Conflict, "cannot commit to dataset %q: %v; read its manifest again and commit the version after its current one", name, err)
		}
		return s, nil
	})
	c.generation++ // also when update failed: it may have caught up with other nodes
	if err != nil {
		return nil, err
	}
	d.own = d.m.Current().Version
	c.datasets[name] = d
	return clone(d.m), nil
}

// commitEntry works out the entry that commits v to d, the dataset as the
// journal holds it, which is known in memory (nil when memory has none).
// shared reports whether other catalogs write to the journal.
func commitEntry(name string, d, known *dataset, v Version, shared bool) (entry, error) {
	cur := d.current()
	switch {
	case cur == nil && known != nil:
		return entry{}, errs.New(errs.NotFound, "dataset %q was dropped by another node meanwhile; ingest it again in mode create", name)
	case cur == nil:
		d.m.Created = v.Created
		return versionEntry(nil, v), nil
	case known == nil:
		return entry{}, errs.New(errs.Conflict, "dataset %q was created meanwhile by another node (its version %d is current); use mode append or replace", name, cur.Version)
	case d != known:
		return entry{}, errs.New(errs.Conflict, "dataset %q was dropped and created again by another node meanwhile (its version %d is current); read its manifest again", name, cur.Version)
	}
	base := d.m.Version(v.Version - 1)
	if base == nil || base == cur || !shared || base.Version < d.own {
		return versionEntry(cur.Files, v), nil
	}
	return rebase(name, versionEntry(base.Files, v), base, cur)
}

// Relayout gives version n of dataset name new files, which must hold the
// same rows as its present files, old, in the same order: compaction merges
// many small files into one this way. The version keeps its number, rows,
// bytes and schema, and every other version keeps its files, so "name@vN"
// answers as before for every N. When old is no longer what version n has,
// Relayout changes nothing and returns an errs.Conflict error. The new layout
// is durable when Relayout returns. Relayout deletes no file (a query may
// still be reading the old ones), so a layout should replace only files that
// other versions read too; a file it leaves to no version stays until the
// dataset is dropped.
func (c *Catalog) Relayout(ctx context.Context, name string, n int, old, files []string) (*Manifest, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := c.j.update(ctx, name, c.datasets[name], func(d *dataset) (step, error) {
		if d.current() == nil {
			return step{}, errs.New(errs.NotFound, "dataset %q not found; %s", name, c.describeLocked())
		}
		v := d.m.Version(n)
		switch {
		case v == nil:
			return step{}, errs.New(errs.NotFound, "dataset %q has no version %d; its versions are %d to %d", name, n, d.m.Versions[0].Version, d.m.Current().Version)
		case !slices.Equal(v.Files, old):
			return step{}, errs.New(errs.Conflict, "version %d of %q has other files than the layout to replace (it changed meanwhile); read its manifest again", n, name)
		case len(files) == 0:
			return step{}, errs.New(errs.Invalid, "a new layout of version %d of %q needs at least one file", n, name)
		}
		e := change(old, files)
		e.Layout = n
		return prepare(d, e)
	})
	if err != nil {
		return nil, err
	}
	c.datasets[name] = d
	c.generation++
	return clone(d.m), nil
}

// Drop removes dataset name from the journal, then its Parquet files.
func (c *Catalog) Drop(ctx context.Context, name string) (*Manifest, error) {
	c.j.refresh(c)
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.datasets[name]
	if !ok && c.damagedKeyLocked(name) == "" {
		return nil, errs.New(errs.NotFound, "dataset %q not found; %s", name, c.describeLocked())
	}
	if !ok { // damaged: what is left of it goes
		d = newDataset(name)
	}
	gone, err := c.j.drop(ctx, name)
	if gone || errors.Is(err, errNoDataset) {
		delete(c.datasets, name)
		c.damaged = slices.DeleteFunc(c.damaged, func(key string) bool { return datasetOfKey(key) == name })
		c.generation++
	}
	if errors.Is(err, errNoDataset) {
		return nil, errs.New(errs.NotFound, "dataset %q not found (another node dropped it meanwhile); %s", name, c.describeLocked())
	}
	if err != nil {
		return nil, err
	}
	// Only the dropped incarnation's folders: another node may have
	// created the dataset again since the journal's drop. A damaged
	// manifest does not say which they are; its dataset's folder goes.
	folders := dropFolders(name, d.m)
	if len(d.m.Versions) == 0 {
		folders = []string{DataPrefix + name + "/"}
	}
	for _, folder := range folders {
		if err := c.st.DeletePrefix(ctx, folder); err != nil {
			return nil, fmt.Errorf("delete files of %q: %w", name, err)
		}
	}
	return d.m, nil
}

// Files is where the datasets' Parquet files are: what [Catalog.Drop]
// needs to delete them.
type Files interface {
	DeletePrefix(ctx context.Context, prefix string) error
}

// SetFiles says that the datasets' files are in st rather than in the
// store the catalog was opened with: in a bucket, say, while the journal
// is a log in the data directory. Call it before any other method.
func (c *Catalog) SetFiles(st Files) { c.st = st }

// Health reports whether the catalog's journal can be reached: nil for the
// store's log, whether PostgreSQL answers for [OpenPostgres].
func (c *Catalog) Health(ctx context.Context) error { return c.j.health(ctx) }

// Close releases the journal's connections.
func (c *Catalog) Close() error {
	c.j.close()
	return nil
}

// ID is the UUIDv5 of a dataset name.
func ID(name string) string { return uuid.NewSHA1(namespace, []byte(name)).String() }

// clone copies m for a caller. The versions are copied; their Files and
// Columns are shared, which is safe because the catalog never changes those
// slices in place (a new layout gets a new slice), and they are clipped, so a
// caller that appends to one gets a slice of its own. Copying every version's
// files instead would make each Get cost as much as all the versions' files.
func clone(m *Manifest) *Manifest {
	c := *m
	c.Versions = slices.Clone(m.Versions)
	for i := range c.Versions {
		c.Versions[i].Files = slices.Clip(c.Versions[i].Files)
		c.Versions[i].Columns = slices.Clip(c.Versions[i].Columns)
	}
	return &c
}

// Table is a name that SQL can query and the store keys of its Parquet files.
type Table struct {
	Name  string
	Files []string
}

// Tables returns, with the current generation, one table per dataset (its
// current version, under its name) and one per version, named "name@vN".
func (c *Catalog) Tables() (uint64, []Table) {
	c.j.refresh(c)
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []Table
	for _, n := range c.namesLocked() {
		m := c.datasets[n].m
		out = append(out, Table{Name: n, Files: m.Current().Files})
		for _, v := range m.Versions {
			out = append(out, Table{Name: fmt.Sprintf("%s@v%d", n, v.Version), Files: v.Files})
		}
	}
	return c.generation, out
}
