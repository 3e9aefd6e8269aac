package pii

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/kms"
)

// globalRecordID is the key store record of the global keys. Subject
// records are "s." followed by base64url, which never contains this name.
const globalRecordID = "fieldcrypt.global"

// keyring finds, creates and caches subject keys.
type keyring struct {
	kek          kms.KEK
	batcher      kms.Batcher // nil if the KEK cannot batch
	store        keystore.Store
	cache        *keyCache
	flights      singleflight.Group
	global       *subjectkey.Keys
	addr         atomic.Pointer[addressing] // the addressing chain (address.go)
	watch        *watchState
	maxBundle    int    // 0: defaultMaxBundle, unless the KEK states its own
	tokenKey     uint32 // global token key pinned by WithGlobalTokenKey; 0: current
	testWaiting  func() // tests: called once a caller waits on a key load
	fetchTimeout time.Duration
	batchSize    int
	retention    time.Duration // 0: keys are kept until Forget
	now          func() time.Time
	search       searchState  // index root keys (searchkeys.go)
	vault        vaultState   // the global vault key (vault.go)
	obs          Observer     // observe.go
	consent      *consentView // consent_cache.go; nil if the store keeps no consent
}

// recordID is the key store ID of subject under the newest generation of
// the addressing key: a keyed hash, so that neither the store nor the KMS
// ever sees the subject identifier. While the store is being re-addressed,
// the subject's record may still be at an older address (addresses, find).
func (r *keyring) recordID(subject string) (string, error) {
	ids, err := r.addresses(subject)
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// get returns the keys of subject, creating them if create is set and there
// are none. A load that a concurrent change of the record made stale
// (ErrKeysChanged) is retried a few times.
func (r *keyring) get(ctx context.Context, subject string, create bool) (*subjectkey.Keys, error) {
	if err := r.watch.check(); err != nil {
		return nil, err
	}
	if keys, state := r.cache.get(subject); state == cacheHit {
		r.hit()          // observe.go
		return keys, nil // the warm path: no retry loop, no flight
	}
	r.miss(1)
	const attempts = 4
	for attempt := 1; ; attempt++ {
		keys, err := r.get1(ctx, subject, create)
		if !errors.Is(err, ErrKeysChanged) || attempt == attempts {
			return keys, err
		}
	}
}

func (r *keyring) get1(ctx context.Context, subject string, create bool) (*subjectkey.Keys, error) {
	switch keys, state := r.cache.get(subject); state {
	case cacheHit:
		return keys, nil
	case cacheForgotten:
		return nil, ErrForgotten
	}
	flight := "o" + subject
	if create {
		flight = "c" + subject
	}
	// The load runs detached from the first caller's context, so that one
	// caller giving up does not fail the others waiting on the same key;
	// each caller still stops waiting when its own context ends.
	ch := r.flights.DoChan(flight, func() (any, error) {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.fetchTimeout)
		defer cancel()
		keys, err := r.load(lctx, subject, create)
		return keys, r.timeoutError(lctx, err)
	})
	if r.testWaiting != nil {
		r.testWaiting()
	}
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return res.Val.(*subjectkey.Keys), nil
	case <-ctx.Done():
		return nil, callerDone(ctx)
	}
}

// timeoutError reports a failure of a fetch bounded by lctx (the fetch
// timeout) as ErrFetchTimeout, retryable, if that bound is what ended it.
func (r *keyring) timeoutError(lctx context.Context, err error) error {
	if err == nil || lctx.Err() == nil || errors.Is(err, ErrForgotten) || errors.Is(err, ErrKeyNotFound) || errors.Is(err, ErrKeysChanged) {
		return err
	}
	return &fetchTimeoutError{cause: err.Error(), class: kms.ErrUnavailable}
}

// callerDone is the error of a key fetch that the caller's own context
// ended: it matches both kms.ErrUnavailable and ctx's error (so
// kms.Retryable is false: the caller gave up).
func callerDone(ctx context.Context) error {
	return fmt.Errorf("pii: fetch subject key: %w", kms.Classify(kms.ErrUnavailable, ctx.Err()))
}

func (r *keyring) load(ctx context.Context, subject string, create bool) (*subjectkey.Keys, error) {
	ticket := r.cache.begin()
	defer r.cache.end(ticket)
	ids, err := r.addresses(subject)
	if err != nil {
		return nil, err
	}
	rec, id, err := r.find(ctx, ids)
	if errors.Is(err, keystore.ErrNotFound) {
		// Before creating a key (or reporting none): has another process
		// rotated the addressing key (and moved the record)?
		changed, rerr := r.refresh(ctx)
		if rerr != nil {
			return nil, rerr
		}
		if changed {
			if ids, err = r.addresses(subject); err != nil {
				return nil, err
			}
			rec, id, err = r.find(ctx, ids)
		}
	}
	var keys *subjectkey.Keys
	switch {
	case err == nil:
		keys, err = r.unwrap(ctx, rec)
	case errors.Is(err, keystore.ErrTombstoned):
		err = ErrForgotten
	case errors.Is(err, keystore.ErrNotFound) && create:
		keys, err = r.create(ctx, id)
	case errors.Is(err, keystore.ErrNotFound):
		return nil, ErrKeyNotFound
	default:
		return nil, fmt.Errorf("pii: read subject key: %w", err)
	}
	if errors.Is(err, ErrForgotten) {
		r.cache.forgetLoadedAll(subject, ids, ticket)
	}
	if err != nil {
		return nil, err
	}
	if err := r.cache.putAll(subject, ids, keys, ticket); err != nil {
		return nil, err // erased or changed while we were loading
	}
	return keys, nil
}

// create makes, wraps and stores new keys under id. If another instance
// creates them first, its keys are used.
func (r *keyring) create(ctx context.Context, id string) (*subjectkey.Keys, error) {
	newKeys := subjectkey.New
	if id == globalRecordID {
		newKeys = subjectkey.NewGlobal // an addressing key and an independent token key
	}
	bundle, raw, err := newBundle(newKeys)
	if err != nil {
		return nil, err
	}
	defer subjectkey.Zero(raw)
	wrapped, err := r.kek.Encrypt(ctx, raw, subjectkey.WrapAssociatedData(id))
	if err != nil {
		return nil, fmt.Errorf("pii: wrap new subject key: %w", err)
	}
	return r.store1(ctx, id, bundle, wrapped)
}

// store1 stores a freshly wrapped bundle, or uses the winner's if another
// creator got there first.
func (r *keyring) store1(ctx context.Context, id string, bundle *subjectkey.Bundle, wrapped []byte) (*subjectkey.Keys, error) {
	stored, created, err := r.store.Create(ctx, r.newRecord(id, bundle, wrapped))
	return r.stored(ctx, bundle, stored, created, err)
}

// newRecord is the key store record of a freshly wrapped bundle.
func (r *keyring) newRecord(id string, bundle *subjectkey.Bundle, wrapped []byte) keystore.Record {
	rec := keystore.Record{ID: id, KEKID: r.kek.ID(), Wrapped: wrapped, KeyIDs: bundle.KeyIDs()}
	if r.retention > 0 && id != globalRecordID {
		rec.RetainUntil = r.now().Add(r.retention)
	}
	return rec
}

// stored returns the keys of a Create's outcome: bundle's if this creator
// won, the winner's (unwrapped from stored) if another got there first.
func (r *keyring) stored(ctx context.Context, bundle *subjectkey.Bundle, stored keystore.Record, created bool, err error) (*subjectkey.Keys, error) {
	if errors.Is(err, keystore.ErrTombstoned) {
		return nil, ErrForgotten
	}
	if err != nil {
		return nil, fmt.Errorf("pii: store new subject key: %w", err)
	}
	if !created {
		return r.unwrap(ctx, stored)
	}
	keys, err := bundle.Keys()
	if err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	return keys, nil
}

// DefaultMaxBundleSize is the largest serialized key bundle a Protector
// wraps unless WithMaxBundleSize or the KEK says otherwise: AWS KMS's
// Encrypt limit (4,096 bytes of plaintext), the smallest of the supported
// backends, so that a store can move to any of them. A fresh bundle is
// about 400 bytes; each RotateSubjectKey adds about 100.
const DefaultMaxBundleSize = 4096

// plaintextLimiter is implemented by KEKs that state the largest plaintext
// they can wrap.
type plaintextLimiter interface {
	MaxPlaintextSize() int
}

// maxBundleSize is the largest bundle this keyring wraps.
func (r *keyring) maxBundleSize() int {
	limit := DefaultMaxBundleSize
	if r.maxBundle > 0 {
		limit = r.maxBundle
	}
	if l, ok := r.kek.(plaintextLimiter); ok && l.MaxPlaintextSize() > 0 {
		limit = min(limit, l.MaxPlaintextSize())
	}
	return limit
}

// checkSize refuses a serialized bundle larger than the KEK can wrap,
// before the KEK is called.
func (r *keyring) checkSize(raw []byte, b *subjectkey.Bundle) error {
	if limit := r.maxBundleSize(); len(raw) > limit {
		return &BundleSizeError{Size: len(raw), Limit: limit, Keys: len(b.AEADKeyIDs())}
	}
	return nil
}

func newBundle(newKeys func() (*subjectkey.Bundle, error)) (*subjectkey.Bundle, []byte, error) {
	bundle, err := newKeys()
	if err != nil {
		return nil, nil, fmt.Errorf("pii: %w", err)
	}
	raw, err := bundle.Marshal()
	if err != nil {
		return nil, nil, fmt.Errorf("pii: %w", err)
	}
	return bundle, raw, nil
}

func (r *keyring) unwrap(ctx context.Context, rec keystore.Record) (*subjectkey.Keys, error) {
	raw, err := r.kek.Decrypt(ctx, rec.Wrapped, subjectkey.WrapAssociatedData(rec.ID))
	if err != nil {
		return nil, r.unwrapError(rec, err)
	}
	defer subjectkey.Zero(raw)
	return parseKeys(raw)
}

func (r *keyring) unwrapError(rec keystore.Record, err error) error {
	if rec.KEKID != r.kek.ID() {
		return fmt.Errorf("pii: unwrap subject key (wrapped by KEK %q, this Protector uses %q): %w", rec.KEKID, r.kek.ID(), err)
	}
	return fmt.Errorf("pii: unwrap subject key: %w", err)
}

func parseKeys(raw []byte) (*subjectkey.Keys, error) {
	bundle, err := subjectkey.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	keys, err := bundle.Keys()
	if err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	return keys, nil
}

// keyResult is the outcome of fetching one subject's keys in a batch.
type keyResult struct {
	keys *subjectkey.Keys
	err  error
}

// getMany fetches the keys of many subjects (distinct, not in the cache),
// unwrapping and wrapping in as few KMS round trips as the KEK allows.
func (r *keyring) getMany(ctx context.Context, subjects []string, create bool) (map[string]keyResult, error) {
	out := make(map[string]keyResult, len(subjects))
	if err := r.watch.check(); err != nil {
		return nil, err
	}
	if r.batcher == nil || len(subjects) == 1 {
		for _, s := range subjects {
			keys, err := r.get(ctx, s, create)
			out[s] = keyResult{keys, err}
		}
		return out, nil
	}
	r.miss(len(subjects)) // observe.go
	ticket := r.cache.begin()
	defer r.cache.end(ticket)
	callerCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, r.fetchTimeout)
	defer cancel()
	// fail reports an error of the whole batch: a retryable ErrFetchTimeout
	// if the fetch timeout ended it while the caller's context is alive.
	fail := func(err error) error {
		if callerCtx.Err() != nil {
			return callerDone(callerCtx)
		}
		return r.timeoutError(ctx, err)
	}
	// settle caches one loaded key; if the record changed while loading, the
	// subject is loaded again on its own.
	settle := func(subject string, ids []string, keys *subjectkey.Keys, err error) keyResult {
		res := r.cached(subject, ids, keys, err, ticket)
		if errors.Is(res.err, ErrKeysChanged) {
			keys, err := r.get(callerCtx, subject, create)
			return keyResult{keys, err}
		}
		if res.err != nil && callerCtx.Err() == nil {
			res.err = r.timeoutError(ctx, res.err)
		}
		return res
	}

	type pending struct {
		subject, id string
		ids         []string // every live address, newest first
		rec         keystore.Record
	}
	var toUnwrap, toCreate []pending
	found, err := r.findMany(ctx, subjects)
	if err != nil {
		return nil, fail(err)
	}
	refreshed := false
	for _, f := range found {
		s, ids, rec, id, err := f.subject, f.ids, f.rec, f.id, f.err
		if errors.Is(err, keystore.ErrNotFound) && !refreshed {
			// As in load: was the addressing key rotated elsewhere?
			refreshed = true
			changed, rerr := r.refresh(ctx)
			if rerr != nil {
				return nil, fail(rerr)
			}
			if changed {
				if ids, err = r.addresses(s); err != nil {
					return nil, err
				}
				rec, id, err = r.find(ctx, ids)
			}
		}
		switch {
		case err == nil:
			toUnwrap = append(toUnwrap, pending{s, id, ids, rec})
		case errors.Is(err, keystore.ErrTombstoned):
			r.cache.forgetLoadedAll(s, ids, ticket)
			out[s] = keyResult{err: ErrForgotten}
		case errors.Is(err, keystore.ErrNotFound) && create:
			toCreate = append(toCreate, pending{subject: s, id: id, ids: ids})
		case errors.Is(err, keystore.ErrNotFound):
			out[s] = keyResult{err: ErrKeyNotFound}
		default:
			return nil, fail(fmt.Errorf("pii: read subject key: %w", err))
		}
	}

	for start := 0; start < len(toUnwrap); start += r.batchSize {
		chunk := toUnwrap[start:min(start+r.batchSize, len(toUnwrap))]
		reqs := make([]kms.Request, len(chunk))
		for i, p := range chunk {
			reqs[i] = kms.Request{Data: p.rec.Wrapped, AssociatedData: subjectkey.WrapAssociatedData(p.id)}
		}
		res, err := r.batcher.DecryptBatch(ctx, reqs)
		res, err = checkBatch("unwrap subject keys", len(reqs), res, err)
		if err != nil {
			return nil, fail(err)
		}
		for i, p := range chunk {
			if res[i].Err != nil {
				out[p.subject] = settle(p.subject, p.ids, nil, r.unwrapError(p.rec, res[i].Err))
				continue
			}
			keys, err := parseKeys(res[i].Data)
			subjectkey.Zero(res[i].Data)
			out[p.subject] = settle(p.subject, p.ids, keys, err)
		}
	}

	for start := 0; start < len(toCreate); start += r.batchSize {
		chunk := toCreate[start:min(start+r.batchSize, len(toCreate))]
		bundles := make([]*subjectkey.Bundle, len(chunk))
		reqs := make([]kms.Request, len(chunk))
		for i, p := range chunk {
			bundle, raw, err := newBundle(subjectkey.New)
			if err != nil {
				return nil, err
			}
			bundles[i] = bundle
			reqs[i] = kms.Request{Data: raw, AssociatedData: subjectkey.WrapAssociatedData(p.id)}
		}
		res, err := r.batcher.EncryptBatch(ctx, reqs)
		res, err = checkBatch("wrap new subject keys", len(reqs), res, err)
		for _, req := range reqs {
			subjectkey.Zero(req.Data)
		}
		if err != nil {
			return nil, fail(err)
		}
		// Store the chunk in one step (one transaction on SQLite and
		// PostgreSQL), each record with its own tombstone check.
		var recs []keystore.Record
		var at []int // chunk index of each of recs
		for i, p := range chunk {
			if res[i].Err != nil {
				out[p.subject] = settle(p.subject, p.ids, nil, fmt.Errorf("pii: wrap new subject key: %w", res[i].Err))
				continue
			}
			recs = append(recs, r.newRecord(p.id, bundles[i], res[i].Data))
			at = append(at, i)
		}
		if len(recs) == 0 {
			continue
		}
		created, err := keystore.CreateMany(ctx, r.store, recs)
		for j, i := range at {
			p := chunk[i]
			var keys *subjectkey.Keys
			var kerr error
			if err != nil {
				kerr = fmt.Errorf("pii: store new subject key: %w", err)
			} else {
				keys, kerr = r.stored(ctx, bundles[i], created[j].Stored, created[j].Created, created[j].Err)
			}
			out[p.subject] = settle(p.subject, p.ids, keys, kerr)
		}
	}
	return out, nil
}

// found is the outcome of finding one subject's record, as find reports it.
type found struct {
	subject, id string
	ids         []string // every live address, newest first
	rec         keystore.Record
	err         error
}

// findMany finds the records of subjects as find does for each, reading
// their newest addresses with one keystore.GetMany per batch; a subject
// with older live addresses (while the store is re-addressed) that is not
// at its newest is looked up there on its own.
func (r *keyring) findMany(ctx context.Context, subjects []string) ([]found, error) {
	out := make([]found, len(subjects))
	newest := make([]string, len(subjects))
	for i, s := range subjects {
		ids, err := r.addresses(s)
		if err != nil {
			return nil, err
		}
		out[i] = found{subject: s, id: ids[0], ids: ids}
		newest[i] = ids[0]
	}
	for start := 0; start < len(subjects); start += r.batchSize {
		end := min(start+r.batchSize, len(subjects))
		res, err := keystore.GetMany(ctx, r.store, newest[start:end])
		if err != nil {
			return nil, fmt.Errorf("pii: read subject key: %w", err)
		}
		if len(res) != end-start {
			return nil, fmt.Errorf("pii: read subject key: store returned %d results for %d IDs", len(res), end-start)
		}
		for j, g := range res {
			f := &out[start+j]
			f.rec, f.err = g.Record, g.Err
			if errors.Is(f.err, keystore.ErrNotFound) && len(f.ids) > 1 {
				f.rec, f.id, f.err = r.find(ctx, f.ids)
			}
		}
	}
	return out, nil
}

// checkBatch checks the result of a batch KEK call of n requests: a
// whole-batch error is labelled with what, and a KEK that does not answer
// every request is an error rather than a silent mismatch between results
// and subjects.
func checkBatch(what string, n int, res []kms.Result, err error) ([]kms.Result, error) {
	if err != nil {
		return nil, fmt.Errorf("pii: %s: %w", what, err)
	}
	if len(res) != n {
		return nil, fmt.Errorf("pii: %s: KEK returned %d results for %d requests", what, len(res), n)
	}
	return res, nil
}

// cached caches a freshly loaded key and returns the result to report.
func (r *keyring) cached(subject string, ids []string, keys *subjectkey.Keys, err error, ticket uint64) keyResult {
	if errors.Is(err, ErrForgotten) {
		r.cache.forgetLoadedAll(subject, ids, ticket)
	}
	if err != nil {
		return keyResult{err: err}
	}
	if err := r.cache.putAll(subject, ids, keys, ticket); err != nil {
		return keyResult{err: err}
	}
	return keyResult{keys: keys}
}

// loadGlobal loads the global keys. It creates them only on a store that
// is entirely empty (no subject keys, tombstones or receipts), and never
// when init is false: a store that lost its global record must be restored,
// not given new global keys (every subject reference would change).
func (r *keyring) loadGlobal(ctx context.Context, init bool) error {
	rec, err := r.store.Get(ctx, globalRecordID)
	var keys *subjectkey.Keys
	switch {
	case err == nil:
		keys, err = r.unwrap(ctx, rec)
	case errors.Is(err, keystore.ErrNotFound):
		if err = r.checkEmpty(ctx); err == nil {
			if !init {
				return ErrNotInitialized
			}
			keys, err = r.create(ctx, globalRecordID)
		}
	case errors.Is(err, keystore.ErrTombstoned):
		err = fmt.Errorf("%w (the global record was erased; every subject reference is lost)", ErrGlobalKeysMissing)
	}
	if err != nil {
		return fmt.Errorf("pii: load global keys: %w", err)
	}
	return r.setGlobal(keys, rec)
}

// checkEmpty returns nil if the store holds nothing at all, and
// ErrGlobalKeysMissing if it holds anything.
func (r *keyring) checkEmpty(ctx context.Context) error {
	recs, err := r.store.Scan(ctx, "", 1)
	if err != nil {
		return fmt.Errorf("pii: inspect key store: %w", err)
	}
	if len(recs) > 0 {
		return fmt.Errorf("%w (found subject keys)", ErrGlobalKeysMissing)
	}
	ts, err := r.store.Tombstones(ctx, "", 1)
	if err != nil {
		return fmt.Errorf("pii: inspect key store: %w", err)
	}
	if len(ts) > 0 {
		return fmt.Errorf("%w (found tombstones)", ErrGlobalKeysMissing)
	}
	rs, err := r.store.Receipts(ctx, keystore.ReceiptQuery{Limit: 1})
	if err != nil {
		return fmt.Errorf("pii: inspect key store: %w", err)
	}
	if len(rs) > 0 {
		return fmt.Errorf("%w (found erasure receipts)", ErrGlobalKeysMissing)
	}
	return nil
}

// setGlobal installs the global keys, read from rec (zero if they were
// just created), and the keys derived from them.
func (r *keyring) setGlobal(keys *subjectkey.Keys, rec keystore.Record) error {
	if r.tokenKey != 0 {
		pinned, err := keys.WithTokenKey(r.tokenKey)
		if err != nil {
			return fmt.Errorf("pii: %w", err)
		}
		keys = pinned
	}
	a, err := newAddressing(keys, rec)
	if err != nil {
		return err
	}
	if err := r.setIndexRoots(keys); err != nil {
		return err
	}
	r.global = keys
	r.addr.Store(a)
	return nil
}
