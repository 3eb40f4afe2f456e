package catalog

import "lakehouse/backends/errs"

// rebase moves e, the entry of a new version of dataset name that follows
// base, onto cur, the current version, which other nodes committed after
// base.
//
// An entry is a delta, so an append (every file of base kept, files added)
// keeps every file of cur instead, and its rows and bytes grow by what cur
// has beyond base; an entry replacing every file keeps none either way. The
// version becomes the one after cur, so nodes appending at once get distinct
// versions and none loses its files. Anything else cannot be rebased and is
// an errs.Conflict error saying what to do: an entry that kept only some of
// base's files (so the version number was chosen for other files, and is
// taken), or an append whose schema is no longer the current one.
func rebase(name string, e entry, base, cur *Version) (entry, error) {
	v := *e.Version
	switch {
	case e.Keep == 0:
	case e.Keep == len(base.Files):
		if cur.Fingerprint() != v.Fingerprint() {
			return entry{}, errs.New(errs.Conflict, "dataset %q changed its schema meanwhile (another node committed version %d), so these rows no longer fit it; read its manifest again", name, cur.Version)
		}
		e.Keep = len(cur.Files)
		v.Rows += cur.Rows - base.Rows
		v.Bytes += cur.Bytes - base.Bytes
	default:
		return entry{}, errs.New(errs.Conflict, "version %d of dataset %q is taken: another node committed up to version %d meanwhile, and this version does not follow version %d; commit version %d or later", v.Version, name, cur.Version, base.Version, cur.Version+1)
	}
	v.Version = cur.Version + 1
	e.Version = &v
	return e, nil
}
