package catalog

import (
	"context"
	"errors"
)

// A journal keeps the catalog's entries durable. The catalog holds every
// manifest in memory and asks its journal only to make changes durable and,
// when other catalogs write to the same journal, to bring it up to date:
// storeLog keeps them as the log in the object store that this catalog
// alone writes; pgJournal in PostgreSQL tables shared by several nodes.
//
// The catalog calls load, update and drop with its lock held, so a journal
// sees one of them at a time.
type journal interface {
	// load reads every dataset, and the keys of those it could not read.
	load(ctx context.Context) (datasets map[string]*dataset, damaged []string, err error)
	// update makes durable the change of dataset name that change works
	// out, and returns the dataset with it applied. known is the dataset in
	// memory (nil when there is none). change is given the dataset as the
	// journal holds it at that moment: known, brought up to date with what
	// other catalogs committed; or a dataset known does not have, with no
	// versions when the journal has none either.
	update(ctx context.Context, name string, known *dataset, change func(d *dataset) (step, error)) (*dataset, error)
	// drop removes dataset name. gone reports that it is no longer in the
	// journal, even when err says that cleaning up after it failed; err is
	// errNoDataset when it was not there.
	drop(ctx context.Context, name string) (gone bool, err error)
	// shared reports whether other catalogs write to the journal too.
	shared() bool
	// refresh brings c up to date with what other catalogs committed; c's
	// lock is not held.
	refresh(c *Catalog)
	// health reports whether the journal can be reached.
	health(ctx context.Context) error
	close()
}

// errNoDataset is what journal.drop returns for a dataset it does not have.
var errNoDataset = errors.New("no such dataset")

// A step is an entry resolved against the dataset it changes (see
// dataset.resolve), to apply once it is durable.
type step struct {
	e      entry
	files  []string
	target *Version
}

// prepare resolves e against d.
func prepare(d *dataset, e entry) (step, error) {
	files, target, err := d.resolve(e)
	return step{e, files, target}, err
}

// apply records s in d.
func (s step) apply(d *dataset) {
	d.apply(s.e, s.files, s.target)
	d.entries++
}

// newDataset returns dataset name without versions.
func newDataset(name string) *dataset {
	return &dataset{m: &Manifest{ID: ID(name), Name: name}}
}
