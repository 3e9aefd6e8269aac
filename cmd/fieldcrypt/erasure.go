package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

// globalRecordID is the record of the global keys (pii's reserved ID).
// Nothing in this command ever deletes it.
const globalRecordID = "fieldcrypt.global"

// isSubjectID reports whether id is the ID of a subject's record: "s."
// (or "s<generation>." after a rotation of the addressing key) and the
// unpadded base64url of a 32-byte keyed hash (43 characters, in canonical
// form).
func isSubjectID(id string) bool {
	_, ok := pii.Generation(id)
	return ok
}

// openProtector opens the KEK and a Protector on s that never creates the
// global keys: a store without them is an error (pii.ErrNotInitialized).
func openProtector(ctx context.Context, kekSpec string, s keystore.Store) (*pii.Protector, kms.KEK, error) {
	kek, err := openKEK(ctx, kekSpec)
	if err != nil {
		return nil, nil, err
	}
	p, err := pii.New(ctx, kek, s, pii.WithoutInit())
	if err != nil {
		closeKEK(kek)
		return nil, nil, err
	}
	return p, kek, nil
}

// readSubject returns the subject named by arg, or read from in when arg
// is "-" (so that an identifier such as an email address stays out of
// argv and the shell history): the first line, without its line ending.
func readSubject(arg string, in io.Reader) (string, error) {
	if arg != "-" {
		return arg, nil
	}
	line, err := bufio.NewReader(io.LimitReader(in, 64<<10)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("read the subject from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", usagef("no subject on standard input")
	}
	return line, nil
}

func cmdVerifyErased(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keys verify-erased", std)
	kekSpec := f.kekFlag("the KEK: local:PATH, vault:MOUNT/KEY, awskms:ARN or gcpkms:projects/...; needed to recompute the subject's keyed hash")
	f.positional = 1
	if err := f.parse(args); err != nil {
		return err
	}
	subject, err := readSubject(f.Arg(0), std.in)
	if err != nil {
		return err
	}
	// The answer names the store and KEK it came from, so that a mistyped
	// one shows; any failure answers "unknown", never "not erased".
	used := fmt.Sprintf("store: %s\nkek: %s\n", redactStore(f.store), *kekSpec)
	unknown := func(err error) error {
		fmt.Fprint(std.out, "unknown\n"+used)
		if errors.Is(err, pii.ErrNotInitialized) {
			return fmt.Errorf("cannot tell: the store has no global keys (the wrong store, or one that lost its global record): %w", err)
		}
		return fmt.Errorf("cannot tell: %w", err)
	}
	s, closeStore, err := openStore(ctx, f.store, mustExist)
	if err != nil {
		return unknown(err)
	}
	defer closeStore()
	p, kek, err := openProtector(ctx, *kekSpec, s)
	if err != nil {
		return unknown(err)
	}
	defer closeKEK(kek)
	defer p.Close()
	st, err := p.ErasureStatus(ctx, subject)
	if err != nil {
		return unknown(err)
	}
	switch {
	case st.Erased:
		fmt.Fprintf(std.out, "erased at %s\n", st.ErasedAt.UTC().Format(time.RFC3339))
	case len(st.Receipts) > 0:
		fmt.Fprintln(std.out, "not erased now (readmitted after an earlier erasure)")
	default:
		fmt.Fprintln(std.out, "not erased")
	}
	fmt.Fprint(std.out, used)
	for _, r := range st.Receipts {
		writeReceipt(std.out, r.Subject, r.ErasedAt, r.Reason, r.KEKID, r.KeyIDs)
	}
	return nil
}

// tombstoneLine is one line of an exported tombstone file. MAC
// authenticates the other fields (pii.Protector.TombstoneMAC, a key derived
// from the store's global keys): reapply-tombstones refuses a file with a
// line that was altered or forged. Exports from before MACs have none.
type tombstoneLine struct {
	ID       string    `json:"id"`
	ErasedAt time.Time `json:"erased_at"`
	Reason   string    `json:"reason"`
	MAC      []byte    `json:"mac,omitempty"`
}

func (l tombstoneLine) tombstone() keystore.Tombstone {
	return keystore.Tombstone{ID: l.ID, ErasedAt: l.ErasedAt, Reason: l.Reason}
}

func cmdExportTombstones(ctx context.Context, args []string, std stdio) error {
	f := newFlags("keys export-tombstones", std)
	kekSpec := f.kekFlag("the KEK: local:PATH, vault:MOUNT/KEY, awskms:ARN or gcpkms:projects/...; needed to authenticate every line")
	path := f.String("out", "", "write to this file (replaced only once complete) instead of standard output")
	s, closeStore, err := f.parseAndOpen(ctx, args)
	if err != nil {
		return err
	}
	defer closeStore()
	p, kek, err := openProtector(ctx, *kekSpec, s)
	if err != nil {
		return err
	}
	defer closeKEK(kek)
	defer p.Close()
	w, commit, err := output(*path, std.out)
	if err != nil {
		return err
	}
	defer commit(false)
	enc := json.NewEncoder(w)
	n := 0
	err = eachTombstone(ctx, s, func(t keystore.Tombstone) error {
		t.ErasedAt = t.ErasedAt.UTC()
		n++
		return enc.Encode(tombstoneLine{t.ID, t.ErasedAt, t.Reason, p.TombstoneMAC(t)})
	})
	if err != nil {
		return err
	}
	if err := commit(true); err != nil {
		return err
	}
	fmt.Fprintf(std.err, "export-tombstones: %d tombstones written\n", n)
	return nil
}

// output returns where to write: stdout, or a temporary file beside path
// that commit(true) renames to path (commit(false) removes it), so that a
// failed export never replaces a good one.
func output(path string, stdout io.Writer) (io.Writer, func(ok bool) error, error) {
	if path == "" {
		return stdout, func(bool) error { return nil }, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, nil, err
	}
	done := false
	commit := func(ok bool) error {
		if done {
			return nil
		}
		done = true
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
			return nil
		}
		err := tmp.Sync()
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp.Name(), path)
		}
		if err != nil {
			os.Remove(tmp.Name())
		}
		return err
	}
	return tmp, commit, nil // CreateTemp makes the file 0600
}
