package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"iter"
)

// MACSize is the size of a row's MAC.
const MACSize = sha256.Size

// chainLabel separates the audit chain's MAC input from every other use of
// the key it is given.
const chainLabel = "fieldcrypt/audit-chain/v1\x00"

// Row is one stored link of an audit chain.
type Row struct {
	Seq   uint64 // 1 for the first row, then +1 per row
	Prev  []byte // the previous row's MAC; MACSize zero bytes for row 1
	Event []byte // the event's stored form (Event.MarshalCanonical)
	MAC   []byte // HMAC-SHA256(key, label ‖ seq ‖ prev ‖ event)
}

// Head identifies the end of a chain: the last row's sequence number and
// MAC. The zero Head is the empty chain. Exported and kept outside the
// database (a log line, a ticket, another system), a Head lets Verify find
// rows cut off the end, which the chain alone cannot show.
type Head struct {
	Seq uint64
	MAC []byte
}

// Chain appends rows to an audit chain. It is not safe for concurrent use:
// the store that persists rows extends the chain inside the transaction
// that read the current head, so two writers never fork it.
type Chain struct {
	key  []byte
	head Head
	mac  hash.Hash // HMAC under key, reused row after row
}

// NewChain continues the chain whose last row is head (the zero Head for a
// new chain) under key, which must be at least 32 bytes.
func NewChain(key []byte, head Head) (*Chain, error) {
	if len(key) < 32 {
		return nil, errors.New("audit: chain key shorter than 32 bytes")
	}
	if err := head.check(); err != nil {
		return nil, err
	}
	return &Chain{key: key, head: head, mac: hmac.New(sha256.New, key)}, nil
}

func (h Head) check() error {
	if h.Seq == 0 && len(h.MAC) != 0 || h.Seq != 0 && len(h.MAC) != MACSize {
		return errors.New("audit: malformed chain head")
	}
	return nil
}

func (h Head) prev() []byte {
	if h.Seq == 0 {
		return make([]byte, MACSize)
	}
	return h.MAC
}

// Next returns the row that appends e, and advances the head to it.
func (c *Chain) Next(e Event) (Row, error) {
	b, err := e.MarshalCanonical()
	if err != nil {
		return Row{}, err
	}
	r := Row{Seq: c.head.Seq + 1, Prev: c.head.prev(), Event: b}
	r.MAC = appendRowMAC(c.mac, nil, r)
	c.head = Head{Seq: r.Seq, MAC: r.MAC}
	return r, nil
}

// Head returns the chain's current head.
func (c *Chain) Head() Head { return c.head }

func rowMAC(key []byte, r Row) []byte {
	return appendRowMAC(hmac.New(sha256.New, key), nil, r)
}

// appendRowMAC appends the MAC of r computed with m (an HMAC under the
// chain key, reset here) to dst.
func appendRowMAC(m hash.Hash, dst []byte, r Row) []byte {
	m.Reset()
	m.Write([]byte(chainLabel))
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], r.Seq)
	m.Write(seq[:])
	m.Write(r.Prev)
	m.Write(r.Event)
	return m.Sum(dst)
}

// Problem says what Verify found wrong.
type Problem string

// The problems Verify reports.
const (
	ProblemEdited    Problem = "row edited (MAC does not match its contents)"
	ProblemMissing   Problem = "rows missing before this one (sequence gap)"
	ProblemOrder     Problem = "row out of order, inserted or its predecessor replaced (previous MAC does not match)"
	ProblemTruncated Problem = "rows cut off the end (the chain ends before an exported head)"
	ProblemAnchor    Problem = "row differs from an exported head"
	ProblemMalformed Problem = "row malformed"
)

// ChainError reports the first problem Verify found and the sequence
// number where it found it. It never holds event contents.
type ChainError struct {
	Seq     uint64
	Problem Problem
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit: chain broken at row %d: %s", e.Seq, e.Problem)
}

// ErrChainBroken is wrapped by every *ChainError.
var ErrChainBroken = errors.New("audit: chain broken")

// Unwrap makes errors.Is(err, ErrChainBroken) true.
func (e *ChainError) Unwrap() error { return ErrChainBroken }

// Verify checks the rows of a chain, in the order the store returns them
// by sequence number, starting from row 1, and returns the head it ends
// at. Every head in anchors (exported earlier) must match the row with its
// sequence number; an anchor beyond the last row means rows were cut off
// the end. The first problem found is returned as a *ChainError; an error
// of the iteration itself is returned as it is.
func Verify(key []byte, rows iter.Seq2[Row, error], anchors ...Head) (Head, error) {
	want := map[uint64][]byte{}
	var last uint64
	for _, a := range anchors {
		if err := a.check(); err != nil {
			return Head{}, err
		}
		want[a.Seq] = a.MAC
		last = max(last, a.Seq)
	}
	var head Head
	for r, err := range rows {
		if err != nil {
			return head, err
		}
		if len(r.Prev) != MACSize || len(r.MAC) != MACSize {
			return head, &ChainError{r.Seq, ProblemMalformed}
		}
		if !hmac.Equal(rowMAC(key, r), r.MAC) {
			return head, &ChainError{r.Seq, ProblemEdited}
		}
		switch {
		case r.Seq > head.Seq+1:
			return head, &ChainError{r.Seq, ProblemMissing}
		case r.Seq != head.Seq+1 || !hmac.Equal(r.Prev, head.prev()):
			return head, &ChainError{r.Seq, ProblemOrder}
		}
		if m, ok := want[r.Seq]; ok && !hmac.Equal(m, r.MAC) {
			return head, &ChainError{r.Seq, ProblemAnchor}
		}
		head = Head{Seq: r.Seq, MAC: r.MAC}
	}
	if last > head.Seq {
		return head, &ChainError{head.Seq, ProblemTruncated}
	}
	return head, nil
}
