package store

import "lakehouse/backends/errs"

// The errors a caller can act on, worded alike by every Store.

// notFound is the error for a missing object.
func notFound(key string) error {
	return errs.New(errs.NotFound, "object %q not found", key)
}

// tooLargeError is the error for content over maxBytes.
func tooLargeError(key string, maxBytes int64) error {
	return errs.New(errs.TooLarge, "object %q is larger than the limit of %d bytes; nothing was stored", key, maxBytes)
}

// parentObjectError is the Conflict error for a key under the object parent:
// "a" exists, key is "a/b".
func parentObjectError(key, parent string) error {
	return errs.New(errs.Conflict, "cannot store key %q: object %q exists, and a key cannot also be the folder of other keys", key, parent)
}

// folderError is the Conflict error for a key that is the folder of other
// keys: "a/b" exists, key is "a".
func folderError(key string) error {
	return errs.New(errs.Conflict, "cannot store key %q: keys under %q exist, and a key cannot also be the folder of other keys", key, key+"/")
}

// clashError is the Conflict error for a clash that the storage itself
// found, when another key's Put got there between the checks and the write.
func clashError(key string) error {
	return errs.New(errs.Conflict, "cannot store key %q: it clashes with another key, as \"a\" and \"a/b\" do (a key cannot also be the folder of other keys)", key)
}
