package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// Vaulted tokens (keystore.TokenVault), schema version 6: the mappings in
// fieldcrypt_tokens, the count of each partition in fieldcrypt_token_counts,
// and a tokens column in fieldcrypt_receipts. One put is one call of the
// function fieldcrypt_put_token, which takes the partition's count row
// first (so puts into one partition take turns, and a token or index is
// never given out twice); PutTokens sends every put of a call in one
// pipelined batch inside one transaction: one round trip.

var _ keystore.TokenVault = (*Store)(nil)

const tokenMigration = `CREATE TABLE fieldcrypt_tokens (
		space      text COLLATE "C" NOT NULL,
		part       text COLLATE "C" NOT NULL,
		owner      text COLLATE "C" NOT NULL,
		token      text COLLATE "C" NOT NULL,
		idx        bytea,
		sealed     bytea NOT NULL,
		expires_us bigint NOT NULL DEFAULT 0,
		created_us bigint NOT NULL,
		PRIMARY KEY (space, part, token, owner)
	);
	CREATE INDEX fieldcrypt_tokens_idx ON fieldcrypt_tokens (space, part, idx) WHERE idx IS NOT NULL;
	CREATE INDEX fieldcrypt_tokens_owner ON fieldcrypt_tokens (owner);
	CREATE INDEX fieldcrypt_tokens_expiry ON fieldcrypt_tokens (expires_us) WHERE expires_us > 0;
	CREATE TABLE fieldcrypt_token_counts (
		space text COLLATE "C" NOT NULL,
		part  text COLLATE "C" NOT NULL,
		n     bigint NOT NULL,
		PRIMARY KEY (space, part)
	);
	ALTER TABLE fieldcrypt_receipts ADD COLUMN tokens bigint NOT NULL DEFAULT 0;
	CREATE FUNCTION fieldcrypt_put_token(p_space text, p_part text, p_owner text, p_token text, p_idx bytea,
		p_sealed bytea, p_expires bigint, p_limit bigint, p_now bigint, p_created bigint,
		OUT status text, OUT e_owner text, OUT e_token text, OUT e_idx bytea, OUT e_sealed bytea,
		OUT e_expires bigint, OUT e_created bigint)
	LANGUAGE plpgsql AS $$
	DECLARE
		cnt bigint;
		gone bigint;
		r record;
		hit boolean := false;
	BEGIN
		-- The partition's count row, locked: puts into one partition take turns.
		INSERT INTO fieldcrypt_token_counts (space, part, n) VALUES (p_space, p_part, 0)
			ON CONFLICT (space, part) DO UPDATE SET n = fieldcrypt_token_counts.n
			RETURNING n INTO cnt;
		DELETE FROM fieldcrypt_tokens WHERE space = p_space AND part = p_part
			AND (token = p_token OR idx = p_idx) AND expires_us > 0 AND expires_us <= p_now;
		GET DIAGNOSTICS gone = ROW_COUNT;
		IF gone > 0 THEN
			cnt := cnt - gone;
			UPDATE fieldcrypt_token_counts SET n = cnt WHERE space = p_space AND part = p_part;
		END IF;
		IF p_idx IS NOT NULL THEN
			FOR r IN SELECT t.owner, t.token, t.idx, t.sealed, t.expires_us, t.created_us FROM fieldcrypt_tokens t
				WHERE t.space = p_space AND t.part = p_part AND t.idx = p_idx AND (t.expires_us = 0 OR t.expires_us > p_now)
				ORDER BY (t.owner = p_owner) DESC LIMIT 1
			LOOP
				IF r.owner = p_owner OR r.token <> p_token THEN
					hit := true;
					e_owner := r.owner; e_token := r.token; e_idx := r.idx; e_sealed := r.sealed;
					e_expires := r.expires_us; e_created := r.created_us;
				END IF;
			END LOOP;
			IF hit THEN
				status := 'existing';
				RETURN;
			END IF;
		END IF;
		IF EXISTS (SELECT 1 FROM fieldcrypt_tokens t WHERE t.space = p_space AND t.part = p_part AND t.token = p_token
				AND (t.expires_us = 0 OR t.expires_us > p_now)
				AND (p_idx IS NULL OR t.idx IS NULL OR t.idx <> p_idx OR t.owner = p_owner)) THEN
			status := 'collision';
			RETURN;
		END IF;
		IF p_limit > 0 AND cnt >= p_limit THEN
			status := 'full';
			RETURN;
		END IF;
		INSERT INTO fieldcrypt_tokens (space, part, owner, token, idx, sealed, expires_us, created_us)
			VALUES (p_space, p_part, p_owner, p_token, p_idx, p_sealed, p_expires, p_created);
		UPDATE fieldcrypt_token_counts SET n = cnt + 1 WHERE space = p_space AND part = p_part;
		status := 'stored';
	END $$;`

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

// PutTokens implements keystore.TokenVault.
func (s *Store) PutTokens(ctx context.Context, now time.Time, puts []keystore.TokenPut) ([]keystore.TokenPutResult, error) {
	for _, p := range puts {
		if err := keystore.ValidateTokenMapping(p.TokenMapping); err != nil {
			return nil, err
		}
		if p.Limit < 0 {
			return nil, fmt.Errorf("%w: negative token limit", keystore.ErrInvalid)
		}
	}
	// Partitions are locked in one order by every caller, so two calls
	// never wait on each other in a cycle; puts of one partition keep
	// their order.
	order := make([]int, len(puts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(puts[a].Space, puts[b].Space), cmp.Compare(puts[a].Partition, puts[b].Partition))
	})
	out := make([]keystore.TokenPutResult, len(puts))
	created := s.clock().UnixMicro()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, i := range order {
			m := puts[i].TokenMapping
			b.Queue(`SELECT status, e_owner, e_token, e_idx, e_sealed, e_expires, e_created
				FROM fieldcrypt_put_token($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				m.Space, m.Partition, m.Owner, m.Token, m.Index, m.Sealed, micros(m.ExpiresAt), puts[i].Limit, micros(now), created)
		}
		br := tx.SendBatch(ctx, b)
		for _, i := range order {
			var status string
			var eOwner, eToken *string
			var eIdx, eSealed []byte
			var eExpires, eCreated *int64
			if err := br.QueryRow().Scan(&status, &eOwner, &eToken, &eIdx, &eSealed, &eExpires, &eCreated); err != nil {
				br.Close()
				return err
			}
			switch status {
			case "stored":
				out[i].Stored = true
			case "collision":
				out[i].Collision = true
			case "full":
				out[i].Err = keystore.ErrTokenSpaceFull
			case "existing":
				m := puts[i].TokenMapping
				out[i].Existing = &keystore.TokenMapping{Space: m.Space, Partition: m.Partition, Owner: *eOwner, Token: *eToken,
					Index: eIdx, Sealed: eSealed, ExpiresAt: fromMicros(*eExpires), Created: fromMicros(*eCreated)}
			default:
				br.Close()
				return fmt.Errorf("unexpected put status %q", status)
			}
		}
		return br.Close()
	})
	if err != nil {
		return nil, s.fail("put tokens", err)
	}
	return out, nil
}

const tokenColumns = `space, part, owner, token, idx, sealed, expires_us, created_us`

func scanTokens(rows pgx.Rows) ([]keystore.TokenMapping, error) {
	out := []keystore.TokenMapping{}
	defer rows.Close()
	for rows.Next() {
		var m keystore.TokenMapping
		var expires, created int64
		if err := rows.Scan(&m.Space, &m.Partition, &m.Owner, &m.Token, &m.Index, &m.Sealed, &expires, &created); err != nil {
			return nil, err
		}
		m.ExpiresAt, m.Created = fromMicros(expires), fromMicros(created)
		out = append(out, m)
	}
	return out, rows.Err()
}

// lookupTokens runs one query per ref in one pipelined batch.
func (s *Store) lookupTokens(ctx context.Context, op, where string, n int, args func(i int) []any) ([][]keystore.TokenMapping, error) {
	out := make([][]keystore.TokenMapping, n)
	if n == 0 {
		return out, nil
	}
	b := &pgx.Batch{}
	for i := range n {
		b.Queue(`SELECT `+tokenColumns+` FROM fieldcrypt_tokens `+where, args(i)...)
	}
	br := s.pool.SendBatch(ctx, b)
	for i := range n {
		rows, err := br.Query()
		if err == nil {
			out[i], err = scanTokens(rows)
		}
		if err != nil {
			br.Close()
			return nil, s.fail(op, err)
		}
	}
	if err := br.Close(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}

// GetTokens implements keystore.TokenVault.
func (s *Store) GetTokens(ctx context.Context, now time.Time, refs []keystore.TokenRef) ([][]keystore.TokenMapping, error) {
	for _, r := range refs {
		if err := keystore.ValidateTokenRef(r); err != nil {
			return nil, err
		}
	}
	return s.lookupTokens(ctx, "get tokens", `WHERE space = $1 AND part = $2 AND token = $3 AND (expires_us = 0 OR expires_us > $4)`,
		len(refs), func(i int) []any { return []any{refs[i].Space, refs[i].Partition, refs[i].Token, micros(now)} })
}

// FindTokens implements keystore.TokenVault.
func (s *Store) FindTokens(ctx context.Context, now time.Time, refs []keystore.TokenIndexRef) ([][]keystore.TokenMapping, error) {
	for _, r := range refs {
		if err := keystore.ValidateTokenIndexRef(r); err != nil {
			return nil, err
		}
	}
	return s.lookupTokens(ctx, "find tokens", `WHERE space = $1 AND part = $2 AND idx = $3 AND (expires_us = 0 OR expires_us > $4)`,
		len(refs), func(i int) []any { return []any{refs[i].Space, refs[i].Partition, refs[i].Index, micros(now)} })
}

// ExpireTokens implements keystore.TokenVault.
func (s *Store) ExpireTokens(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("%w: expire limit must be positive", keystore.ErrInvalid)
	}
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `WITH gone AS (
				DELETE FROM fieldcrypt_tokens WHERE (space, part, token, owner) IN (
					SELECT space, part, token, owner FROM fieldcrypt_tokens WHERE expires_us > 0 AND expires_us <= $1
					ORDER BY expires_us LIMIT $2 FOR UPDATE SKIP LOCKED)
				RETURNING space, part),
			counted AS (SELECT space, part, count(*) AS c FROM gone GROUP BY space, part),
			upd AS (UPDATE fieldcrypt_token_counts k SET n = k.n - counted.c FROM counted
				WHERE k.space = counted.space AND k.part = counted.part)
			SELECT coalesce(sum(c), 0) FROM counted`, micros(now), limit).Scan(&n)
	})
	if err != nil {
		return 0, s.fail("expire tokens", err)
	}
	return n, nil
}

// CountTokens implements keystore.TokenVault.
func (s *Store) CountTokens(ctx context.Context, space, partition string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `SELECT n FROM fieldcrypt_token_counts WHERE space = $1 AND part = $2`, space, partition).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, s.fail("count tokens", err)
	}
	return n, nil
}

// removeOwnerTokens removes the mappings of owner inside an erasing
// transaction, keeping the partition counts, and returns how many.
func removeOwnerTokens(ctx context.Context, tx pgx.Tx, owner string) (int64, error) {
	var n int64
	err := tx.QueryRow(ctx, `WITH gone AS (
			DELETE FROM fieldcrypt_tokens WHERE owner = $1 RETURNING space, part),
		counted AS (SELECT space, part, count(*) AS c FROM gone GROUP BY space, part),
		upd AS (UPDATE fieldcrypt_token_counts k SET n = k.n - counted.c FROM counted
			WHERE k.space = counted.space AND k.part = counted.part)
		SELECT coalesce(sum(c), 0) FROM counted`, owner).Scan(&n)
	return n, err
}

// moveOwnerTokens gives the mappings of from to owner to.
func moveOwnerTokens(ctx context.Context, tx pgx.Tx, from, to string) error {
	_, err := tx.Exec(ctx, `UPDATE fieldcrypt_tokens SET owner = $2 WHERE owner = $1`, from, to)
	return err
}
