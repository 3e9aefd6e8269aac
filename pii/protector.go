package pii

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/fieldcrypt/fieldcrypt/audit"
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

	requireRecordBinding bool // WithRecordBindingRequired (binding.go)
	maxValueSize         int  // 0: DefaultMaxValueSize

	auditor   audit.Auditor // WithAuditor (audit.go); nil: none
	auditRefs refCache      // audit.go

	pur     *purposeConfig // WithPurposes, WithPolicy (purpose.go); nil: none
	sweeper *sweeper       // WithRetentionSweep (sweep.go); nil without
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

	requireRecordBinding bool // WithRecordBindingRequired (binding.go)
	maxValueSize         int
	noInit               bool

	watcherErrors   func(error)
	failClosed      bool
	failClosedAfter time.Duration
	maxBundle       int
	tokenKey        uint32
	indexDelay      *time.Duration // WithIndexKeyActivationDelay; nil: cacheTTL + IndexKeyClockSkew

	auditor  audit.Auditor // audit.go
	observer Observer      // observe.go

	purposes        []Purpose // purpose.go
	purposeRequired *bool
	policy          Policy       // policy.go
	sweep           *SweepConfig // WithRetentionSweep (sweep.go)
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

// WithIndexKeyActivationDelay sets how long after RotateIndexKey the new
// index key version starts being written by Seal (lookups ask for it at
// once). The default, this Protector's key cache TTL plus
// IndexKeyClockSkew, is right when every process sharing the key store has
// the same TTL: each of them reads the new version, and asks for it, before
// anyone writes it. Set it explicitly if other processes have a longer TTL
// (their longest TTL plus IndexKeyClockSkew). 0 activates the new version
// at once: only for a single process, or when every other process is
// stopped or restarted before it writes again; otherwise lookups in other
// processes miss rows written with the new version for up to their TTL.
func WithIndexKeyActivationDelay(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("pii: index key activation delay must not be negative")
		}
		c.indexDelay = &d
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

// WithMaxBundleSize sets the largest serialized subject key bundle this
// Protector wraps (RotateSubjectKey fails with a *BundleSizeError past it).
// The default is DefaultMaxBundleSize (4,096 bytes, AWS KMS's limit); a KEK
// that states a smaller limit of its own lowers it. Raise it only if every
// KEK the store may ever move to accepts larger plaintexts (GCP: 64 KiB;
// Vault: its request size limit).
func WithMaxBundleSize(n int) Option {
	return func(c *config) error {
		if n < 1024 {
			return fmt.Errorf("pii: max bundle size must be at least 1024 bytes")
		}
		c.maxBundle = n
		return nil
	}
}

// WithGlobalTokenKey makes the Protector make and read scope=global tokens
// with the global token key id (see GlobalTokenKeys) instead of the
// current one: to read tokens made before RotateGlobalTokenKey while
// re-tokenizing them. New fails if the global keys have no such key.
func WithGlobalTokenKey(id uint32) Option {
	return func(c *config) error {
		if id == 0 {
			return fmt.Errorf("pii: global token key id must not be 0")
		}
		c.tokenKey = id
		return nil
	}
}

// WithoutInit makes New never create the global keys: on a key store
// without them it fails with ErrNotInitialized (an empty store) or
// ErrGlobalKeysMissing. Tools that only inspect a store (`fieldcrypt
// verify-erased`) use it, so that a mistyped store is reported, not
// initialized.
func WithoutInit() Option {
	return func(c *config) error { c.noInit = true; return nil }
}

// New returns a Protector that wraps subject keys with kek and keeps them in
// store. It loads the global keys, so it needs the KEK to be reachable.
//
// On an empty key store (no records, tombstones or receipts) New creates
// the global keys, unless WithoutInit is given. On a store that holds
// subject keys, tombstones or receipts but no global keys it fails with
// ErrGlobalKeysMissing and changes nothing: restore the global record.
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
		maxBundle:    c.maxBundle,
		tokenKey:     c.tokenKey,
		watch:        &watchState{now: c.now, onError: c.watcherErrors, failClose: c.failClosed, failAfter: c.failClosedAfter},
	}
	ring.search.activationDelay = c.cacheTTL + IndexKeyClockSkew
	if c.indexDelay != nil {
		ring.search.activationDelay = *c.indexDelay
	}
	watcher, hasWatcher := store.(keystore.ErasureWatcher)
	if c.failClosed && !hasWatcher {
		return nil, ErrNoWatcher
	}
	if b, ok := kek.(kms.Batcher); ok {
		ring.batcher = b
	}
	pur, err := newPurposeConfig(&c, store) // purpose.go
	if err != nil {
		return nil, err
	}
	if cs, ok := store.(keystore.ConsentStore); ok {
		// Open-time consent checks (consent_cache.go): as long-lived and
		// as large as the key cache.
		ring.consent = newConsentView(cs, c.cacheTTL, c.cacheEntries, cacheClock)
	}
	ring.observe(c.observer) // observe.go
	if err := ring.loadGlobal(ctx, !c.noInit); err != nil {
		return nil, err
	}
	p := &Protector{
		ring:         ring,
		encryptEmpty: c.encryptEmpty,
		migration:    c.migration,
		placeholder:  c.placeholder,
		now:          c.now,

		requireRecordBinding: c.requireRecordBinding,
		maxValueSize:         c.maxValueSize,
		auditor:              c.auditor,
		pur:                  pur,
	}
	if hasWatcher {
		p.watch(watcher)
	}
	if c.sweep != nil {
		p.startSweep(*c.sweep)
	}
	return p, nil
}

// Close stops the Protector's background work: the retention sweep
// (WithRetentionSweep) and, with a key store that announces erasures
// (keystore/postgres), the goroutine that listens for them. Without
// either, Close does nothing. Do not use a Protector after Close.
func (p *Protector) Close() {
	p.stopSweep()
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
// subjects, and global index fields (scope=global, the default), whose
// truncated term stays computable from a guessed value after the
// ciphertext beside it is gone. Index fields with scope=subject are not
// listed: their key dies with the subject's. After Forget, an application
// that must erase a person completely clears these fields in its own
// records (Reindex clears the index fields of forgotten subjects). It returns nil if T
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
			if f.survives() { // vault_tags.go
				out = append(out, p)
			}
			for n := f.node; n != nil; n = n.elem {
				if n.kind == nStruct {
					walk(n.st, p)
				}
			}
		}
		for _, ix := range st.indexes {
			if !ix.subject {
				out = append(out, path+"."+ix.goName)
			}
		}
		delete(seen, st)
	}
	walk(rp.st, rp.st.name)
	return out, nil
}
