package vector

// What a shared Manager says of its view of the other nodes (see
// shared.go).

import (
	"context"
	"fmt"
	"time"

	"lakehouse/backends/errs"
	"lakehouse/internal/pgfeed"
)

// Lag returns how far this node is behind the other nodes' writes, in
// shared mode; ok is false in local mode.
func (m *Manager) Lag() (lag pgfeed.Lag, ok bool) {
	if m.pg == nil || m.pg.feed == nil {
		return lag, false
	}
	return m.pg.feed.Lag(), true
}

// staleAfter is how many polls may pass without a catch-up before a node
// calls its view of the other nodes stale.
const staleAfter = 3

// Health returns nil in local mode, and in shared mode nil when the
// database answers and this node follows the other nodes' writes, or else
// an error of kind errs.Unavailable that says what is wrong.
func (m *Manager) Health(ctx context.Context) error {
	sh := m.pg
	if sh == nil {
		return nil
	}
	if err := sh.pool.Ping(ctx); err != nil {
		return sh.fault("write to the vector indexes", err)
	}
	if stale := m.Stale(); stale != "" {
		return &errs.Error{Kind: errs.Unavailable, Msg: stale}
	}
	return nil
}

// Stale says why this node's searches may lack the other nodes' most
// recent writes, or "" when they do not (always, in local mode): it
// cannot follow them, or has not caught up with them for three polls. It
// costs no query.
func (m *Manager) Stale() string {
	sh := m.pg
	if sh == nil || sh.feed == nil {
		return ""
	}
	lag := sh.feed.Lag()
	since := time.Duration(lag.SinceCaughtUpMS) * time.Millisecond
	switch {
	case lag.Err != "":
		return fmt.Sprintf("the vector indexes cannot follow the other nodes' writes (%s): searches answer as of %v ago", lag.Err, since.Round(time.Millisecond))
	case since > staleAfter*sh.cfg.Poll:
		return fmt.Sprintf("the vector indexes last caught up with the other nodes' writes %v ago (%d behind)", since.Round(time.Millisecond), lag.Behind)
	}
	return ""
}
