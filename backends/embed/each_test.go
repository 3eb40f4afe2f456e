package embed_test

import (
	"context"
	"fmt"
	"testing"

	"lakehouse/backends/embed"
	"lakehouse/backends/errs"
)

func TestRefuses(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errs.New(errs.Invalid, "text 0 has no words to embed"), true},
		{fmt.Errorf("batch 2: %w", errs.New(errs.TooLarge, "413")), true},
		{errs.New(errs.Busy, "rate limited"), false},
		{errs.New(errs.NotFound, "no model"), false},
		{fmt.Errorf("connection refused"), false},
		{context.DeadlineExceeded, false},
	} {
		if got := embed.Refuses(c.err); got != c.want {
			t.Errorf("Refuses(%v) = %v; want %v", c.err, got, c.want)
		}
	}
}

// TestEmbedEach embeds a batch with wordless texts in it: the others get
// their vectors, the wordless ones are named, and a fault fails the call.
func TestEmbedEach(t *testing.T) {
	ctx := context.Background()
	h := embed.NewHash()
	texts := []string{"a cat", "...", "dogs bark", "!!!", "birds sing"}
	vecs, refused, err := embed.EmbedEach(ctx, h, texts)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		_, isRefused := refused[i]
		if want := i == 1 || i == 3; isRefused != want || (v == nil) != want {
			t.Errorf("text %d (%q): refused %v, vector of %d", i, texts[i], isRefused, len(v))
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := embed.EmbedEach(cancelled, h, texts); err == nil {
		t.Error("a cancelled embed succeeded")
	}
}
