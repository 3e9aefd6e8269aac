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
// and a tokens column in fieldcrypt_receipts. PutTokens is set-based: a
// handful of statements over arrays (unnest) per call, in two round trips,
// under the partitions' count rows (locked in a fixed order) and the
// owners' advisory locks (shared; see PutTokens).

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
	ALTER TABLE fieldcrypt_receipts ADD COLUMN tokens bigint NOT NULL DEFAULT 0;`

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

// PutTokens implements keystore.TokenVault. Every put of a call is
// resolved set-based in one transaction and two round trips, whatever the
// number of puts:
//
//  1. one pipelined batch takes the owners' advisory locks (shared, in
//     increasing ID order: a Delete of an owner, which takes the ID's lock
//     exclusively, waits for the put or the put waits for it) and reads
//     their tombstones; locks the partitions' count rows (in increasing
//     (space, partition) order, so that two calls never wait on each other
//     in a cycle); removes the expired mappings in the way of a put; and
//     reads every live mapping that holds a put's token or index;
//  2. the puts are decided in order here against what was read (a later
//     put sees an earlier one), and one batch inserts the stored mappings
//     (one statement over arrays) and moves the counts.
//
// The count rows stay locked to the end of the transaction, so no other
// put into those partitions decides against a stale read.
func (s *Store) PutTokens(ctx context.Context, now time.Time, puts []keystore.TokenPut) ([]keystore.TokenPutResult, error) {
	for _, p := range puts {
		if err := keystore.ValidateTokenMapping(p.TokenMapping); err != nil {
			return nil, err
		}
		if p.Limit < 0 {
			return nil, fmt.Errorf("%w: negative token limit", keystore.ErrInvalid)
		}
	}
	if len(puts) == 0 {
		return []keystore.TokenPutResult{}, nil
	}
	var owners []string
	parts := make([]partKey, 0, len(puts))
	for _, p := range puts {
		if p.Owner != "" {
			owners = append(owners, p.Owner)
		}
		parts = append(parts, partKey{p.Space, p.Partition})
	}
	slices.Sort(owners)
	owners = slices.Compact(owners)
	slices.SortFunc(parts, comparePart)
	parts = slices.Compact(parts)
	pSpace, pPart := make([]string, len(parts)), make([]string, len(parts))
	for i, k := range parts {
		pSpace[i], pPart[i] = k.space, k.part
	}
	uSpace, uPart, uToken := make([]string, len(puts)), make([]string, len(puts)), make([]string, len(puts))
	uIdx := make([][]byte, len(puts))
	for i, p := range puts {
		uSpace[i], uPart[i], uToken[i], uIdx[i] = p.Space, p.Partition, p.Token, p.Index
	}
	nowUS, created := micros(now), s.clock().UnixMicro()
	var out []keystore.TokenPutResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = make([]keystore.TokenPutResult, len(puts))
		b := &pgx.Batch{}
		b.Queue(`SELECT count(pg_advisory_xact_lock_shared(hashtextextended(u.id, 0)))
			FROM (SELECT id FROM unnest($1::text[]) WITH ORDINALITY AS u(id, n) ORDER BY n) u`, owners)
		b.Queue(`SELECT id FROM fieldcrypt_tombstones WHERE id = ANY($1::text[])`, owners)
		b.Queue(`INSERT INTO fieldcrypt_token_counts (space, part, n)
			SELECT u.s, u.p, 0 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS u(s, p, n) ORDER BY u.n
			ON CONFLICT (space, part) DO UPDATE SET n = fieldcrypt_token_counts.n
			RETURNING space, part, n`, pSpace, pPart)
		b.Queue(`WITH gone AS (
				DELETE FROM fieldcrypt_tokens t USING unnest($1::text[], $2::text[], $3::text[], $4::bytea[]) AS u(s, p, tok, idx)
				WHERE t.space = u.s AND t.part = u.p AND (t.token = u.tok OR t.idx = u.idx)
					AND t.expires_us > 0 AND t.expires_us <= $5
				RETURNING t.space, t.part),
			counted AS (SELECT space, part, count(*) AS c FROM gone GROUP BY space, part),
			upd AS (UPDATE fieldcrypt_token_counts k SET n = k.n - counted.c FROM counted
				WHERE k.space = counted.space AND k.part = counted.part)
			SELECT space, part, c FROM counted`, uSpace, uPart, uToken, uIdx, nowUS)
		b.Queue(`SELECT `+tokenColumnsT+` FROM fieldcrypt_tokens t
				JOIN (SELECT DISTINCT s, p, tok FROM unnest($1::text[], $2::text[], $3::text[]) AS u(s, p, tok)) u
				ON t.space = u.s AND t.part = u.p AND t.token = u.tok
				WHERE t.expires_us = 0 OR t.expires_us > $5
			UNION
			SELECT `+tokenColumnsT+` FROM fieldcrypt_tokens t
				JOIN (SELECT DISTINCT s, p, idx FROM unnest($1::text[], $2::text[], $4::bytea[]) AS u(s, p, idx) WHERE idx IS NOT NULL) u
				ON t.space = u.s AND t.part = u.p AND t.idx = u.idx
				WHERE t.expires_us = 0 OR t.expires_us > $5`, uSpace, uPart, uToken, uIdx, nowUS)
		br := tx.SendBatch(ctx, b)
		st, err := readPutState(br)
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		stored := st.decide(puts, now, fromMicros(created), out)
		if len(stored) == 0 {
			return nil
		}
		n := len(stored)
		iSpace, iPart, iOwner, iToken := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		iIdx, iSealed := make([][]byte, n), make([][]byte, n)
		iExpires := make([]int64, n)
		delta := map[partKey]int64{}
		for j, m := range stored {
			iSpace[j], iPart[j], iOwner[j], iToken[j] = m.Space, m.Partition, m.Owner, m.Token
			iIdx[j], iSealed[j], iExpires[j] = m.Index, m.Sealed, micros(m.ExpiresAt)
			delta[partKey{m.Space, m.Partition}]++
		}
		dSpace, dPart, dN := []string{}, []string{}, []int64{}
		for k, d := range delta {
			dSpace, dPart, dN = append(dSpace, k.space), append(dPart, k.part), append(dN, d)
		}
		b = &pgx.Batch{}
		b.Queue(`INSERT INTO fieldcrypt_tokens (`+tokenColumns+`)
			SELECT s, p, o, tok, idx, sealed, exp, $8 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::bytea[], $7::bigint[])
				AS u(s, p, o, tok, idx, sealed, exp)`, iSpace, iPart, iOwner, iToken, iIdx, iSealed, iExpires, created)
		b.Queue(`UPDATE fieldcrypt_token_counts k SET n = k.n + u.d FROM unnest($1::text[], $2::text[], $3::bigint[]) AS u(s, p, d)
			WHERE k.space = u.s AND k.part = u.p`, dSpace, dPart, dN)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, s.fail("put tokens", err)
	}
	return out, nil
}

const tokenColumnsT = `t.space, t.part, t.owner, t.token, t.idx, t.sealed, t.expires_us, t.created_us`

type partKey struct{ space, part string }

func comparePart(a, b partKey) int {
	return cmp.Or(cmp.Compare(a.space, b.space), cmp.Compare(a.part, b.part))
}

// putState is what the first batch of PutTokens read: the tombstoned
// owners, the partitions' counts and the live mappings in the way.
type putState struct {
	tombstoned map[string]bool
	counts     map[partKey]int64
	live       []*pendingMapping
	byToken    map[tokenKey][]*pendingMapping
	byIndex    map[tokenKey][]*pendingMapping
}

type tokenKey struct{ space, part, key string }

type pendingMapping struct {
	keystore.TokenMapping
	new     bool // stored by this call
	removed bool // an expired mapping of this call, removed by a later put
}

func readPutState(br pgx.BatchResults) (*putState, error) {
	st := &putState{tombstoned: map[string]bool{}, counts: map[partKey]int64{},
		byToken: map[tokenKey][]*pendingMapping{}, byIndex: map[tokenKey][]*pendingMapping{}}
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	rows, _ := br.Query()
	gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	for _, id := range gone {
		st.tombstoned[id] = true
	}
	for _, step := range []int{1, -1} {
		rows, _ = br.Query()
		var k partKey
		var n int64
		if _, err := pgx.ForEachRow(rows, []any{&k.space, &k.part, &n}, func() error {
			st.counts[k] += int64(step) * n
			return nil
		}); err != nil {
			return nil, err
		}
	}
	rows, _ = br.Query()
	found, err := scanTokens(rows)
	if err != nil {
		return nil, err
	}
	for _, m := range found {
		st.add(&pendingMapping{TokenMapping: m})
	}
	return st, nil
}

func (st *putState) add(m *pendingMapping) {
	tk := tokenKey{m.Space, m.Partition, m.Token}
	st.byToken[tk] = append(st.byToken[tk], m)
	if m.Index != nil {
		ik := tokenKey{m.Space, m.Partition, string(m.Index)}
		st.byIndex[ik] = append(st.byIndex[ik], m)
	}
}

// decide applies the puts in order (a later put sees an earlier one's
// mapping) and returns the mappings to store.
func (st *putState) decide(puts []keystore.TokenPut, now, created time.Time, out []keystore.TokenPutResult) []keystore.TokenMapping {
	var pending []*pendingMapping
	for i, p := range puts {
		m := p.TokenMapping
		if m.Owner != "" && st.tombstoned[m.Owner] {
			out[i].Err = keystore.ErrTombstoned
			continue
		}
		pk := partKey{m.Space, m.Partition}
		tk := tokenKey{m.Space, m.Partition, m.Token}
		ik := tokenKey{m.Space, m.Partition, string(m.Index)}
		// Expired mappings of this call in the way go first, as stored
		// ones did in the first batch.
		for _, l := range [][]*pendingMapping{st.byToken[tk], st.byIndex[ik]} {
			for _, h := range l {
				if h.new && !h.removed && !h.Live(now) && (h.Token == m.Token || (m.Index != nil && string(h.Index) == string(m.Index))) {
					h.removed = true
					st.counts[pk]--
				}
			}
		}
		if m.Index != nil {
			var own, other *pendingMapping
			for _, h := range st.byIndex[ik] {
				if h.removed || !h.Live(now) {
					continue
				}
				if h.Owner == m.Owner {
					own = h
				} else if other == nil {
					other = h
				}
			}
			if own == nil && other != nil && other.Token != m.Token {
				own = other
			}
			if own != nil {
				e := own.TokenMapping.Clone()
				out[i].Existing = &e
				continue
			}
		}
		collision := false
		for _, h := range st.byToken[tk] {
			if h.removed || !h.Live(now) {
				continue
			}
			if m.Index == nil || h.Index == nil || string(h.Index) != string(m.Index) || h.Owner == m.Owner {
				collision = true
				break
			}
		}
		if collision {
			out[i].Collision = true
			continue
		}
		if p.Limit > 0 && st.counts[pk] >= p.Limit {
			out[i].Err = keystore.ErrTokenSpaceFull
			continue
		}
		h := &pendingMapping{TokenMapping: m.Clone(), new: true}
		h.Created = created
		st.add(h)
		pending = append(pending, h)
		st.counts[pk]++
		out[i].Stored = true
	}
	var stored []keystore.TokenMapping
	for _, h := range pending {
		if !h.removed {
			stored = append(stored, h.TokenMapping)
		}
	}
	return stored
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
	// The partitions' count rows first, in PutTokens' order: a put into
	// two of them and this erasure never wait on each other in a cycle.
	if _, err := tx.Exec(ctx, `SELECT 1 FROM fieldcrypt_token_counts
		WHERE (space, part) IN (SELECT space, part FROM fieldcrypt_tokens WHERE owner = $1)
		ORDER BY space, part FOR UPDATE`, owner); err != nil {
		return 0, err
	}
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
