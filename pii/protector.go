package pii

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/kms"
)

// Protector seals and opens the tagged fields of structs, with one key per
// data subject. It is safe for concurrent use by many goroutines; create one
// per process and share it.
type Protector struct {
	ring         *keyring
	encryptEmpty bool
	migration    bool
	placeholder  *string
	now          func() time.Time
	walkers      sync.Pool

	stopWatch context.CancelFunc // nil without an erasure watcher
	watchDone chan struct{}
}

// Defaults of the options.
const (
	DefaultCacheEntries = 10_000
	DefaultCacheTTL     = 5 * time.Minute
	DefaultFetchTimeout = 30 * time.Second
	DefaultBatchSize    = 250
)

type config struct {
	cacheEntries int
	cacheTTL     time.Duration
	fetchTimeout time.Duration
	batchSize    int
	retention    time.Duration
	encryptEmpty bool
	migration    bool
	placeholder  *string
	now          func() time.Time
}

// Option configures a Protector.
type Option func(*config) error

// WithKeyCache bounds the cache of unwrapped subject keys: at most entries
// subjects, each kept at most ttl (plus up to 100 ms: the cache reads a
// coarse clock) after it was loaded. ttl is also this
// process's time-to-forget: after another process calls Forget, this one may
// keep using the subject's key for up to ttl (for stores that cannot notify
// it sooner). Forget in this process takes effect here at once.
func WithKeyCache(entries int, ttl time.Duration) Option {
	return func(c *config) error {
		if entries < 1 {
			return fmt.Errorf("pii: key cache must hold at least one entry")
		}
		if ttl <= 0 {
			return fmt.Errorf("pii: key cache TTL must be positive")
		}
		c.cacheEntries, c.cacheTTL = entries, ttl
		return nil
	}
}

// WithFetchTimeout bounds how long one key fetch (key store and KMS round
// trips for a cache miss) may take, whatever the callers' contexts allow.
func WithFetchTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("pii: fetch timeout must be positive")
		}
		c.fetchTimeout = d
		return nil
	}
}

// WithBatchSize sets how many subject keys SealAll and OpenAll wrap or
// unwrap in one KMS call, for KEKs that support batches.
func WithBatchSize(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("pii: batch size must be positive")
		}
		c.batchSize = n
		return nil
	}
}

// WithRetention gives every subject key this Protector creates a retention
// deadline d after its creation; Expire (or `fieldcrypt keys expire`)
// erases subjects whose deadline has passed. SetRetention changes one
// subject's deadline. Without it, keys are kept until Forget.
func WithRetention(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("pii: retention must be positive")
		}
		c.retention = d
		return nil
	}
}

// WithEncryptEmpty makes Seal encrypt empty strings and empty (non-nil)
// byte slices too, so that stored data does not reveal which fields are
// empty. By default empty values are left empty: cheaper, and empty columns
// stay recognisable, at the cost of revealing emptiness. Nil pointers, nil
// slices and nil maps are always left nil.
func WithEncryptEmpty() Option {
	return func(c *config) error { c.encryptEmpty = true; return nil }
}

// WithMigrationMode makes Open leave values that are not sealed (no
// ciphertext prefix) as they are, instead of failing with ErrNotSealed. Use
// it while a table is being encrypted, then turn it off: in migration mode
// an attacker who can write to the database can plant plaintext.
func WithMigrationMode() Option {
	return func(c *config) error { c.migration = true; return nil }
}

// WithErasedPlaceholder makes Open put placeholder into the fields of
// forgotten subjects (and []byte(placeholder) into []byte fields) instead of
// failing with ErrForgotten, so that a list with some erased people still
// renders. A typical placeholder is "[erased]".
func WithErasedPlaceholder(placeholder string) Option {
	return func(c *config) error { c.placeholder = &placeholder; return nil }
}

// New returns a Protector that wraps subject keys with kek and keeps them in
// store. It loads the global keys (creating them in the store on first use),
// so it needs the KEK to be reachable.
func New(ctx context.Context, kek kms.KEK, store keystore.Store, opts ...Option) (*Protector, error) {
	if kek == nil || store == nil {
		return nil, fmt.Errorf("%w: New needs a KEK and a key store", ErrInvalidArgument)
	}
	c := config{
		cacheEntries: DefaultCacheEntries,
		cacheTTL:     DefaultCacheTTL,
		fetchTimeout: DefaultFetchTimeout,
		batchSize:    DefaultBatchSize,
	}
	for _, opt := range opts {
		if err := opt(&c); err != nil {
			return nil, err
		}
	}
	cacheClock := c.now
	if c.now == nil {
		c.now, cacheClock = time.Now, coarseNow
	}
	ring := &keyring{
		kek:          kek,
		store:        store,
		cache:        newKeyCache(c.cacheEntries, c.cacheTTL, cacheClock),
		fetchTimeout: c.fetchTimeout,
		batchSize:    c.batchSize,
		retention:    c.retention,
		now:          c.now,
	}
	if b, ok := kek.(kms.Batcher); ok {
		ring.batcher = b
	}
	if err := ring.loadGlobal(ctx); err != nil {
		return nil, err
	}
	p := &Protector{
		ring:         ring,
		encryptEmpty: c.encryptEmpty,
		migration:    c.migration,
		placeholder:  c.placeholder,
		now:          c.now,
	}
	if w, ok := store.(keystore.ErasureWatcher); ok {
		p.watch(w)
	}
	return p, nil
}

// watch evicts subjects erased by other processes as soon as the store
// announces it, until Close.
func (p *Protector) watch(w keystore.ErasureWatcher) {
	ctx, cancel := context.WithCancel(context.Background())
	p.stopWatch, p.watchDone = cancel, make(chan struct{})
	go func() {
		defer close(p.watchDone)
		w.WatchErasures(ctx, func(id string) { p.ring.cache.forgetID(id) }, p.ring.cache.dropKeys)
	}()
}

// Close stops the Protector's background work: with a key store that
// announces erasures (keystore/postgres), the goroutine that listens for
// them. A Protector on other stores has none, and Close does nothing. Do
// not use a Protector after Close.
func (p *Protector) Close() {
	if p.stopWatch != nil {
		p.stopWatch()
		<-p.watchDone
	}
}

// Check reports whether T (a struct type, or a pointer to one) can be
// sealed: its tags are valid and every encrypted field has a subject. Call
// it at start-up for each model type to fail fast.
func Check[T any]() error {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return fmt.Errorf("%w: %v is not a struct type", ErrInvalidArgument, t)
	}
	return planFor(t).err
}

// SurvivingFields lists the fields of T (as paths such as
// "Customer.Card") whose protection survives Forget: tokens with
// scope=global, made with the global key so that equal values join across
// subjects. After Forget, an application that must erase a person
// completely clears these fields in its own records. It returns nil if T
// has none, and the TagError if T's tags are invalid.
func SurvivingFields[T any]() ([]string, error) {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: %v is not a struct type", ErrInvalidArgument, t)
	}
	rp := planFor(t)
	if rp.err != nil {
		return nil, rp.err
	}
	var out []string
	seen := map[*structPlan]bool{}
	var walk func(st *structPlan, path string)
	walk = func(st *structPlan, path string) {
		if seen[st] {
			return
		}
		seen[st] = true
		for _, f := range st.fields {
			p := path + "." + f.goName
			if f.inline {
				p = path
			}
			if f.global {
				out = append(out, p)
			}
			for n := f.node; n != nil; n = n.elem {
				if n.kind == nStruct {
					walk(n.st, p)
				}
			}
		}
		delete(seen, st)
	}
	walk(rp.st, rp.st.name)
	return out, nil
}

// Seal encrypts, in place, every tagged field of the struct v points to,
// creating the subject's key on first use. It is all-or-nothing: on error v
// is exactly as it was. Values reached through pointers, slices and maps are
// replaced by sealed copies, never modified where they are shared.
func (p *Protector) Seal(ctx context.Context, v any) error {
	return p.run(ctx, "seal", v, false)
}

// Open decrypts, in place, every tagged field of the struct v points to.
// Empty values are left empty. It is all-or-nothing: on error v is exactly
// as it was. Fields of a forgotten subject fail with ErrForgotten, unless
// the Protector has WithErasedPlaceholder.
func (p *Protector) Open(ctx context.Context, v any) error {
	return p.run(ctx, "open", v, false)
}

// SealAll seals every struct of a slice: v is a []T, []*T or a pointer to
// either, with T a struct type (nil elements are skipped). The keys of all
// subjects missing from the cache are fetched together, in one KMS round
// trip per batch where the KEK supports it. All-or-nothing over the whole
// slice.
func (p *Protector) SealAll(ctx context.Context, v any) error {
	return p.run(ctx, "seal", v, true)
}

// OpenAll opens every struct of a slice, as SealAll seals them.
func (p *Protector) OpenAll(ctx context.Context, v any) error {
	return p.run(ctx, "open", v, true)
}

func (p *Protector) run(ctx context.Context, op string, v any, many bool) error {
	w := p.getWalker()
	defer p.putWalker(w)
	w.skipEmpty = op == "open" || !p.encryptEmpty
	if err := w.collect(v, many); err != nil {
		if fe, ok := err.(*FieldError); ok {
			fe.Op = op
		}
		return err
	}
	if len(w.jobs) == 0 {
		return nil
	}
	if op == "open" {
		if i, err := w.parseAll(p.migration); err != nil {
			return &FieldError{Path: w.jobPath(&w.jobs[i]), Op: op, Err: err}
		}
	}
	if err := p.resolveKeys(ctx, w, op, many); err != nil {
		return err
	}
	for i := range w.jobs {
		j := &w.jobs[i]
		if err := p.transform(w, j, op); err != nil {
			return &FieldError{Path: w.jobPath(j), Op: op, Err: err}
		}
	}
	w.assign()
	return nil
}

func (p *Protector) transform(w *walker, j *job, op string) error {
	switch {
	case op == "seal":
		return w.sealJob(j)
	case j.skip:
		return nil
	case j.keys == nil: // forgotten subject, with a placeholder
		if j.isBytes {
			j.outBytes = []byte(*p.placeholder)
		} else {
			j.outStr = *p.placeholder
		}
		return nil
	}
	return w.openJob(j)
}

// resolveKeys fills in every job's keys. On Open, jobs of forgotten
// subjects get nil keys when the Protector has a placeholder.
func (p *Protector) resolveKeys(ctx context.Context, w *walker, op string, many bool) error {
	create := op == "seal"
	var batch map[string]keyResult
	if many && p.ring.batcher != nil {
		var misses []string
		seen := map[string]bool{}
		for i := range w.jobs {
			s := w.jobs[i].subject
			if s == "" || seen[s] || w.jobs[i].skip || w.jobs[i].field.global {
				continue
			}
			seen[s] = true
			if _, state := p.ring.cache.get(s); state == cacheMiss {
				misses = append(misses, s)
			}
		}
		if len(misses) > 0 {
			var err error
			if batch, err = p.ring.getMany(ctx, misses, create); err != nil {
				return err
			}
		}
	}
	var lastSubject string
	var lastKeys *subjectkey.Keys
	var lastErr error
	for i := range w.jobs {
		j := &w.jobs[i]
		if j.skip {
			continue
		}
		if j.field.global {
			j.keys = p.ring.global
			continue
		}
		if j.subject == "" {
			return &FieldError{Path: w.jobPath(j), Op: op, Err: ErrNoSubject}
		}
		if lastKeys == nil && lastErr == nil || j.subject != lastSubject {
			lastSubject = j.subject
			if r, ok := batch[j.subject]; ok {
				lastKeys, lastErr = r.keys, r.err
			} else {
				lastKeys, lastErr = p.ring.get(ctx, j.subject, create)
			}
		}
		if lastErr != nil {
			if op == "open" && p.placeholder != nil && errors.Is(lastErr, ErrForgotten) {
				j.keys = nil
				continue
			}
			return &FieldError{Path: w.jobPath(j), Op: op, Err: lastErr}
		}
		j.keys = lastKeys
	}
	return nil
}

// collect is phase 1 for the value passed to Seal, Open or their batch
// variants: a pointer to a struct, or a slice ([]T, []*T or a pointer to
// either) of structs.
func (w *walker) collect(v any, many bool) error {
	rv := reflect.ValueOf(v)
	if !many {
		if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
			return fmt.Errorf("%w: want a non-nil pointer to a struct, got %T", ErrInvalidArgument, v)
		}
		rp := planFor(rv.Elem().Type())
		if rp.err != nil {
			return rp.err
		}
		w.walkStruct(rv.Elem(), rp.st, rp.st.scope, "", w.push(-1, rp.st.name, -1), false)
		return w.err
	}
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Slice {
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Slice {
		return fmt.Errorf("%w: want a slice of structs or of pointers to structs, got %T", ErrInvalidArgument, v)
	}
	et := rv.Type().Elem()
	byPtr := et.Kind() == reflect.Pointer
	if byPtr {
		et = et.Elem()
	}
	if et.Kind() != reflect.Struct {
		return fmt.Errorf("%w: want a slice of structs or of pointers to structs, got %T", ErrInvalidArgument, v)
	}
	rp := planFor(et)
	if rp.err != nil {
		return rp.err
	}
	root := w.push(-1, rp.st.name, -1)
	for i := 0; i < rv.Len() && w.err == nil; i++ {
		e := rv.Index(i)
		if byPtr {
			if e.IsNil() {
				continue
			}
			e = e.Elem()
		}
		w.walkStruct(e, rp.st, rp.st.scope, "", w.push(root, "", int32(i)), false)
	}
	return w.err
}

func (p *Protector) getWalker() *walker {
	if w, ok := p.walkers.Get().(*walker); ok {
		return w
	}
	return &walker{}
}

func (p *Protector) putWalker(w *walker) {
	w.reset()
	p.walkers.Put(w)
}

// Receipt is the proof of one erasure. It holds no personal data: the
// subject appears only as a keyed hash, which can be recomputed from the
// subject identifier by whoever holds the global keys.
type Receipt struct {
	Subject  string    // keyed hash of the subject identifier (its key store ID)
	KeyIDs   []uint32  // the Tink key ids destroyed
	KEKID    string    // the KEK that had wrapped them
	ErasedAt time.Time // when the tombstone was written
	Reason   string    // "request"
	// AlreadyErased is set when the subject had been forgotten before; no
	// keys were destroyed by this call.
	AlreadyErased bool
}

// Forget erases a subject: it deletes their keys from the store and writes
// a tombstone, so that everything ever sealed for them can no longer be
// opened, and Seal for them fails with ErrForgotten until Readmit. Forget is
// idempotent. In this process the key is unusable as soon as Forget returns.
// Other processes sharing the store stop using it when the store tells them
// (keystore/postgres: at once, by LISTEN/NOTIFY) or, for stores that cannot,
// when their cache entry expires (see WithKeyCache).
func (p *Protector) Forget(ctx context.Context, subject string) (Receipt, error) {
	if subject == "" {
		return Receipt{}, fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	id, err := p.ring.recordID(subject)
	if err != nil {
		return Receipt{}, err
	}
	at := p.now().UTC().Truncate(time.Microsecond)
	removed, found, err := p.ring.store.Delete(ctx, keystore.Tombstone{ID: id, ErasedAt: at, Reason: "request"})
	if err != nil {
		return Receipt{}, fmt.Errorf("pii: forget: %w", err)
	}
	p.ring.cache.forget(subject)
	r := Receipt{Subject: id, ErasedAt: at, Reason: "request"}
	if found {
		r.KeyIDs, r.KEKID = removed.KeyIDs, removed.KEKID
	} else if ts, err := p.ring.store.GetTombstone(ctx, id); err == nil {
		r.ErasedAt, r.Reason = ts.ErasedAt, ts.Reason
		r.AlreadyErased = true
	}
	return r, nil
}

// Readmit lifts the tombstone of a forgotten subject, so that Seal may
// create a new key for them. It restores nothing: what was sealed under the
// old key stays unreadable. Use it only when the person is genuinely back
// (they signed up again), never to undo an erasure.
func (p *Protector) Readmit(ctx context.Context, subject string) error {
	if subject == "" {
		return fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	id, err := p.ring.recordID(subject)
	if err != nil {
		return err
	}
	if err := p.ring.store.Readmit(ctx, id); err != nil {
		return fmt.Errorf("pii: readmit: %w", err)
	}
	p.ring.cache.evict(subject)
	return nil
}

// RotateSubjectKey adds a new encryption key for subject and makes it the
// one Seal uses; values sealed under older keys keep opening. It returns the
// new key's id. Deterministic fields keep their key (rotating it would break
// equality with values sealed before). Other processes pick up the new key
// within their key cache TTL.
func (p *Protector) RotateSubjectKey(ctx context.Context, subject string) (uint32, error) {
	if subject == "" {
		return 0, fmt.Errorf("%w: empty subject", ErrInvalidArgument)
	}
	id, err := p.ring.recordID(subject)
	if err != nil {
		return 0, err
	}
	const attempts = 5
	for range attempts {
		newID, err := p.rotateOnce(ctx, id)
		if errors.Is(err, keystore.ErrConflict) {
			continue // someone else updated the record; start again from it
		}
		if err != nil {
			return 0, err
		}
		p.ring.cache.evict(subject)
		return newID, nil
	}
	return 0, fmt.Errorf("pii: rotate: the key record kept changing during %d attempts", attempts)
}

func (p *Protector) rotateOnce(ctx context.Context, id string) (uint32, error) {
	rec, err := p.ring.store.Get(ctx, id)
	switch {
	case errors.Is(err, keystore.ErrTombstoned):
		return 0, ErrForgotten
	case errors.Is(err, keystore.ErrNotFound):
		return 0, ErrKeyNotFound
	case err != nil:
		return 0, fmt.Errorf("pii: rotate: %w", err)
	}
	raw, err := p.ring.kek.Decrypt(ctx, rec.Wrapped, subjectkey.WrapAssociatedData(id))
	if err != nil {
		return 0, p.ring.unwrapError(rec, err)
	}
	bundle, err := subjectkey.Parse(raw)
	subjectkey.Zero(raw)
	if err != nil {
		return 0, fmt.Errorf("pii: rotate: %w", err)
	}
	newID, err := bundle.RotateAEAD()
	if err != nil {
		return 0, err
	}
	raw, err = bundle.Marshal()
	if err != nil {
		return 0, err
	}
	wrapped, err := p.ring.kek.Encrypt(ctx, raw, subjectkey.WrapAssociatedData(id))
	subjectkey.Zero(raw)
	if err != nil {
		return 0, fmt.Errorf("pii: rotate: wrap: %w", err)
	}
	rec.Wrapped, rec.KEKID, rec.KeyIDs = wrapped, p.ring.kek.ID(), bundle.KeyIDs()
	if _, err := p.ring.store.Update(ctx, rec); err != nil {
		if errors.Is(err, keystore.ErrTombstoned) {
			return 0, ErrForgotten
		}
		return 0, fmt.Errorf("pii: rotate: %w", err)
	}
	return newID, nil
}
