package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// TestQuickstartRuns keeps the README's first command working: the program
// must run twice on the same directory (a second run meets the first run's
// state) and create its key file privately.
func TestQuickstartRuns(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	stdout := os.Stdout
	os.Stdout = devnull
	defer func() { os.Stdout = stdout }()
	for run := 1; run <= 2; run++ {
		if err := run_(t, dir); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	// The data map it wrote is what fieldcrypt datamap show reads.
	f, err := os.Open(filepath.Join(dir, "datamap.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if m, err := pii.ReadDataMap(f); err != nil || len(m.Types) != 1 || len(m.Types[0].Fields) != 5 || len(m.Warnings) != 0 {
		t.Errorf("datamap.json: %+v, %v", m, err)
	}
	info, err := os.Stat(filepath.Join(dir, "kek.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("kek.json: %v, mode %v", err, info.Mode())
	}
}

func run_(t *testing.T, dir string) error {
	t.Helper()
	return run(context.Background(), dir)
}
