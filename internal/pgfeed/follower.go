package pgfeed

// How a Follower keeps up (see the package doc).

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Defaults of Config.
const (
	DefaultBatch = 1000
	DefaultPoll  = time.Second
	// retryMin and retryMax bound the backoff between connection attempts.
	retryMin = 100 * time.Millisecond
	retryMax = 5 * time.Second
	// queryTimeout bounds each statement the follower runs.
	queryTimeout = 10 * time.Second
)

// Config says what a Follower follows and what it does with the rows.
type Config[T any] struct {
	// Conn is the configuration of the follower's own connection; the
	// follower copies it.
	Conn *pgx.ConnConfig
	// Feed is the name writers Reserve numbers of.
	Feed string
	// Query selects the rows numbered above $1, at most $2 of them, in
	// order of their number, e.g.
	//	SELECT seq, body FROM t WHERE seq > $1 ORDER BY seq LIMIT $2
	Query string
	// Scan reads one row of Query: its number and what Apply takes.
	Scan func(row pgx.CollectableRow) (seq int64, v T, err error)
	// Apply applies one batch of rows, in order. It runs on the follower's
	// goroutine (or in Start's caller, for the first catch-up), one batch
	// at a time.
	Apply func(batch []T)
	// From is the number of the last row already applied; the follower
	// starts after it.
	From int64
	// Batch is the most rows a catch-up reads at once; 0 means DefaultBatch.
	Batch int
	// Poll is the longest a follower waits for a notification before it
	// looks anyway; 0 means DefaultPoll.
	Poll time.Duration
	// Logger receives the follower's warnings; nil means slog.Default().
	Logger *slog.Logger
}

// Lag is how far behind its feed a Follower is.
type Lag struct {
	Applied int64 `json:"applied"` // number of the last row applied
	// Head is the highest number known to be committed: from notifications,
	// and from catch-ups, which reach the head of their snapshot.
	Head     int64     `json:"head"`
	Behind   int64     `json:"behind"`    // Head - Applied
	CaughtUp time.Time `json:"caught_up"` // when a catch-up last found nothing more to read
	// SinceCaughtUpMS is the time since CaughtUp, in milliseconds, when Lag
	// was taken.
	SinceCaughtUpMS int64 `json:"since_caught_up_ms"`
	// Skipped counts numbers never applied because their rows were deleted
	// before this follower read them.
	Skipped int64 `json:"skipped,omitempty"`
	// Err is the last failure, while the follower cannot reach the database.
	Err string `json:"error,omitempty"`
}

// Follower applies the rows of a feed as they commit. Its methods are safe
// for concurrent use.
type Follower[T any] struct {
	cfg  Config[T]
	conn *pgx.Conn // used by the loop only, once Start has returned

	mu  sync.Mutex
	lag Lag

	cancel context.CancelFunc
	done   chan struct{}
}

// Start connects, LISTENs, applies every row after cfg.From, and then
// follows the feed on a goroutine of its own until Close. It fails if the
// first connection or catch-up does, so that a node does not start
// knowing nothing.
func Start[T any](ctx context.Context, cfg Config[T]) (*Follower[T], error) {
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if !validName.MatchString(cfg.Feed) {
		return nil, fmt.Errorf("feed name %q: use lower-case letters, digits and _", cfg.Feed)
	}
	f := &Follower[T]{cfg: cfg, lag: Lag{Applied: cfg.From, Head: cfg.From}, done: make(chan struct{})}
	if err := f.connect(ctx); err != nil {
		return nil, err
	}
	if err := f.catchUp(ctx); err != nil {
		f.conn.Close(context.Background())
		return nil, err
	}
	loop, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go f.run(loop)
	return f, nil
}

// Close stops following and closes the connection.
func (f *Follower[T]) Close() {
	f.cancel()
	<-f.done
}

// Lag returns how far behind the feed f is now.
func (f *Follower[T]) Lag() Lag {
	f.mu.Lock()
	l := f.lag
	f.mu.Unlock()
	l.Behind = max(0, l.Head-l.Applied)
	if !l.CaughtUp.IsZero() {
		l.SinceCaughtUpMS = time.Since(l.CaughtUp).Milliseconds()
	}
	return l
}

// run is the follower's loop: wait for a notification or Poll, catch up;
// on a failure, drop the connection and make a new one, with backoff.
func (f *Follower[T]) run(ctx context.Context) {
	defer close(f.done)
	defer func() {
		if f.conn != nil {
			f.conn.Close(context.Background())
		}
	}()
	retry := retryMin
	for ctx.Err() == nil {
		err := f.step(ctx)
		if err == nil {
			retry = retryMin
			continue
		}
		if ctx.Err() != nil {
			return
		}
		f.failed(err)
		if f.conn != nil {
			f.conn.Close(context.Background())
			f.conn = nil
		}
		sleep(ctx, retry)
		retry = min(2*retry, retryMax)
	}
}

// step connects if the follower has no connection, or else waits for a
// notification or Poll; then it catches up. After a connect that reads
// what was committed while nobody listened.
func (f *Follower[T]) step(ctx context.Context) error {
	if f.conn == nil {
		if err := f.connect(ctx); err != nil {
			return err
		}
	} else if err := f.wait(ctx); err != nil {
		return err
	}
	return f.catchUp(ctx)
}

// connect opens the follower's connection and LISTENs on the feed's
// channel. Rows committed while it was not listening are read by the
// catch-up that follows every connect.
func (f *Follower[T]) connect(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, f.cfg.Conn.Copy())
	if err != nil {
		return fmt.Errorf("connect to follow feed %s: %w", f.cfg.Feed, err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel(f.cfg.Feed)}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return fmt.Errorf("listen to feed %s: %w", f.cfg.Feed, err)
	}
	f.conn = conn
	return nil
}

// wait returns when a notification of a number not yet applied arrives,
// or when Poll has passed; either way a catch-up follows. Notifications of
// numbers already applied (a catch-up read them) are taken and ignored.
func (f *Follower[T]) wait(ctx context.Context) error {
	deadline := time.Now().Add(f.cfg.Poll)
	for {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		n, err := f.conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && wctx.Err() != nil && !f.conn.IsClosed():
			return nil // Poll passed
		case err != nil:
			return fmt.Errorf("wait for feed %s: %w", f.cfg.Feed, err)
		}
		seq, perr := strconv.ParseInt(n.Payload, 10, 64)
		if perr != nil {
			return nil // not ours to read; look anyway
		}
		f.mu.Lock()
		f.lag.Head = max(f.lag.Head, seq)
		ahead := seq > f.lag.Applied
		f.mu.Unlock()
		if ahead {
			return nil
		}
	}
}

// catchUp applies the rows after the last applied, a batch at a time,
// until a batch comes back short: the follower then has every row of that
// read's snapshot, and is caught up as of when the read started.
func (f *Follower[T]) catchUp(ctx context.Context) error {
	type numbered struct {
		seq int64
		v   T
	}
	for {
		f.mu.Lock()
		after := f.lag.Applied
		f.mu.Unlock()
		started := time.Now()
		qctx, cancel := context.WithTimeout(ctx, queryTimeout)
		rows, err := f.conn.Query(qctx, f.cfg.Query, after, f.cfg.Batch)
		var got []numbered
		if err == nil {
			got, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (numbered, error) {
				seq, v, err := f.cfg.Scan(row)
				return numbered{seq, v}, err
			})
		}
		cancel()
		if err != nil {
			return fmt.Errorf("read feed %s after %d: %w", f.cfg.Feed, after, err)
		}
		batch := make([]T, 0, len(got))
		last, skipped := after, int64(0)
		for _, r := range got {
			if r.seq <= last {
				return fmt.Errorf("read feed %s after %d: row %d out of order; the query must select seq > $1 ORDER BY seq", f.cfg.Feed, after, r.seq)
			}
			skipped += r.seq - last - 1
			last = r.seq
			batch = append(batch, r.v)
		}
		if len(batch) > 0 {
			f.cfg.Apply(batch)
		}
		if skipped > 0 {
			f.cfg.Logger.Warn("change feed rows deleted before they were read", "feed", f.cfg.Feed, "after", after, "skipped", skipped)
		}
		short := len(got) < f.cfg.Batch
		f.mu.Lock()
		f.lag.Applied, f.lag.Skipped = last, f.lag.Skipped+skipped
		f.lag.Head = max(f.lag.Head, last)
		if short {
			f.lag.CaughtUp, f.lag.Err = started, ""
		}
		f.mu.Unlock()
		if short {
			return nil
		}
	}
}

// failed records err as the follower's state, logging when it starts
// failing.
func (f *Follower[T]) failed(err error) {
	f.mu.Lock()
	was := f.lag.Err
	f.lag.Err = err.Error()
	f.mu.Unlock()
	if was == "" {
		f.cfg.Logger.Warn("change feed cannot be followed; retrying", "feed", f.cfg.Feed, "err", err)
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
