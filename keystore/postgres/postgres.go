// Package postgres is a keystore.Store in PostgreSQL, through pgx, for
// applications that run as several instances sharing one key store.
//
// The schema is created by embedded, versioned migrations on first use (see
// Migrate), under an advisory lock so that instances starting together do
// not race; with MustExist, Open refuses a database without the schema
// (keystore.ErrNoStore) instead of creating it. Every operation on one
// record ID takes a transaction-scoped advisory lock on that ID, so that a
// concurrent creation and erasure of one subject resolve in one order: once
// the tombstone is committed, no key can be created for that ID.
//
// Erasures are announced with NOTIFY on the channel "fieldcrypt_erased",
// carrying the record ID, readmissions on the same channel with the
// prefix " readmit ", and consent changes (keystore.ConsentStore) with the
// prefix " consent "; WatchErasures listens for them (with a reconnecting
// listener, which reports a lost connection at once), which lets every
// instance evict an erased key at once instead of when its cache entry
// expires. Any role that can connect to the database can NOTIFY, so an
// announcement is a hint: payloads that are not valid record IDs are
// dropped, and the rest must be confirmed against the store before they
// are trusted (see keystore.ErasureEvents). A database of its own for the
// key store keeps other applications' roles off the channel. LISTEN needs a
// session of its own: a transaction-pooling connection pooler (PgBouncer in
// transaction mode) cannot carry it.
//
// A connection the server refused or ended (a restart, a crash, a
// failover; SQLSTATE class 08, 57P01-57P03, 53300, or no answer at all)
// is reported as an error matching kms.ErrUnavailable, so kms.Retryable
// reports true for it as for an unreachable KEK; the pool connects again
// on the next call, and the first use of each pooled connection the
// server ended fails once that way. Every operation is safe to retry.
//
// The store also keeps legal holds, the erasure request log and consent
// (keystore.Holder, RequestLog, ConsentStore; schema version 4). A hold is
// checked by Delete, DeleteExpired and Readdress under the ID's advisory
// lock, so an erasure never races past a hold placed by another instance.
// The histories are append-only: triggers refuse UPDATE, DELETE and
// TRUNCATE, whoever asks.
//
// Schema version 5 adds the tamper-evident audit trail (keystore.AuditLog,
// table fieldcrypt_audit). AppendAudit locks the table in SHARE ROW
// EXCLUSIVE mode (which conflicts with itself, not with readers), reads
// the chain's head and inserts the rows that continue it in one
// transaction, so instances appending at once take turns and never fork
// the chain; the primary key on the sequence number refuses a fork
// besides.
//
// # What an erasure leaves on disk
//
// Delete removes the row, but PostgreSQL keeps the deleted row version in
// the table's file until a vacuum, and a plain VACUUM (autovacuum included)
// can leave fragments of it in the page's free space. Vacuum rewrites the
// table so that no file of the database holds an erased wrapped key. The
// write-ahead log still holds it until its segments are recycled, and WAL
// archives, base backups and replicas keep their copies for as long as they
// are kept. These are wrapped keys, useless without the KEK: rotating the
// KEK, re-wrapping every record under the new version, and then retiring
// the old versions (Vault's min_decryption_version, destroying a KMS key
// version) is what makes every such copy unreadable.
package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Channel is the NOTIFY channel erasures are announced on.
const Channel = "fieldcrypt_erased"

// Store is a keystore.Store in PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	dsn  string
	now  func() time.Time
}

var (
	_ keystore.Store          = (*Store)(nil)
	_ keystore.ErasureWatcher = (*Store)(nil)
	_ keystore.BatchCreator   = (*Store)(nil)
	_ keystore.BatchGetter    = (*Store)(nil)
)

// migrations are applied in order; the schema version is their count. Never
// edit one that has been released: add another.
var migrations = []string{
	`CREATE TABLE fieldcrypt_keys (
		id      text COLLATE "C" PRIMARY KEY,
		kek_id  text NOT NULL,
		wrapped bytea NOT NULL,
		key_ids bigint[] NOT NULL,
		version bigint NOT NULL,
		created timestamptz NOT NULL,
		updated timestamptz NOT NULL
	);
	CREATE TABLE fieldcrypt_tombstones (
		id        text COLLATE "C" PRIMARY KEY,
		erased_at timestamptz NOT NULL,
		reason    text NOT NULL
	);`,
	`ALTER TABLE fieldcrypt_keys ADD COLUMN retain_until timestamptz;
	CREATE INDEX fieldcrypt_keys_retention ON fieldcrypt_keys (retain_until, id) WHERE retain_until IS NOT NULL;
	CREATE TABLE fieldcrypt_receipts (
		seq       bigserial PRIMARY KEY,
		id        text COLLATE "C" NOT NULL,
		kek_id    text NOT NULL,
		key_ids   bigint[] NOT NULL,
		erased_at timestamptz NOT NULL,
		reason    text NOT NULL
	);
	CREATE INDEX fieldcrypt_receipts_id ON fieldcrypt_receipts (id, seq);
	CREATE FUNCTION fieldcrypt_receipts_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		RAISE EXCEPTION 'fieldcrypt_receipts is append-only';
	END $$;
	CREATE TRIGGER fieldcrypt_receipts_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON fieldcrypt_receipts
		FOR EACH STATEMENT EXECUTE FUNCTION fieldcrypt_receipts_append_only();`,
	// The incarnation tells one life of an ID from the next (review H1).
	// Records from before this migration keep '' (an Update of a record
	// read before it still matches; adding the column rewrites nothing);
	// every record created since gets a random one: from Create, or, if an
	// instance still running an older fieldcrypt inserts it, from the
	// column default.
	`ALTER TABLE fieldcrypt_keys ADD COLUMN incarnation text NOT NULL DEFAULT '';
	ALTER TABLE fieldcrypt_keys ALTER COLUMN incarnation SET DEFAULT md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text);`,
	// Data-subject rights (rights.go): legal holds, the erasure request
	// log and consent, with append-only histories.
	`CREATE TABLE fieldcrypt_holds (
		id        text COLLATE "C" NOT NULL,
		reference text NOT NULL,
		held_by   text NOT NULL,
		held_at   timestamptz NOT NULL,
		PRIMARY KEY (id, reference)
	);
	CREATE TABLE fieldcrypt_hold_history (
		seq       bigserial PRIMARY KEY,
		id        text COLLATE "C" NOT NULL,
		action    text NOT NULL,
		reference text NOT NULL,
		actor     text NOT NULL,
		at        timestamptz NOT NULL
	);
	CREATE INDEX fieldcrypt_hold_history_id ON fieldcrypt_hold_history (id, seq);
	CREATE TABLE fieldcrypt_requests (
		seq         bigserial PRIMARY KEY,
		request     bigint NOT NULL,
		id          text COLLATE "C" NOT NULL,
		action      text NOT NULL,
		at          timestamptz NOT NULL,
		actor       text NOT NULL,
		ticket      text NOT NULL,
		deadline    timestamptz,
		receipt_seq bigint NOT NULL,
		reference   text NOT NULL
	);
	CREATE INDEX fieldcrypt_requests_id ON fieldcrypt_requests (id, seq);
	CREATE TABLE fieldcrypt_consent (
		id      text COLLATE "C" NOT NULL,
		purpose text NOT NULL,
		granted boolean NOT NULL,
		actor   text NOT NULL,
		at      timestamptz NOT NULL,
		PRIMARY KEY (id, purpose)
	);
	CREATE TABLE fieldcrypt_consent_history (
		seq     bigserial PRIMARY KEY,
		id      text COLLATE "C" NOT NULL,
		purpose text NOT NULL,
		action  text NOT NULL,
		actor   text NOT NULL,
		at      timestamptz NOT NULL
	);
	CREATE INDEX fieldcrypt_consent_history_id ON fieldcrypt_consent_history (id, seq);
	CREATE FUNCTION fieldcrypt_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
	END $$;
	CREATE TRIGGER fieldcrypt_hold_history_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON fieldcrypt_hold_history
		FOR EACH STATEMENT EXECUTE FUNCTION fieldcrypt_append_only();
	CREATE TRIGGER fieldcrypt_requests_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON fieldcrypt_requests
		FOR EACH STATEMENT EXECUTE FUNCTION fieldcrypt_append_only();
	CREATE TRIGGER fieldcrypt_consent_history_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON fieldcrypt_consent_history
		FOR EACH STATEMENT EXECUTE FUNCTION fieldcrypt_append_only();`,
	// The tamper-evident audit trail (audit.go): one hash-chained row per
	// batch of events (events numbered first_event..last_event, one per
	// line), appended only. A batch (~250 bytes an event) is compressed
	// with lz4 where the server has it: measured on PostgreSQL 15 with
	// batches of 1024 events, 0.4 µs an event against 1.6 with pglz and
	// 2.0 stored out of line uncompressed (STORAGE EXTERNAL), whose
	// hundred-odd TOAST rows per batch cost more than compressing.
	`CREATE TABLE fieldcrypt_audit (
		seq         bigint PRIMARY KEY CHECK (seq > 0),
		first_event bigint NOT NULL,
		last_event  bigint NOT NULL,
		prev        bytea NOT NULL,
		events      text NOT NULL,
		mac         bytea NOT NULL
	);
	DO $$ BEGIN
		ALTER TABLE fieldcrypt_audit ALTER COLUMN events SET COMPRESSION lz4;
	EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
		NULL; -- a server built without lz4 keeps pglz
	END $$;
	CREATE TRIGGER fieldcrypt_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON fieldcrypt_audit
		FOR EACH STATEMENT EXECUTE FUNCTION fieldcrypt_append_only();`,
	tokenMigration, // tokens.go
}

// Option configures Open.
type Option func(*options)

type options struct {
	mustExist bool
}

// MustExist makes Open refuse, with an error wrapping keystore.ErrNoStore,
// a database (more exactly: a search_path) without fieldcrypt's schema,
// instead of creating the schema there. An existing schema is still
// brought up to date. Every tool that only reads or maintains an existing
// store should use it, so that a mistyped database name is an error rather
// than a new, empty store.
func MustExist() Option { return func(o *options) { o.mustExist = true } }

// Open connects to the database named by dsn (a PostgreSQL URL or key=value
// string, as pgx accepts) and brings its schema up to date, creating it if
// there is none, unless MustExist is given.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("keystore/postgres: %w", err)
	}
	s := &Store{pool: pool, dsn: dsn, now: time.Now}
	if o.mustExist {
		if err := s.exists(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// exists fails with keystore.ErrNoStore unless fieldcrypt's tables are on
// the search path. It creates nothing.
func (s *Store) exists(ctx context.Context) error {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT to_regclass('fieldcrypt_schema') IS NOT NULL AND to_regclass('fieldcrypt_keys') IS NOT NULL`).Scan(&ok)
	if err != nil {
		return s.fail("open", err)
	}
	if !ok {
		return fmt.Errorf("keystore/postgres: %w: the database has no fieldcrypt schema", keystore.ErrNoStore)
	}
	return nil
}

// Close closes every connection.
func (s *Store) Close() { s.pool.Close() }

// migrationLock is the advisory lock key held while migrating.
const migrationLock = 0x6669656c64637279 // "fieldcry"

// Migrate brings the schema up to date. Open calls it; operators can run it
// ahead of a deployment with `fieldcrypt keystore migrate`.
//
// A schema that is already up to date is left alone without any DDL, so
// that an application's role needs only the rights to use the tables
// (SELECT, INSERT, UPDATE, DELETE, and USAGE on the receipts' sequence)
// while a more privileged role runs the migrations.
func (s *Store) Migrate(ctx context.Context) error {
	var current bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('fieldcrypt_schema') IS NOT NULL`).Scan(&current); err != nil {
		return s.fail("migrate", err)
	}
	if current {
		if v, err := s.SchemaVersion(ctx); err == nil && v == len(migrations) {
			return nil
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS fieldcrypt_schema (version int NOT NULL)`); err != nil {
			return err
		}
		var version int
		err := tx.QueryRow(ctx, `SELECT version FROM fieldcrypt_schema`).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			if _, err := tx.Exec(ctx, `INSERT INTO fieldcrypt_schema (version) VALUES (0)`); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if version > len(migrations) {
			return fmt.Errorf("schema version %d is newer than this fieldcrypt (%d): upgrade fieldcrypt", version, len(migrations))
		}
		for i := version; i < len(migrations); i++ {
			if _, err := tx.Exec(ctx, migrations[i]); err != nil {
				return fmt.Errorf("migration %d: %w", i+1, err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE fieldcrypt_schema SET version = $1`, len(migrations))
		return err
	})
}

// SchemaVersion reports the schema version of the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT version FROM fieldcrypt_schema`).Scan(&v)
	return v, err
}

const recordColumns = `id, kek_id, wrapped, key_ids, version, incarnation, created, updated, retain_until`

func scanRecord(row pgx.Row) (keystore.Record, error) {
	var r keystore.Record
	var ids []int64
	var retain *time.Time
	if err := row.Scan(&r.ID, &r.KEKID, &r.Wrapped, &ids, &r.Version, &r.Incarnation, &r.Created, &r.Updated, &retain); err != nil {
		return keystore.Record{}, err
	}
	if retain != nil {
		r.RetainUntil = retain.UTC()
	}
	for _, id := range ids {
		r.KeyIDs = append(r.KeyIDs, uint32(id))
	}
	r.Created, r.Updated = r.Created.UTC(), r.Updated.UTC()
	return r, nil
}

func keyIDs(ids []uint32) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = int64(id)
	}
	return out
}

// lockID serialises every change to one record ID (transaction-scoped).
func lockID(ctx context.Context, tx pgx.Tx, id string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, id)
	return err
}

// lockLive serialises every change to id, like lockID, and fails with
// keystore.ErrTombstoned if id was erased.
func lockLive(ctx context.Context, tx pgx.Tx, id string) error {
	if err := lockID(ctx, tx, id); err != nil {
		return err
	}
	if t, err := tombstoned(ctx, tx, id); err != nil {
		return err
	} else if t {
		return keystore.ErrTombstoned
	}
	return nil
}

func tombstoned(ctx context.Context, tx pgx.Tx, id string) (bool, error) {
	var exists bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM fieldcrypt_tombstones WHERE id = $1)`, id).Scan(&exists)
	return exists, err
}

// Get implements keystore.Store.
func (s *Store) Get(ctx context.Context, id string) (keystore.Record, error) {
	// One statement, one snapshot: the tombstone check and the read agree.
	rows, err := s.pool.Query(ctx, `
		SELECT EXISTS (SELECT 1 FROM fieldcrypt_tombstones WHERE id = $1), `+recordColumns+`
		FROM fieldcrypt_keys WHERE id = $1
		UNION ALL
		SELECT EXISTS (SELECT 1 FROM fieldcrypt_tombstones WHERE id = $1), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
		WHERE NOT EXISTS (SELECT 1 FROM fieldcrypt_keys WHERE id = $1)`, id)
	if err != nil {
		return keystore.Record{}, s.fail("get", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return keystore.Record{}, s.fail("get", rows.Err())
	}
	var (
		isTombstoned bool
		rid, kekID   *string
		wrapped      []byte
		ids          []int64
		version      *int64
		incarnation  *string
		created, upd *time.Time
		retain       *time.Time
	)
	if err := rows.Scan(&isTombstoned, &rid, &kekID, &wrapped, &ids, &version, &incarnation, &created, &upd, &retain); err != nil {
		return keystore.Record{}, s.fail("get", err)
	}
	if isTombstoned {
		return keystore.Record{}, keystore.ErrTombstoned
	}
	if rid == nil {
		return keystore.Record{}, keystore.ErrNotFound
	}
	r := keystore.Record{ID: *rid, KEKID: *kekID, Wrapped: wrapped, Version: *version, Incarnation: *incarnation, Created: created.UTC(), Updated: upd.UTC()}
	if retain != nil {
		r.RetainUntil = retain.UTC()
	}
	for _, id := range ids {
		r.KeyIDs = append(r.KeyIDs, uint32(id))
	}
	return r, nil
}

// GetMany implements keystore.BatchGetter: one statement, so one
// snapshot, for every ID.
func (s *Store) GetMany(ctx context.Context, ids []string) ([]keystore.GetResult, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT u.n, EXISTS (SELECT 1 FROM fieldcrypt_tombstones t WHERE t.id = u.id),
		       k.kek_id, k.wrapped, k.key_ids, k.version, k.incarnation, k.created, k.updated, k.retain_until
		FROM unnest($1::text[]) WITH ORDINALITY AS u(id, n) LEFT JOIN fieldcrypt_keys k ON k.id = u.id`, ids)
	if err != nil {
		return nil, s.fail("get", err)
	}
	defer rows.Close()
	out := make([]keystore.GetResult, len(ids))
	seen := 0
	for rows.Next() {
		var (
			n            int64
			isTombstoned bool
			kekID        *string
			wrapped      []byte
			keyIDs       []int64
			version      *int64
			incarnation  *string
			created, upd *time.Time
			retain       *time.Time
		)
		if err := rows.Scan(&n, &isTombstoned, &kekID, &wrapped, &keyIDs, &version, &incarnation, &created, &upd, &retain); err != nil {
			return nil, s.fail("get", err)
		}
		i := int(n) - 1
		if i < 0 || i >= len(ids) {
			return nil, s.fail("get", fmt.Errorf("row for index %d of %d", n, len(ids)))
		}
		seen++
		switch {
		case isTombstoned:
			out[i].Err = keystore.ErrTombstoned
		case kekID == nil:
			out[i].Err = keystore.ErrNotFound
		default:
			r := keystore.Record{ID: ids[i], KEKID: *kekID, Wrapped: wrapped, Version: *version, Incarnation: *incarnation, Created: created.UTC(), Updated: upd.UTC()}
			if retain != nil {
				r.RetainUntil = retain.UTC()
			}
			for _, id := range keyIDs {
				r.KeyIDs = append(r.KeyIDs, uint32(id))
			}
			out[i].Record = r
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
	var stored keystore.Record
	var created bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockLive(ctx, tx, rec.ID); err != nil {
			return err
		}
		now := s.clock()
		tag, err := tx.Exec(ctx, `
			INSERT INTO fieldcrypt_keys (`+recordColumns+`) VALUES ($1, $2, $3, $4, 1, $5, $6, $6, $7)
			ON CONFLICT (id) DO NOTHING`,
			rec.ID, rec.KEKID, rec.Wrapped, keyIDs(rec.KeyIDs), rand.Text(), now, nullTime(rec.RetainUntil))
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		stored, err = scanRecord(tx.QueryRow(ctx, `SELECT `+recordColumns+` FROM fieldcrypt_keys WHERE id = $1`, rec.ID))
		return err
	})
	if err != nil {
		return keystore.Record{}, false, s.fail("create", err)
	}
	return stored, created, nil
}

// CreateMany implements keystore.BatchCreator: every record in one
// transaction and a handful of round trips. It takes the advisory locks of
// every ID first, in increasing ID order (as Readdress takes its two), then
// checks the tombstones and inserts, so that each record resolves against a
// concurrent erasure exactly as Create does.
func (s *Store) CreateMany(ctx context.Context, recs []keystore.Record) ([]keystore.CreateResult, error) {
	for _, rec := range recs {
		if err := keystore.Validate(rec); err != nil {
			return nil, err
		}
	}
	if len(recs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[i] = rec.ID
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var out []keystore.CreateResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = make([]keystore.CreateResult, len(recs))
		if _, err := tx.Exec(ctx, `
			SELECT pg_advisory_xact_lock(hashtextextended(u.id, 0))
			FROM unnest($1::text[]) WITH ORDINALITY AS u(id, n) ORDER BY u.n`, ids); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id FROM fieldcrypt_tombstones WHERE id = ANY($1::text[])`, ids)
		if err != nil {
			return err
		}
		gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		now := s.clock()
		var batch pgx.Batch
		var queued []int
		for i, rec := range recs {
			if slices.Contains(gone, rec.ID) {
				out[i].Err = keystore.ErrTombstoned
				continue
			}
			batch.Queue(`
				INSERT INTO fieldcrypt_keys (`+recordColumns+`) VALUES ($1, $2, $3, $4, 1, $5, $6, $6, $7)
				ON CONFLICT (id) DO NOTHING RETURNING `+recordColumns,
				rec.ID, rec.KEKID, rec.Wrapped, keyIDs(rec.KeyIDs), rand.Text(), now, nullTime(rec.RetainUntil))
			queued = append(queued, i)
		}
		var lost []string // IDs that existed already: read the winners'
		if len(queued) > 0 {
			br := tx.SendBatch(ctx, &batch)
			for _, i := range queued {
				stored, err := scanRecord(br.QueryRow())
				switch {
				case errors.Is(err, pgx.ErrNoRows):
					lost = append(lost, recs[i].ID)
				case err != nil:
					br.Close()
					return err
				default:
					out[i] = keystore.CreateResult{Stored: stored, Created: true}
				}
			}
			if err := br.Close(); err != nil {
				return err
			}
		}
		if len(lost) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, `SELECT `+recordColumns+` FROM fieldcrypt_keys WHERE id = ANY($1::text[])`, lost)
		if err != nil {
			return err
		}
		winners, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keystore.Record, error) { return scanRecord(row) })
		if err != nil {
			return err
		}
		for i, rec := range recs {
			if out[i].Created || out[i].Err != nil {
				continue
			}
			for _, w := range winners {
				if w.ID == rec.ID {
					out[i].Stored = w
				}
			}
			if out[i].Stored.ID == "" {
				return fmt.Errorf("record %d neither created nor found", i)
			}
		}
		return nil
	})
	if err != nil {
		return nil, s.fail("create", err)
	}
	return out, nil
}

// Update implements keystore.Store.
func (s *Store) Update(ctx context.Context, rec keystore.Record) (keystore.Record, error) {
	if err := keystore.Validate(rec); err != nil {
		return keystore.Record{}, err
	}
	var stored keystore.Record
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockLive(ctx, tx, rec.ID); err != nil {
			return err
		}
		var err error
		stored, err = scanRecord(tx.QueryRow(ctx, `
			UPDATE fieldcrypt_keys SET kek_id = $2, wrapped = $3, key_ids = $4, version = version + 1, updated = $5, retain_until = $7
			WHERE id = $1 AND version = $6 AND incarnation = $8
			RETURNING `+recordColumns,
			rec.ID, rec.KEKID, rec.Wrapped, keyIDs(rec.KeyIDs), s.clock(), rec.Version, nullTime(rec.RetainUntil), rec.Incarnation))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var have int64
		var incarnation string
		if err := tx.QueryRow(ctx, `SELECT version, incarnation FROM fieldcrypt_keys WHERE id = $1`, rec.ID).Scan(&have, &incarnation); errors.Is(err, pgx.ErrNoRows) {
			return keystore.ErrNotFound
		} else if err != nil {
			return err
		}
		if incarnation != rec.Incarnation {
			return fmt.Errorf("%w: the record was erased and created again since it was read", keystore.ErrConflict)
		}
		return fmt.Errorf("%w: have version %d, update is against %d", keystore.ErrConflict, have, rec.Version)
	})
	if err != nil {
		return keystore.Record{}, s.fail("update", err)
	}
	return stored, nil
}

// Delete implements keystore.Store. The erasure is announced on Channel
// when the transaction commits.
func (s *Store) Delete(ctx context.Context, t keystore.Tombstone) (keystore.Deletion, error) {
	return s.delete(ctx, t, nil)
}

// DeleteExpired implements keystore.Store.
func (s *Store) DeleteExpired(ctx context.Context, t keystore.Tombstone, now time.Time) (keystore.Deletion, error) {
	return s.delete(ctx, t, func(tx pgx.Tx) error {
		if tomb, err := tombstoned(ctx, tx, t.ID); err != nil {
			return err
		} else if tomb {
			return keystore.ErrTombstoned
		}
		var expired bool
		err := tx.QueryRow(ctx, `SELECT retain_until IS NOT NULL AND retain_until <= $2 FROM fieldcrypt_keys WHERE id = $1`, t.ID, now).Scan(&expired)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return keystore.ErrNotFound
		case err != nil:
			return err
		case !expired:
			return fmt.Errorf("%w: the record's retention was changed", keystore.ErrConflict)
		}
		return nil
	})
}

// delete erases t.ID, if allow (when given) agrees, in one transaction
// holding the ID's advisory lock.
func (s *Store) delete(ctx context.Context, t keystore.Tombstone, allow func(tx pgx.Tx) error) (keystore.Deletion, error) {
	if err := keystore.ValidateID(t.ID); err != nil {
		return keystore.Deletion{}, err
	}
	if t.ErasedAt.IsZero() {
		t.ErasedAt = s.clock()
	}
	var d keystore.Deletion
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		d = keystore.Deletion{}
		if err := lockID(ctx, tx, t.ID); err != nil {
			return err
		}
		if err := heldTx(ctx, tx, t.ID); err != nil {
			return err
		}
		if allow != nil {
			if err := allow(tx); err != nil {
				return err
			}
		}
		erasedAt := t.ErasedAt.UTC().Truncate(time.Microsecond)
		tag, err := tx.Exec(ctx, `INSERT INTO fieldcrypt_tombstones (id, erased_at, reason) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
			t.ID, erasedAt, t.Reason)
		if err != nil {
			return err
		}
		d.AlreadyTombstoned = tag.RowsAffected() == 0
		d.Removed, err = scanRecord(tx.QueryRow(ctx, `DELETE FROM fieldcrypt_keys WHERE id = $1 RETURNING `+recordColumns, t.ID))
		d.Found = err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if d.Tokens, err = removeOwnerTokens(ctx, tx, t.ID); err != nil {
			return err
		}
		if d.AlreadyTombstoned && !d.Found && d.Tokens == 0 {
			return nil // already erased, nothing came back: nothing to record
		}
		if err := tx.QueryRow(ctx, `INSERT INTO fieldcrypt_receipts (id, kek_id, key_ids, erased_at, reason, tokens) VALUES ($1, $2, $3, $4, $5, $6) RETURNING seq`,
			t.ID, d.Removed.KEKID, keyIDs(d.Removed.KeyIDs), erasedAt, t.Reason, d.Tokens).Scan(&d.ReceiptSeq); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, t.ID)
		return err
	})
	if err != nil {
		return keystore.Deletion{}, s.fail("delete", err)
	}
	return d, nil
}

// GetTombstone implements keystore.Store.
func (s *Store) GetTombstone(ctx context.Context, id string) (keystore.Tombstone, error) {
	t := keystore.Tombstone{ID: id}
	err := s.pool.QueryRow(ctx, `SELECT erased_at, reason FROM fieldcrypt_tombstones WHERE id = $1`, id).Scan(&t.ErasedAt, &t.Reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return keystore.Tombstone{}, keystore.ErrNotFound
	} else if err != nil {
		return keystore.Tombstone{}, s.fail("get tombstone", err)
	}
	t.ErasedAt = t.ErasedAt.UTC()
	return t, nil
}

// Readmit implements keystore.Store.
func (s *Store) Readmit(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockID(ctx, tx, id); err != nil {
			return err
		}
		var reason string
		err := tx.QueryRow(ctx, `DELETE FROM fieldcrypt_tombstones WHERE id = $1 RETURNING reason`, id).Scan(&reason)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		// A record beside the tombstone was brought back by a restore: it
		// holds the erased keys, and goes with the tombstone.
		restored, err := scanRecord(tx.QueryRow(ctx, `DELETE FROM fieldcrypt_keys WHERE id = $1 RETURNING `+recordColumns, id))
		found := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		tokens, err := removeOwnerTokens(ctx, tx, id)
		if err != nil {
			return err
		}
		if found || tokens > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO fieldcrypt_receipts (id, kek_id, key_ids, erased_at, reason, tokens) VALUES ($1, $2, $3, $4, $5, $6)`,
				id, restored.KEKID, keyIDs(restored.KeyIDs), s.clock(), reason, tokens); err != nil {
				return err
			}
		}
		// Announce it, so other instances stop refusing the subject.
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, readmitPrefix+id)
		return err
	})
	if err != nil {
		return s.fail("readmit", err)
	}
	return nil
}

// Scan implements keystore.Store.
func (s *Store) Scan(ctx context.Context, after string, limit int) ([]keystore.Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: scan limit must be positive", keystore.ErrInvalid)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+recordColumns+` FROM fieldcrypt_keys WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, s.fail("scan", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keystore.Record, error) { return scanRecord(row) })
	if err != nil {
		return nil, s.fail("scan", err)
	}
	return out, nil
}

// Receipts implements keystore.Store.
func (s *Store) Receipts(ctx context.Context, q keystore.ReceiptQuery) ([]keystore.Receipt, error) {
	if q.Limit <= 0 {
		return nil, fmt.Errorf("%w: receipt limit must be positive", keystore.ErrInvalid)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT seq, id, kek_id, key_ids, erased_at, reason, tokens FROM fieldcrypt_receipts
		WHERE seq > $1 AND ($2 = '' OR id = $2) ORDER BY seq LIMIT $3`, q.After, q.ID, q.Limit)
	if err != nil {
		return nil, s.fail("receipts", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keystore.Receipt, error) {
		var r keystore.Receipt
		var ids []int64
		if err := row.Scan(&r.Seq, &r.ID, &r.KEKID, &ids, &r.ErasedAt, &r.Reason, &r.Tokens); err != nil {
			return r, err
		}
		for _, id := range ids {
			r.KeyIDs = append(r.KeyIDs, uint32(id))
		}
		r.ErasedAt = r.ErasedAt.UTC()
		return r, nil
	})
	if err != nil {
		return nil, s.fail("receipts", err)
	}
	return out, nil
}

// Tombstones implements keystore.Store.
func (s *Store) Tombstones(ctx context.Context, after string, limit int) ([]keystore.Tombstone, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit must be positive", keystore.ErrInvalid)
	}
	rows, err := s.pool.Query(ctx, `SELECT id, erased_at, reason FROM fieldcrypt_tombstones WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
	if err != nil {
		return nil, s.fail("tombstones", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keystore.Tombstone, error) {
		var t keystore.Tombstone
		err := row.Scan(&t.ID, &t.ErasedAt, &t.Reason)
		t.ErasedAt = t.ErasedAt.UTC()
		return t, err
	})
	if err != nil {
		return nil, s.fail("tombstones", err)
	}
	return out, nil
}

// ScanExpired implements keystore.Store.
func (s *Store) ScanExpired(ctx context.Context, now time.Time, limit int) ([]keystore.Record, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("%w: limit must be positive", keystore.ErrInvalid)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT `+recordColumns+` FROM fieldcrypt_keys
		WHERE retain_until IS NOT NULL AND retain_until <= $1 ORDER BY retain_until, id LIMIT $2`, now, limit)
	if err != nil {
		return nil, s.fail("scan expired", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (keystore.Record, error) { return scanRecord(row) })
	if err != nil {
		return nil, s.fail("scan expired", err)
	}
	return out, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC().Truncate(time.Microsecond)
	return &u
}

func (s *Store) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *Store) fail(op string, err error) error {
	var he *keystore.HoldError
	if errors.As(err, &he) {
		return err
	}
	switch {
	case errors.Is(err, keystore.ErrTombstoned), errors.Is(err, keystore.ErrNotFound), errors.Is(err, keystore.ErrConflict):
		return err
	}
	if transient(err) { // unavailable.go
		return &unavailable{err: s.describe(op, err)}
	}
	return s.describe(op, err)
}

func (s *Store) describe(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The server's message may quote values (a key ID at worst; never
		// key material): keep the SQLSTATE and the message, nothing more.
		return fmt.Errorf("keystore/postgres: %s: %s (SQLSTATE %s)", op, pgErr.Message, pgErr.Code)
	}
	return fmt.Errorf("keystore/postgres: %s: %w", op, err)
}

// CountConnections reports how many connections to this database carry the
// given application_name (for operators and tests: WatcherApplicationName
// counts the listening instances).
func (s *Store) CountConnections(ctx context.Context, applicationName string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, applicationName).Scan(&n)
	return n, err
}

// Vacuum rewrites the key table (VACUUM FULL), so that no file of the
// database keeps the wrapped keys of erased records, or the old versions of
// updated ones, and then, if the role may, runs CHECKPOINT, so that the
// files on disk are rewritten now rather than at the next checkpoint.
//
// A plain VACUUM, and so autovacuum, is not enough: it frees a dead row's
// space, but leaves fragments of it in the page until new rows overwrite
// them. VACUUM FULL holds an exclusive lock on the table while it copies
// it: every operation on the store waits, for a time that grows with the
// table, and the copy needs as much free disk space. Run it after erasures,
// in batches, at a quiet time.
//
// The role must own the table (or the database, or be a superuser);
// otherwise PostgreSQL skips the table with a warning, and Vacuum reports
// that as an error. CHECKPOINT needs a superuser or, from PostgreSQL 15, the
// pg_checkpoint role: if it is refused, Vacuum still succeeds, and the
// server's next scheduled checkpoint (checkpoint_timeout) writes the
// rewritten files. Nothing here reaches the write-ahead log, its archives,
// replicas or backups: see the package documentation.
func (s *Store) Vacuum(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(s.dsn)
	if err != nil {
		return s.fail("vacuum", err)
	}
	// PostgreSQL skips a table the role may not vacuum with a WARNING, not
	// an error: collect them.
	var warnings []string
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		if n.Severity == "WARNING" {
			warnings = append(warnings, n.Message)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return s.fail("vacuum", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `VACUUM (FULL) fieldcrypt_keys`); err != nil {
		return s.fail("vacuum", err)
	}
	if len(warnings) > 0 {
		return fmt.Errorf("keystore/postgres: vacuum: %s", strings.Join(warnings, "; "))
	}
	_, err = conn.Exec(ctx, `CHECKPOINT`)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
		return nil
	}
	if err != nil {
		return s.fail("vacuum: checkpoint", err)
	}
	return nil
}
