package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRequireToken(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	cases := []struct {
		token, header string
		want          int
	}{
		{"", "", http.StatusNoContent},
		{"s3cret", "", http.StatusUnauthorized},
		{"s3cret", "Bearer wrong", http.StatusUnauthorized},
		{"s3cret", "s3cret", http.StatusUnauthorized},
		{"s3cret", "Bearer s3cret", http.StatusNoContent},
	}
	for _, c := range cases {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/mcp", nil)
		if c.header != "" {
			req.Header.Set("Authorization", c.header)
		}
		requireToken(c.token, ok).ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("token %q, header %q: status %d, want %d", c.token, c.header, rec.Code, c.want)
		}
	}
}
