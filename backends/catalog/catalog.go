// Package catalog keeps the manifests of datasets: their versions, the Parquet
// files behind each version, schemas and row counts.
//
// Each manifest is one JSON object in the store under "_catalog/<name>.json",
// written whole and atomically on every change, so a crash leaves either the
// old or the new manifest. The Parquet files live under "_datasets/<name>/".
// The catalog is loaded into memory on Open; a manifest that cannot be read is
// reported and skipped rather than stopping the server.
package catalog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"lakehouse/backends/errs"
	"lakehouse/backends/store"
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

// Version is one state of a dataset. Versions are never changed once written.
type Version struct {
	Version   int       `json:"version"`
	Mode      string    `json:"mode"`   // create, append or replace
	Source    string    `json:"source"` // "content", "object:<key>" or "path:<path>"
	SourceSHA string    `json:"source_sha256"`
	Format    string    `json:"format"`
	Options   string    `json:"options,omitempty"` // canonical JSON of the reading options
	Rows      int64     `json:"rows"`              // rows in this version, all files together
	AddedRows int64     `json:"added_rows"`        // rows this ingest added
	Bytes     int64     `json:"bytes"`             // bytes of all files
	Files     []string  `json:"files"`             // store keys of the Parquet files
	Columns   []Column  `json:"columns"`
	Created   time.Time `json:"created"`
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
	Updated  time.Time `json:"updated"`
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

// Catalog is the in-memory index of all manifests, backed by the store.
type Catalog struct {
	st store.Store

	mu         sync.RWMutex
	manifests  map[string]*Manifest
	generation uint64
	damaged    []string // manifest keys that could not be read at Open
}

// Open loads every manifest from st.
func Open(ctx context.Context, st store.Store) (*Catalog, error) {
	c := &Catalog{st: st, manifests: map[string]*Manifest{}}
	after := ""
	for {
		items, next, err := st.List(ctx, ManifestPrefix, after, 1000)
		if err != nil {
			return nil, fmt.Errorf("list manifests: %w", err)
		}
		for _, it := range items {
			m, err := c.load(ctx, it.Key)
			if err != nil {
				slog.Warn("skipping damaged dataset manifest", "key", it.Key, "err", err)
				c.damaged = append(c.damaged, it.Key)
				continue
			}
			c.manifests[m.Name] = m
		}
		if next == "" {
			return c, nil
		}
		after = next
	}
}

func (c *Catalog) load(ctx context.Context, key string) (*Manifest, error) {
	r, _, err := c.st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var m Manifest
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		return nil, err
	}
	if m.Name == "" || len(m.Versions) == 0 || key != manifestKey(m.Name) {
		return nil, errors.New("manifest has no name or no versions, or its name does not match its key")
	}
	return &m, nil
}

func manifestKey(name string) string { return ManifestPrefix + name + ".json" }

// Damaged lists the manifest keys skipped at Open because they could not be read.
func (c *Catalog) Damaged() []string { return slices.Clone(c.damaged) }

// Generation changes whenever a dataset is created, changed or dropped.
func (c *Catalog) Generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.generation
}

// Get returns a copy of the manifest of name, or an errs.NotFound error that
// names the datasets that do exist.
func (c *Catalog) Get(name string) (*Manifest, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	m, ok := c.manifests[name]
	if !ok {
		return nil, errs.New(errs.NotFound, "dataset %q not found; %s", name, c.describeLocked())
	}
	return clone(m), nil
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
	names := make([]string, 0, len(c.manifests))
	for n := range c.manifests {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// List returns copies of all manifests, sorted by name.
func (c *Catalog) List() []*Manifest {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*Manifest, 0, len(c.manifests))
	for _, n := range c.namesLocked() {
		out = append(out, clone(c.manifests[n]))
	}
	return out
}

// Commit adds v as the newest version of dataset name, creating the dataset
// when it does not exist. The manifest is durable when Commit returns.
func (c *Catalog) Commit(ctx context.Context, name string, v Version) (*Manifest, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := &Manifest{ID: ID(name), Name: name, Created: v.Created}
	if old, ok := c.manifests[name]; ok {
		m = clone(old)
	}
	m.Updated = v.Created
	m.Versions = append(m.Versions, v)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, err := c.st.Put(ctx, manifestKey(name), bytes.NewReader(data), "application/json", 0); err != nil {
		// %v: a failed write is the server's fault, whatever the store called it.
		return nil, fmt.Errorf("write manifest of %q: %v", name, err)
	}
	c.manifests[name] = m
	c.generation++
	return clone(m), nil
}

// Drop removes dataset name: first its manifest (so a crash part-way leaves
// only unreferenced files), then its Parquet files.
func (c *Catalog) Drop(ctx context.Context, name string) (*Manifest, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.manifests[name]
	if !ok {
		return nil, errs.New(errs.NotFound, "dataset %q not found; %s", name, c.describeLocked())
	}
	if err := c.st.Delete(ctx, manifestKey(name)); err != nil {
		return nil, fmt.Errorf("delete manifest of %q: %w", name, err)
	}
	delete(c.manifests, name)
	c.generation++
	if err := c.st.DeletePrefix(ctx, DataPrefix+name+"/"); err != nil {
		return nil, fmt.Errorf("delete files of %q: %w", name, err)
	}
	return m, nil
}

// DataKey is the store key of file part of version v of dataset name.
func DataKey(name string, v, part int) string {
	return fmt.Sprintf("%s%s/v%d/part-%d.parquet", DataPrefix, name, v, part)
}

// ID is the UUIDv5 of a dataset name.
func ID(name string) string { return uuid.NewSHA1(namespace, []byte(name)).String() }

// clone copies m deeply enough that callers cannot change the catalog's own.
func clone(m *Manifest) *Manifest {
	c := *m
	c.Versions = slices.Clone(m.Versions)
	for i := range c.Versions {
		c.Versions[i].Files = slices.Clone(c.Versions[i].Files)
		c.Versions[i].Columns = slices.Clone(c.Versions[i].Columns)
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
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []Table
	for _, n := range c.namesLocked() {
		m := c.manifests[n]
		out = append(out, Table{Name: n, Files: m.Current().Files})
		for _, v := range m.Versions {
			out = append(out, Table{Name: fmt.Sprintf("%s@v%d", n, v.Version), Files: v.Files})
		}
	}
	return c.generation, out
}
