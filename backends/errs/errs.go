// Package errs classifies the errors that backends return, so that every front
// door (MCP, REST, CLI) can tell a caller's mistake from a fault of the server.
//
// A backend returns errs.New(errs.NotFound, "dataset %q not found; ...") for a
// mistake the caller can fix; the text says what was wrong and what to do. Any
// other error is a fault. Callers test the class with errors.Is:
//
//	if errors.Is(err, errs.NotFound) { ... }
package errs

import (
	"errors"
	"fmt"
)

// Kind is the class of a caller's mistake.
type Kind struct{ name string }

func (k *Kind) Error() string { return k.name }

// The kinds of mistake a caller can make, and two of the server's state
// that a caller can wait out: Busy (saturated) and Unavailable (a service
// it depends on, such as the bucket of the object store, does not answer;
// the same call works once it does). The gateway maps them to 400, 404,
// 409, 413, and 503 with Retry-After.
var (
	Invalid     = &Kind{"invalid input"}
	NotFound    = &Kind{"not found"}
	Conflict    = &Kind{"conflict"}
	TooLarge    = &Kind{"too large"}
	Busy        = &Kind{"busy"}
	Unavailable = &Kind{"unavailable"}
)

// Error is a caller's mistake of some Kind, with a message meant for that caller.
type Error struct {
	Kind *Kind
	Msg  string
	Err  error // optional underlying error, kept for errors.Is/As
}

func (e *Error) Error() string { return e.Msg }

// Is reports whether target is e's Kind, so errors.Is(err, errs.NotFound) works.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }

// New returns an Error of kind k whose message is formatted from format and args.
// A %w verb keeps the wrapped error reachable by errors.Is and errors.As.
func New(k *Kind, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &Error{Kind: k, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// KindOf returns the Kind of err, or nil when err is a fault.
func KindOf(err error) *Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return nil
}
