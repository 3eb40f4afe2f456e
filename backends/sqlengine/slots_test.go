package sqlengine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"lakehouse/backends/errs"
)

// endless runs until it is cancelled.
const endless = "SELECT count(*) FROM range(1000000000000) a, range(1000000) b"

// TestEngine_Query_SlotsBusy fills every query slot with endless queries and
// checks what other queries meet: a timeout while waiting fails with its
// own message, a waiting query is told that it waits, and it runs once a
// slot frees. Events are ordered by the progress reports, never by time.
func TestEngine_Query_SlotsBusy(t *testing.T) {
	const slots = 4
	e, _ := newTestEngine(t, Config{MaxConns: slots, Threads: 1}, t.TempDir())

	// slots+1 endless queries: all but one get a slot, and the one left
	// over reports that it waits, which means every slot is taken.
	var wg sync.WaitGroup
	defer wg.Wait()
	cancels := make([]context.CancelFunc, slots+1)
	errc := make([]chan error, slots+1)
	waiting := make(chan int, 1)
	for i := range cancels {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i], errc[i] = cancel, make(chan error, 1)
		defer cancel()
		var once sync.Once
		wg.Go(func() {
			_, err := e.QueryProgress(ctx, endless, 0, func(float64, string) {
				once.Do(func() { waiting <- i })
			})
			errc[i] <- err
		})
	}
	waiter := <-waiting

	// A query with a short timeout waits and gives up, saying why.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.Query(ctx, "SELECT 1", 0)
	wantErr(t, "SELECT 1", err, errs.Busy, "all 4 query slots are busy (sql.max_conns)", "ms timeout", "retry later or raise sql.max_conns")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q does not match context.DeadlineExceeded", err)
	}

	// A waiting query that is cancelled returns its context's error.
	cancels[waiter]()
	if err := <-errc[waiter]; !errors.Is(err, context.Canceled) || errs.KindOf(err) != nil {
		t.Errorf("cancelled while waiting: %v, want context.Canceled", err)
	}

	// A query that waits with progress is told so at once, and runs as
	// soon as a running query ends.
	reports := make(chan string, 100)
	done := make(chan error, 1)
	go func() {
		res, err := e.QueryProgress(context.Background(), "SELECT 42", 0, func(_ float64, msg string) { reports <- msg })
		if err == nil && fmt.Sprint(res.Rows) != "[[42]]" {
			err = fmt.Errorf("rows = %v, want [[42]]", res.Rows)
		}
		done <- err
	}()
	if msg := <-reports; !strings.Contains(msg, "waiting for a query slot: all 4 query slots are busy") {
		t.Errorf("progress message %q", msg)
	}
	running := (waiter + 1) % len(cancels)
	cancels[running]()
	if err := <-errc[running]; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled while running: %v, want context.Canceled", err)
	}
	if err := <-done; err != nil {
		t.Errorf("after a slot freed: %v", err)
	}
}

// TestEngine_Query_OneSlotBusy checks the wording for a single slot.
func TestEngine_Query_OneSlotBusy(t *testing.T) {
	e, _ := newTestEngine(t, Config{MaxConns: 1, Threads: 1}, t.TempDir())
	hold, cancel := context.WithCancel(context.Background())
	defer cancel()
	held := make(chan error, 1)
	waiting := make(chan struct{})
	var once sync.Once
	// Two endless queries for one slot: one of them waits.
	for range 2 {
		go func() {
			_, err := e.QueryProgress(hold, endless, 0, func(float64, string) { once.Do(func() { close(waiting) }) })
			held <- err
		}()
	}
	<-waiting
	ctx, stop := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer stop()
	_, err := e.Query(ctx, "SELECT 1", 0)
	wantErr(t, "SELECT 1", err, errs.Busy, "the one query slot is busy (sql.max_conns)")
	cancel()
	<-held
	<-held
}
