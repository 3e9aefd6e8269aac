package pii

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/internal/subjectkey"
	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/vaulttoken"
)

// Vaulted tokens.
//
// A token field with the vault option (vault_tags.go) sends some or all of
// its values to the token vault (keystore.TokenVault) instead of FF1: the
// token is drawn at random in the value's shape (package vaulttoken), and
// the store keeps the mapping token → value, the value encrypted under
// the subject's key. Which path a value takes depends only on its shape,
// which its token shares (length, separators, kept characters, the class
// of each character), so Open tells a vaulted token from an FF1 token by
// asking the same question of the token (vaulttoken.ParseToken): no marker
// is stored.
//
// A mapping lives in
//
//   - a space: the field (scope, name) and the value's length
//     (vaultSpace), so shapes never share an occupancy count;
//   - a partition: for scope=subject, "p1." and 16 bytes of the subject's
//     PRF (stable when the store is re-addressed, gone with the key); for
//     scope=global, "global";
//   - an owner: the subject's key store ID, so that Forget removes the
//     mapping in its erasing step (counted in Receipt.Tokens), or "" for a
//     scope=global field with survive, whose mappings outlive every
//     erasure.
//
// The value is sealed with the subject's AEAD key (the global keys' for
// survive) and the associated data
//
//	"fieldcrypt/vault/v1\x00" || LEN(subject) || subject || LEN(space) || space || LEN(token) || token
//
// (subject "" for survive), so a mapping moved to another field, length,
// subject or token fails to open (ErrAuthentication). A convergent field
// adds the index HMAC-SHA256(k, "fieldcrypt/vault-index/v1\x00" ||
// LEN(space) || space || LEN(value) || value), k being the subject's
// vault index key (a PRF output of its bundle) or, for scope=global, the
// global vault key (a key part of the global bundle of its own, created on
// first use): equal values then get equal tokens.
//
// Seal resolves the vault jobs of a call after every other field is
// computed, in one PutTokens call (another round only for the few puts
// whose random token was taken, or that joined another subject's global
// convergent token); Open in one GetTokens call. Seal stays all-or-nothing
// for the struct; mappings a failed Seal already stored are orphans that
// nothing refers to: they belong to the subject (Forget removes them),
// count towards the occupancy limit, and a convergent one is reused by
// the next Seal of the same value.

// Errors of vaulted tokens. None of them holds a value or a token.
var (
	// ErrTokenNotFound: Open met a vaulted token that the vault does not
	// hold for this field and subject (unknown, expired, removed by
	// Forget, or copied from another field or subject); LookupToken found
	// no token for the value.
	ErrTokenNotFound = errors.New("pii: token not in the vault")

	// ErrTokenSpaceFull: the partition of the vault that the value's token
	// would go to holds its occupancy limit of mappings (1/16 of the
	// tokens of the value's shape; see package vaulttoken), or no free
	// token was found in vaulttoken.MaxDraws draws.
	ErrTokenSpaceFull = errors.New("pii: token space full")

	// ErrNoTokenVault: a field needs the token vault and the key store
	// does not implement keystore.TokenVault.
	ErrNoTokenVault = errors.New("pii: the key store keeps no vaulted tokens")

	// ErrNotConvergent: LookupToken was asked about a field whose tokens
	// are not convergent vaulted tokens.
	ErrNotConvergent = errors.New("pii: field has no convergent vaulted tokens")
)

const (
	vaultADLabel    = "fieldcrypt/vault/v1\x00"
	vaultIndexLabel = "fieldcrypt/vault-index/v1\x00"
	globalPartition = "global"
	// expireBatch is how many mappings ExpireTokens removes per store call.
	expireBatch = 1000
)

// vaultItem is one job that goes to the vault.
type vaultItem struct {
	job   int32
	tmpl  *vaulttoken.Template
	space string

	partition string
	owner     string   // seal: the mapping's owner
	owners    []string // open: the owners whose mapping this job may use
	index     []byte   // convergent fields
	keys      *subjectkey.Keys
	adSubject string

	token string // seal: the token to put (another owner's convergent token); "": draw one
	cand  string // seal: the token of the current put
	done  bool
}

// vaultWork is a walker's part about vaulted tokens.
type vaultWork struct {
	items []vaultItem
}

func (v *vaultWork) reset() {
	if len(v.items) > 0 {
		clear(v.items)
		v.items = v.items[:0]
	}
}

// vaultState is the keyring's part about vaulted tokens.
type vaultState struct {
	globalKey atomic.Pointer[[]byte] // the global vault key, once read
}

// routeVault decides whether job j's value (or, when opening, its token)
// goes to the vault, and returns its template if so. It reads the value
// only: it runs before any key is fetched.
func routeVault(j *job, open bool) (*vaulttoken.Template, error) {
	f := j.field
	if f.vault == nil || j.skip || j.isBytes || j.typed != 0 {
		return nil, nil
	}
	var t *vaulttoken.Template
	var err error
	if open {
		t, err = vaulttoken.ParseToken(f.token, j.in)
	} else {
		t, err = vaulttoken.Parse(f.token, j.in)
	}
	if !f.vault.always && vaulttoken.FF1Capable(f.token) {
		if err != nil || t.FF1() {
			return nil, nil // FF1's, and FF1's errors, exactly as without vault
		}
		return t, nil
	}
	switch {
	case errors.Is(err, vaulttoken.ErrTooLong):
		return nil, fmt.Errorf("%w: a vaulted token holds at most %d bytes", ErrValueTooLarge, vaulttoken.MaxValueBytes)
	case err != nil:
		return nil, err
	}
	return t, nil
}

// routeJobs routes jobs [from, to) (routeVault). It returns the index of
// the job that failed, and why.
func (w *walker) routeJobs(op string, from, to int) (int, error) {
	for i := from; i < to; i++ {
		j := &w.jobs[i]
		if j.field.vault == nil {
			continue
		}
		t, err := routeVault(j, op == "open")
		if err != nil {
			return i, err
		}
		if t == nil {
			continue
		}
		w.vt.items = append(w.vt.items, vaultItem{job: int32(i), tmpl: t, space: vaultSpace(j.scope, j.field.name, len(j.in))})
		j.vault = int32(len(w.vt.items))
	}
	return 0, nil
}

// tokenVault returns the key store's token vault.
func (p *Protector) tokenVault() (keystore.TokenVault, error) {
	tv, ok := p.ring.store.(keystore.TokenVault)
	if !ok {
		return nil, ErrNoTokenVault
	}
	return tv, nil
}

// globalVaultKey returns the global vault key, reading the global keys
// again if this process has not seen it, and adding it to them if they
// have none and create is set (nil without create).
func (p *Protector) globalVaultKey(ctx context.Context, create bool) ([]byte, error) {
	r := p.ring
	if k := r.global.VaultKey(); k != nil {
		return k, nil
	}
	if k := r.vault.globalKey.Load(); k != nil {
		return *k, nil
	}
	v, err, _ := r.flights.Do("\x00vault", func() (any, error) {
		for attempt := 0; attempt < 2; attempt++ {
			rec, err := r.store.Get(ctx, globalRecordID)
			if err != nil {
				return nil, fmt.Errorf("pii: read global keys: %w", err)
			}
			keys, err := r.unwrap(ctx, rec)
			if err != nil {
				return nil, err
			}
			if k := keys.VaultKey(); k != nil {
				r.vault.globalKey.Store(&k)
				return k, nil
			}
			if !create || attempt > 0 {
				break
			}
			// Global keys from before vault keys: add one.
			err = p.rewriteID(ctx, "", globalRecordID, "create vault key", func(b *subjectkey.Bundle) (bool, error) {
				if b.HasVaultKey() {
					return false, nil // another process did
				}
				return true, b.AddVaultKey()
			})
			if err != nil {
				return nil, err
			}
		}
		return []byte(nil), nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// vaultKeys fills in, for every vault item, the keys, partition, owners
// and (for convergent fields) index. Subjects whose keys a scope=global
// field needs besides the global ones are fetched together. fail reports
// an item that cannot go on (its job is done); an error fails the call.
func (p *Protector) vaultKeys(ctx context.Context, w *walker, op string, fail func(it *vaultItem, err error)) error {
	create := op == "seal"
	var extra map[string]keyResult
	var misses []string
	var vkey []byte
	for i := range w.vt.items {
		it := &w.vt.items[i]
		j := &w.jobs[it.job]
		if it.done {
			continue
		}
		if j.keys == nil { // forgotten, with a placeholder: done by transform
			it.done = true
			continue
		}
		if create && j.field.global && j.field.vault.convergent && vkey == nil {
			k, err := p.globalVaultKey(ctx, create)
			if err != nil {
				return err
			}
			vkey = k
		}
		if j.field.global && !j.field.vault.survive && j.subject != "" && !containsString(misses, j.subject) {
			misses = append(misses, j.subject)
		}
	}
	if len(misses) > 1 && p.ring.batcher != nil {
		var err error
		if extra, err = p.ring.getMany(ctx, misses, create); err != nil {
			return err
		}
	} else if len(misses) > 0 {
		extra = make(map[string]keyResult, len(misses))
		for _, s := range misses {
			keys, err := p.ring.get(ctx, s, create)
			extra[s] = keyResult{keys, err}
		}
	}
	for i := range w.vt.items {
		it := &w.vt.items[i]
		if it.done {
			continue
		}
		j := &w.jobs[it.job]
		f := j.field
		if f.global && f.vault.survive {
			it.keys, it.partition, it.owners = j.keys, globalPartition, []string{""}
		} else {
			if j.subject == "" {
				fail(it, ErrNoSubject)
				continue
			}
			ids, err := p.ring.addresses(j.subject)
			if err != nil {
				return err
			}
			it.owner, it.owners, it.adSubject = ids[0], ids, j.subject
			if f.global {
				res := extra[j.subject]
				if res.err != nil {
					if op == "open" && p.placeholder != nil && errors.Is(res.err, ErrForgotten) {
						j.outStr, it.done = *p.placeholder, true
						continue
					}
					fail(it, res.err)
					continue
				}
				it.keys, it.partition = res.keys, globalPartition
			} else {
				part, err := j.keys.VaultPartition()
				if err != nil {
					return fmt.Errorf("pii: %w", err)
				}
				it.keys, it.partition = j.keys, "p1."+vaultEncoding(part)
			}
		}
		if !f.vault.convergent || op == "open" {
			continue
		}
		k := vkey
		if !f.global {
			var err error
			if k, err = it.keys.VaultIndexKey(); err != nil {
				return fmt.Errorf("pii: %w", err)
			}
		}
		it.index = vaultIndex(k, it.space, j.in)
	}
	return nil
}

func vaultEncoding(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// vaultIndex is the convergent index of value in space under key k.
func vaultIndex(k []byte, space, value string) []byte {
	m := hmac.New(sha256.New, k)
	in := make([]byte, 0, len(vaultIndexLabel)+8+len(space)+len(value))
	in = append(in, vaultIndexLabel...)
	in = appendLenPrefixed(in, space)
	in = appendLenPrefixed(in, value)
	m.Write(in)
	clear(in)
	return m.Sum(nil)
}

// vaultAD appends the associated data of a mapping's sealed value.
func vaultAD(dst []byte, subject, space, token string) []byte {
	dst = append(dst, vaultADLabel...)
	dst = appendLenPrefixed(dst, subject)
	dst = appendLenPrefixed(dst, space)
	return appendLenPrefixed(dst, token)
}

// vaultSeal stores the mappings of every vault item of a Seal, in one
// PutTokens call per round, and writes each job's token. It changes
// nothing the caller sees: the tokens are assigned in phase 3.
func (p *Protector) vaultSeal(ctx context.Context, w *walker) error {
	var failed error
	fail := func(it *vaultItem, err error) {
		if failed == nil {
			failed = &FieldError{Path: w.jobPath(&w.jobs[it.job]), Op: "seal", Err: err}
		}
		it.done = true
	}
	tv, err := p.tokenVault()
	if err != nil {
		return err
	}
	if err := p.vaultKeys(ctx, w, "seal", fail); err != nil {
		return err
	}
	if failed != nil {
		return failed
	}
	now := p.now()
	var pending []int
	for i := range w.vt.items {
		if !w.vt.items[i].done {
			pending = append(pending, i)
		}
	}
	for round := 0; len(pending) > 0; round++ {
		if round == vaulttoken.MaxDraws {
			it := &w.vt.items[pending[0]]
			return &FieldError{Path: w.jobPath(&w.jobs[it.job]), Op: "seal",
				Err: fmt.Errorf("%w: no free token in %d draws", ErrTokenSpaceFull, vaulttoken.MaxDraws)}
		}
		puts := make([]keystore.TokenPut, len(pending))
		for k, ii := range pending {
			it := &w.vt.items[ii]
			j := &w.jobs[it.job]
			tok := it.token
			if tok == "" {
				if tok, err = it.tmpl.Token(); err != nil {
					return &FieldError{Path: w.jobPath(j), Op: "seal", Err: fmt.Errorf("pii: %w", err)}
				}
			}
			it.cand = tok
			w.ad = vaultAD(w.ad[:0], it.adSubject, it.space, tok)
			w.pt = append(w.pt[:0], j.in...)
			sealed, err := it.keys.AEAD.Encrypt(w.pt, w.ad)
			clear(w.pt)
			if err != nil {
				return &FieldError{Path: w.jobPath(j), Op: "seal", Err: err}
			}
			m := keystore.TokenMapping{Space: it.space, Partition: it.partition, Owner: it.owner, Token: tok, Index: it.index, Sealed: sealed}
			if ttl := j.field.vault.ttl; ttl > 0 {
				m.ExpiresAt = now.Add(ttl)
			}
			puts[k] = keystore.TokenPut{TokenMapping: m, Limit: it.tmpl.Limit()}
		}
		res, err := tv.PutTokens(ctx, now, puts)
		if err == nil && len(res) != len(puts) {
			err = fmt.Errorf("store returned %d results for %d puts", len(res), len(puts))
		}
		if err != nil {
			return fmt.Errorf("pii: seal: token vault: %w", err)
		}
		var next []int
		for k, r := range res {
			it := &w.vt.items[pending[k]]
			j := &w.jobs[it.job]
			switch {
			case r.Err != nil:
				if errors.Is(r.Err, keystore.ErrTombstoned) {
					// The subject was erased (by another process) after
					// its key was read: nothing was stored for it.
					return &FieldError{Path: w.jobPath(j), Op: "seal", Err: ErrForgotten}
				}
				if errors.Is(r.Err, keystore.ErrTokenSpaceFull) {
					return &FieldError{Path: w.jobPath(j), Op: "seal",
						Err: fmt.Errorf("%w: the partition holds its limit of %d tokens of this shape", ErrTokenSpaceFull, it.tmpl.Limit())}
				}
				return &FieldError{Path: w.jobPath(j), Op: "seal", Err: fmt.Errorf("pii: token vault: %w", r.Err)}
			case r.Stored:
				j.outStr = it.cand
			case r.Existing != nil && r.Existing.Owner == it.owner:
				j.outStr = r.Existing.Token // a convergent token of this owner
			case r.Existing != nil:
				it.token = r.Existing.Token // join another owner's convergent token
				next = append(next, pending[k])
				continue
			case r.Collision:
				it.token = "" // draw again
				next = append(next, pending[k])
				continue
			default:
				return fmt.Errorf("pii: seal: token vault: the store neither stored nor refused a put")
			}
			if j.field.hasMAC {
				if w.macs[j.mac-1].out, err = w.tokenMAC(j, j.outStr); err != nil {
					return &FieldError{Path: w.jobPath(j), Op: "seal", Err: err}
				}
			}
		}
		pending = next
	}
	return nil
}

// vaultOpen reads the mappings of every vault item of an Open in one
// GetTokens call and writes each job's value. fail reports an item that
// cannot be opened; an error fails the whole call.
func (p *Protector) vaultOpen(ctx context.Context, w *walker, fail func(job int32, err error)) error {
	tv, err := p.tokenVault()
	if err != nil {
		return err
	}
	failItem := func(it *vaultItem, err error) {
		it.done = true
		fail(it.job, err)
	}
	if err := p.vaultKeys(ctx, w, "open", failItem); err != nil {
		return err
	}
	var refs []keystore.TokenRef
	var pending []int
	for i := range w.vt.items {
		it := &w.vt.items[i]
		if it.done {
			continue
		}
		j := &w.jobs[it.job]
		if j.field.hasMAC {
			want, err := w.tokenMAC(j, j.in)
			if err != nil {
				failItem(it, err)
				continue
			}
			if !hmac.Equal([]byte(w.macs[j.mac-1].dst.String()), []byte(want)) {
				failItem(it, ErrAuthentication)
				continue
			}
		}
		refs = append(refs, keystore.TokenRef{Space: it.space, Partition: it.partition, Token: j.in})
		pending = append(pending, i)
	}
	if len(refs) == 0 {
		return nil
	}
	res, err := tv.GetTokens(ctx, p.now(), refs)
	if err == nil && len(res) != len(refs) {
		err = fmt.Errorf("store returned %d results for %d tokens", len(res), len(refs))
	}
	if err != nil {
		return fmt.Errorf("pii: open: token vault: %w", err)
	}
	for k, ii := range pending {
		it := &w.vt.items[ii]
		j := &w.jobs[it.job]
		var m *keystore.TokenMapping
		for x := range res[k] {
			if containsString(it.owners, res[k][x].Owner) {
				m = &res[k][x]
				break
			}
		}
		if m == nil {
			failItem(it, ErrTokenNotFound)
			continue
		}
		w.ad = vaultAD(w.ad[:0], it.adSubject, it.space, j.in)
		pt, err := it.keys.AEAD.Decrypt(m.Sealed, w.ad)
		if err != nil {
			failItem(it, ErrAuthentication)
			continue
		}
		j.outStr = string(pt)
		clear(pt)
	}
	return nil
}

// ExpireTokens removes the vaulted tokens whose ttl= has run out (they
// stopped opening at that moment; this frees their room in the store and
// in the occupancy count) and returns how many it removed. Run it
// periodically, as Expire is for retention. With an Auditor, each call is
// audited as an OpExpire event with Detail "tokens" and Records the number
// removed.
func (p *Protector) ExpireTokens(ctx context.Context) (total int, err error) {
	defer func() {
		p.auditLifecycle(ctx, audit.Event{Op: audit.OpExpire, Detail: "tokens", Records: total}, "", &err) // audit.go
	}()
	tv, err := p.tokenVault()
	if err != nil {
		return 0, err
	}
	for {
		n, err := tv.ExpireTokens(ctx, p.now(), expireBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("pii: expire tokens: %w", err)
		}
		if n < expireBatch {
			return total, nil
		}
	}
}

// vaultStep is the vault step of Seal, Open and their batch variants.
func (p *Protector) vaultStep(ctx context.Context, w *walker, op string) error {
	if op == "seal" {
		return p.vaultSeal(ctx, w)
	}
	var failed error
	err := p.vaultOpen(ctx, w, func(job int32, err error) {
		if failed == nil {
			failed = &FieldError{Path: w.jobPath(&w.jobs[job]), Op: op, Err: err}
		}
	})
	if err != nil {
		return err
	}
	return failed
}

// vaultEach is the vault step of OpenEach: an item that fails fails its
// record only. Items of records that failed already are left out.
func (p *Protector) vaultEach(ctx context.Context, w *walker, recs []record, errs []error) error {
	recOf := func(job int32) *record {
		// recs are in job order: the last one starting at or before job.
		r := sort.Search(len(recs), func(r int) bool { return recs[r].jobs[0] > int(job) }) - 1
		if r < 0 || int(job) >= recs[r].jobs[1] {
			return nil
		}
		return &recs[r]
	}
	for i := range w.vt.items {
		it := &w.vt.items[i]
		if rec := recOf(it.job); rec == nil || errs[rec.index] != nil {
			it.done = true
		}
	}
	return p.vaultOpen(ctx, w, func(job int32, err error) {
		if rec := recOf(job); rec != nil && errs[rec.index] == nil {
			errs[rec.index] = &FieldError{Path: w.jobPath(&w.jobs[job]), Op: "open", Err: err}
		}
	})
}
