package pii

import (
	"context"
	"fmt"
	"iter"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// auditChainLabel is the PRF input that derives the audit chain's key from
// the global keys. Nothing else uses this label.
const auditChainLabel = "fieldcrypt/audit-chain-key/v1"

// AuditTable is the tamper-evident audit trail kept in the Protector's key
// store (keystore.AuditLog: a table in SQLite and PostgreSQL). It is an
// audit.BatchSink: give it to an audit.Writer, and the Writer to
// WithAuditor of the Protectors whose events it records:
//
//	table, err := pii.NewAuditTable(p0)
//	w := audit.NewWriter(table, audit.WriterOptions{Policy: audit.FailClosed})
//	p, err := pii.New(ctx, kek, store, pii.WithAuditor(w))
//
// Each row holds a batch of events (one AppendEvents) and carries an
// HMAC-SHA256 over its sequence number, its event numbers, the previous
// row's MAC and the events, under a key derived from the global keys (the
// first-generation addressing key, through a PRF with a label of its own):
// only holders of the KEK can extend or verify the chain. The key store
// never sees the key: it hands the head to AppendEvents inside the
// transaction that inserts the new rows.
//
// The chain key does not change when the addressing key is rotated
// (RotateAddressingKey), so that the trail stays verifiable across
// rotations; it is as safe as the first-generation addressing key, and
// an attacker who learned that key (and can write to the table) could
// rewrite the chain undetected except against heads exported before
// (Head; `fieldcrypt audit head`). Export heads regularly.
type AuditTable struct {
	log keystore.AuditLog
	key []byte
}

var _ audit.BatchSink = (*AuditTable)(nil)

// NewAuditTable returns the audit trail in p's key store. It fails with
// ErrUnsupportedStore if the store keeps none.
func NewAuditTable(p *Protector) (*AuditTable, error) {
	log, ok := p.ring.store.(keystore.AuditLog)
	if !ok {
		return nil, &UnsupportedStoreError{Need: "keystore.AuditLog"}
	}
	key, err := p.ring.global.PRF.ComputePrimaryPRF([]byte(auditChainLabel), 32)
	if err != nil {
		return nil, fmt.Errorf("pii: derive audit chain key: %w", err)
	}
	return &AuditTable{log: log, key: key}, nil
}

// AppendEvents appends events to the chain, all or none, in one
// transaction of the key store, as one row: the batch is the chain's unit
// (a row's MAC covers every event in it, numbered), so that the database
// stores one row per batch rather than one per event.
func (t *AuditTable) AppendEvents(ctx context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	return t.log.AppendAudit(ctx, func(head audit.Head) ([]audit.Row, error) {
		c, err := audit.NewChain(t.key, head)
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

// Audit appends one event at once, without batching: an audit.Auditor
// for low volumes. Prefer an audit.Writer in front of the table.
func (t *AuditTable) Audit(ctx context.Context, e audit.Event) error {
	return t.AppendEvents(ctx, []audit.Event{e})
}

// Head returns the chain's current head, to be kept outside the database
// (a log line, a ticket, another system): a later Verify with it as an
// anchor finds rows cut off the end or rewritten before it.
func (t *AuditTable) Head(ctx context.Context) (audit.Head, error) {
	return t.log.AuditHead(ctx)
}

// auditPage is how many rows Verify reads per store call.
const auditPage = 1000

// Rows iterates over the stored rows, from the first, as stored.
func (t *AuditTable) Rows(ctx context.Context) iter.Seq2[audit.Row, error] {
	return func(yield func(audit.Row, error) bool) {
		var after uint64
		for {
			rows, err := t.log.AuditRows(ctx, after, auditPage)
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
			if len(rows) < auditPage {
				return
			}
		}
	}
}

// Verify checks the whole chain (audit.Verify) and returns the head it ends
// at. A row that was edited, deleted, inserted or moved, or an event in
// it, is reported as an *audit.ChainError with the row's sequence number
// and event numbers; rows cut off the end only against anchors, heads
// exported earlier.
func (t *AuditTable) Verify(ctx context.Context, anchors ...audit.Head) (audit.Head, error) {
	return audit.Verify(t.key, t.Rows(ctx), anchors...)
}
