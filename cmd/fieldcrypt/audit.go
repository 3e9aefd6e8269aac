package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/fieldcrypt/fieldcrypt/audit"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// audit verify and audit head: the tamper-evident audit trail in the key
// store (pii.AuditTable). Both need the KEK: the chain's key is derived
// from the global keys, so only holders of the KEK can verify (or
// extend) it.
//
// A head is printed as SEQ:HEXMAC. Keep the heads audit head prints
// somewhere the database's administrators cannot change (a ticket, a log
// shipped elsewhere): given back to audit verify with --anchor, a head
// proves that no row up to it was rewritten and none cut off the end.

const auditKEKUsage = "the KEK: local:PATH, vault:MOUNT/KEY, awskms:ARN or gcpkms:projects/...; the audit chain's key is derived from the global keys"

// anchors collects --anchor flags.
type anchors []audit.Head

func (a *anchors) String() string { return "" }

func (a *anchors) Set(s string) error {
	h, err := parseHead(s)
	if err != nil {
		return err
	}
	*a = append(*a, h)
	return nil
}

// parseHead parses SEQ:HEXMAC.
func parseHead(s string) (audit.Head, error) {
	seqText, macText, ok := strings.Cut(s, ":")
	if !ok {
		return audit.Head{}, errors.New("want SEQ:HEXMAC")
	}
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if err != nil || seq == 0 {
		return audit.Head{}, errors.New("SEQ must be a row number from 1")
	}
	mac, err := hex.DecodeString(macText)
	if err != nil || len(mac) != audit.MACSize {
		return audit.Head{}, fmt.Errorf("HEXMAC must be %d hexadecimal characters", 2*audit.MACSize)
	}
	return audit.Head{Seq: seq, MAC: mac}, nil
}

func formatHead(h audit.Head) string {
	return strconv.FormatUint(h.Seq, 10) + ":" + hex.EncodeToString(h.MAC)
}

// openAuditTable parses the flags, opens the store (which must exist), a
// Protector and its audit table, and calls fn.
func openAuditTable(ctx context.Context, f *flags, args []string, fn func(t *pii.AuditTable) error) error {
	if err := f.parse(args); err != nil {
		return err
	}
	s, closeStore, err := openStore(ctx, f.store, mustExist)
	if err != nil {
		return err
	}
	defer closeStore()
	p, kek, err := openProtector(ctx, *f.kek, s)
	if err != nil {
		return err
	}
	defer closeKEK(kek)
	defer p.Close()
	t, err := pii.NewAuditTable(p)
	if err != nil {
		return err
	}
	return fn(t)
}

func cmdAuditVerify(ctx context.Context, args []string, std stdio) error {
	f := newFlags("audit verify", std)
	f.kekFlag(auditKEKUsage)
	var as anchors
	f.Var(&as, "anchor", "a head printed earlier by audit head (SEQ:HEXMAC); repeatable: each must match its row, and rows cut off after it are found")
	return openAuditTable(ctx, f, args, func(t *pii.AuditTable) error {
		head, err := t.Verify(ctx, as...)
		var ce *audit.ChainError
		if errors.As(err, &ce) {
			if ce.First != 0 || ce.Last != 0 {
				fmt.Fprintf(std.out, "audit trail BROKEN at row %d (events %d-%d as stored): %s\n", ce.Seq, ce.First, ce.Last, ce.Problem)
			} else {
				fmt.Fprintf(std.out, "audit trail BROKEN at row %d: %s\n", ce.Seq, ce.Problem)
			}
			return err
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(std.out, "audit trail intact: %d rows, %d events, head %s\n", head.Seq, head.Events, formatHead(head))
		if len(as) == 0 {
			fmt.Fprintln(std.out, "(no --anchor given: rows cut off the end cannot be detected without a head kept elsewhere)")
		}
		return nil
	})
}

func cmdAuditHead(ctx context.Context, args []string, std stdio) error {
	f := newFlags("audit head", std)
	f.kekFlag(auditKEKUsage)
	return openAuditTable(ctx, f, args, func(t *pii.AuditTable) error {
		// Verify first: a head of a broken chain is worth nothing as an
		// anchor.
		head, err := t.Verify(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(std.out, formatHead(head))
		return nil
	})
}
