package pathway

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"

	"lakehouse/backends/errs"
)

// Add stores a new trace and returns it. uid "" gets a new random (v4)
// uid. When a trace with uid exists already, Add is an idempotent replay:
// it keeps that trace as it is, counts the replay in its replay_count and
// returns it with replayed true.
func (p *Pathway) Add(ctx context.Context, content json.RawMessage, text string, tags []string, uid string) (t Trace, replayed bool, err error) {
	if err := ctx.Err(); err != nil {
		return Trace{}, false, err
	}
	if err := checkUID(uid); err != nil {
		return Trace{}, false, err
	}
	content, err = p.checkContent(content)
	if err != nil {
		return Trace{}, false, err
	}
	if err := p.checkText(text); err != nil {
		return Trace{}, false, err
	}
	if tags, err = p.checkTags(tags); err != nil {
		return Trace{}, false, err
	}
	if uid == "" {
		uid = uuid.NewString()
	}

	err = p.change(ctx, func() (*record, []string, error) {
		now := p.now()
		if _, ok := p.traces[uid]; ok {
			replayed = true
			return &record{Op: "replay", UID: uid, At: &now}, nil, nil // the index holds nothing that a replay changes
		}
		return &record{Op: "put", Traces: []*Trace{{
			UID: uid, Content: content, Text: text, Tags: tags,
			CreatedAt: now, UpdatedAt: now,
		}}}, []string{uid}, nil
	}, func() { t = *p.traces[uid] })
	if err != nil {
		return Trace{}, false, err
	}
	return t, replayed, nil
}

// Update changes trace uid in place: content, text and tags, each when
// given (nil keeps it; a non-nil empty tags list clears the tags). A
// retired or superseded trace cannot be updated.
func (p *Pathway) Update(ctx context.Context, uid string, content json.RawMessage, text *string, tags []string) (Trace, error) {
	if err := ctx.Err(); err != nil {
		return Trace{}, err
	}
	if uid == "" {
		return Trace{}, errs.New(errs.Invalid, "uid is empty; name the trace to update")
	}
	if content == nil && text == nil && tags == nil {
		return Trace{}, errs.New(errs.Invalid, "nothing to update; give content, text or tags")
	}
	var err error
	if content != nil {
		if content, err = p.checkContent(content); err != nil {
			return Trace{}, err
		}
	}
	if text != nil {
		if err := p.checkText(*text); err != nil {
			return Trace{}, err
		}
	}
	if tags != nil {
		if tags, err = p.checkTags(tags); err != nil {
			return Trace{}, err
		}
	}

	var t Trace
	err = p.change(ctx, func() (*record, []string, error) {
		e, err := p.writable(uid, "update")
		if err != nil {
			return nil, nil, err
		}
		nt := *e
		if content != nil {
			nt.Content = content
		}
		if text != nil {
			nt.Text = *text
		}
		if tags != nil {
			nt.Tags = tags
		}
		nt.UpdatedAt = p.now()
		return &record{Op: "put", Traces: []*Trace{&nt}}, []string{uid}, nil
	}, func() { t = *p.traces[uid] })
	if err != nil {
		return Trace{}, err
	}
	return t, nil
}

// Revise stores content as a new trace that supersedes trace
// predecessorUID: the new trace names its predecessor, and the predecessor
// names the new trace as its successor, in one atomic log record. text and
// tags, when nil, are taken from the predecessor. Only the tip of a chain
// can be revised, and not when it is retired.
func (p *Pathway) Revise(ctx context.Context, predecessorUID string, content json.RawMessage, text *string, tags []string) (Trace, error) {
	if err := ctx.Err(); err != nil {
		return Trace{}, err
	}
	if predecessorUID == "" {
		return Trace{}, errs.New(errs.Invalid, "predecessor_uid is empty; name the trace to revise (add_trace makes a trace without one)")
	}
	content, err := p.checkContent(content)
	if err != nil {
		return Trace{}, err
	}
	if text != nil {
		if err := p.checkText(*text); err != nil {
			return Trace{}, err
		}
	}
	if tags != nil {
		if tags, err = p.checkTags(tags); err != nil {
			return Trace{}, err
		}
	}
	uid := uuid.NewString()

	var t Trace
	err = p.change(ctx, func() (*record, []string, error) {
		pe, err := p.writable(predecessorUID, "revise")
		if err != nil {
			return nil, nil, err
		}
		now := p.now()
		nt := &Trace{
			UID: uid, Content: content, Text: pe.Text, Tags: pe.Tags,
			PredecessorUID: predecessorUID, CreatedAt: now, UpdatedAt: now,
		}
		if text != nil {
			nt.Text = *text
		}
		if tags != nil {
			nt.Tags = tags
		}
		pred := *pe
		pred.SuccessorUID, pred.UpdatedAt = uid, now
		return &record{Op: "put", Traces: []*Trace{&pred, nt}}, []string{predecessorUID, uid}, nil
	}, func() { t = *p.traces[uid] })
	if err != nil {
		return Trace{}, err
	}
	return t, nil
}

// writable returns trace uid if it may be changed by op ("update",
// "revise"): it exists, is not retired and is the tip of its chain. The
// caller holds p.mu.
func (p *Pathway) writable(uid, op string) (*Trace, error) {
	e, err := p.stored(uid)
	switch {
	case err != nil:
		return nil, err
	case e.Retired:
		return nil, errs.New(errs.Conflict, "trace %s is retired (%s) and cannot be changed; add_trace stores a new one", uid, reasonOr(e.RetiredReason))
	case e.SuccessorUID != "":
		return nil, errs.New(errs.Conflict, "trace %s was already revised by %s; %s the tip of its chain instead (trace_history shows the chain)", uid, e.SuccessorUID, op)
	}
	return e, nil
}

func reasonOr(r string) string {
	if r == "" {
		return "no reason given"
	}
	return "reason: " + r
}

// stored returns trace uid, or why it cannot; the caller holds p.mu.
func (p *Pathway) stored(uid string) (*Trace, error) {
	if err := p.unusable(); err != nil {
		return nil, err
	}
	e, ok := p.traces[uid]
	if !ok {
		return nil, p.notFound(uid)
	}
	return e, nil
}

func (p *Pathway) notFound(uid string) error {
	return errs.New(errs.NotFound, "trace %q not found; search_traces finds traces by words or tags (%d traces stored)", uid, len(p.traces))
}

// Retire hides trace uid from search; Get and History still return it.
// Retiring a retired trace changes nothing.
func (p *Pathway) Retire(ctx context.Context, uid, reason string) (Trace, error) {
	if err := ctx.Err(); err != nil {
		return Trace{}, err
	}
	if uid == "" {
		return Trace{}, errs.New(errs.Invalid, "uid is empty; name the trace to retire")
	}
	if len(reason) > MaxReason {
		return Trace{}, errs.New(errs.TooLarge, "reason is %d bytes; the limit is %d", len(reason), MaxReason)
	}
	var t Trace
	err := p.change(ctx, func() (*record, []string, error) {
		e, err := p.stored(uid)
		if err != nil || e.Retired {
			return nil, nil, err // retired already: nothing to change
		}
		now := p.now()
		return &record{Op: "retire", UID: uid, Reason: reason, At: &now}, []string{uid}, nil
	}, func() { t = *p.traces[uid] })
	if err != nil {
		return Trace{}, err
	}
	return t, nil
}

// Get returns trace uid, retired and superseded ones included.
func (p *Pathway) Get(ctx context.Context, uid string) (Trace, error) {
	if err := ctx.Err(); err != nil {
		return Trace{}, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	e, err := p.stored(uid)
	if err != nil {
		return Trace{}, err
	}
	return *e, nil
}

// History is a revision chain.
type History struct {
	UID    string         `json:"uid"`     // the trace asked for
	TipUID string         `json:"tip_uid"` // the last revision
	Traces []HistoryEntry `json:"traces"`  // root first
}

// HistoryEntry is one trace of a chain.
type HistoryEntry struct {
	Trace
	Asked bool `json:"asked,omitempty"` // this is the trace asked for
}

// History returns the chain that trace uid belongs to, from its root to its
// tip, with uid marked. A chain whose links loop back (only a damaged log
// could make one) ends where it would repeat a trace.
func (p *Pathway) History(ctx context.Context, uid string) (History, error) {
	if err := ctx.Err(); err != nil {
		return History{}, err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	e, err := p.stored(uid)
	if err != nil {
		return History{}, err
	}
	seen := map[string]bool{uid: true}
	var back []*Trace // from uid's predecessor to the root
	for cur := e; cur.PredecessorUID != "" && !seen[cur.PredecessorUID]; {
		prev, ok := p.traces[cur.PredecessorUID]
		if !ok {
			break
		}
		seen[prev.UID] = true
		back = append(back, prev)
		cur = prev
	}
	h := History{UID: uid, Traces: make([]HistoryEntry, 0, len(back)+1)}
	for i := len(back) - 1; i >= 0; i-- {
		h.Traces = append(h.Traces, HistoryEntry{Trace: *back[i]})
	}
	h.Traces = append(h.Traces, HistoryEntry{Trace: *e, Asked: true})
	for cur := e; cur.SuccessorUID != "" && !seen[cur.SuccessorUID]; {
		next, ok := p.traces[cur.SuccessorUID]
		if !ok {
			break
		}
		seen[next.UID] = true
		h.Traces = append(h.Traces, HistoryEntry{Trace: *next})
		cur = next
	}
	h.TipUID = h.Traces[len(h.Traces)-1].UID
	return h, nil
}

// change makes one write. decide runs under p.mu: it checks the write
// against the memory as it is and returns the record to commit (nil when
// nothing is to change) and the uids whose index items the record changes.
// done runs under p.mu once the record is applied, or when decide returned
// none, to read the result. In local mode the record is applied and
// written to the log under p.mu and made durable after (see commit.go); in
// shared mode the store does it in a transaction (see shared_write.go).
func (p *Pathway) change(ctx context.Context, decide func() (*record, []string, error), done func()) error {
	if p.pg != nil {
		return p.pg.change(ctx, decide, done)
	}
	p.lockWrite()
	if err := p.unusable(); err != nil {
		p.unlockWrite()
		return err
	}
	r, uids, err := decide()
	if err != nil || r == nil {
		if err == nil {
			done()
		}
		p.unlockWrite()
		return err
	}
	seq, err := p.commit(r)
	if err == nil {
		done()
	}
	p.unlockWrite()
	if err != nil {
		return err
	}
	return p.durable(seq, uids...)
}

// lockWrite takes p.mu for a change, telling the committer that a record
// may be on its way.
func (p *Pathway) lockWrite() {
	p.commits.writers.Add(1)
	p.mu.Lock()
}

func (p *Pathway) unlockWrite() {
	p.mu.Unlock()
	p.commits.writers.Add(-1)
}
