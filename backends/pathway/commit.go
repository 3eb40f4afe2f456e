package pathway

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"lakehouse/backends/eventlog"
)

// A committer makes log records durable for many writers at once.
//
// eventlog.Sync already shares fsyncs between concurrent callers, but its
// callers queue on a mutex and leave it one at a time, so a flush mostly
// takes the few records added while that queue drained. Here one goroutine
// does every flush: writers wait on a channel that is closed when a flush
// ends, so all of them wake together and add their next records before the
// flusher, which yields first, takes the tail for the next fsync.
type committer struct {
	log *eventlog.Log

	mu       sync.Mutex
	added    uint64        // highest sequence number added to the log
	durable  uint64        // highest sequence number flushed, or lost to a failed flush
	lastFail uint64        // highest sequence number of a record a failed flush lost
	err      error         // sticky once stopped
	flushed  chan struct{} // closed (and replaced) when durable or err change

	writers atomic.Int32 // writers between lockWrite and unlockWrite
	peak    int          // records per flush lately (flusher only)

	kick chan struct{}
	quit chan struct{}
	done chan struct{}
}

func newCommitter(l *eventlog.Log) *committer {
	c := &committer{
		log:     l,
		flushed: make(chan struct{}),
		kick:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	go c.run()
	return c
}

// note records that record seq was added to the log.
func (c *committer) note(seq uint64) {
	c.mu.Lock()
	c.added = max(c.added, seq)
	c.mu.Unlock()
}

// wait returns once record seq is durable.
func (c *committer) wait(seq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.durable < seq && c.err == nil {
		ch := c.flushed
		c.mu.Unlock()
		select {
		case c.kick <- struct{}{}:
		default:
		}
		<-ch
		c.mu.Lock()
	}
	if c.durable < seq {
		return c.err
	}
	if seq <= c.lastFail {
		// A flush failed since: the log knows whether seq was lost. The
		// log reopens itself before its next write, so later records are
		// not affected.
		c.mu.Unlock()
		defer c.mu.Lock()
		return c.log.Sync(seq)
	}
	return nil
}

// flushAll returns once every record added so far is durable, and fails
// if a flush failed after the failures up to settled (see failures): the
// caller may still hold that flush's changes in memory.
func (c *committer) flushAll(settled uint64) error {
	c.mu.Lock()
	seq := c.added
	c.mu.Unlock()
	if err := c.wait(seq); err != nil {
		return err
	}
	if c.failures() > settled {
		return errors.New("a write failed and is being undone")
	}
	return nil
}

// failures identifies the records that failed writes lost so far: the
// highest sequence number of one, whichever flush lost it.
func (c *committer) failures() uint64 {
	lost := c.log.Lost()
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(c.lastFail, lost)
}

func (c *committer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.quit:
			return
		case <-c.kick:
		}
		for {
			c.gather()
			if !c.flush() {
				break
			}
		}
	}
}

// gatherMax bounds how long a flush waits for writers to add their records.
const gatherMax = 200 * time.Microsecond

// gather lets the writers just woken, and those inside a change, add their
// records before a flush: it waits, at most gatherMax, while a writer is
// inside a change or fewer records are pending than the recent flushes
// carried (peak, which decays by one a flush, so a lighter load soon stops
// waiting).
func (c *committer) gather() {
	runtime.Gosched()
	deadline := time.Now().Add(gatherMax)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		pending := int(c.added - c.durable)
		c.mu.Unlock()
		writers := c.writers.Load()
		if writers == 0 && (pending >= c.peak || pending == 0) {
			return // all in, or nothing coming: a writer's wait kicks the flusher
		}
		runtime.Gosched()
	}
}

// flush makes every record added so far durable and reports whether there
// was any.
func (c *committer) flush() bool {
	c.mu.Lock()
	target, pending := c.added, c.added > c.durable && c.err == nil
	n := int(target - c.durable)
	c.mu.Unlock()
	if !pending {
		return false
	}
	if n > c.peak {
		c.peak = n
	} else if c.peak > 1 {
		c.peak--
	}
	c.log.Sync(target) // its error is that of target, which wait asks for again
	// A failed write may have lost records added after target was read,
	// or records that another flush of the log (Reload's) took: wait asks
	// the log about every record up to the last lost one.
	lost := c.log.Lost()
	c.mu.Lock()
	c.lastFail = max(c.lastFail, lost)
	c.durable = max(c.durable, target)
	close(c.flushed)
	c.flushed = make(chan struct{})
	c.mu.Unlock()
	return true
}

// stop ends the flusher after a last flush; later waits fail with ErrClosed
// unless their record was flushed.
func (c *committer) stop() {
	close(c.quit)
	<-c.done
	c.flush()
	c.mu.Lock()
	if c.err == nil {
		c.err = ErrClosed
	}
	close(c.flushed)
	c.flushed = make(chan struct{})
	c.mu.Unlock()
}
