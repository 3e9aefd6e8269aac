package pii

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/kmstest"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
)

type sweepRow struct {
	ID   string `pii:"subject"`
	Name string `pii:"encrypt"`
}

// expiredSubjects seals n subjects s0..s(n-1) and sets their retention to
// the past.
func expiredSubjects(t *testing.T, p *Protector, n int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := range n {
		id := fmt.Sprint("s", i)
		r := sweepRow{ID: id, Name: "n"}
		if err := p.Seal(ctx, &r); err != nil {
			t.Fatal(err)
		}
		if err := p.SetRetention(ctx, id, time.Unix(1, 0)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// checkWhole checks that every subject is either erased with exactly one
// receipt and no key, or untouched (its key works); it returns how many
// are erased.
func checkWhole(t *testing.T, p *Protector, store keystore.Store, ids []string) int {
	t.Helper()
	ctx := context.Background()
	erased := 0
	for _, id := range ids {
		st, err := p.ErasureStatus(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		rid, _ := p.ring.recordID(id)
		_, getErr := store.Get(ctx, rid)
		switch {
		case st.Erased && len(st.Receipts) == 1 && errors.Is(getErr, keystore.ErrTombstoned):
			erased++
		case !st.Erased && len(st.Receipts) == 0 && getErr == nil:
		default:
			t.Errorf("%s half done: erased %v, %d receipts, Get: %v", id, st.Erased, len(st.Receipts), getErr)
		}
	}
	return erased
}

// TestRetentionSweepBackground: the background sweep erases the expired
// subjects, logs counts only, and stops with Close.
func TestRetentionSweepBackground(t *testing.T) {
	var logs bytes.Buffer
	runs := make(chan SweepRun, 100)
	store := memory.New()
	p, err := New(context.Background(), kmstest.New("test:1"), store, WithRetentionSweepConfig(SweepConfig{
		Every: time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnRun: func(r SweepRun) { runs <- r },
	}))
	if err != nil {
		t.Fatal(err)
	}
	ids := expiredSubjects(t, p, 7)
	total := 0
	for total < 7 {
		r := <-runs
		if r.Err != nil || r.Skipped {
			t.Fatalf("run %+v", r)
		}
		total += r.Erased
	}
	p.Close()
	if n := checkWhole(t, p, store, ids); n != 7 {
		t.Errorf("%d erased", n)
	}
	if !strings.Contains(logs.String(), "retention sweep") || !strings.Contains(logs.String(), "erased=7") {
		t.Errorf("log: %s", logs.String())
	}
	rid, _ := p.ring.recordID("s1")
	if strings.Contains(logs.String(), rid) || strings.Contains(logs.String(), "s1") {
		t.Errorf("the log names a subject: %s", logs.String())
	}
	for _, bad := range []SweepConfig{{Every: time.Millisecond}, {Every: time.Hour, Timeout: -1}} {
		if _, err := New(context.Background(), kmstest.New("test:1"), memory.New(), WithRetentionSweepConfig(bad)); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestRetentionSweepLocked: while another holder has the sweep lock, a run
// is skipped and erases nothing.
func TestRetentionSweepLocked(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	p := mustNew(t, kmstest.New("test:1"), store)
	ids := expiredSubjects(t, p, 3)
	unlock, ok, err := store.TryLockSweep(ctx)
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	if r := p.RunRetentionSweep(ctx); !r.Skipped || r.Erased != 0 {
		t.Errorf("run while locked: %+v", r)
	}
	unlock()
	if r := p.RunRetentionSweep(ctx); r.Skipped || r.Erased != 3 || r.Err != nil {
		t.Errorf("run after unlock: %+v", r)
	}
	checkWhole(t, p, store, ids)
}

// TestRetentionSweepCanceledMidway: a sweep whose context ends after its
// first batch leaves every subject erased with its receipt or untouched,
// and the next run finishes.
func TestRetentionSweepCanceledMidway(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	store := memory.New()
	kek := kmstest.New("test:1")
	p, err := New(context.Background(), kek, store, WithBatchSize(5))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ids := expiredSubjects(t, p, 40)
	_, err = p.Sweep(ctx, time.Now(), func(int) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled sweep: %v", err)
	}
	n := checkWhole(t, p, store, ids)
	if n == 0 || n == 40 {
		t.Fatalf("%d erased: not stopped midway", n)
	}
	if r := p.RunRetentionSweep(context.Background()); r.Err != nil || r.Erased != 40-n {
		t.Errorf("second run: %+v after %d", r, n)
	}
	if n := checkWhole(t, p, store, ids); n != 40 {
		t.Errorf("%d erased after the second run", n)
	}
}

// TestRetentionSweepKilled kills a process in the middle of a sweep of a
// SQLite store (SIGKILL: no deferred code runs) and checks that every
// subject is erased with its receipt or untouched. The child sweeps one
// record per batch and stops for good after 100 of 200, so the kill lands
// somewhere between the first and the hundredth erasure (possibly inside
// one of the per-record transactions, whose atomicity is SQLite's).
func TestRetentionSweepKilled(t *testing.T) {
	if dir := os.Getenv("FIELDCRYPT_SWEEP_CHILD"); dir != "" {
		sweepChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("spawns a process")
	}
	dir := t.TempDir()
	ctx := context.Background()
	open := func() (*Protector, *sqlite.Store) {
		kek, err := local.Open(filepath.Join(dir, "kek.json"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := sqlite.Open(ctx, filepath.Join(dir, "keys.db"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := New(ctx, kek, s)
		if err != nil {
			t.Fatal(err)
		}
		return p, s
	}
	p, s := open()
	ids := expiredSubjects(t, p, 200)
	p.Close()
	s.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestRetentionSweepKilled$")
	cmd.Env = append(os.Environ(), "FIELDCRYPT_SWEEP_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || !strings.HasPrefix(lines.Text(), "erased ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q", lines.Text())
	}
	cmd.Process.Kill()
	cmd.Wait()

	p, s = open()
	defer s.Close()
	defer p.Close()
	n := checkWhole(t, p, s, ids)
	if n == 0 || n > 100 {
		t.Fatalf("%d erased before the kill", n)
	}
	t.Logf("killed after %d erasures", n)
	if r := p.RunRetentionSweep(ctx); r.Err != nil || r.Erased != 200-n {
		t.Errorf("run after the kill: %+v", r)
	}
	if n := checkWhole(t, p, s, ids); n != 200 {
		t.Errorf("%d erased after the second run", n)
	}
}

// sweepChild is the killed process of TestRetentionSweepKilled.
func sweepChild(dir string) {
	ctx := context.Background()
	var kek kms.KEK
	kek, err := local.Open(filepath.Join(dir, "kek.json"))
	if err != nil {
		os.Exit(3)
	}
	s, err := sqlite.Open(ctx, filepath.Join(dir, "keys.db"))
	if err != nil {
		os.Exit(3)
	}
	p, err := New(ctx, kek, s, WithBatchSize(1))
	if err != nil {
		os.Exit(3)
	}
	var once sync.Once
	p.Sweep(ctx, time.Now(), func(erased int) {
		once.Do(func() { fmt.Println("erased", erased) })
		if erased >= 100 {
			select {} // wait for the kill
		}
	})
	os.Exit(4)
}
