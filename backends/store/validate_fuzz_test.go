package store

import (
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"lakehouse/backends/errs"
)

// keySeeds are keys for the key and prefix targets: valid keys of every
// shape, keys at the limits, and keys that try to leave the store or clash
// with its own files.
var keySeeds = []string{
	"a",
	"reports/2024/q1.csv",
	"_catalog/sales.json",
	"x.json/y",
	".config",
	"a/.b/..c/...",
	"über/naïve café/日本語.txt",
	"with space/and'quote\"/and%20percent",
	strings.Repeat("s", MaxSegmentBytes),
	strings.Repeat("s", MaxSegmentBytes+1),
	strings.Repeat(strings.Repeat("k", 9)+"/", MaxKeyBytes/10) + "end",
	strings.Repeat("k", MaxKeyBytes),
	strings.Repeat("k", MaxKeyBytes+1),
	"",
	"/",
	"/etc/passwd",
	"..",
	"../x",
	"a/../../etc/passwd",
	"a/./b",
	"a//b",
	"a/",
	"./a",
	`a\..\b`,
	"a\x00b",
	"a\nb",
	"a\x7fb",
	"a\u0085b", // NEL: a C1 control, allowed
	"\xff\xfe",
	"a/\xc3", // a rune cut in half
	"C:/windows",
	"~/x",
	"a/..",
	"a/.",
}

// FuzzValidateKey checks that a key ValidateKey accepts is safe to turn into
// a file name: it is local (filepath.IsLocal), already clean (no empty, "."
// or ".." segment, no leading or trailing "/"), valid UTF-8 without control
// characters or backslashes, within the length limits, each segment short
// enough for a file name with the sidecar's ".json" added, and its content
// and sidecar paths lie beneath the store's folders. Validity is closed under
// taking the folder of a key, every prefix of a valid key is a valid List
// prefix and the key's folder a valid DeletePrefix prefix. A refused key gets
// an errs.Invalid error whose message is short, and FS.Path refuses it too.
func FuzzValidateKey(f *testing.F) {
	for _, k := range keySeeds {
		f.Add(k)
	}
	st, err := OpenFS(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	f.Fuzz(func(t *testing.T, key string) {
		err := ValidateKey(key)
		if (err == nil) != (keyRule(key) == "") {
			t.Fatalf("ValidateKey(%q) = %v but keyRule says %q", key, err, keyRule(key))
		}
		if err != nil {
			checkRefusal(t, "key", key, err)
			if p := st.Path(key); p != "" {
				t.Fatalf("Path(%q) = %q for an invalid key", key, p)
			}
			return
		}

		if !utf8.ValidString(key) || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
			t.Fatalf("accepted key %q has a control character, a backslash or bad UTF-8", key)
		}
		if len(key) > MaxKeyBytes {
			t.Fatalf("accepted key of %d bytes", len(key))
		}
		if !filepath.IsLocal(filepath.FromSlash(key)) {
			t.Fatalf("accepted key %q is not local", key)
		}
		if path.Clean(key) != key {
			t.Fatalf("accepted key %q is not clean: %q", key, path.Clean(key))
		}
		for seg := range strings.SplitSeq(key, "/") {
			if seg == "" || seg == "." || seg == ".." {
				t.Fatalf("accepted key %q has the segment %q", key, seg)
			}
			if len(seg)+len(".json") > 255 {
				t.Fatalf("accepted key %q has a segment of %d bytes, too long for a sidecar's file name", key, len(seg))
			}
		}
		for name, p := range map[string][2]string{
			"content": {st.DataDir(), st.Path(key)},
			"sidecar": {st.dir.Path(metaDir), st.dir.Path(metaName(key))},
		} {
			root, got := p[0], p[1]
			rel, err := filepath.Rel(root, got)
			if !strings.HasPrefix(got, root+string(filepath.Separator)) || err != nil || !filepath.IsLocal(rel) {
				t.Fatalf("%s path of key %q is %q, not beneath %q", name, key, got, root)
			}
		}

		// The folders of a key are keys too: Put checks each for an object
		// in the way, and Delete prunes them.
		for i := range len(key) {
			if key[i] == '/' {
				if err := ValidateKey(key[:i]); err != nil {
					t.Fatalf("key %q is valid but its folder %q is not: %v", key, key[:i], err)
				}
			}
		}
		// A caller may list with any prefix of a key it stored.
		for i := range len(key) + 1 {
			if i < len(key) && !utf8.RuneStart(key[i]) {
				continue
			}
			if err := validatePrefix(key[:i]); err != nil {
				t.Fatalf("key %q is valid but its prefix %q is refused: %v", key, key[:i], err)
			}
		}
		if err := validateFolder(key + "/"); err != nil {
			t.Fatalf("key %q is valid but the folder %q is refused: %v", key, key+"/", err)
		}
	})
}

// FuzzValidatePrefix checks that validatePrefix and validateFolder agree
// with ValidateKey. An accepted prefix starts List at a folder that is ""
// or a valid folder beneath the store, and can be completed to a valid key
// (unless only a length limit is in the way: such a prefix matches nothing,
// which is harmless); a refused prefix is the prefix of no valid key. A
// folder validateFolder accepts is a valid key followed by "/", and is also
// a valid List prefix unless it is one byte over the key length limit.
// Refusals are errs.Invalid errors with short messages.
func FuzzValidatePrefix(f *testing.F) {
	for _, k := range keySeeds {
		f.Add(k)
		f.Add(k + "/")
	}
	for _, p := range []string{"rep", "reports/", "reports/20", "a/.", "a/..", "a/.json", strings.Repeat("p", MaxSegmentBytes+1)} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, prefix string) {
		perr := validatePrefix(prefix)
		if perr != nil {
			checkRefusal(t, "prefix", prefix, perr)
			for _, k := range []string{prefix, prefix + "x", prefix + "/x", prefix + "x/y"} {
				if ValidateKey(k) == nil {
					t.Fatalf("prefix %q is refused, but the valid key %q starts with it: %v", prefix, k, perr)
				}
			}
		} else {
			base := prefix[:strings.LastIndex(prefix, "/")+1]
			if base != "" {
				if err := validateFolder(base); err != nil {
					t.Fatalf("prefix %q is accepted, but List would start at the invalid folder %q: %v", prefix, base, err)
				}
				if !filepath.IsLocal(filepath.FromSlash(strings.TrimSuffix(base, "/"))) {
					t.Fatalf("prefix %q is accepted, but List would start at %q, outside the store", prefix, base)
				}
			}
			if prefix != "" && ValidateKey(prefix) != nil {
				k := prefix + "x"
				if rule := keyRule(k); rule != "" && !isLengthRule(rule) {
					t.Fatalf("prefix %q is accepted, but it cannot begin a key: %q is invalid: %s", prefix, k, rule)
				}
			}
		}

		ferr := validateFolder(prefix)
		if ferr != nil {
			checkRefusal(t, "prefix", prefix, ferr)
			if strings.HasSuffix(prefix, "/") && ValidateKey(strings.TrimSuffix(prefix, "/")) == nil {
				t.Fatalf("folder %q of a valid key is refused: %v", prefix, ferr)
			}
			return
		}
		if !strings.HasSuffix(prefix, "/") {
			t.Fatalf("validateFolder accepts %q, which does not end in /", prefix)
		}
		if err := ValidateKey(strings.TrimSuffix(prefix, "/")); err != nil {
			t.Fatalf("validateFolder accepts %q, but %q is not a valid key: %v", prefix, strings.TrimSuffix(prefix, "/"), err)
		}
		if perr != nil && len(prefix) != MaxKeyBytes+1 {
			t.Fatalf("validateFolder accepts %q, but validatePrefix refuses it: %v", prefix, perr)
		}
	})
}

// checkRefusal checks the error for a refused key or prefix s: it is of
// kind errs.Invalid and names s briefly, not by repeating a kilobyte of it.
func checkRefusal(t *testing.T, what, s string, err error) {
	t.Helper()
	if !errors.Is(err, errs.Invalid) {
		t.Fatalf("refusing %s %q: error %v is not errs.Invalid", what, s, err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "invalid "+what) {
		t.Fatalf("refusing %s %q: message %q does not say what is invalid", what, s, msg)
	}
	if len(msg) > 512 {
		t.Fatalf("refusing %s %q: message of %d bytes", what, s, len(msg))
	}
}

// isLengthRule reports whether rule, from keyRule, is one of the length
// limits.
func isLengthRule(rule string) bool {
	return strings.HasPrefix(rule, "a key is at most") || strings.HasPrefix(rule, "a segment is at most")
}
