package bench

import (
	"context"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/internal/pgtest"
	"github.com/fieldcrypt/fieldcrypt/keystore/postgres"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// BenchmarkOpenAudited is Open of a 6-field struct (warm key cache) with
// no Auditor, and with every Open audited to the PostgreSQL audit table
// (pii.AuditTable) through an audit.Writer (policy Block, batches of
// 1024): the caller pays for building the event and queuing it; the
// writer's goroutine pays for the chain and the database, and under Block
// slows callers down to what the database can take. After the run, every
// event is checked to be in the table and the chain to verify.
func BenchmarkOpenAudited(b *testing.B) {
	b.Run("audit=none", func(b *testing.B) { benchAudited(b, false) })
	b.Run("audit=postgres", func(b *testing.B) { benchAudited(b, true) })
}

func benchAudited(b *testing.B, audited bool) {
	ctx := pii.WithAccess(context.Background(), pii.Access{Actor: "billing-job", Purpose: "billing"})
	store, err := postgres.Open(context.Background(), pgtest.Schema(b))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	kek, err := local.Generate()
	if err != nil {
		b.Fatal(err)
	}
	p0, err := pii.New(ctx, kek, store)
	if err != nil {
		b.Fatal(err)
	}
	defer p0.Close()
	var opts []pii.Option
	var w *audit.Writer
	var table *pii.AuditTable
	if audited {
		if table, err = pii.NewAuditTable(p0); err != nil {
			b.Fatal(err)
		}
		w = audit.NewWriter(table, audit.WriterOptions{Batch: 1024, Buffer: 1 << 16, Policy: audit.Block})
		opts = append(opts, pii.WithAuditor(w))
	}
	p, err := pii.New(ctx, kek, store, opts...)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	sealed := newFields6("subject-1")
	if err := p.Seal(ctx, &sealed); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(32 * 6)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		v := sealed
		if err := p.Open(ctx, &v); err != nil {
			b.Fatal(err)
		}
	}
	if !audited {
		return
	}
	// Part of the cost: the events still queued when the loop ends.
	if err := w.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	head, err := table.Verify(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if want := uint64(b.N) + 1; head.Events != want { // + the Seal
		b.Fatalf("%d events in the table, want %d", head.Events, want)
	}
}

// BenchmarkAuditTableAppend is the writer's side of BenchmarkOpenAudited:
// chaining and storing a batch of 1024 events (as an Open of the 6-field
// struct produces them) in one PostgreSQL row (an op is a batch; ns/event
// per event). Under Block, Open with auditing runs no faster than this,
// on the other core.
func BenchmarkAuditTableAppend(b *testing.B) {
	ctx := context.Background()
	store, err := postgres.Open(ctx, pgtest.Schema(b))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	kek, err := local.Generate()
	if err != nil {
		b.Fatal(err)
	}
	p, err := pii.New(ctx, kek, store)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	table, err := pii.NewAuditTable(p)
	if err != nil {
		b.Fatal(err)
	}
	e := audit.Event{Time: time.Now().UTC(), Op: audit.OpOpen, Type: "bench.fields6", Subject: "s.Qm9vYmFyYmF6cXV4cXV1eA", Actor: "billing-job", Purpose: "billing",
		Opened: []string{"fields6.A", "fields6.B", "fields6.C", "fields6.D", "fields6.E", "fields6.F"}, Outcome: audit.OutcomeOK}
	batch := make([]audit.Event, 1024)
	for i := range batch {
		batch[i] = e
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := table.AppendEvents(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/event")
}
