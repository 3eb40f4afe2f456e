package embed

import (
	"slices"
	"testing"
)

func TestTokenize(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []string
	}{
		{"", nil},
		{"  ...!?  -- ", nil},
		{"Hello, World!", []string{"hello", "world"}},
		{"x86_64 v2.0 (2024)", []string{"x86", "64", "v2", "0", "2024"}},
		// Apostrophes stay inside words and nowhere else.
		{"It's John's O'Neill", []string{"it's", "john's", "o'neill"}},
		{"'quoted' rock 'n' roll", []string{"quoted", "rock", "n", "roll"}},
		{"the dogs' bowls", []string{"the", "dogs", "bowls"}},
		{"It’s typographic", []string{"it's", "typographic"}},
		// n't becomes "not", after a stem that is a word.
		{"don't DOESN'T isn't", []string{"do", "not", "does", "not", "is", "not"}},
		{"can't won't shan't ain't", []string{"can", "not", "will", "not", "shall", "not", "is", "not"}},
		{"couldn’t", []string{"could", "not"}},
		{"n't", []string{"not"}},
		// Any script; lower-cased; combining marks stay in the word.
		{"Naïve CAFÉ Straße", []string{"naïve", "café", "straße"}},
		{"cafe\u0301 au lait", []string{"cafe\u0301", "au", "lait"}},
		{"Ελληνικά και русский", []string{"ελληνικά", "και", "русский"}},
		{"東京 2020", []string{"東京", "2020"}},
		{"tab\tnew\nline", []string{"tab", "new", "line"}},
		{"invalid \xff utf8", []string{"invalid", "utf8"}},
	} {
		if got := tokenize(nil, tc.text); !slices.Equal(got, tc.want) {
			t.Errorf("tokenize(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestTokenize_Appends(t *testing.T) {
	got := tokenize([]string{"kept"}, "and more")
	if want := []string{"kept", "and", "more"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func FuzzTokenize(f *testing.F) {
	for _, s := range []string{"don't", "It's O'Neill", "x86_64", "\xff'\x00", "''n't''", "é\u0301"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, w := range tokenize(nil, text) {
			if w == "" || w[0] == '\'' || w[len(w)-1] == '\'' {
				t.Fatalf("tokenize(%q) gave word %q", text, w)
			}
		}
	})
}
