package store

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// dialect is everything that differs between the two databases. The
// queries themselves are written once, with '?' placeholders.
type dialect struct {
	// name is "sqlite" or "postgres": the migrations folder too.
	name string
	// driver is the database/sql driver name.
	driver string
	// numbered says placeholders are $1, $2, … (PostgreSQL) rather than ?.
	numbered bool
	// forUpdate ends a SELECT that reads a row the transaction will
	// write. SQLite needs none: every write transaction begins IMMEDIATE
	// and so holds the database's write lock from its first statement.
	forUpdate string
	// lockMigrations is run first in the migration transaction so two
	// processes starting together do not both migrate.
	lockMigrations string
	// createMigrations creates the schema_migrations table.
	createMigrations string
	// textTimes says times travel as fixed-width UTC text (SQLite has no
	// time type); otherwise as time.Time (PostgreSQL timestamptz).
	textTimes bool
}

var (
	sqliteDialect = dialect{
		name:   "sqlite",
		driver: "sqlite",
		createMigrations: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TEXT NOT NULL
		) STRICT`,
		textTimes: true,
	}
	postgresDialect = dialect{
		name:      "postgres",
		driver:    "pgx",
		numbered:  true,
		forUpdate: " FOR UPDATE",
		// Any constant will do, as long as it is always the same one.
		lockMigrations: "SELECT pg_advisory_xact_lock(7370120905)",
		createMigrations: `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT NOT NULL,
			applied_at TIMESTAMPTZ NOT NULL
		)`,
	}
)

// bind turns a query written with '?' placeholders into the dialect's. No
// query of ours has a '?' inside a literal.
func (d dialect) bind(query string) string {
	if !d.numbered || !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// timeLayout is how SQLite holds a time: fixed width, so text order is
// time order, at the microsecond precision PostgreSQL keeps.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// timeArg is t as a query argument.
func (d dialect) timeArg(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if d.textTimes {
		return t.Format(timeLayout)
	}
	return t
}

// nullTimeArg is timeArg, or NULL for the zero time.
func (d dialect) nullTimeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return d.timeArg(t)
}

// isUnique reports whether err is a violation of a primary key or unique
// constraint.
func (d dialect) isUnique(err error) bool {
	if se, ok := errors.AsType[*sqlite.Error](err); ok {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	if pe, ok := errors.AsType[*pgconn.PgError](err); ok {
		return pe.Code == "23505" // unique_violation
	}
	return false
}

// timeValue scans a time from either dialect: time.Time from PostgreSQL,
// fixed-width text from SQLite. A NULL leaves the zero time.
type timeValue struct{ t *time.Time }

// Scan implements sql.Scanner.
func (v timeValue) Scan(src any) error {
	switch x := src.(type) {
	case nil:
		*v.t = time.Time{}
	case time.Time:
		*v.t = x.UTC()
	case string:
		return v.parse(x)
	case []byte:
		return v.parse(string(x))
	default:
		return errors.New("store: a time column holds neither a time nor text")
	}
	return nil
}

func (v timeValue) parse(s string) error {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return errors.New("store: a time column holds text that is not a time")
	}
	*v.t = t
	return nil
}
