package audit

import (
	"bytes"
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
// the key it is given. v2: a row holds a batch of events.
const chainLabel = "fieldcrypt/audit-chain/v2\x00"

// Row is one stored link of an audit chain: a batch of events (all the
// events one AppendEvents stored), numbered First..Last in the order they
// were appended. Event numbers run on from row to row without gaps, so an
// event is identified by its number, and the row that holds it.
type Row struct {
	Seq   uint64 // 1 for the first row, then +1 per row
	First uint64 // number of the row's first event: 1 in row 1, then the previous row's Last + 1
	Last  uint64 // number of the row's last event (First + events - 1)
	Prev  []byte // the previous row's MAC; MACSize zero bytes for row 1
	// Events holds the events' stored forms (Event.MarshalCanonical), one
	// per line, separated by '\n' (the stored form holds no raw newline).
	Events []byte
	MAC    []byte // HMAC-SHA256(key, label ‖ seq ‖ first ‖ last ‖ prev ‖ events)
}

// EventCount returns how many events r.Events holds (lines), whatever
// First and Last say.
func (r Row) EventCount() int {
	if len(r.Events) == 0 {
		return 0
	}
	return bytes.Count(r.Events, []byte{'\n'}) + 1
}

// Split returns the stored forms of the row's events, in order (sub-slices
// of r.Events), for ParseEvent.
func (r Row) Split() [][]byte {
	if len(r.Events) == 0 {
		return nil
	}
	return bytes.Split(r.Events, []byte{'\n'})
}

// Head identifies the end of a chain: the last row's sequence number and
// MAC, and the number of the last event. The zero Head is the empty
// chain. Exported and kept outside the database (a log line, a ticket,
// another system), a Head lets Verify find rows cut off the end, which the
// chain alone cannot show. As an anchor only Seq and MAC count (the MAC
// covers the row's event numbers).
type Head struct {
	Seq    uint64
	MAC    []byte
	Events uint64 // the last row's Last; 0 when unknown (an anchor) or empty
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
// new chain) under key, which must be at least 32 bytes. head.Events must
// be the number of events stored so far.
func NewChain(key []byte, head Head) (*Chain, error) {
	if len(key) < 32 {
		return nil, errors.New("audit: chain key shorter than 32 bytes")
	}
	if err := head.check(); err != nil {
		return nil, err
	}
	if head.Seq == 0 && head.Events != 0 || head.Seq != 0 && head.Events < head.Seq {
		return nil, errors.New("audit: malformed chain head")
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

// Next returns the row that appends events (at least one) as one batch,
// and advances the head to it.
func (c *Chain) Next(events ...Event) (Row, error) {
	if len(events) == 0 {
		return Row{}, fmt.Errorf("%w: empty batch", ErrInvalidEvent)
	}
	// Sized for typical events (~250 bytes), so that a batch of them is
	// built without growing; the row owns it.
	b := make([]byte, 0, 320*len(events))
	for i := range events {
		e := &events[i]
		if err := e.Validate(); err != nil {
			return Row{}, err
		}
		if i > 0 {
			b = append(b, '\n')
		}
		ev := *e
		ev.Time = ev.Time.UTC()
		var err error
		if b, err = appendCanonical(b, &ev); err != nil {
			return Row{}, err
		}
	}
	r := Row{
		Seq: c.head.Seq + 1, First: c.head.Events + 1, Last: c.head.Events + uint64(len(events)),
		Prev: c.head.prev(), Events: b,
	}
	r.MAC = appendRowMAC(c.mac, nil, r)
	c.head = Head{Seq: r.Seq, MAC: r.MAC, Events: r.Last}
	return r, nil
}

// Head returns the chain's current head.
func (c *Chain) Head() Head { return c.head }

// appendRowMAC appends the MAC of r computed with m (an HMAC under the
// chain key, reset here) to dst.
func appendRowMAC(m hash.Hash, dst []byte, r Row) []byte {
	m.Reset()
	m.Write([]byte(chainLabel))
	var nums [24]byte
	binary.BigEndian.PutUint64(nums[0:], r.Seq)
	binary.BigEndian.PutUint64(nums[8:], r.First)
	binary.BigEndian.PutUint64(nums[16:], r.Last)
	m.Write(nums[:])
	m.Write(r.Prev)
	m.Write(r.Events)
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
	Seq uint64
	// First and Last are the event numbers the row claims to hold (as
	// stored: for an edited row they may be what was edited); 0 for a
	// problem found after the last row (ProblemTruncated).
	First, Last uint64
	Problem     Problem
}

func (e *ChainError) Error() string {
	if e.First == 0 && e.Last == 0 {
		return fmt.Sprintf("audit: chain broken at row %d: %s", e.Seq, e.Problem)
	}
	return fmt.Sprintf("audit: chain broken at row %d (events %d-%d): %s", e.Seq, e.First, e.Last, e.Problem)
}

// ErrChainBroken is wrapped by every *ChainError.
var ErrChainBroken = errors.New("audit: chain broken")

// Unwrap makes errors.Is(err, ErrChainBroken) true.
func (e *ChainError) Unwrap() error { return ErrChainBroken }

// Verify checks the rows of a chain, in the order the store returns them
// by sequence number, starting from row 1, and returns the head it ends
// at. Every event is covered by its row's MAC: an event edited, deleted,
// inserted or moved inside a row, or moved to another row, makes that row
// fail (ProblemEdited, with the row's sequence number and event numbers).
// Every head in anchors (exported earlier) must match the row with its
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
	m := hmac.New(sha256.New, key)
	var sum []byte
	var head Head
	for r, err := range rows {
		if err != nil {
			return head, err
		}
		broken := func(p Problem) error { return &ChainError{Seq: r.Seq, First: r.First, Last: r.Last, Problem: p} }
		if len(r.Prev) != MACSize || len(r.MAC) != MACSize {
			return head, broken(ProblemMalformed)
		}
		sum = appendRowMAC(m, sum[:0], r)
		if !hmac.Equal(sum, r.MAC) {
			return head, broken(ProblemEdited)
		}
		switch {
		case r.Seq > head.Seq+1:
			return head, broken(ProblemMissing)
		case r.Seq != head.Seq+1 || !hmac.Equal(r.Prev, head.prev()):
			return head, broken(ProblemOrder)
		case r.First != head.Events+1 || r.Last < r.First || uint64(r.EventCount()) != r.Last-r.First+1:
			return head, broken(ProblemMalformed) // authentic, so written wrong
		}
		if m, ok := want[r.Seq]; ok && !hmac.Equal(m, r.MAC) {
			return head, broken(ProblemAnchor)
		}
		head = Head{Seq: r.Seq, MAC: r.MAC, Events: r.Last}
	}
	if last > head.Seq {
		return head, &ChainError{Seq: head.Seq, Problem: ProblemTruncated}
	}
	return head, nil
}
