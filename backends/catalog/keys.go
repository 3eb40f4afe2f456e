package catalog

// The store keys of the datasets' Parquet files.
//
// Each incarnation of a dataset (from its create to its drop) keeps its
// files in a folder of its own, "_datasets/<name>/i<random>/", and each
// file written gets a key never given before:
//
//	_datasets/<name>/i<12 hex>/v<version>/part-<part>-<16 hex>.parquet
//
// The random part of the file's name is what keeps two nodes apart that
// append to one dataset at once: both expect the same version, and the
// catalog in PostgreSQL commits one of them as the version after the other
// (see rebase), so a key made of the version alone would be written by
// both. A key is written once and never changes, which is also what lets a
// node's read-through cache trust a file it has fetched (store.Cache).
//
// The folder of the incarnation is what keeps a drop from deleting the
// files of the dataset created again under the same name in between, by
// another node: the drop deletes the dropped incarnation's folder only.
//
// Files written before incarnations were named directly under the
// dataset's folder, "_datasets/<name>/v<version>/part-<part>.parquet" (see
// DataKey); they are still read, a dataset made of them keeps that layout
// as it gets new versions (with unique names), and its drop deletes the
// folders of its versions, "_datasets/<name>/v<N>/".

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// NewFolder returns the folder of the files of a new incarnation of
// dataset name: "_datasets/<name>/i<12 hex>/", a random one each time.
func NewFolder(name string) string {
	return DataPrefix + name + "/i" + randomHex(6) + "/"
}

// FolderOf returns the folder of the files of dataset name that files (of
// one of its versions) are in: the incarnation's, or for files of the old
// layout the dataset's own, "_datasets/<name>/". A version without files
// is given a new folder.
func FolderOf(name string, files []string) string {
	base := DataPrefix + name + "/"
	if len(files) == 0 {
		return NewFolder(name)
	}
	seg, _, _ := strings.Cut(strings.TrimPrefix(files[0], base), "/")
	if isIncarnation(seg) {
		return base + seg + "/"
	}
	return base
}

// isIncarnation reports whether seg names the folder of an incarnation
// ("i" and hex) rather than a version of the old layout ("v3").
func isIncarnation(seg string) bool {
	if len(seg) < 2 || seg[0] != 'i' {
		return false
	}
	_, err := hex.DecodeString(seg[1:])
	return err == nil
}

// FileKey returns a key, never returned before, in folder (see FolderOf)
// for file part of version v.
func FileKey(folder string, v, part int) string {
	return fmt.Sprintf("%sv%d/part-%d-%s.parquet", folder, v, part, randomHex(8))
}

// MergedKey returns a key, never returned before, in folder for a file that
// merges files of version v into a new layout (see [Catalog.Relayout]): a
// merge never overwrites a file that some version still reads.
func MergedKey(folder string, v int) string {
	return fmt.Sprintf("%sv%d/merged-%s.parquet", folder, v, randomHex(8))
}

// DataKey is the key that file part of version v of dataset name had in
// the layout before incarnations and unique names. Files of that layout
// are still read; nothing writes new ones.
func DataKey(name string, v, part int) string {
	return fmt.Sprintf("%s%s/v%d/part-%d.parquet", DataPrefix, name, v, part)
}

// dropFolders returns the folders that dropping dataset name, whose
// versions m holds, deletes: the folder of its incarnation, or for the old
// layout the folder of each version its files are in. Never the dataset's
// whole folder, where another incarnation may have begun meanwhile.
func dropFolders(name string, m *Manifest) []string {
	base := DataPrefix + name + "/"
	seen := map[string]bool{}
	var out []string
	for _, v := range m.Versions {
		for _, key := range v.Files {
			seg, rest, ok := strings.Cut(strings.TrimPrefix(key, base), "/")
			if !ok || rest == "" || !strings.HasPrefix(key, base) {
				continue // not a file in a folder of this dataset's
			}
			folder := base + seg + "/"
			if !seen[folder] {
				seen[folder] = true
				out = append(out, folder)
			}
		}
	}
	return out
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
