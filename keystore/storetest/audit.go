package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

func auditLog(t *testing.T, s keystore.Store) keystore.AuditLog {
	t.Helper()
	l, ok := s.(keystore.AuditLog)
	if !ok {
		t.Skip("the store does not implement keystore.AuditLog")
	}
	return l
}

// AuditKey is the chain key of the conformance cases.
var AuditKey = bytes.Repeat([]byte{0x5a}, 32)

// AppendEvents appends events to l's chain under key as one row (one
// batch), as pii's audit table does.
func AppendEvents(ctx context.Context, l keystore.AuditLog, key []byte, events ...audit.Event) error {
	return l.AppendAudit(ctx, func(head audit.Head) ([]audit.Row, error) {
		c, err := audit.NewChain(key, head)
		if err != nil {
			return nil, err
		}
		r, err := c.Next(events...)
		if err != nil {
			return nil, err
		}
		return []audit.Row{r}, nil
	})
}

// AllRows reads every row of l, page by page, for audit.Verify.
func AllRows(ctx context.Context, l keystore.AuditLog, page int) iter.Seq2[audit.Row, error] {
	return func(yield func(audit.Row, error) bool) {
		var after uint64
		for {
			rows, err := l.AuditRows(ctx, after, page)
			if err != nil {
				yield(audit.Row{}, err)
				return
			}
			for _, r := range rows {
				if !yield(r, nil) {
					return
				}
				after = r.Seq
			}
			if len(rows) < page {
				return
			}
		}
	}
}

func ev(i int) audit.Event {
	return audit.Event{Time: time.Unix(1_700_000_000, int64(i)).UTC(), Op: audit.OpOpen, Type: "Customer", Actor: fmt.Sprintf("actor-%d", i), Outcome: "ok"}
}

func testAuditChain(t *testing.T, s keystore.Store) {
	l := auditLog(t, s)
	ctx := context.Background()
	if h, err := l.AuditHead(ctx); err != nil || h.Seq != 0 || len(h.MAC) != 0 {
		t.Fatalf("head of an empty chain: %+v, %v", h, err)
	}
	if rows, err := l.AuditRows(ctx, 0, 10); err != nil || len(rows) != 0 {
		t.Fatalf("rows of an empty chain: %v, %v", rows, err)
	}
	for i := range 5 {
		var batch []audit.Event
		for j := range i + 1 {
			batch = append(batch, ev(10*i+j))
		}
		if err := AppendEvents(ctx, l, AuditKey, batch...); err != nil {
			t.Fatal(err)
		}
	}
	head, err := l.AuditHead(ctx)
	if err != nil || head.Seq != 5 || head.Events != 15 {
		t.Fatalf("head %+v, %v; want row 5, event 15", head, err)
	}
	got, err := audit.Verify(AuditKey, AllRows(ctx, l, 4), head)
	if err != nil || got.Seq != head.Seq || got.Events != head.Events || !bytes.Equal(got.MAC, head.MAC) {
		t.Fatalf("Verify: %+v, %v", got, err)
	}
	rows, err := l.AuditRows(ctx, 3, 2)
	if err != nil || len(rows) != 2 || rows[0].Seq != 4 || rows[1].Seq != 5 {
		t.Fatalf("AuditRows(3, 2): %v, %v", rows, err)
	}
	if r := rows[0]; r.First != 7 || r.Last != 10 || r.EventCount() != 4 {
		t.Fatalf("row 4 holds events %d-%d, %d stored; want 7-10", r.First, r.Last, r.EventCount())
	}
	for i, b := range rows[0].Split() {
		e, err := audit.ParseEvent(b)
		if err != nil || e.Actor != fmt.Sprintf("actor-%d", 30+i) {
			t.Fatalf("row 4 event %d: %+v, %v", i, e, err)
		}
	}
	for _, limit := range []int{0, -1, keystore.MaxAuditRows + 1} {
		if _, err := l.AuditRows(ctx, 0, limit); !errors.Is(err, keystore.ErrInvalid) {
			t.Errorf("AuditRows limit %d: %v", limit, err)
		}
	}
	// The wrong key verifies nothing.
	if _, err := audit.Verify(bytes.Repeat([]byte{1}, 32), AllRows(ctx, l, 100)); !errors.Is(err, audit.ErrChainBroken) {
		t.Errorf("Verify under another key: %v", err)
	}
}

func testAuditRefusesBrokenRows(t *testing.T, s keystore.Store) {
	l := auditLog(t, s)
	ctx := context.Background()
	if err := AppendEvents(ctx, l, AuditKey, ev(1), ev(2)); err != nil {
		t.Fatal(err)
	}
	head, _ := l.AuditHead(ctx)
	bad := []func(audit.Head) ([]audit.Row, error){
		func(h audit.Head) ([]audit.Row, error) { // from an older head: a fork
			c, _ := audit.NewChain(AuditKey, audit.Head{})
			r, err := c.Next(ev(3))
			return []audit.Row{r}, err
		},
		func(h audit.Head) ([]audit.Row, error) { // a gap
			c, _ := audit.NewChain(AuditKey, h)
			c.Next(ev(3))
			r, err := c.Next(ev(4))
			return []audit.Row{r}, err
		},
		func(h audit.Head) ([]audit.Row, error) { // events not numbered on
			c, _ := audit.NewChain(AuditKey, audit.Head{Seq: h.Seq, MAC: h.MAC, Events: h.Events + 1})
			r, err := c.Next(ev(3))
			return []audit.Row{r}, err
		},
		func(h audit.Head) ([]audit.Row, error) { // events renumbered from 1
			c, _ := audit.NewChain(AuditKey, audit.Head{Seq: h.Seq, MAC: h.MAC, Events: h.Seq})
			r, err := c.Next(ev(3))
			return []audit.Row{r}, err
		},
		func(h audit.Head) ([]audit.Row, error) { // not linked
			c, _ := audit.NewChain(AuditKey, h)
			r, err := c.Next(ev(3))
			r.Prev = make([]byte, audit.MACSize)
			return []audit.Row{r}, err
		},
	}
	for i, extend := range bad {
		if err := l.AppendAudit(ctx, extend); !errors.Is(err, keystore.ErrInvalid) {
			t.Errorf("bad rows %d: %v", i, err)
		}
	}
	boom := errors.New("extend failed")
	if err := l.AppendAudit(ctx, func(audit.Head) ([]audit.Row, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("extend's error: %v", err)
	}
	if h, _ := l.AuditHead(ctx); h.Seq != head.Seq || !bytes.Equal(h.MAC, head.MAC) {
		t.Fatalf("refused appends changed the head: %+v", h)
	}
	if _, err := audit.Verify(AuditKey, AllRows(ctx, l, 10)); err != nil {
		t.Fatal(err)
	}
}

func testAuditConcurrentAppends(t *testing.T, s keystore.Store) {
	l := auditLog(t, s)
	ctx := context.Background()
	const writers, each = 4, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				errs <- AppendEvents(ctx, l, AuditKey, ev(100*w+i), ev(100*w+i+50))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	head, err := audit.Verify(AuditKey, AllRows(ctx, l, 7))
	if err != nil || head.Seq != writers*each || head.Events != 2*writers*each {
		t.Fatalf("after concurrent appends: %+v, %v", head, err)
	}
}
