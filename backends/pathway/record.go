package pathway

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"lakehouse/backends/eventlog"
)

// record is one line of the log.
type record struct {
	Op     string     `json:"op"`               // "put", "replay", "retire", or "base" (see cover)
	Traces []*Trace   `json:"traces,omitempty"` // put: the full state of each
	UID    string     `json:"uid,omitempty"`    // replay, retire
	Reason string     `json:"reason,omitempty"` // retire
	At     *time.Time `json:"at,omitempty"`     // replay, retire (a pointer: the log's encoder does not omit a zero time)
	Gen    uint64     `json:"gen,omitempty"`    // base: the log's generation

	hashes []uint64 // of Traces' index items, when decodeRecord worked them out
}

// applyLine applies one replayed log line.
func (p *Pathway) applyLine(line []byte) error {
	r, err := decodeRecord(line)
	if err != nil {
		return err
	}
	return p.apply(r)
}

// decodeRecord decodes a line of the log, with the hashes of its traces'
// index items, which replay decodes on every CPU, ahead of apply.
func decodeRecord(line []byte) (*record, error) {
	r := new(record)
	if err := eventlog.Unmarshal(line, r); err != nil {
		return nil, err
	}
	if len(r.Traces) > 0 {
		h := hashers.Get().(*itemHasher)
		r.hashes = make([]uint64, len(r.Traces))
		for i, t := range r.Traces {
			if t != nil {
				normalize(t)
				r.hashes[i] = h.of(t)
			}
		}
		hashers.Put(h)
	}
	return r, nil
}

// normalize gives t the form a stored trace has: tags never nil.
func normalize(t *Trace) {
	if t.Tags == nil {
		t.Tags = []string{}
	}
}

// apply changes the in-memory state by r; the caller holds p.mu (or is Open).
// It takes ownership of the traces in r.
func (p *Pathway) apply(r *record) error {
	switch r.Op {
	case "put":
		if err := checkPut(r); err != nil {
			return err
		}
		for i, t := range r.Traces {
			normalize(t)
			if r.hashes != nil {
				t.ihash = r.hashes[i]
			} else {
				t.ihash = hashOf(t)
			}
			if old, ok := p.traces[t.UID]; ok {
				p.traces[t.UID] = t
				p.replace(old, t)
				continue
			}
			p.traces[t.UID] = t
			p.appendNew(t)
		}
	case "replay":
		e, ok := p.traces[r.UID]
		if !ok {
			return fmt.Errorf("replay of unknown trace %q", r.UID)
		}
		e.ReplayCount++
	case "retire":
		e, ok := p.traces[r.UID]
		if !ok {
			return fmt.Errorf("retire of unknown trace %q", r.UID)
		}
		p.counts.account(e, -1)
		e.Retired, e.RetiredReason = true, r.Reason
		if r.At != nil {
			e.UpdatedAt = *r.At
		}
		p.counts.account(e, +1)
		p.want -= e.ihash
		e.ihash = hashOf(e)
		p.want += e.ihash
	case opBase:
	default:
		return fmt.Errorf("unknown op %q", r.Op)
	}
	return nil
}

// applyNew is apply for a put of traces that are new but for damage, as a
// snapshot's are: one map operation a trace rather than two.
func (p *Pathway) applyNew(r *record) error {
	if err := checkPut(r); err != nil {
		return err
	}
	for i, t := range r.Traces {
		t.ihash = r.hashes[i]
		n := len(p.traces)
		p.traces[t.UID] = t
		if len(p.traces) > n {
			p.appendNew(t)
			continue
		}
		// A uid seen before (the later trace wins, as in the log): rare
		// enough to look for the one it replaces.
		p.replace(p.order[slices.IndexFunc(p.order, func(o *Trace) bool { return o.UID == t.UID })], t)
	}
	return nil
}

// checkPut checks that a put record has traces, each with a uid.
func checkPut(r *record) error {
	if len(r.Traces) == 0 {
		return fmt.Errorf("put without traces")
	}
	if slices.ContainsFunc(r.Traces, func(t *Trace) bool { return t == nil || t.UID == "" }) {
		return fmt.Errorf("put of a trace without uid")
	}
	return nil
}

// appendNew adds t, new and in p.traces already, to the traces' order and
// sums.
func (p *Pathway) appendNew(t *Trace) {
	t.seq = len(p.order)
	p.order = append(p.order, t)
	p.counts.account(t, +1)
	p.want += t.ihash
}

// replace puts t, in p.traces already, in the place of old, the stored
// trace of its uid. The stored trace is replaced, never changed, so that
// copies handed out stay as they were (replay and retire change counters
// and flags in place, under the lock).
func (p *Pathway) replace(old, t *Trace) {
	p.want += t.ihash - old.ihash
	p.counts.account(old, -1)
	t.seq = old.seq
	p.order[t.seq] = t
	p.counts.account(t, +1)
}

// commit encodes r into the log and applies it; the caller holds p.mu.
// The change is durable once p.log.Sync(seq) returns.
func (p *Pathway) commit(r *record) (uint64, error) {
	seq, err := p.log.Add(r)
	if err != nil {
		return 0, fmt.Errorf("write pathway log: %w", err)
	}
	p.commits.note(seq)
	if err := p.apply(r); err != nil {
		// Cannot happen for records built by this package.
		return 0, fmt.Errorf("apply pathway record: %w", err)
	}
	p.unmarked.Add(1) // done by durable
	return seq, nil
}

// recover rebuilds the traces from the log on disk after a write failed,
// so that no change whose write failed stays visible: the failed record was
// applied in memory before its write, as every record is (see commit).
// The indexer may have indexed such a state meanwhile, so every trace whose
// index item the rebuild changes, or that it drops, is marked for it.
// Writers and readers wait meanwhile.
func (p *Pathway) recover() {
	changed := p.reload()
	p.idx.mark(changed...)
}

// reload is recover's rebuild; it returns the uids of the traces whose
// index items it changed or dropped.
func (p *Pathway) reload() []string {
	p.lockWrite()
	defer p.unlockWrite()
	if p.closed {
		return nil
	}
	old := p.traces
	p.traces = make(map[string]*Trace, len(old))
	p.order = make([]*Trace, 0, len(p.order))
	p.counts = counts{tags: map[string]int{}}
	p.want = 0
	from, stale, err := p.loadSnapshot()
	var st eventlog.ReplayStats
	if err == nil {
		st, err = p.log.Reload(from, p.applyLine)
	}
	if err == nil && stale {
		err = p.startLog()
	}
	if err != nil {
		// Memory is now partial: serving from it, or writing on top of
		// it, would be wrong until a restart rebuilds it.
		p.fault = fmt.Errorf("pathway memory could not be rebuilt after a failed write (%w); restart mcpd", err)
		slog.Error(p.fault.Error())
		return nil
	}
	p.settled = p.commits.failures()
	slog.Warn("pathway memory reloaded its state after a failed write", "traces", len(p.order), "skipped", st.Skipped)
	return changedFrom(old, p.traces)
}

// durable waits for record seq to be on disk, then marks uids for the
// indexer and starts a compaction if the log has grown past its limit.
func (p *Pathway) durable(seq uint64, uids ...string) error {
	defer p.unmarked.Done()
	if err := p.commits.wait(seq); err != nil {
		if !errors.Is(err, ErrClosed) {
			p.recover()
		}
		return fmt.Errorf("write pathway log: %w", err)
	}
	if len(uids) > 0 {
		p.idx.mark(uids...)
	}
	if p.log.Size()-p.skip.Load() > p.compactAt() {
		p.startCompaction()
	}
	return nil
}

// startCompaction compacts the log in the background unless a compaction
// is running or the Pathway is closing.
func (p *Pathway) startCompaction() {
	// Under the read lock, p.bg.Add happens before Close's p.bg.Wait.
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.closed && p.compacting.CompareAndSwap(false, true) {
		p.bg.Add(1)
		go func() {
			defer p.bg.Done()
			defer p.compacting.Store(false)
			if err := p.compact(); err != nil {
				p.mu.RLock()
				closed := p.closed
				p.mu.RUnlock()
				if !closed {
					p.warnCompact(err)
				}
			}
		}()
	}
}

func (p *Pathway) warnCompact(err error) {
	slog.Warn("pathway log compaction failed; the log keeps growing until the next try", "err", err)
}
