package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// The data-subject rights commands: keys forget, hold, release, requests,
// and consent grant, withdraw, show, history. Subjects come from argv or,
// with "-", from standard input (to keep an identifier such as an email
// address out of argv and the shell history); they are never printed back:
// output names a subject by its record ID (subject_hash) only.

// exitHeld is the exit status of keys forget refused because the subject
// is under legal hold: nothing was erased.
const exitHeld = 3

// subjectCommand parses the flags and the subject of a command that needs
// the KEK (to compute the subject's record ID), opens the store (which must
// exist) and a Protector, and calls fn.
// check, if not nil, validates the flags before anything is opened.
func subjectCommand(ctx context.Context, f *flags, args []string, std stdio, check func() error, fn func(p *pii.Protector, s keystore.Store, subject string) error) error {
	f.positional = 1
	if err := f.parse(args); err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			return err
		}
	}
	subject, err := readSubject(f.Arg(0), std.in)
	if err != nil {
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
	return fn(p, s, subject)
}

const kekUsage = "the KEK: local:PATH, vault:MOUNT/KEY, awskms:ARN or gcpkms:projects/...; needed to compute the subject's record ID"

func cmdForget(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keys forget", std)
	f.kekFlag(kekUsage)
	ticket := f.String("ticket", "", "the request's ticket reference (required; never personal data)")
	by := f.String("by", "", "who handles the request (required)")
	receivedFlag := f.String("received", "", "when the request was received (RFC 3339; default now)")
	within := f.String("deadline", "30d", "complete within this long of receipt (e.g. 30d, 720h)")
	var r pii.Request
	check := func() error {
		if *ticket == "" || *by == "" {
			return usagef("--ticket and --by are required")
		}
		r = pii.Request{Ticket: *ticket, By: *by, Received: time.Now()}
		if *receivedFlag != "" {
			t, err := time.Parse(time.RFC3339, *receivedFlag)
			if err != nil {
				return usagef("--received: %v", err)
			}
			r.Received = t
		}
		d, err := parseDays(*within)
		if err != nil {
			return usagef("--deadline: %v", err)
		}
		r.Deadline = r.Received.Add(d)
		return nil
	}
	return subjectCommand(ctx, f, args, std, check, func(p *pii.Protector, s keystore.Store, subject string) error {
		req, receipt, err := p.RequestErasure(ctx, subject, r)
		if errors.Is(err, pii.ErrInvalidArgument) {
			return &usageError{err}
		}
		if req.Seq != 0 {
			writeRequest(std.out, req)
		}
		var held *pii.LegalHoldError
		if errors.As(err, &held) {
			return fmt.Errorf("refused: the subject is under legal hold (reference %q); nothing was erased. The request is recorded as held: release the hold, then run keys forget again with the same --ticket: %w", held.Reference, err)
		}
		if err != nil {
			return err
		}
		if receipt.Seq != 0 || len(receipt.KeyIDs) > 0 {
			writeReceipt(std.out, receipt.Subject, receipt.ErasedAt, receipt.Reason, receipt.KEKID, receipt.KeyIDs)
		}
		fmt.Fprintln(std.err, "forget: done: the subject's keys are destroyed")
		return nil
	})
}

func cmdHold(ctx context.Context, args []string, std stdio) error {
	return holdCommand(ctx, "keys hold", args, std, true)
}

func cmdRelease(ctx context.Context, args []string, std stdio) error {
	return holdCommand(ctx, "keys release", args, std, false)
}

func holdCommand(ctx context.Context, name string, args []string, std stdio, place bool) error {
	f := newFlags(name, std)
	f.kekFlag(kekUsage)
	ref := f.String("reference", "", "the hold's reference: a case or ticket number (required; never personal data)")
	by := f.String("by", "", "who places or lifts the hold (required)")
	check := func() error {
		if *ref == "" || *by == "" {
			return usagef("--reference and --by are required")
		}
		return nil
	}
	return subjectCommand(ctx, f, args, std, check, func(p *pii.Protector, s keystore.Store, subject string) error {
		h := pii.HoldInfo{Reference: *ref, By: *by}
		var err error
		msg := "hold: placed"
		if place {
			var placed bool
			placed, err = p.PlaceHold(ctx, subject, h)
			if !placed && err == nil {
				msg = "hold: already in place"
			}
		} else {
			err = p.ReleaseHold(ctx, subject, h)
			msg = "release: lifted"
		}
		switch {
		case errors.Is(err, pii.ErrInvalidArgument):
			return &usageError{err}
		case errors.Is(err, pii.ErrForgotten):
			return fmt.Errorf("the subject was erased: there is nothing to hold: %w", err)
		case err != nil:
			return err
		}
		hs, err := p.Holds(ctx, subject)
		if err != nil {
			return err
		}
		fmt.Fprintf(std.out, "%s (reference %q); holds standing: %d\n", msg, *ref, len(hs))
		for _, h := range hs {
			json.NewEncoder(std.out).Encode(map[string]any{
				"subject_hash": h.ID, "reference": h.Reference, "by": h.By, "at": h.At.UTC().Format(time.RFC3339Nano),
			})
		}
		return nil
	})
}

func cmdRequests(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keys requests", std)
	late := f.Bool("late", false, "only requests completed after their deadline, or still open past it")
	within := f.String("deadline", "", "with --late: judge against this long after receipt (e.g. 30d) instead of each request's own deadline")
	nowFlag := f.String("now", "", "with --late: judge open requests as of this time (RFC 3339; default now)")
	if err := f.parse(args); err != nil {
		return err
	}
	var d time.Duration
	if *within != "" {
		var err error
		if d, err = parseDays(*within); err != nil {
			return usagef("--deadline: %v", err)
		}
		if !*late {
			return usagef("--deadline needs --late")
		}
	}
	now := time.Now()
	if *nowFlag != "" {
		t, err := time.Parse(time.RFC3339, *nowFlag)
		if err != nil {
			return usagef("--now: %v", err)
		}
		now = t
	}
	s, closeStore, err := openStore(ctx, f.store, mustExist)
	if err != nil {
		return err
	}
	defer closeStore()
	rs, err := pii.AllErasureRequests(ctx, s)
	if err != nil {
		return err
	}
	if *late {
		rs = pii.LateRequests(rs, now, d)
	}
	for _, r := range rs {
		writeRequest(std.out, r)
	}
	what := "requests"
	if *late {
		what = "late requests"
	}
	fmt.Fprintf(std.err, "requests: %d %s\n", len(rs), what)
	return nil
}

func writeRequest(out io.Writer, r pii.ErasureRequest) {
	m := map[string]any{
		"request": r.Seq, "subject_hash": r.Subject, "ticket": r.Ticket, "by": r.By, "status": string(r.Status),
		"received": r.Received.UTC().Format(time.RFC3339Nano), "deadline": r.Deadline.UTC().Format(time.RFC3339Nano),
	}
	if r.Status == pii.RequestCompleted {
		m["completed"] = r.Completed.UTC().Format(time.RFC3339Nano)
		m["completed_by"] = r.CompletedBy
		m["receipt"] = r.ReceiptSeq
	}
	if r.HoldReference != "" {
		m["hold_reference"] = r.HoldReference
	}
	json.NewEncoder(out).Encode(m)
}

func cmdConsentGrant(ctx context.Context, args []string, std stdio) error {
	return consentChange(ctx, "consent grant", args, std, true)
}

func cmdConsentWithdraw(ctx context.Context, args []string, std stdio) error {
	return consentChange(ctx, "consent withdraw", args, std, false)
}

func consentChange(ctx context.Context, name string, args []string, std stdio, grant bool) error {
	f := newFlags(name, std)
	f.kekFlag(kekUsage)
	purpose := f.String("purpose", "", "the purpose (required): a lowercase letter, then lowercase letters, digits, '_' or '-'")
	actor := f.String("actor", "", "who records the change (required; never personal data)")
	check := func() error {
		if *purpose == "" || *actor == "" {
			return usagef("--purpose and --actor are required")
		}
		return nil
	}
	return subjectCommand(ctx, f, args, std, check, func(p *pii.Protector, s keystore.Store, subject string) error {
		c := pii.ConsentChange{Purpose: *purpose, Actor: *actor}
		var err error
		if grant {
			err = p.GrantConsent(ctx, subject, c)
		} else {
			err = p.WithdrawConsent(ctx, subject, c)
		}
		switch {
		case errors.Is(err, pii.ErrInvalidArgument):
			return &usageError{err}
		case errors.Is(err, pii.ErrForgotten):
			return fmt.Errorf("the subject was erased: consent is not recorded: %w", err)
		case err != nil:
			return err
		}
		return printConsent(ctx, p, subject, std.out)
	})
}

func printConsent(ctx context.Context, p *pii.Protector, subject string, out io.Writer) error {
	purposes, err := p.Consent(ctx, subject)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "consents to: %s\n", strings.Join(purposes, " "))
	return nil
}

func cmdConsentShow(ctx context.Context, args []string, std stdio) error {
	f := newFlags("consent show", std)
	f.kekFlag(kekUsage)
	return subjectCommand(ctx, f, args, std, nil, func(p *pii.Protector, s keystore.Store, subject string) error {
		return printConsent(ctx, p, subject, std.out)
	})
}

func cmdConsentHistory(ctx context.Context, args []string, std stdio) error {
	f := newFlags("consent history", std)
	f.kekFlag(kekUsage)
	return subjectCommand(ctx, f, args, std, nil, func(p *pii.Protector, s keystore.Store, subject string) error {
		h, err := p.ConsentHistory(ctx, subject)
		if err != nil {
			return err
		}
		for _, e := range h {
			json.NewEncoder(std.out).Encode(map[string]any{
				"seq": e.Seq, "subject_hash": e.ID, "purpose": e.Purpose, "action": e.Action, "actor": e.Actor,
				"at": e.At.UTC().Format(time.RFC3339Nano),
			})
		}
		return nil
	})
}

// parseDays parses a duration that may be given in days ("30d") as well as
// in Go's units ("720h"). It must be positive.
func parseDays(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 1 || days > 3650 {
			return 0, fmt.Errorf("%q: want a whole number of days from 1 to 3650", s)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, err
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: must be positive", s)
	}
	return d, nil
}
