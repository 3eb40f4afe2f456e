package catalog

import "lakehouse/backends/errs"

// rebase moves e, the entry of a new version of dataset name worked out
// against seen (the version this catalog knew as current, nil for none),
// onto cur, the current version as another node left it. same reports
// whether cur is of the same dataset as seen, not of one created again
// after a drop.
//
// An entry is a delta, so an append (every file of seen kept, files added)
// keeps every file of cur instead, and its rows and bytes grow by what cur
// has beyond seen; an entry replacing every file keeps none either way.
// A version numbered as the one after seen becomes the one after cur, so
// two nodes appending at once get distinct versions and neither loses its
// files. Anything else cannot be rebased and is an errs.Conflict error that
// says what to do: a new dataset that another node created first, a
// version number that was chosen and is taken, an append whose schema is no
// longer the current one, an entry that kept only some of seen's files.
func rebase(name string, e entry, seen, cur *Version, same bool) (entry, error) {
	v := *e.Version
	next := seen != nil && v.Version == seen.Version+1
	switch {
	case seen == nil:
		return entry{}, errs.New(errs.Conflict, "dataset %q was created meanwhile by another node (its version %d is current); use mode append or replace", name, cur.Version)
	case !same:
		return entry{}, errs.New(errs.Conflict, "dataset %q was dropped and created again by another node meanwhile (its version %d is current); read its manifest again", name, cur.Version)
	case !next && v.Version <= cur.Version:
		return entry{}, errs.New(errs.Conflict, "version %d of dataset %q is taken: another node committed up to version %d meanwhile; commit version %d or later", v.Version, name, cur.Version, cur.Version+1)
	case e.Keep == 0:
	case e.Keep == len(seen.Files):
		if cur.Fingerprint() != v.Fingerprint() {
			return entry{}, errs.New(errs.Conflict, "dataset %q changed its schema meanwhile (another node committed version %d), so these rows no longer fit it; read its manifest again", name, cur.Version)
		}
		e.Keep = len(cur.Files)
		v.Rows += cur.Rows - seen.Rows
		v.Bytes += cur.Bytes - seen.Bytes
	default:
		return entry{}, errs.New(errs.Conflict, "a new version of dataset %q keeps %d of the %d files of version %d, which another node changed meanwhile (version %d is current); read its manifest again", name, e.Keep, len(seen.Files), seen.Version, cur.Version)
	}
	if next {
		v.Version = cur.Version + 1
	}
	e.Version = &v
	return e, nil
}
