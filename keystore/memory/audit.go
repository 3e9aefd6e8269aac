package memory

import (
	"bytes"
	"context"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/keystore"
)

var _ keystore.AuditLog = (*Store)(nil)

func copyRow(r audit.Row) audit.Row {
	return audit.Row{Seq: r.Seq, First: r.First, Last: r.Last, Prev: bytes.Clone(r.Prev), Events: bytes.Clone(r.Events), MAC: bytes.Clone(r.MAC)}
}

func (s *Store) headLocked() audit.Head {
	if len(s.auditRows) == 0 {
		return audit.Head{}
	}
	last := s.auditRows[len(s.auditRows)-1]
	return audit.Head{Seq: last.Seq, MAC: bytes.Clone(last.MAC), Events: last.Last}
}

// AppendAudit implements keystore.AuditLog.
func (s *Store) AppendAudit(ctx context.Context, extend func(audit.Head) ([]audit.Row, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	head := s.headLocked()
	rows, err := extend(head)
	if err != nil {
		return err
	}
	if err := keystore.CheckAuditRows(head, rows); err != nil {
		return err
	}
	for _, r := range rows {
		s.auditRows = append(s.auditRows, copyRow(r))
	}
	return nil
}

// AuditRows implements keystore.AuditLog.
func (s *Store) AuditRows(ctx context.Context, after uint64, limit int) ([]audit.Row, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := keystore.CheckAuditPage(limit); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []audit.Row
	for _, r := range s.auditRows {
		if r.Seq > after && len(out) < limit {
			out = append(out, copyRow(r))
		}
	}
	return out, nil
}

// AuditHead implements keystore.AuditLog.
func (s *Store) AuditHead(ctx context.Context) (audit.Head, error) {
	if err := ctx.Err(); err != nil {
		return audit.Head{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headLocked(), nil
}

// TamperAudit lets tests change the stored audit rows as a database
// owner could: f gets the rows (in stored order) and returns the new ones.
func (s *Store) TamperAudit(f func([]audit.Row) []audit.Row) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auditRows = f(s.auditRows)
}
