package store

import (
	"context"
	"errors"
	"slices"
	"strings"

	"lakehouse/backends/errs"
)

// List implements [Store.List]. It walks the content folders in key order and
// stops one key past the page, so a page costs about limit keys of work
// however large the store; folders that sort wholly before after, or that
// cannot hold keys with the prefix, are skipped without being read.
func (f *FS) List(ctx context.Context, prefix, after string, limit int) ([]Info, string, error) {
	limit, err := checkList(ctx, prefix, limit)
	if err != nil {
		return nil, "", err
	}

	// Find the keys of the page, plus whether there is one more.
	var keys []string
	more := false
	// Start at the deepest folder that the prefix names in full.
	base := prefix[:strings.LastIndex(prefix, "/")+1]
	_, err = f.walk(ctx, base, prefix, after, func(key string) bool {
		if len(keys) == limit {
			more = true
			return false
		}
		keys = append(keys, key)
		return true
	})
	if err != nil {
		return nil, "", err
	}

	items := make([]Info, 0, len(keys))
	for _, key := range keys {
		info, err := f.Stat(ctx, key)
		if errors.Is(err, errs.NotFound) {
			continue // deleted since the walk
		}
		if err != nil {
			return nil, "", err
		}
		items = append(items, info)
	}
	next := ""
	if more {
		next = keys[len(keys)-1]
	}
	return items, next, nil
}

// walk calls visit, in ascending order, with each key under the folder of
// keys base ("" or ending in "/") that starts with prefix and sorts after
// after, until visit returns false. It returns false when visit stopped it.
func (f *FS) walk(ctx context.Context, base, prefix, after string, visit func(key string) bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	entries, err := f.dir.ReadDir(dataDir + "/" + base)
	if err != nil {
		if isAbsent(err) {
			return true, nil // no such folder, or removed meanwhile
		}
		return false, fail("list", base, err)
	}

	// Name folders with a trailing "/" and sort: that is the order of their
	// keys. os.ReadDir puts folder "a" before object "a.b", but the keys in
	// "a" ("a/...") sort after "a.b" since '.' < '/'.
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		switch {
		case e.IsDir():
			names = append(names, e.Name()+"/")
		case e.Type().IsRegular():
			names = append(names, e.Name())
		} // anything else (a symlink, say) is not an object
	}
	slices.Sort(names)

	for _, name := range names {
		p := base + name // a key, or a folder of keys ending in "/"
		folder := strings.HasSuffix(name, "/")
		if !strings.HasPrefix(p, prefix) && !(folder && strings.HasPrefix(prefix, p)) {
			if p > prefix {
				break // and so are the names after it: past the prefix
			}
			continue
		}
		if !folder {
			if p > after && keyRule(p) == "" {
				if !visit(p) {
					return false, nil
				}
			}
			continue
		}
		// Every key in folder p sorts after p, and, unless after starts
		// with p, on the same side of after as p does.
		if p <= after && !strings.HasPrefix(after, p) {
			continue
		}
		if ok, err := f.walk(ctx, p, prefix, after, visit); !ok || err != nil {
			return ok, err
		}
	}
	return true, nil
}
