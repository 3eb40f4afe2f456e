package catalog

// The stored form of manifests: roots, log segments and their entries, and
// how Open reads them back (see the package doc for the layout). storeLog
// is the journal that keeps them in the object store.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"lakehouse/backends/errs"
	"lakehouse/backends/store"
)

// formatLog marks a root that starts a log. Roots without a format are
// manifests written before the log, which list every version in full.
const formatLog = 2

// segmentEntries is the most entries a log segment holds. A commit rewrites
// at most this many entries; Open reads one segment per this many commits.
const segmentEntries = 32

// root is the object at rootKey: a dataset's identity and the first entries
// of its log (or, written before the log, all its versions).
type root struct {
	Format   int       `json:"format,omitempty"`
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	Entries  []entry   `json:"entries,omitempty"`
	Versions []Version `json:"versions,omitempty"` // only in manifests written before the log
}

// segment is the object at segmentKey: at most segmentEntries entries of the
// log that follows a root, after those of segment Seq-1.
type segment struct {
	Name    string  `json:"name"`
	Seq     int     `json:"seq"`
	Entries []entry `json:"entries,omitempty"`
}

// entry is one change of a dataset: a new version (Version set) or a new
// layout of an existing one (Layout set). Either way the files of the version
// become the first Keep files of a base followed by Add. The base of a new
// version is the files of the version before it; that of a new layout, the
// version's own files until then.
type entry struct {
	Version *Version `json:"version,omitempty"` // without its files
	Layout  int      `json:"layout,omitempty"`
	Keep    int      `json:"keep"`
	Add     []string `json:"add,omitempty"`
}

// change returns the entry (without Version or Layout) that turns the files
// base into files: it keeps their longest common prefix and adds the rest.
func change(base, files []string) entry {
	keep := 0
	for keep < len(base) && keep < len(files) && base[keep] == files[keep] {
		keep++
	}
	return entry{Keep: keep, Add: slices.Clone(files[keep:])}
}

// versionEntry returns the entry that adds v after a version whose files are
// base.
func versionEntry(base []string, v Version) entry {
	e := change(base, v.Files)
	v.Files = nil
	e.Version = &v
	return e
}

// dataset is the catalog's state of one dataset: its manifest, with every
// version's files worked out, and where its journal is at.
type dataset struct {
	m       *Manifest
	entries int     // entries applied, in the journal's order
	segs    int     // storeLog: segments the log has
	tail    []entry // storeLog: the entries of the last segment
	row     int64   // pgJournal: the id of the dataset's row
	own     int     // the newest version this catalog committed, 0 for none
}

// current returns the newest version, or nil before the first.
func (d *dataset) current() *Version {
	if len(d.m.Versions) == 0 {
		return nil
	}
	return d.m.Current()
}

// resolve works out the files that e gives its version, and which version
// that is: target is nil when e adds a new version. It changes nothing.
func (d *dataset) resolve(e entry) (files []string, target *Version, err error) {
	var base []string
	switch {
	case e.Version != nil && e.Layout == 0:
		if cur := d.current(); cur != nil {
			if e.Version.Version <= cur.Version {
				return nil, nil, fmt.Errorf("version %d cannot follow version %d", e.Version.Version, cur.Version)
			}
			base = cur.Files
		}
	case e.Version == nil && e.Layout != 0:
		if target = d.m.Version(e.Layout); target == nil {
			return nil, nil, fmt.Errorf("a new layout of version %d, which does not exist", e.Layout)
		}
		base = target.Files
	default:
		return nil, nil, errors.New("an entry adds a version or gives one a new layout, and this one does neither or both")
	}
	if e.Keep < 0 || e.Keep > len(base) {
		return nil, nil, fmt.Errorf("an entry keeps %d files of %d", e.Keep, len(base))
	}
	return slices.Concat(base[:e.Keep], e.Add), target, nil
}

// apply records e, resolved to files and target, in d's manifest.
func (d *dataset) apply(e entry, files []string, target *Version) {
	if target != nil {
		target.Files = files
		return
	}
	v := *e.Version
	v.Files = files
	d.m.Versions = append(d.m.Versions, v)
	d.m.Updated = v.Created
}

// replay applies entries to d in order.
func (d *dataset) replay(entries []entry) error {
	for i, e := range entries {
		files, target, err := d.resolve(e)
		if err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
		step{e, files, target}.apply(d)
	}
	return nil
}

// storeLog is the journal in the object store, written by its catalog
// alone.
type storeLog struct{ st store.Store }

var _ journal = (*storeLog)(nil)

// update writes the entry of change at the end of known's log or, for a new
// dataset, as its root.
func (l *storeLog) update(ctx context.Context, name string, known *dataset, change func(*dataset) (step, error)) (*dataset, error) {
	d := known
	if d == nil {
		d = newDataset(name)
	}
	s, err := change(d)
	if err != nil {
		return nil, err
	}
	if known != nil {
		err = l.appendLog(ctx, d, s.e)
	} else {
		err = l.writeRoot(ctx, root{Format: formatLog, ID: d.m.ID, Name: name, Created: d.m.Created, Entries: []entry{s.e}})
	}
	if err != nil {
		// %v: a failed write is the server's fault, whatever the store called it.
		return nil, fmt.Errorf("write manifest of %q: %v", name, err)
	}
	s.apply(d)
	return d, nil
}

// drop deletes the root first, so a crash part-way leaves only a log that
// Open recognises as a leftover, then the log.
func (l *storeLog) drop(ctx context.Context, name string) (bool, error) {
	if err := l.st.Delete(ctx, rootKey(name)); err != nil && !errors.Is(err, errs.NotFound) {
		return false, fmt.Errorf("delete manifest of %q: %w", name, err)
	}
	if err := l.st.DeletePrefix(ctx, logPrefix(name)); err != nil {
		return true, fmt.Errorf("delete manifest log of %q: %w", name, err)
	}
	return true, nil
}

// shared is false: the catalog is the log's only writer.
func (l *storeLog) shared() bool { return false }

// refresh has nothing to do: the catalog is the log's only writer.
func (l *storeLog) refresh(*Catalog) {}

func (l *storeLog) health(context.Context) error { return nil }

func (l *storeLog) close() {}

// appendLog makes e durable at the end of d's log: one Put rewrites the last
// segment with e added or, when that one is full, writes the next segment
// holding e alone.
func (l *storeLog) appendLog(ctx context.Context, d *dataset, e entry) error {
	seg := segment{Name: d.m.Name, Seq: d.segs, Entries: []entry{e}}
	if d.segs > 0 && len(d.tail) < segmentEntries {
		seg.Seq, seg.Entries = d.segs-1, append(slices.Clip(d.tail), e)
	}
	head := seg
	head.Entries = nil
	data, err := marshalLog(head, seg.Entries)
	if err != nil {
		return err
	}
	if err := l.put(ctx, segmentKey(d.m.Name, seg.Seq), data); err != nil {
		return err
	}
	d.segs, d.tail = seg.Seq+1, seg.Entries
	return nil
}

// writeRoot stores r, a root in the log format, over an empty log: any
// segments there belong to an earlier dataset of that name (one whose drop
// failed part-way, or that an older mcpd replaced) and must not follow r.
func (l *storeLog) writeRoot(ctx context.Context, r root) error {
	if err := l.st.DeletePrefix(ctx, logPrefix(r.Name)); err != nil {
		return fmt.Errorf("clear the old log: %w", err)
	}
	head := r
	head.Entries = nil
	data, err := marshalLog(head, r.Entries)
	if err != nil {
		return err
	}
	return l.put(ctx, rootKey(r.Name), data)
}

// marshalLog encodes a root or a segment: head, whose Entries must be empty,
// indented, followed by entries one per line. A person reading it sees one
// change per line, without the bytes that indenting every field of every
// entry would add to each commit.
func marshalLog(head any, entries []entry) ([]byte, error) {
	b, err := json.MarshalIndent(head, "", "  ")
	if err != nil {
		return nil, err
	}
	b = append(bytes.TrimSuffix(b, []byte("\n}")), ",\n  \"entries\": ["...)
	for i, e := range entries {
		line, err := json.Marshal(e)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    "...)
		b = append(b, line...)
	}
	return append(b, "\n  ]\n}\n"...), nil
}

// put stores the JSON data under key in one atomic Put.
func (l *storeLog) put(ctx context.Context, key string, data []byte) error {
	_, err := l.st.Put(ctx, key, bytes.NewReader(data), "application/json", 0)
	return err
}

// getJSON decodes the JSON object at key into v.
func (l *storeLog) getJSON(ctx context.Context, key string, v any) error {
	r, _, err := l.st.Get(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	return json.NewDecoder(r).Decode(v)
}

func rootKey(name string) string   { return ManifestPrefix + name + ".json" }
func logPrefix(name string) string { return ManifestPrefix + name + "/" }

func segmentKey(name string, seq int) string {
	return fmt.Sprintf("%slog-%08d.json", logPrefix(name), seq)
}

// damage says that the catalog object at key cannot be read, and why.
type damage struct {
	key string
	err error
}

func (d *damage) Error() string { return d.key + ": " + d.err.Error() }

// Open loads every dataset from the log in st. Before returning it
// rewrites manifests written before the log in the log format, and removes
// the logs that interrupted drops left behind.
func Open(ctx context.Context, st store.Store) (*Catalog, error) {
	return open(ctx, st, &storeLog{st})
}

// open returns the catalog of the datasets in j, whose files are in st.
func open(ctx context.Context, st Files, j journal) (*Catalog, error) {
	datasets, damaged, err := j.load(ctx)
	if err != nil {
		return nil, err
	}
	return &Catalog{st: st, j: j, datasets: datasets, damaged: damaged}, nil
}

// load reads every root and its log.
func (l *storeLog) load(ctx context.Context) (map[string]*dataset, []string, error) {
	datasets := map[string]*dataset{}
	var damaged []string
	skip := func(bad *damage) {
		slog.Warn("skipping damaged dataset manifest", "key", bad.key, "err", bad.err)
		damaged = append(damaged, bad.key)
	}
	roots, segs, others, err := scan(ctx, l.st)
	if err != nil {
		return nil, nil, err
	}
	for _, key := range others {
		skip(&damage{key, errors.New("neither a manifest nor a segment of a manifest's log")})
	}
	for _, name := range roots {
		d, err := l.loadDataset(ctx, name, segs[name])
		var bad *damage
		switch {
		case errors.As(err, &bad):
			skip(bad)
			continue
		case err != nil:
			return nil, nil, err
		}
		datasets[name] = d
	}
	for name := range segs {
		if slices.Contains(roots, name) {
			continue
		}
		slog.Info("removing the manifest log of a dropped dataset", "dataset", name)
		if err := l.st.DeletePrefix(ctx, logPrefix(name)); err != nil {
			return nil, nil, fmt.Errorf("remove the manifest log of dropped dataset %q: %w", name, err)
		}
	}
	return datasets, damaged, nil
}

// scan lists the catalog's objects: the names of the datasets that have a
// root, in order; the segment numbers of each log, ascending; and the keys
// that are neither.
func scan(ctx context.Context, st store.Store) (roots []string, segs map[string][]int, others []string, err error) {
	segs = map[string][]int{}
	for after := ""; ; {
		items, next, err := st.List(ctx, ManifestPrefix, after, 1000)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("list manifests: %w", err)
		}
		for _, it := range items {
			rest := strings.TrimPrefix(it.Key, ManifestPrefix)
			if name, ok := strings.CutSuffix(rest, ".json"); ok && !strings.Contains(name, "/") {
				roots = append(roots, name)
			} else if name, seq, ok := parseSegment(rest); ok {
				segs[name] = append(segs[name], seq)
			} else {
				others = append(others, it.Key)
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	for _, s := range segs {
		slices.Sort(s)
	}
	return roots, segs, others, nil
}

// parseSegment reads "<name>/log-<seq>.json", the key of a segment without
// ManifestPrefix.
func parseSegment(rest string) (name string, seq int, ok bool) {
	name, file, ok := strings.Cut(rest, "/")
	digits, ok2 := strings.CutPrefix(file, "log-")
	digits, ok3 := strings.CutSuffix(digits, ".json")
	if !ok || !ok2 || !ok3 || len(digits) < 8 || strings.Trim(digits, "0123456789") != "" {
		return "", 0, false
	}
	seq, err := strconv.Atoi(digits)
	return name, seq, err == nil
}

// loadDataset reads dataset name from its root and the log segments seqs. A root
// written before the log is rewritten in the log format. An object that
// cannot be read is reported as a *damage error; any other error is a fault.
func (l *storeLog) loadDataset(ctx context.Context, name string, seqs []int) (*dataset, error) {
	key := rootKey(name)
	var r root
	if err := l.getJSON(ctx, key, &r); err != nil {
		return nil, &damage{key, err}
	}
	legacy := r.Format == 0
	switch {
	case r.Name != name:
		return nil, &damage{key, fmt.Errorf("the manifest names dataset %q, not %q", r.Name, name)}
	case legacy:
		var base []string
		for _, v := range r.Versions {
			r.Entries = append(r.Entries, versionEntry(base, v))
			base = v.Files
		}
		r.Versions = nil
	case r.Format != formatLog:
		return nil, &damage{key, fmt.Errorf("manifest format %d is newer than this mcpd reads (%d); run a newer mcpd", r.Format, formatLog)}
	}
	if len(r.Entries) == 0 {
		return nil, &damage{key, errors.New("the manifest has no versions")}
	}
	d := &dataset{m: &Manifest{ID: r.ID, Name: name, Created: r.Created}}
	if err := d.replay(r.Entries); err != nil {
		return nil, &damage{key, err}
	}
	if legacy {
		// Segments under a root written before the log belong to no
		// version of it; writeRoot clears them.
		r.Format = formatLog
		if err := l.writeRoot(ctx, r); err != nil {
			return nil, fmt.Errorf("rewrite the manifest of %q in the log format: %w", name, err)
		}
		slog.Info("manifest rewritten in the log format", "dataset", name, "versions", len(r.Entries))
		return d, nil
	}
	for i, seq := range seqs {
		if seq != i {
			return nil, &damage{segmentKey(name, i), errors.New("this segment of the manifest log is missing")}
		}
		skey := segmentKey(name, seq)
		var s segment
		if err := l.getJSON(ctx, skey, &s); err != nil {
			return nil, &damage{skey, err}
		}
		if s.Name != name || s.Seq != seq || len(s.Entries) == 0 {
			return nil, &damage{skey, fmt.Errorf("the segment says it is number %d of %q's log, with %d entries", s.Seq, s.Name, len(s.Entries))}
		}
		if err := d.replay(s.Entries); err != nil {
			return nil, &damage{skey, err}
		}
		d.segs, d.tail = seq+1, s.Entries
	}
	return d, nil
}
