package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver (pure Go)
)

// DefaultDSN is the database Open uses for an empty DSN: an SQLite file
// under ./data, created with its directory when missing.
const DefaultDSN = "sqlite:" + DefaultSQLitePath

// DefaultSQLitePath is the SQLite file of "sqlite:" with no path.
const DefaultSQLitePath = "data/dtmfgw.db"

// ErrDSN is wrapped for a data source name Open cannot use.
var ErrDSN = errors.New("store: bad data source name")

// Store is a handle on the payment records. It is safe for concurrent
// use; Close it when done.
type Store struct {
	db *sql.DB
	d  dialect
	// now is the clock of every timestamp the store writes.
	now func() time.Time
	// outbox gives the webhook deliveries of a payment made final
	// (WithOutbox); nil: none.
	outbox OutboxFunc
}

// Option configures Open.
type Option func(*Store)

// WithClock makes the store take its timestamps from now rather than
// time.Now (tests).
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}

// sqliteBusyTimeout is how long a connection waits for SQLite's write
// lock, held by another transaction, before it gives up.
const sqliteBusyTimeout = 10 * time.Second

// Open opens the database named by dsn, creating it (SQLite) and migrating
// its schema as needed:
//
//   - "" or "sqlite:" — the SQLite file DefaultSQLitePath;
//   - "sqlite:PATH" — the SQLite file PATH; its directory is created;
//   - "postgres://…" or "postgresql://…" — a PostgreSQL database (a
//     connection URL as libpq and pgx read it).
//
// The returned error never includes the DSN, which may hold a password.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	d, source, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if d.name == sqliteDialect.name {
		if err := prepareSQLiteFile(source); err != nil {
			return nil, err
		}
		source = sqliteSource(source)
	}
	db, err := sql.Open(d.driver, source)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", d.name, err)
	}
	s := &Store{db: db, d: d, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", d.name, redact(err, dsn))
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// parseDSN returns the dialect of dsn and what its driver is given: the
// file path for SQLite, the URL for PostgreSQL.
func parseDSN(dsn string) (dialect, string, error) {
	switch {
	case dsn == "":
		return sqliteDialect, DefaultSQLitePath, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			path = DefaultSQLitePath
		}
		// The driver reads a query after '?' as its own settings; ours
		// (WAL, synchronous=FULL) must not be overridden by accident.
		if strings.ContainsAny(path, "?#\x00") {
			return dialect{}, "", fmt.Errorf("%w: an SQLite path may not hold '?', '#' or NUL", ErrDSN)
		}
		if path == ":memory:" || strings.HasPrefix(path, "file:") {
			return dialect{}, "", fmt.Errorf("%w: an SQLite DSN is sqlite:PATH to a file", ErrDSN)
		}
		return sqliteDialect, path, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if _, err := url.Parse(dsn); err != nil {
			return dialect{}, "", fmt.Errorf("%w: a PostgreSQL DSN must be a URL", ErrDSN)
		}
		return postgresDialect, dsn, nil
	}
	return dialect{}, "", fmt.Errorf("%w: want sqlite:PATH or postgres://…", ErrDSN)
}

// prepareSQLiteFile creates the file's directory and, when the file is
// new, the file itself readable by its owner only: payment records are
// not card data, but they are nobody else's business. SQLite gives its
// -wal and -shm files the database file's permissions.
func prepareSQLiteFile(path string) error {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("store: create the database directory: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: open the database file: %w", err)
	}
	return f.Close()
}

// sqliteSource is the driver's DSN for the file at path: every connection
// in WAL mode (readers never block the writer) with synchronous=FULL (a
// commit is on disk, WAL included, before it returns: the durability a
// payment result needs), foreign keys enforced, a busy timeout rather
// than an immediate SQLITE_BUSY, and write transactions that take the
// write lock at BEGIN (IMMEDIATE), so a read-then-write never fails to
// upgrade its lock halfway.
func sqliteSource(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	// Not a "file:" URI: the driver then takes the path verbatim (no
	// percent-decoding) and reads our settings from after the '?'.
	return path + "?" + q.Encode()
}

// redact removes dsn from an error's text, in case a driver quoted it.
func redact(err error, dsn string) error {
	if dsn != "" && strings.Contains(err.Error(), dsn) {
		return errors.New(strings.ReplaceAll(err.Error(), dsn, "[dsn]"))
	}
	return err
}

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

// Ping checks that the database answers (readiness).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close closes the database. Everything committed stays committed.
func (s *Store) Close() error {
	return s.db.Close()
}

// clock returns the current time as the store writes it.
func (s *Store) clock() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}
