package audit

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

var key = bytes.Repeat([]byte{7}, 32)

func event(i int) Event {
	return Event{Time: time.Unix(int64(1_800_000_000+i), 0), Op: OpOpen, Type: "customer", Subject: "s.abc",
		Actor: "agent-7", Purpose: "support", Opened: []string{"customer.Name"}, Masked: []string{"customer.Card"}, Outcome: "ok"}
}

func chainOf(t *testing.T, n int) []Row {
	t.Helper()
	c, err := NewChain(key, Head{})
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]Row, n)
	for i := range rows {
		if rows[i], err = c.Next(event(i)); err != nil {
			t.Fatal(err)
		}
	}
	return rows
}

func seq(rows []Row) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		for _, r := range rows {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func TestChainVerifies(t *testing.T) {
	rows := chainOf(t, 5)
	head, err := Verify(key, seq(rows))
	if err != nil || head.Seq != 5 || !bytes.Equal(head.MAC, rows[4].MAC) {
		t.Fatalf("Verify = %+v, %v", head, err)
	}
	// Continuing from a stored head gives the same chain as one run.
	c, _ := NewChain(key, Head{Seq: 3, MAC: rows[2].MAC, Events: 3})
	r4, _ := c.Next(event(3))
	if !bytes.Equal(r4.MAC, rows[3].MAC) {
		t.Error("a chain continued from its head differs")
	}
	if _, err := Verify(key, seq(nil)); err != nil {
		t.Errorf("empty chain: %v", err)
	}
}

func TestChainFindsTampering(t *testing.T) {
	clone := func(rows []Row) []Row { return append([]Row(nil), rows...) }
	forged := func() Row {
		other, _ := NewChain(bytes.Repeat([]byte{9}, 32), Head{}) // an attacker without the key
		r, _ := other.Next(event(99))
		return r
	}
	cases := map[string]struct {
		rows    func([]Row) []Row
		anchors []Head
		seq     uint64
		problem Problem
	}{
		"edited event": {func(r []Row) []Row {
			r = clone(r)
			r[2].Events = bytes.Replace(r[2].Events, []byte("agent-7"), []byte("agent-8"), 1)
			return r
		}, nil, 3, ProblemEdited},
		"deleted row": {func(r []Row) []Row { return append(clone(r[:2]), r[3:]...) }, nil, 4, ProblemMissing},
		"swapped rows": {func(r []Row) []Row {
			r = clone(r)
			r[1], r[2] = r[2], r[1]
			return r
		}, nil, 3, ProblemMissing},
		"row replayed": {func(r []Row) []Row { return append(clone(r[:3]), r[1:]...) }, nil, 2, ProblemOrder},
		"forged row inserted": {func(r []Row) []Row {
			f := forged()
			f.Seq, f.Prev = 3, r[1].MAC
			return append(append(clone(r[:2]), f), r[2:]...)
		}, nil, 3, ProblemEdited},
		"prev rewritten": {func(r []Row) []Row {
			r = clone(r)
			r[3].Prev = r[1].MAC
			return r
		}, nil, 4, ProblemEdited},
		"truncated, anchor exported": {func(r []Row) []Row { return clone(r[:3]) }, []Head{{Seq: 5}}, 3, ProblemTruncated},
		"malformed": {func(r []Row) []Row {
			r = clone(r)
			r[0].MAC = r[0].MAC[:5]
			return r
		}, nil, 1, ProblemMalformed},
	}
	rows := chainOf(t, 5)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			anchors := tc.anchors
			for i := range anchors {
				anchors[i].MAC = rows[anchors[i].Seq-1].MAC
			}
			_, err := Verify(key, seq(tc.rows(rows)), anchors...)
			var ce *ChainError
			if !errors.As(err, &ce) || !errors.Is(err, ErrChainBroken) || ce.Seq != tc.seq || ce.Problem != tc.problem {
				t.Fatalf("Verify = %v, want %q at row %d", err, tc.problem, tc.seq)
			}
			if strings.Contains(err.Error(), "agent") || strings.Contains(err.Error(), "customer") {
				t.Errorf("error quotes an event: %v", err)
			}
		})
	}
	// The right rows with the wrong key: every row fails.
	if _, err := Verify(bytes.Repeat([]byte{8}, 32), seq(rows)); err == nil {
		t.Error("a chain verified under another key")
	}
	// An anchor that disagrees with the stored row.
	if _, err := Verify(key, seq(rows), Head{Seq: 2, MAC: rows[3].MAC}); !errors.Is(err, ErrChainBroken) {
		t.Errorf("mismatched anchor: %v", err)
	}
}

// batchesOf is a chain of rows of 3 events each: events 1-3, 4-6, ...
func batchesOf(t *testing.T, n int) []Row {
	t.Helper()
	c, err := NewChain(key, Head{})
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]Row, n)
	for i := range rows {
		if rows[i], err = c.Next(event(3*i), event(3*i+1), event(3*i+2)); err != nil {
			t.Fatal(err)
		}
	}
	return rows
}

func TestChainBatches(t *testing.T) {
	rows := batchesOf(t, 4)
	head, err := Verify(key, seq(rows))
	if err != nil || head.Seq != 4 || head.Events != 12 || !bytes.Equal(head.MAC, rows[3].MAC) {
		t.Fatalf("Verify = %+v, %v", head, err)
	}
	r := rows[1]
	if r.First != 4 || r.Last != 6 || r.EventCount() != 3 {
		t.Fatalf("row 2: events %d-%d, %d stored", r.First, r.Last, r.EventCount())
	}
	for i, b := range r.Split() {
		e, err := ParseEvent(b)
		if err != nil || !e.Time.Equal(event(3+i).Time) {
			t.Fatalf("row 2 event %d: %+v, %v", i, e, err)
		}
		want, _ := event(3 + i).MarshalCanonical()
		if !bytes.Equal(b, want) {
			t.Errorf("row 2 event %d stored as %s, want %s", i, b, want)
		}
	}
	// Continuing from a stored head (with its event count) gives the same chain.
	c, _ := NewChain(key, Head{Seq: 2, MAC: rows[1].MAC, Events: 6})
	r3, _ := c.Next(event(6), event(7), event(8))
	if !bytes.Equal(r3.MAC, rows[2].MAC) || r3.First != 7 {
		t.Error("a chain of batches continued from its head differs")
	}
	if _, err := c.Next(); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("empty batch: %v", err)
	}
	if _, err := c.Next(event(1), Event{}); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("batch with an invalid event: %v", err)
	}
	if _, err := NewChain(key, Head{Seq: 2, MAC: rows[1].MAC}); err == nil {
		t.Error("a head with fewer events than rows was accepted")
	}
}

// TestChainFindsEventTampering: an event edited, deleted, inserted,
// reordered or moved inside the rows of a batched chain is found, at its
// row, with the row's event numbers.
func TestChainFindsEventTampering(t *testing.T) {
	lines := func(r Row) [][]byte { return r.Split() }
	join := func(ls [][]byte) []byte { return bytes.Join(ls, []byte{'\n'}) }
	clone := func(rows []Row) []Row { return append([]Row(nil), rows...) }
	cases := map[string]struct {
		rows        func([]Row) []Row
		seq         uint64
		first, last uint64
		problem     Problem
	}{
		"event edited": {func(r []Row) []Row {
			r = clone(r)
			ls := lines(r[1])
			ls[1] = bytes.Replace(ls[1], []byte("agent-7"), []byte("agent-8"), 1)
			r[1].Events = join(ls)
			return r
		}, 2, 4, 6, ProblemEdited},
		"event deleted": {func(r []Row) []Row {
			r = clone(r)
			ls := lines(r[1])
			r[1].Events = join(append(ls[:1:1], ls[2:]...))
			return r
		}, 2, 4, 6, ProblemEdited},
		"event deleted and renumbered": {func(r []Row) []Row {
			r = clone(r)
			ls := lines(r[1])
			r[1].Events, r[1].Last = join(ls[:2]), 5
			return r
		}, 2, 4, 5, ProblemEdited},
		"event inserted": {func(r []Row) []Row {
			r = clone(r)
			ls := lines(r[2])
			r[2].Events = join(append(ls, ls[0]))
			return r
		}, 3, 7, 9, ProblemEdited},
		"events reordered": {func(r []Row) []Row {
			r = clone(r)
			ls := lines(r[0])
			ls[0], ls[2] = ls[2], ls[0]
			r[0].Events = join(ls)
			return r
		}, 1, 1, 3, ProblemEdited},
		"event moved to the next row": {func(r []Row) []Row {
			r = clone(r)
			a, b := lines(r[0]), lines(r[1])
			r[0].Events, r[1].Events = join(a[:2]), join(append([][]byte{a[2]}, b...))
			return r
		}, 1, 1, 3, ProblemEdited},
		"row deleted": {func(r []Row) []Row { return append(clone(r[:1]), r[2:]...) }, 3, 7, 9, ProblemMissing},
	}
	rows := batchesOf(t, 4)
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Verify(key, seq(tc.rows(rows)))
			var ce *ChainError
			if !errors.As(err, &ce) || ce.Seq != tc.seq || ce.First != tc.first || ce.Last != tc.last || ce.Problem != tc.problem {
				t.Fatalf("Verify = %v, want %q at row %d (events %d-%d)", err, tc.problem, tc.seq, tc.first, tc.last)
			}
			if strings.Contains(err.Error(), "agent") {
				t.Errorf("error quotes an event: %v", err)
			}
		})
	}
}

func TestEventRefusesIncomplete(t *testing.T) {
	for _, e := range []Event{{}, {Op: OpOpen}, {Op: OpOpen, Outcome: "ok"}} {
		if _, err := e.MarshalCanonical(); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%+v: %v", e, err)
		}
	}
	b, err := event(1).MarshalCanonical()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseEvent(b)
	if err != nil || back.Actor != "agent-7" || !back.Time.Equal(event(1).Time) {
		t.Errorf("ParseEvent = %+v, %v", back, err)
	}
}

func TestSlogAuditor(t *testing.T) {
	var buf bytes.Buffer
	a := NewSlogAuditor(slog.New(slog.NewJSONHandler(&buf, nil)))
	if err := a.Audit(context.Background(), event(1)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"msg":"fieldcrypt audit"`, `"op":"open"`, `"purpose":"support"`, `"masked":["customer.Card"]`, `"subject":"s.abc"`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log line %s lacks %s", buf.String(), want)
		}
	}
}

// sink stores batches; it can be made to fail or to block.
type sink struct {
	mu      sync.Mutex
	events  []Event
	batches int
	fail    bool
	gate    chan struct{} // if set, AppendEvents waits on it
}

func (s *sink) AppendEvents(ctx context.Context, events []Event) error {
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("database is down")
	}
	s.events = append(s.events, events...)
	s.batches++
	return nil
}

func (s *sink) set(fail bool) { s.mu.Lock(); s.fail = fail; s.mu.Unlock() }
func (s *sink) stored() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

func TestWriterBatchesInOrder(t *testing.T) {
	s := &sink{}
	w := NewWriter(s, WriterOptions{Batch: 10, FlushInterval: time.Millisecond})
	ctx := context.Background()
	for i := range 95 {
		if err := w.Audit(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got := s.stored()
	if len(got) != 95 {
		t.Fatalf("stored %d events, want 95", len(got))
	}
	for i, e := range got {
		if !e.Time.Equal(event(i).Time) {
			t.Fatalf("event %d out of order", i)
		}
	}
	if s.batches > 20 {
		t.Errorf("%d batches for 95 events of batch size 10", s.batches)
	}
	if err := w.Audit(ctx, event(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("Audit after Close = %v", err)
	}
}

// TestWriterNeverDropsSilently: a sink that fails (the database stopped
// mid-run) keeps every event: under FailClosed callers get an error once
// the buffer is full, under Block they wait until their deadline; once the
// sink is back every accepted event is stored, and an event refused was
// reported to its caller.
func TestWriterNeverDropsSilently(t *testing.T) {
	for _, policy := range []Policy{FailClosed, Block} {
		s := &sink{}
		w := NewWriter(s, WriterOptions{Buffer: 8, Batch: 4, FlushInterval: time.Millisecond, Policy: policy, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond})
		s.set(true)
		accepted, refused := 0, 0
		for i := range 40 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			err := w.Audit(ctx, event(i))
			cancel()
			switch {
			case err == nil:
				accepted++
			case errors.Is(err, ErrBackpressure):
				refused++
			default:
				t.Fatalf("policy %d: Audit = %v", policy, err)
			}
		}
		if refused == 0 || accepted == 0 {
			t.Fatalf("policy %d: accepted %d, refused %d; want both", policy, accepted, refused)
		}
		for deadline := time.Now().Add(10 * time.Second); w.Err() == nil; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) { // the writer has had a batch to store since the first Audit
				t.Fatalf("policy %d: Err() = nil while the sink fails", policy)
			}
		}
		s.set(false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := w.Close(ctx); err != nil {
			t.Fatalf("policy %d: Close = %v", policy, err)
		}
		cancel()
		if got := len(s.stored()); got != accepted {
			t.Errorf("policy %d: stored %d events, accepted %d", policy, got, accepted)
		}
	}
}

func TestWriterCloseReportsUnstored(t *testing.T) {
	s := &sink{}
	s.set(true)
	w := NewWriter(s, WriterOptions{FlushInterval: time.Millisecond, RetryBase: time.Millisecond})
	for i := range 3 {
		if err := w.Audit(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	err := w.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "3 events not stored") {
		t.Fatalf("Close with the sink down = %v, want it to count the 3 unstored events", err)
	}
}

// TestWriterStoresFullBatchAtOnce: a full batch is handed to the sink
// without waiting for the flush interval, in one AppendEvents; Flush
// stores a partial batch without waiting for it either.
func TestWriterStoresFullBatchAtOnce(t *testing.T) {
	s := &sink{}
	w := NewWriter(s, WriterOptions{Batch: 4, FlushInterval: time.Hour})
	ctx := context.Background()
	for i := range 4 {
		if err := w.Audit(ctx, event(i)); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); len(s.stored()) < 4; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a full batch waited for the flush interval")
		}
	}
	if err := w.Audit(ctx, event(4)); err != nil {
		t.Fatal(err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.Flush(fctx); err != nil {
		t.Fatalf("Flush of a partial batch: %v", err)
	}
	s.mu.Lock()
	batches := s.batches
	s.mu.Unlock()
	if got := len(s.stored()); got != 5 || batches != 2 || w.Pending() != 0 {
		t.Fatalf("stored %d events in %d batches, %d pending; want 5 in 2, 0", got, batches, w.Pending())
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
