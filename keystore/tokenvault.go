package keystore

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// TokenVault is implemented by stores that keep vaulted tokens: random
// tokens mapped to the value they stand for, which the caller encrypts
// before it reaches the store (fieldcrypt's pii package encrypts it under
// the subject's key, so that erasing the subject shreds the mapping too).
// Like Readdresser and Holder, it is an optional sibling interface of Store,
// found by type assertion; every store of this module implements it.
//
// A mapping lives in a Space (one per protected field) and a Partition
// (the domain in which its token is unique: one per subject for subject
// scope, a shared one for global scope), and belongs to an Owner, the
// record ID whose erasure removes it:
//
//   - Delete, DeleteExpired, and the erasing paths of Readmit and Readdress
//     remove every mapping whose Owner is the erased ID, in the same step
//     as the record (Deletion.Tokens and Receipt.Tokens count them);
//   - Readdress moves the mappings of From to To with the record;
//   - a mapping with Owner "" belongs to no record and survives every
//     erasure (it is removed only by ExpireTokens).
//
// In a partition a token stands for one value: several owners may hold
// the same token (each with its own encrypted copy of the value) only if
// their mappings carry the same non-nil Index (a keyed hash of the value,
// which the caller computes). Mappings whose ExpiresAt is set and not after
// the now passed to a call are treated as absent by every method.
type TokenVault interface {
	// PutTokens stores new mappings, in one step (one round trip), and
	// reports for each what it did (TokenPutResult), in order. Puts are
	// applied in order, so a later put sees an earlier one of the call. A
	// put whose Index matches a live mapping of its space, partition and
	// owner stores nothing and returns that mapping (Existing). One whose
	// Index matches a live mapping of another owner in the partition
	// returns that mapping too, unless the put carries that mapping's token
	// (then it is stored: the owner's own copy). A put whose token is held
	// in the partition by a mapping with another Index (or none) stores
	// nothing and reports Collision: choose another token. A put into a
	// partition that holds Limit mappings or more (counting every owner's;
	// Limit 0: no limit) stores nothing and reports ErrTokenSpaceFull. A
	// put whose Owner was erased (has a tombstone) stores nothing and
	// reports ErrTombstoned, decided atomically with the erasure: a put
	// racing Delete of its Owner is either refused or stored before the
	// erasure (and removed by it), never stored after it.
	// Invalid puts fail the whole call with ErrInvalid, storing nothing.
	PutTokens(ctx context.Context, now time.Time, puts []TokenPut) ([]TokenPutResult, error)

	// GetTokens returns, for each ref, the live mappings of its token in
	// its space and partition (one per owner; none: an empty slice).
	GetTokens(ctx context.Context, now time.Time, refs []TokenRef) ([][]TokenMapping, error)

	// FindTokens returns, for each ref, the live mappings of its index in
	// its space and partition (one per owner; none: an empty slice).
	FindTokens(ctx context.Context, now time.Time, refs []TokenIndexRef) ([][]TokenMapping, error)

	// ExpireTokens removes up to limit mappings whose ExpiresAt is set and
	// not after now, and returns how many it removed.
	ExpireTokens(ctx context.Context, now time.Time, limit int) (int, error)

	// CountTokens returns how many mappings (live or expired but not yet
	// removed) a space's partition holds: the count PutTokens compares with
	// Limit.
	CountTokens(ctx context.Context, space, partition string) (int64, error)
}

// TokenMapping is one vaulted token.
type TokenMapping struct {
	Space     string
	Partition string
	// Owner is the record ID whose erasure removes the mapping; "" for a
	// mapping that survives erasure.
	Owner string
	Token string
	// Index is a keyed hash of the value, for convergent tokens; nil for a
	// token minted afresh each time.
	Index []byte
	// Sealed is the value, encrypted by the caller.
	Sealed []byte
	// ExpiresAt is when the mapping stops being usable; zero: never.
	ExpiresAt time.Time
	// Created is set by the store.
	Created time.Time
}

// TokenPut is one mapping for PutTokens, with the occupancy limit of its
// partition.
type TokenPut struct {
	TokenMapping
	// Limit is the most mappings the partition may hold; 0: no limit.
	Limit int64
}

// TokenPutResult reports what PutTokens did with one put.
type TokenPutResult struct {
	// Stored: the put's mapping was stored.
	Stored bool
	// Existing is the live mapping the put's Index matched (nothing of the
	// put was stored, unless Stored is set too).
	Existing *TokenMapping
	// Collision: the put's token is taken in the partition; nothing was
	// stored.
	Collision bool
	// Err is ErrTokenSpaceFull when the partition is full, or
	// ErrTombstoned when the put's Owner was erased; nothing was stored.
	Err error
}

// TokenRef names a token in a space's partition.
type TokenRef struct {
	Space, Partition, Token string
}

// TokenIndexRef names a value's index in a space's partition.
type TokenIndexRef struct {
	Space, Partition string
	Index            []byte
}

// Limits of what a TokenVault stores.
const (
	MaxSpaceLength  = 300
	MaxTokenLength  = 1024
	MaxIndexLength  = 64
	MaxSealedLength = 1 << 16
)

// ErrTokenSpaceFull is reported by PutTokens for a put into a partition
// that holds its Limit of mappings.
var ErrTokenSpaceFull = errors.New("keystore: token space full")

// ValidateTokenMapping reports whether m can be stored.
func ValidateTokenMapping(m TokenMapping) error {
	if err := validateSpace(m.Space, m.Partition); err != nil {
		return err
	}
	if m.Owner != "" {
		if err := ValidateID(m.Owner); err != nil {
			return err
		}
	}
	if err := validateToken(m.Token); err != nil {
		return err
	}
	if len(m.Index) > MaxIndexLength {
		return fmt.Errorf("%w: token index longer than %d bytes", ErrInvalid, MaxIndexLength)
	}
	if len(m.Sealed) == 0 || len(m.Sealed) > MaxSealedLength {
		return fmt.Errorf("%w: sealed value must be 1 to %d bytes", ErrInvalid, MaxSealedLength)
	}
	return nil
}

// ValidateTokenRef reports whether r can be looked up.
func ValidateTokenRef(r TokenRef) error {
	if err := validateSpace(r.Space, r.Partition); err != nil {
		return err
	}
	return validateToken(r.Token)
}

// ValidateTokenIndexRef reports whether r can be looked up.
func ValidateTokenIndexRef(r TokenIndexRef) error {
	if err := validateSpace(r.Space, r.Partition); err != nil {
		return err
	}
	if len(r.Index) == 0 || len(r.Index) > MaxIndexLength {
		return fmt.Errorf("%w: token index must be 1 to %d bytes", ErrInvalid, MaxIndexLength)
	}
	return nil
}

func validateSpace(space, partition string) error {
	if !printable(space) || len(space) > MaxSpaceLength {
		return fmt.Errorf("%w: token space must be 1 to %d bytes of printable ASCII", ErrInvalid, MaxSpaceLength)
	}
	if !printable(partition) || len(partition) > MaxIDLength {
		return fmt.Errorf("%w: token partition must be 1 to %d bytes of printable ASCII", ErrInvalid, MaxIDLength)
	}
	return nil
}

func validateToken(tok string) error {
	if tok == "" || len(tok) > MaxTokenLength || !utf8.ValidString(tok) {
		return fmt.Errorf("%w: token must be 1 to %d bytes of UTF-8", ErrInvalid, MaxTokenLength)
	}
	return nil
}

func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Live reports whether m is usable at now: its ExpiresAt is zero or after
// now.
func (m TokenMapping) Live(now time.Time) bool {
	return m.ExpiresAt.IsZero() || m.ExpiresAt.After(now)
}

// Clone returns a deep copy of m.
func (m TokenMapping) Clone() TokenMapping {
	if m.Index != nil {
		m.Index = append([]byte(nil), m.Index...)
	}
	m.Sealed = append([]byte(nil), m.Sealed...)
	return m
}
