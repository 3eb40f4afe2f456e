package pathway

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"lakehouse/backends/errs"
)

// checkContent returns content compacted, or an errs.Invalid or
// errs.TooLarge error saying which limit it breaks.
func (p *Pathway) checkContent(content json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(content)) == 0 {
		return nil, errs.New(errs.Invalid, "content is empty; give the trace's content as any JSON value (an object, a string, ...)")
	}
	if len(content) > p.cfg.MaxContentBytes {
		return nil, errs.New(errs.TooLarge, "content is %d bytes of JSON; the limit is %d; store large data as an object and keep a reference in the trace", len(content), p.cfg.MaxContentBytes)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, content); err != nil {
		return nil, errs.New(errs.Invalid, "content is not valid JSON (%v); send a JSON value, e.g. a quoted string or an object", err)
	}
	return json.RawMessage(b.Bytes()), nil
}

func (p *Pathway) checkText(text string) error {
	if len(text) > p.cfg.MaxTextBytes {
		return errs.New(errs.TooLarge, "text is %d bytes; the limit is %d; keep text a short searchable summary and put details in content", len(text), p.cfg.MaxTextBytes)
	}
	if !utf8.ValidString(text) {
		return errs.New(errs.Invalid, "text is not valid UTF-8")
	}
	return nil
}

// checkTags returns tags trimmed and without duplicates (first kept), or an
// errs.Invalid error saying which limit they break.
func (p *Pathway) checkTags(tags []string) ([]string, error) {
	if len(tags) > p.cfg.MaxTags {
		return nil, errs.New(errs.Invalid, "%d tags; a trace has at most %d", len(tags), p.cfg.MaxTags)
	}
	out := make([]string, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for i, tag := range tags {
		tag = strings.TrimSpace(tag)
		n := utf8.RuneCountInString(tag)
		switch {
		case n == 0:
			return nil, errs.New(errs.Invalid, "tag %d is empty; tags are 1 to %d characters", i, p.cfg.MaxTagLen)
		case n > p.cfg.MaxTagLen:
			return nil, errs.New(errs.Invalid, "tag %d (%.20q...) is %d characters; tags are 1 to %d characters", i, tag, n, p.cfg.MaxTagLen)
		case !utf8.ValidString(tag) || strings.IndexFunc(tag, unicode.IsControl) >= 0:
			return nil, errs.New(errs.Invalid, "tag %d (%q) holds invalid UTF-8 or control characters", i, tag)
		}
		if !seen[tag] {
			seen[tag] = true
			out = append(out, tag)
		}
	}
	return out, nil
}

func checkUID(uid string) error {
	switch {
	case len(uid) > MaxUID:
		return errs.New(errs.Invalid, "uid is %d bytes; uids are at most %d (leave it empty for a new one)", len(uid), MaxUID)
	case !utf8.ValidString(uid) || strings.IndexFunc(uid, unicode.IsControl) >= 0:
		return errs.New(errs.Invalid, "uid %q holds invalid UTF-8 or control characters", uid)
	}
	return nil
}
