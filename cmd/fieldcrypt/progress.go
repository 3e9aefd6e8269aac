package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/fieldcrypt/fieldcrypt/keystore"
)

// progress reports a bulk operation: a bar redrawn in place on a terminal,
// one line per batch elsewhere (logs, CI).
type progress struct {
	w     io.Writer
	what  string
	tty   bool
	total int
}

func newProgress(ctx context.Context, w io.Writer, what string, s keystore.Store, after string) *progress {
	p := &progress{w: w, what: what}
	if f, ok := w.(*os.File); ok {
		if info, err := f.Stat(); err == nil && info.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
			p.total = countAfter(ctx, s, after)
		}
	}
	return p
}

// countAfter counts the records after the cursor, for the bar's total.
func countAfter(ctx context.Context, s keystore.Store, after string) int {
	n := 0
	eachRecord(ctx, s, after, func(keystore.Record) error { n++; return nil })
	return n
}

func (p *progress) update(seen int, t tally, cursor string) {
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %d records: %s; cursor %s\n", p.what, seen, t, cursor)
		return
	}
	const width = 30
	filled := width
	if p.total > 0 {
		filled = min(width, seen*width/p.total)
	}
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d  %s ", p.what, strings.Repeat("#", filled), strings.Repeat(".", width-filled), seen, p.total, t)
}

func (p *progress) finish() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}
