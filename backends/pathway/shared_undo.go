package pathway

import "time"

// An undo takes the records of a shared batch back out of memory when its
// transaction fails (see shared_write.go): it holds each trace a record
// touched as it was before, in the order the records were applied, and
// puts them back in the reverse order, with the sums and counts that
// apply changed.
type undo struct {
	last    time.Time // p.last before the batch
	applied int64     // the store's applied before the batch
	saved   []saved
}

// saved is a trace as it was before a record of the batch touched it.
type saved struct {
	uid string
	ptr *Trace // the stored trace; nil when the record made it
	val Trace  // *ptr as it was: replay and retire change it in place
}

// save notes the traces r touches as they are; p.mu is held.
func (u *undo) save(p *Pathway, r *record) {
	for _, uid := range r.touches() {
		sv := saved{uid: uid, ptr: p.traces[uid]}
		if sv.ptr != nil {
			sv.val = *sv.ptr
		}
		u.saved = append(u.saved, sv)
	}
}

// back puts every trace saved back as it was, and returns their uids;
// p.mu is held.
func (u *undo) back(p *Pathway, s *pgStore) []string {
	uids := make([]string, 0, len(u.saved))
	for i := len(u.saved) - 1; i >= 0; i-- {
		sv := u.saved[i]
		if cur := p.traces[sv.uid]; cur != nil {
			p.counts.account(cur, -1)
			p.want -= cur.ihash
			if sv.ptr == nil {
				delete(p.traces, sv.uid)
				p.order = p.order[:cur.seq] // a new trace is last once those after it are taken back
			}
		}
		if sv.ptr != nil {
			*sv.ptr = sv.val
			p.traces[sv.uid] = sv.ptr
			p.order[sv.ptr.seq] = sv.ptr
			p.counts.account(sv.ptr, +1)
			p.want += sv.ptr.ihash
		}
		uids = append(uids, sv.uid)
	}
	p.last, s.applied = u.last, u.applied
	return uids
}

// touches returns the uids of the traces r changes.
func (r *record) touches() []string {
	if r.Op == "replay" {
		return []string{r.UID}
	}
	return r.marks()
}
