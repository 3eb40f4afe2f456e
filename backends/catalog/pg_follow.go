package catalog

// How a node follows the commits of other nodes (see pg.go).

import (
	"context"
	"time"
)

// clockQuery reads the number of the last change committed on any node.
const clockQuery = "SELECT seq FROM catalog_clock"

// refresh makes c reflect every change committed before it was called. A
// read that arrives while a check runs waits for the next one, which starts
// after it arrived and serves every read waiting by then; so any number of
// concurrent reads cost one round trip each time. After a failed check,
// reads answer from memory without asking for refreshRetry.
func (j *pgJournal) refresh(c *Catalog) {
	arrived := j.ticks.Add(1)
	j.follow.Lock()
	defer j.follow.Unlock()
	if j.covered > arrived {
		return // a check that started after this read arrived has finished
	}
	failing := !j.failedAt.IsZero()
	if failing && time.Since(j.failedAt) < refreshRetry {
		return
	}
	started := j.ticks.Add(1)
	err := j.catchUp(c)
	j.logRecovery(err, failing)
	if err != nil {
		j.failedAt = time.Now()
		return
	}
	j.failedAt = time.Time{}
	j.covered = started
}

// catchUp compares the clock with what c has seen, and pulls the changes
// when it moved.
func (j *pgJournal) catchUp(c *Catalog) error {
	ctx, cancel := context.WithTimeout(context.Background(), refreshTimeout)
	defer cancel()
	var now int64
	if err := j.pool.QueryRow(ctx, clockQuery).Scan(&now); err != nil {
		return j.fault("check the catalog for changes", err)
	}
	c.mu.RLock()
	seen := j.seen
	c.mu.RUnlock()
	if now == seen {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now, err := j.pull(ctx, c.datasets, j.seen)
	if err != nil {
		return j.fault("read the catalog's changes", err)
	}
	j.seen = now
	c.generation++
	return nil
}
