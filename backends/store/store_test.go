package store

import (
	"errors"
	"strings"
	"testing"

	"lakehouse/backends/errs"
)

func TestValidateKey(t *testing.T) {
	valid := []string{
		"a", "a/b", "reports/2024/q1.csv", "_catalog/sales.json", ".config/x", "a/..b/c.",
		"ünïcødé/キー", "with space/and-dash_under.score", strings.Repeat("x", MaxSegmentBytes),
		strings.Repeat("abcd/", MaxKeyBytes/5) + "abcd", // exactly 1024 bytes
	}
	for _, key := range valid {
		if err := ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", shorten(key), err)
		}
	}

	invalid := []struct {
		name, key, rule string
	}{
		{"empty", "", "must not be empty"},
		{"too long", strings.Repeat("abcd/", 205), "at most 1024 bytes"},
		{"long segment", strings.Repeat("x", MaxSegmentBytes+1), "segment is at most 250 bytes"},
		{"bad UTF-8", "a/\xff\xfe", "valid UTF-8"},
		{"NUL", "a\x00b", "control characters"},
		{"newline", "a\nb", "control characters"},
		{"DEL", "a\x7fb", "control characters"},
		{"leading slash", "/a/b", `must not start with "/"`},
		{"backslash", `a\b`, "backslash"},
		{"empty segment", "a//b", "empty segments"},
		{"trailing slash", "a/b/", `trailing "/"`},
		{"dot", "a/./b", `"." and ".." segments are not allowed`},
		{"dot dot", "a/../b", `"." and ".." segments are not allowed`},
		{"only dot dot", "..", `"." and ".." segments are not allowed`},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateKey(tt.key)
			if !errors.Is(err, errs.Invalid) {
				t.Fatalf("ValidateKey(%q) = %v, want an errs.Invalid error", shorten(tt.key), err)
			}
			if !strings.Contains(err.Error(), tt.rule) || !strings.HasPrefix(err.Error(), "invalid key ") {
				t.Errorf("ValidateKey(%q) = %q, want it to name the key and the rule %q", shorten(tt.key), err, tt.rule)
			}
		})
	}
}

func TestValidateKey_Message(t *testing.T) {
	err := ValidateKey("a/../b")
	want := `invalid key "a/../b": "." and ".." segments are not allowed`
	if err == nil || err.Error() != want {
		t.Errorf("ValidateKey = %v, want %s", err, want)
	}
}

func TestValidatePrefix(t *testing.T) {
	for _, prefix := range []string{"", "rep", "reports/", "reports/20", ".", "a/.", "a/..x", "_catalog/"} {
		if err := validatePrefix(prefix); err != nil {
			t.Errorf("validatePrefix(%q) = %v, want nil", prefix, err)
		}
	}
	for _, prefix := range []string{"/a", "a\\b", "a\x01", "a/../", "./", "a//", "\xff"} {
		if err := validatePrefix(prefix); !errors.Is(err, errs.Invalid) {
			t.Errorf("validatePrefix(%q) = %v, want an errs.Invalid error", prefix, err)
		}
	}
}

func TestIsReserved(t *testing.T) {
	tests := map[string]bool{
		"_catalog/x.json":  true,
		"_datasets/a/b":    true,
		"_x":               true,
		"a/_b":             false,
		"reports/x":        false,
		"x_/y":             false,
		"catalog/_private": false,
	}
	for key, want := range tests {
		if got := IsReserved(key); got != want {
			t.Errorf("IsReserved(%q) = %v, want %v", key, got, want)
		}
	}
}
