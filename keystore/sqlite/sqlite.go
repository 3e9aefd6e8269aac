// Package sqlite is a keystore.Store in an SQLite database file, through the
// pure-Go driver modernc.org/sqlite (no cgo). It is fieldcrypt's embedded
// default: one file, no server.
//
// Open creates the database file, readable and writable by its owner only
// (0600), and its schema on first use; with MustExist it refuses, creating
// nothing, a path that holds no fieldcrypt key store. SQLite creates the
// write-ahead log and shared-memory files beside it (path-wal, path-shm)
// with the database file's permissions. The path is taken literally: it is
// escaped into the SQLite URI, so no character in it can select another
// file or set an option.
//
// The database runs with secure_delete on, so the pages that held a deleted
// key are overwritten with zeros rather than left in the file's free list,
// and in WAL mode, with a checkpoint after every deletion so that the
// write-ahead log does not keep the old pages either. Open checks that both
// are in effect and refuses to run otherwise. Copies the file system or the
// disk make on their own (snapshots, SSD wear levelling) are beyond the
// reach of any database; the defence against those is that every stored key
// is wrapped by the KEK.
//
// Several processes may share one database file on a local disk. Each
// process learns of another's erasure only when its key cache entry expires;
// see the pii package documentation on time-to-forget. The same holds for
// consent: a withdrawal is in the file at once, and a process that caches
// consent answers sees it when its cached answer expires.
//
// The store also keeps legal holds, the erasure request log and consent
// (keystore.Holder, RequestLog, ConsentStore; schema version 4); Delete,
// DeleteExpired and Readdress check holds in their transaction. The
// histories are append-only: triggers refuse UPDATE and DELETE.
//
// Schema version 5 adds the tamper-evident audit trail (keystore.AuditLog,
// table fieldcrypt_audit): AppendAudit reads the chain's head and inserts
// the rows that continue it in one write transaction, which SQLite
// serializes across every process sharing the file.
//
// Schema version 6 adds vaulted tokens (keystore.TokenVault, tables
// fieldcrypt_tokens and fieldcrypt_token_counts): Delete, DeleteExpired,
// Readmit and Readdress remove an erased ID's mappings in their
// transaction, and Readdress moves a moved record's mappings with it.
package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	driver "modernc.org/sqlite" // registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Store is a keystore.Store in an SQLite database. It is safe for concurrent
// use.
type Store struct {
	db   *sql.DB
	now  func() time.Time
	path string // absolute: the key of the sweep lock (sweep.go)
}

var (
	_ keystore.Store        = (*Store)(nil)
	_ keystore.BatchCreator = (*Store)(nil)
	_ keystore.BatchGetter  = (*Store)(nil)
)

// migrations are applied in order; the schema version is their count. Never
// edit one that has been released: add another.
var migrations = []string{
	`CREATE TABLE fieldcrypt_keys (
		id         TEXT PRIMARY KEY,
		kek_id     TEXT NOT NULL,
		wrapped    BLOB NOT NULL,
		key_ids    TEXT NOT NULL,
		version    INTEGER NOT NULL,
		created_us INTEGER NOT NULL,
		updated_us INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE fieldcrypt_tombstones (
		id        TEXT PRIMARY KEY,
		erased_us INTEGER NOT NULL,
		reason    TEXT NOT NULL
	) WITHOUT ROWID;`,
	`ALTER TABLE fieldcrypt_keys ADD COLUMN retain_until_us INTEGER NOT NULL DEFAULT 0;
	CREATE INDEX fieldcrypt_keys_retention ON fieldcrypt_keys (retain_until_us, id) WHERE retain_until_us > 0;
	CREATE TABLE fieldcrypt_receipts (
		seq       INTEGER PRIMARY KEY AUTOINCREMENT,
		id        TEXT NOT NULL,
		kek_id    TEXT NOT NULL,
		key_ids   TEXT NOT NULL,
		erased_us INTEGER NOT NULL,
		reason    TEXT NOT NULL
	);
	CREATE INDEX fieldcrypt_receipts_id ON fieldcrypt_receipts (id, seq);
	CREATE TRIGGER fieldcrypt_receipts_no_update BEFORE UPDATE ON fieldcrypt_receipts
	BEGIN SELECT RAISE(ABORT, 'fieldcrypt_receipts is append-only'); END;
	CREATE TRIGGER fieldcrypt_receipts_no_delete BEFORE DELETE ON fieldcrypt_receipts
	BEGIN SELECT RAISE(ABORT, 'fieldcrypt_receipts is append-only'); END;`,
	// The incarnation tells one life of an ID from the next (review H1).
	// Records from before this migration keep '' (an Update of a record
	// read before it still matches); every record created since gets a
	// random one: from Create, or, if a process still running an older
	// fieldcrypt inserts it, from the trigger.
	`ALTER TABLE fieldcrypt_keys ADD COLUMN incarnation TEXT NOT NULL DEFAULT '';
	CREATE TRIGGER fieldcrypt_keys_incarnation AFTER INSERT ON fieldcrypt_keys WHEN NEW.incarnation = ''
	BEGIN UPDATE fieldcrypt_keys SET incarnation = lower(hex(randomblob(16))) WHERE id = NEW.id; END;`,
	// Data-subject rights (rights.go): legal holds, the erasure request
	// log and consent, with append-only histories.
	`CREATE TABLE fieldcrypt_holds (
		id        TEXT NOT NULL,
		reference TEXT NOT NULL,
		held_by   TEXT NOT NULL,
		held_us   INTEGER NOT NULL,
		PRIMARY KEY (id, reference)
	) WITHOUT ROWID;
	CREATE TABLE fieldcrypt_hold_history (
		seq       INTEGER PRIMARY KEY AUTOINCREMENT,
		id        TEXT NOT NULL,
		action    TEXT NOT NULL,
		reference TEXT NOT NULL,
		actor     TEXT NOT NULL,
		at_us     INTEGER NOT NULL
	);
	CREATE INDEX fieldcrypt_hold_history_id ON fieldcrypt_hold_history (id, seq);
	CREATE TABLE fieldcrypt_requests (
		seq         INTEGER PRIMARY KEY AUTOINCREMENT,
		request     INTEGER NOT NULL,
		id          TEXT NOT NULL,
		action      TEXT NOT NULL,
		at_us       INTEGER NOT NULL,
		actor       TEXT NOT NULL,
		ticket      TEXT NOT NULL,
		deadline_us INTEGER NOT NULL,
		receipt_seq INTEGER NOT NULL,
		reference   TEXT NOT NULL
	);
	CREATE INDEX fieldcrypt_requests_id ON fieldcrypt_requests (id, seq);
	CREATE TABLE fieldcrypt_consent (
		id      TEXT NOT NULL,
		purpose TEXT NOT NULL,
		granted INTEGER NOT NULL,
		actor   TEXT NOT NULL,
		at_us   INTEGER NOT NULL,
		PRIMARY KEY (id, purpose)
	) WITHOUT ROWID;
	CREATE TABLE fieldcrypt_consent_history (
		seq     INTEGER PRIMARY KEY AUTOINCREMENT,
		id      TEXT NOT NULL,
		purpose TEXT NOT NULL,
		action  TEXT NOT NULL,
		actor   TEXT NOT NULL,
		at_us   INTEGER NOT NULL
	);
	CREATE INDEX fieldcrypt_consent_history_id ON fieldcrypt_consent_history (id, seq);
	CREATE TRIGGER fieldcrypt_hold_history_no_update BEFORE UPDATE ON fieldcrypt_hold_history
	BEGIN SELECT RAISE(ABORT, 'fieldcrypt_hold_history is append-only'); END;
	CREATE TRIGGER fieldcrypt_hold_history_no_delete BEFORE DELETE ON fieldcrypt_hold_history
	BEGIN SELECT RAISE(ABORT, 'fieldcrypt_hold_history is append-only'); END;
	CREATE TRIGGER fieldcrypt_requests_no_update BEFORE UPDATE ON fieldcrypt_requests
	BEGIN SELECT RAISE(ABORT, 'fieldcrypt_requests is append-only'); END;
	CREATE TRIGGER fieldcrypt_requests_no_delete BEFORE DELETE ON fieldcrypt_requests
	BEGIN SELECT RAISE(ABORT, 'fieldcrypt_requests is append-only'); END;
	CREATE TRIGGER fieldcrypt_consent_history_no_update BEFORE UPDATE ON fieldcrypt_consent_history
	BEGIN SELECT RAISE(ABORT, 'fieldcrypt_consent_history is append-only'); END;
	CREATE TRIGGER fieldcrypt_consent_history_no_delete BEFORE DELETE ON fieldcrypt_consent_history
	BEGIN SELECT RAISE(ABORT, 'fieldcrypt_consent_history is append-only'); END;`,
	// The tamper-evident audit trail (audit.go): one hash-chained row per
	// batch of events (numbered first_event..last_event, one per line),
	// appended only.
	`CREATE TABLE fieldcrypt_audit (
		seq         INTEGER PRIMARY KEY,
		first_event INTEGER NOT NULL,
		last_event  INTEGER NOT NULL,
		prev        BLOB NOT NULL,
		events      TEXT NOT NULL,
		mac         BLOB NOT NULL
	);
	CREATE TRIGGER fieldcrypt_audit_no_update BEFORE UPDATE ON fieldcrypt_audit
	BEGIN SELECT RAISE(ABORT, 'fieldcrypt_audit is append-only'); END;
	CREATE TRIGGER fieldcrypt_audit_no_delete BEFORE DELETE ON fieldcrypt_audit
	BEGIN SELECT RAISE(ABORT, 'fieldcrypt_audit is append-only'); END;`,
	// Vaulted tokens (tokens.go): the mappings, the count of each
	// partition, and the mappings an erasure removed, in its receipt.
	`CREATE TABLE fieldcrypt_tokens (
		space      TEXT NOT NULL,
		part       TEXT NOT NULL,
		owner      TEXT NOT NULL,
		token      TEXT NOT NULL,
		idx        BLOB,
		sealed     BLOB NOT NULL,
		expires_us INTEGER NOT NULL DEFAULT 0,
		created_us INTEGER NOT NULL,
		PRIMARY KEY (space, part, token, owner)
	);
	CREATE INDEX fieldcrypt_tokens_idx ON fieldcrypt_tokens (space, part, idx) WHERE idx IS NOT NULL;
	CREATE INDEX fieldcrypt_tokens_owner ON fieldcrypt_tokens (owner);
	CREATE INDEX fieldcrypt_tokens_expiry ON fieldcrypt_tokens (expires_us) WHERE expires_us > 0;
	CREATE TABLE fieldcrypt_token_counts (
		space TEXT NOT NULL,
		part  TEXT NOT NULL,
		n     INTEGER NOT NULL,
		PRIMARY KEY (space, part)
	);
	ALTER TABLE fieldcrypt_receipts ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;`,
}

// Option configures Open.
type Option func(*options)

type options struct {
	mustExist bool
}

// MustExist makes Open refuse, with an error wrapping keystore.ErrNoStore,
// a path that holds no fieldcrypt key store: no file, or a file without
// fieldcrypt's schema. It then creates nothing and changes nothing. Every
// tool that only reads or maintains an existing store should use it, so
// that a mistyped path is an error rather than a new, empty store.
func MustExist() Option { return func(o *options) { o.mustExist = true } }

// Open opens the database at path and brings its schema up to date. It
// creates the file (mode 0600) if there is none, unless MustExist is given.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	uri, err := fileURI(path)
	if err != nil {
		return nil, err
	}
	if o.mustExist {
		if err := probe(ctx, path, uri); err != nil {
			return nil, fmt.Errorf("keystore/sqlite: open %s: %w", path, err)
		}
	} else if err := create(path); err != nil {
		return nil, fmt.Errorf("keystore/sqlite: open %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "secure_delete(ON)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Add("_pragma", "synchronous(FULL)")
	// Writers take the write lock when their transaction begins, so two
	// read-then-write transactions cannot deadlock on lock upgrade.
	q.Set("_txlock", "immediate")
	// Never create the file here: create has made it with the right mode,
	// and with MustExist a file removed since probe must stay missing.
	q.Set("mode", "rw")
	db, err := sql.Open("sqlite", uri+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("keystore/sqlite: open %s: %w", path, err)
	}
	s := &Store{db: db, now: time.Now, path: path}
	if abs, err := filepath.Abs(path); err == nil {
		s.path = abs
	}
	if err := s.checkSettings(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("keystore/sqlite: open %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("keystore/sqlite: open %s: %w", path, err)
	}
	return s, nil
}

// fileURI returns the SQLite URI that names path and nothing else: the
// characters SQLite's URI syntax gives a meaning to (% ? #) are escaped, and
// an absolute path gets an empty authority, so that one starting with "//"
// is not read as a host.
func fileURI(path string) (string, error) {
	if path == "" {
		return "", errors.New("keystore/sqlite: empty database path")
	}
	if strings.IndexByte(path, 0) >= 0 {
		return "", errors.New("keystore/sqlite: database path contains a NUL byte")
	}
	var b strings.Builder
	b.WriteString("file:")
	if strings.HasPrefix(path, "/") {
		b.WriteString("//")
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// create creates the database file, empty and readable by its owner only,
// if there is none. An existing file is left as it is.
func create(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// probe reports, without creating or changing anything, whether path holds
// a fieldcrypt key store: an SQLite database with fieldcrypt's schema.
func probe(ctx context.Context, path, uri string) error {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: there is no file", keystore.ErrNoStore)
	} else if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: not a regular file", keystore.ErrNoStore)
	}
	// No pragmas that write (journal_mode would convert another
	// application's database): read the schema and nothing else.
	db, err := sql.Open("sqlite", uri+"?mode=rw&_pragma="+url.QueryEscape("busy_timeout(10000)"))
	if err != nil {
		return err
	}
	defer db.Close()
	var version, tables int
	err = db.QueryRowContext(ctx, `SELECT (SELECT user_version FROM pragma_user_version),
		(SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'fieldcrypt_keys')`).Scan(&version, &tables)
	var se *driver.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_NOTADB {
		return fmt.Errorf("%w: not an SQLite database", keystore.ErrNoStore)
	} else if err != nil {
		return err
	}
	if version == 0 || tables == 0 {
		return fmt.Errorf("%w: the database has no fieldcrypt schema", keystore.ErrNoStore)
	}
	return nil
}

// checkSettings refuses a connection without the settings erasure relies
// on: secure_delete, and the write-ahead log that Delete checkpoints.
func (s *Store) checkSettings(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var secureDelete int
	if err := conn.QueryRowContext(ctx, `PRAGMA secure_delete`).Scan(&secureDelete); err != nil {
		return err
	}
	if secureDelete != 1 {
		return fmt.Errorf("secure_delete is %d, not 1: deleted keys would stay in the file; refusing to run", secureDelete)
	}
	var mode string
	if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, not WAL (is the file on a network file system?): refusing to run", mode)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this fieldcrypt (%d): upgrade fieldcrypt", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `PRAGMA user_version = `+strconv.Itoa(len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}

// Get implements keystore.Store.
func (s *Store) Get(ctx context.Context, id string) (keystore.Record, error) {
	// One statement, so the tombstone check and the read see one snapshot.
	row := s.db.QueryRowContext(ctx, `
		SELECT EXISTS (SELECT 1 FROM fieldcrypt_tombstones WHERE id = ?1),
		       k.kek_id, k.wrapped, k.key_ids, k.version, k.incarnation, k.created_us, k.updated_us, k.retain_until_us
		FROM (SELECT 1) LEFT JOIN fieldcrypt_keys k ON k.id = ?1`, id)
	var (
		tombstoned                        bool
		kekID, keyIDs, incarnation        sql.NullString
		wrapped                           []byte
		version, created, updated, retain sql.NullInt64
	)
	if err := row.Scan(&tombstoned, &kekID, &wrapped, &keyIDs, &version, &incarnation, &created, &updated, &retain); err != nil {
		return keystore.Record{}, s.fail("get", err)
	}
	if tombstoned {
		return keystore.Record{}, keystore.ErrTombstoned
	}
	if !kekID.Valid {
		return keystore.Record{}, keystore.ErrNotFound
	}
	return toRecord(id, kekID.String, wrapped, keyIDs.String, version.Int64, incarnation.String, created.Int64, updated.Int64, retain.Int64)
}

// GetMany implements keystore.BatchGetter: one statement, so one
// snapshot, for every ID.
func (s *Store) GetMany(ctx context.Context, ids []string) ([]keystore.GetResult, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, s.fail("get", err)
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT u.key, EXISTS (SELECT 1 FROM fieldcrypt_tombstones t WHERE t.id = u.value),
		       k.kek_id, k.wrapped, k.key_ids, k.version, k.incarnation, k.created_us, k.updated_us, k.retain_until_us
		FROM json_each(?1) u LEFT JOIN fieldcrypt_keys k ON k.id = u.value`, string(list))
	if err != nil {
		return nil, s.fail("get", err)
	}
	defer rows.Close()
	out := make([]keystore.GetResult, len(ids))
	seen := 0
	for rows.Next() {
		var (
			i                                 int
			tombstoned                        bool
			kekID, keyIDs, incarnation        sql.NullString
			wrapped                           []byte
			version, created, updated, retain sql.NullInt64
		)
		if err := rows.Scan(&i, &tombstoned, &kekID, &wrapped, &keyIDs, &version, &incarnation, &created, &updated, &retain); err != nil {
			return nil, s.fail("get", err)
		}
		if i < 0 || i >= len(ids) {
			return nil, s.fail("get", fmt.Errorf("row for index %d of %d", i, len(ids)))
		}
		seen++
		switch {
		case tombstoned:
			out[i].Err = keystore.ErrTombstoned
		case !kekID.Valid:
			out[i].Err = keystore.ErrNotFound
		default:
			rec, err := toRecord(ids[i], kekID.String, wrapped, keyIDs.String, version.Int64, incarnation.String, created.Int64, updated.Int64, retain.Int64)
			if err != nil {
				return nil, err
			}
			out[i].Record = rec
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("get", err)
	}
	if seen != len(ids) {
		return nil, s.fail("get", fmt.Errorf("read %d rows for %d IDs", seen, len(ids)))
	}
	return out, nil
}

// Create implements keystore.Store.
func (s *Store) Create(ctx context.Context, rec keystore.Record) (keystore.Record, bool, error) {
	if err := keystore.Validate(rec); err != nil {
		return keystore.Record{}, false, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return keystore.Record{}, false, s.fail("create", err)
	}
	defer tx.Rollback()
	if tombstoned, err := hasTombstone(ctx, tx, rec.ID); err != nil {
		return keystore.Record{}, false, s.fail("create", err)
	} else if tombstoned {
		return keystore.Record{}, false, keystore.ErrTombstoned
	}
	now := s.clock()
	res, err := tx.ExecContext(ctx, `
		INSERT INTO fieldcrypt_keys (id, kek_id, wrapped, key_ids, version, incarnation, created_us, updated_us, retain_until_us)
		VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		rec.ID, rec.KEKID, rec.Wrapped, formatKeyIDs(rec.KeyIDs), rand.Text(), now.UnixMicro(), now.UnixMicro(), micros(rec.RetainUntil))
	if err != nil {
		return keystore.Record{}, false, s.fail("create", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return keystore.Record{}, false, s.fail("create", err)
	}
	stored, err := getTx(ctx, tx, rec.ID)
	if err != nil {
		return keystore.Record{}, false, s.fail("create", err)
	}
	if err := tx.Commit(); err != nil {
		return keystore.Record{}, false, s.fail("create", err)
	}
	return stored, n == 1, nil
}

// CreateMany implements keystore.BatchCreator: every record in one write
// transaction, so one durable commit instead of one per record. Each
// record's tombstone check and insertion happen under the transaction's
// write lock, as in Create.
func (s *Store) CreateMany(ctx context.Context, recs []keystore.Record) ([]keystore.CreateResult, error) {
	for _, rec := range recs {
		if err := keystore.Validate(rec); err != nil {
			return nil, err
		}
	}
	if len(recs) == 0 {
		return nil, nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, s.fail("create", err)
	}
	defer tx.Rollback()
	tomb, err := tx.PrepareContext(ctx, `SELECT EXISTS (SELECT 1 FROM fieldcrypt_tombstones WHERE id = ?)`)
	if err != nil {
		return nil, s.fail("create", err)
	}
	defer tomb.Close()
	ins, err := tx.PrepareContext(ctx, `
		INSERT INTO fieldcrypt_keys (id, kek_id, wrapped, key_ids, version, incarnation, created_us, updated_us, retain_until_us)
		VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`)
	if err != nil {
		return nil, s.fail("create", err)
	}
	defer ins.Close()
	now := s.clock().UnixMicro()
	out := make([]keystore.CreateResult, len(recs))
	for i, rec := range recs {
		var tombstoned bool
		if err := tomb.QueryRowContext(ctx, rec.ID).Scan(&tombstoned); err != nil {
			return nil, s.fail("create", err)
		}
		if tombstoned {
			out[i] = keystore.CreateResult{Err: keystore.ErrTombstoned}
			continue
		}
		keyIDs, incarnation, retain := formatKeyIDs(rec.KeyIDs), rand.Text(), micros(rec.RetainUntil)
		res, err := ins.ExecContext(ctx, rec.ID, rec.KEKID, rec.Wrapped, keyIDs, incarnation, now, now, retain)
		if err != nil {
			return nil, s.fail("create", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, s.fail("create", err)
		}
		if n == 1 {
			// What Get would read back, without reading it.
			stored, err := toRecord(rec.ID, rec.KEKID, bytes.Clone(rec.Wrapped), keyIDs, 1, incarnation, now, now, retain)
			if err != nil {
				return nil, s.fail("create", err)
			}
			out[i] = keystore.CreateResult{Stored: stored, Created: true}
			continue
		}
		stored, err := getTx(ctx, tx, rec.ID)
		if err != nil {
			return nil, s.fail("create", err)
		}
		out[i] = keystore.CreateResult{Stored: stored}
	}
	if err := tx.Commit(); err != nil {
		return nil, s.fail("create", err)
	}
	return out, nil
}

// Update implements keystore.Store.
func (s *Store) Update(ctx context.Context, rec keystore.Record) (keystore.Record, error) {
	if err := keystore.Validate(rec); err != nil {
		return keystore.Record{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return keystore.Record{}, s.fail("update", err)
	}
	defer tx.Rollback()
	if tombstoned, err := hasTombstone(ctx, tx, rec.ID); err != nil {
		return keystore.Record{}, s.fail("update", err)
	} else if tombstoned {
		return keystore.Record{}, keystore.ErrTombstoned
	}
	cur, err := getTx(ctx, tx, rec.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return keystore.Record{}, keystore.ErrNotFound
	} else if err != nil {
		return keystore.Record{}, s.fail("update", err)
	}
	if cur.Version != rec.Version {
		return keystore.Record{}, fmt.Errorf("%w: have version %d, update is against %d", keystore.ErrConflict, cur.Version, rec.Version)
	}
	if cur.Incarnation != rec.Incarnation {
		return keystore.Record{}, fmt.Errorf("%w: the record was erased and created again since it was read", keystore.ErrConflict)
	}
	now := s.clock()
	res, err := tx.ExecContext(ctx, `
		UPDATE fieldcrypt_keys SET kek_id = ?, wrapped = ?, key_ids = ?, version = version + 1, updated_us = ?, retain_until_us = ?
		WHERE id = ? AND version = ? AND incarnation = ?`,
		rec.KEKID, rec.Wrapped, formatKeyIDs(rec.KeyIDs), now.UnixMicro(), micros(rec.RetainUntil), rec.ID, rec.Version, rec.Incarnation)
	if err != nil {
		return keystore.Record{}, s.fail("update", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return keystore.Record{}, s.fail("update", err)
	} else if n != 1 {
		// Unreachable while the transaction holds the write lock.
		return keystore.Record{}, fmt.Errorf("%w: the record changed during the update", keystore.ErrConflict)
	}
	stored, err := getTx(ctx, tx, rec.ID)
	if err != nil {
		return keystore.Record{}, s.fail("update", err)
	}
	if err := tx.Commit(); err != nil {
		return keystore.Record{}, s.fail("update", err)
	}
	return stored, nil
}

// Delete implements keystore.Store.
func (s *Store) Delete(ctx context.Context, t keystore.Tombstone) (keystore.Deletion, error) {
	return s.delete(ctx, t, nil)
}

// DeleteExpired implements keystore.Store.
func (s *Store) DeleteExpired(ctx context.Context, t keystore.Tombstone, now time.Time) (keystore.Deletion, error) {
	return s.delete(ctx, t, func(rec keystore.Record, found, tombstoned bool) error {
		return keystore.CheckExpired(rec, found, tombstoned, now)
	})
}

// delete erases t.ID, if allow (when given) agrees, in one transaction.
func (s *Store) delete(ctx context.Context, t keystore.Tombstone, allow func(rec keystore.Record, found, tombstoned bool) error) (keystore.Deletion, error) {
	if err := keystore.ValidateID(t.ID); err != nil {
		return keystore.Deletion{}, err
	}
	if t.ErasedAt.IsZero() {
		t.ErasedAt = s.clock()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return keystore.Deletion{}, s.fail("delete", err)
	}
	defer tx.Rollback()
	hadTombstone, err := hasTombstone(ctx, tx, t.ID)
	if err != nil {
		return keystore.Deletion{}, s.fail("delete", err)
	}
	removed, err := getTx(ctx, tx, t.ID)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return keystore.Deletion{}, s.fail("delete", err)
	}
	if err := heldTx(ctx, tx, t.ID); err != nil {
		return keystore.Deletion{}, s.failIf("delete", err)
	}
	if allow != nil {
		if err := allow(removed, found, hadTombstone); err != nil {
			return keystore.Deletion{}, err
		}
	}
	if !hadTombstone {
		if _, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_tombstones (id, erased_us, reason) VALUES (?, ?, ?)`,
			t.ID, t.ErasedAt.UnixMicro(), t.Reason); err != nil {
			return keystore.Deletion{}, s.fail("delete", err)
		}
	}
	if found {
		if _, err := tx.ExecContext(ctx, `DELETE FROM fieldcrypt_keys WHERE id = ?`, t.ID); err != nil {
			return keystore.Deletion{}, s.fail("delete", err)
		}
	}
	tokens, err := removeOwnerTokens(ctx, tx, t.ID)
	if err != nil {
		return keystore.Deletion{}, s.fail("delete", err)
	}
	var receiptSeq int64
	if !hadTombstone || found || tokens > 0 {
		res, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_receipts (id, kek_id, key_ids, erased_us, reason, tokens) VALUES (?, ?, ?, ?, ?, ?)`,
			t.ID, removed.KEKID, formatKeyIDs(removed.KeyIDs), t.ErasedAt.UnixMicro(), t.Reason, tokens)
		if err != nil {
			return keystore.Deletion{}, s.fail("delete", err)
		}
		if receiptSeq, err = res.LastInsertId(); err != nil {
			return keystore.Deletion{}, s.fail("delete", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return keystore.Deletion{}, s.fail("delete", err)
	}
	if found || tokens > 0 {
		// Move the write-ahead log into the database file and truncate it,
		// so the pages that held the key survive in neither. Best effort: a
		// long-running reader elsewhere can hold the log, and then the next
		// deletion's checkpoint clears it.
		s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return keystore.Deletion{Removed: removed, Found: found, AlreadyTombstoned: hadTombstone, ReceiptSeq: receiptSeq, Tokens: tokens}, nil
}

// GetTombstone implements keystore.Store.
func (s *Store) GetTombstone(ctx context.Context, id string) (keystore.Tombstone, error) {
	var erased int64
	var reason string
	err := s.db.QueryRowContext(ctx, `SELECT erased_us, reason FROM fieldcrypt_tombstones WHERE id = ?`, id).Scan(&erased, &reason)
	if errors.Is(err, sql.ErrNoRows) {
		return keystore.Tombstone{}, keystore.ErrNotFound
	} else if err != nil {
		return keystore.Tombstone{}, s.fail("get tombstone", err)
	}
	return keystore.Tombstone{ID: id, ErasedAt: time.UnixMicro(erased).UTC(), Reason: reason}, nil
}

// Readmit implements keystore.Store.
func (s *Store) Readmit(ctx context.Context, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("readmit", err)
	}
	defer tx.Rollback()
	var reason string
	err = tx.QueryRowContext(ctx, `SELECT reason FROM fieldcrypt_tombstones WHERE id = ?`, id).Scan(&reason)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return s.fail("readmit", err)
	}
	// A record beside the tombstone was brought back by a restore: it holds
	// the erased keys, and goes with the tombstone.
	restored, err := getTx(ctx, tx, id)
	found := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return s.fail("readmit", err)
	}
	tokens, err := removeOwnerTokens(ctx, tx, id)
	if err != nil {
		return s.fail("readmit", err)
	}
	if found || tokens > 0 {
		if _, err := tx.ExecContext(ctx, `DELETE FROM fieldcrypt_keys WHERE id = ?`, id); err != nil {
			return s.fail("readmit", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO fieldcrypt_receipts (id, kek_id, key_ids, erased_us, reason, tokens) VALUES (?, ?, ?, ?, ?, ?)`,
			id, restored.KEKID, formatKeyIDs(restored.KeyIDs), s.clock().UnixMicro(), reason, tokens); err != nil {
			return s.fail("readmit", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM fieldcrypt_tombstones WHERE id = ?`, id); err != nil {
		return s.fail("readmit", err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail("readmit", err)
	}
	if found {
		s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`) // as in delete
	}
	return nil
}

// Scan implements keystore.Store.
func (s *Store) Scan(ctx context.Context, after string, limit int) ([]keystore.Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: scan limit must be positive", keystore.ErrInvalid)
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+recordColumns+`
		FROM fieldcrypt_keys WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, s.fail("scan", err)
	}
	defer rows.Close()
	var out []keystore.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, s.fail("scan", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("scan", err)
	}
	return out, nil
}

// Receipts implements keystore.Store.
func (s *Store) Receipts(ctx context.Context, q keystore.ReceiptQuery) ([]keystore.Receipt, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("%w: receipt limit must be positive", keystore.ErrInvalid)
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT seq, id, kek_id, key_ids, erased_us, reason, tokens FROM fieldcrypt_receipts
		WHERE seq > ? AND (? = '' OR id = ?) ORDER BY seq LIMIT ?`, q.After, q.ID, q.ID, q.Limit)
	if err != nil {
		return nil, s.fail("receipts", err)
	}
	defer rows.Close()
	var out []keystore.Receipt
	for rows.Next() {
		var r keystore.Receipt
		var keyIDs string
		var erased int64
		if err := rows.Scan(&r.Seq, &r.ID, &r.KEKID, &keyIDs, &erased, &r.Reason, &r.Tokens); err != nil {
			return nil, s.fail("receipts", err)
		}
		if r.KeyIDs, err = parseKeyIDs(keyIDs); err != nil {
			return nil, s.fail("receipts", err)
		}
		r.ErasedAt = time.UnixMicro(erased).UTC()
		out = append(out, r)
	}
	return out, s.failIf("receipts", rows.Err())
}

// Tombstones implements keystore.Store.
func (s *Store) Tombstones(ctx context.Context, after string, limit int) ([]keystore.Tombstone, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit must be positive", keystore.ErrInvalid)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id, erased_us, reason FROM fieldcrypt_tombstones WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, s.fail("tombstones", err)
	}
	defer rows.Close()
	var out []keystore.Tombstone
	for rows.Next() {
		var t keystore.Tombstone
		var erased int64
		if err := rows.Scan(&t.ID, &erased, &t.Reason); err != nil {
			return nil, s.fail("tombstones", err)
		}
		t.ErasedAt = time.UnixMicro(erased).UTC()
		out = append(out, t)
	}
	return out, s.failIf("tombstones", rows.Err())
}

// ScanExpired implements keystore.Store.
func (s *Store) ScanExpired(ctx context.Context, now time.Time, limit int) ([]keystore.Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit must be positive", keystore.ErrInvalid)
	}
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+recordColumns+` FROM fieldcrypt_keys
		WHERE retain_until_us > 0 AND retain_until_us <= ? ORDER BY retain_until_us, id LIMIT ?`, now.UnixMicro(), limit)
	if err != nil {
		return nil, s.fail("scan expired", err)
	}
	defer rows.Close()
	var out []keystore.Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, s.fail("scan expired", err)
		}
		out = append(out, r)
	}
	return out, s.failIf("scan expired", rows.Err())
}

func (s *Store) failIf(op string, err error) error {
	if err == nil {
		return nil
	}
	return s.fail(op, err)
}

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *Store) fail(op string, err error) error {
	var he *keystore.HoldError
	if errors.As(err, &he) {
		return err
	}
	return fmt.Errorf("keystore/sqlite: %s: %w", op, err)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func hasTombstone(ctx context.Context, q queryer, id string) (bool, error) {
	var exists bool
	err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM fieldcrypt_tombstones WHERE id = ?)`, id).Scan(&exists)
	return exists, err
}

func getTx(ctx context.Context, q queryer, id string) (keystore.Record, error) {
	return scanRecord(q.QueryRowContext(ctx, `SELECT `+recordColumns+` FROM fieldcrypt_keys WHERE id = ?`, id))
}

type scanner interface{ Scan(dest ...any) error }

const recordColumns = `id, kek_id, wrapped, key_ids, version, incarnation, created_us, updated_us, retain_until_us`

func scanRecord(row scanner) (keystore.Record, error) {
	var (
		id, kekID, keyIDs, incarnation    string
		wrapped                           []byte
		version, created, updated, retain int64
	)
	if err := row.Scan(&id, &kekID, &wrapped, &keyIDs, &version, &incarnation, &created, &updated, &retain); err != nil {
		return keystore.Record{}, err
	}
	return toRecord(id, kekID, wrapped, keyIDs, version, incarnation, created, updated, retain)
}

// micros stores a time as microseconds since the epoch; zero stays 0.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func toRecord(id, kekID string, wrapped []byte, keyIDs string, version int64, incarnation string, created, updated, retain int64) (keystore.Record, error) {
	ids, err := parseKeyIDs(keyIDs)
	if err != nil {
		return keystore.Record{}, fmt.Errorf("keystore/sqlite: record has corrupt key ids: %w", err)
	}
	return keystore.Record{
		ID:          id,
		KEKID:       kekID,
		Wrapped:     wrapped,
		KeyIDs:      ids,
		Version:     version,
		Incarnation: incarnation,
		Created:     time.UnixMicro(created).UTC(),
		Updated:     time.UnixMicro(updated).UTC(),
		RetainUntil: fromMicros(retain),
	}, nil
}

func formatKeyIDs(ids []uint32) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(uint64(id), 10))
	}
	return b.String()
}

func parseKeyIDs(s string) ([]uint32, error) {
	if s == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	ids := make([]uint32, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, err
		}
		ids[i] = uint32(n)
	}
	return ids, nil
}
