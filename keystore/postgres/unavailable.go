package postgres

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fieldcrypt/fieldcrypt/kms"
)

// unavailable is a failure to reach the server, or a connection it ended
// (a restart, a failover, a network fault). It matches kms.ErrUnavailable,
// the library's one "retry later" class, so that kms.Retryable reports
// true for it as for a KEK that cannot be reached, unless the caller's
// context ended (the cause then wraps the context's error).
//
// A statement cut off this way did not take effect, except a COMMIT whose
// answer was lost, which may have: every operation of the Store is safe to
// retry (Create returns the record a first attempt stored, Delete finds
// the tombstone it wrote).
type unavailable struct{ err error }

func (e *unavailable) Error() string   { return e.err.Error() }
func (e *unavailable) Unwrap() []error { return []error{kms.ErrUnavailable, e.err} }

// transient reports whether err says the server could not be reached or
// dropped the connection, rather than refused the statement.
func transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"): // connection exception
			return true
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
			return true
		case pgErr.Code == "53300": // too_many_connections
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}
