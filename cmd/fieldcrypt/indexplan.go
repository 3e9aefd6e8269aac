package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/fieldcrypt/fieldcrypt/blindindex"
)

// otherIndexes is the repeatable --other BITS[:DISTINCT] flag.
type otherIndexes []blindindex.OtherIndex

func (o *otherIndexes) String() string { return "" }

func (o *otherIndexes) Set(s string) error {
	b, d, _ := strings.Cut(s, ":")
	bits, err := strconv.Atoi(b)
	if err != nil || bits < 1 || bits > 256 {
		return fmt.Errorf("want BITS[:DISTINCT], BITS from 1 to 256")
	}
	var distinct uint64
	if d != "" {
		if distinct, err = strconv.ParseUint(d, 10, 64); err != nil || distinct < 1 {
			return fmt.Errorf("want BITS[:DISTINCT], DISTINCT at least 1")
		}
	}
	*o = append(*o, blindindex.OtherIndex{Bits: bits, Distinct: distinct})
	return nil
}

// cmdIndexPlan prints the blind-index planner's answer. It needs no store.
//
//	fieldcrypt index plan --rows N [--distinct D] [--bits B] [--other BITS[:DISTINCT]]... [--slow] [--markdown]
func cmdIndexPlan(_ context.Context, args []string, std stdio) error {
	f := flag.NewFlagSet("index plan", flag.ContinueOnError)
	f.SetOutput(std.err)
	rows := f.Uint64("rows", 0, "expected number of rows in the table (required)")
	distinct := f.Uint64("distinct", 0, "expected number of distinct normalised values (default: as many as rows)")
	bits := f.Int("bits", 0, fmt.Sprintf("evaluate this term size, %d to %d (default: recommend one)", blindindex.MinBits, blindindex.MaxBits))
	var others otherIndexes
	f.Var(&others, "other", "another blind index on the same table, as BITS[:DISTINCT] (repeatable)")
	slow := f.Bool("slow", false, "the index is slow (Argon2id)")
	markdown := f.Bool("markdown", false, "print Markdown instead of plain text")
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err}
	}
	if f.NArg() != 0 {
		return usagef("unexpected argument %q (see -h)", f.Arg(0))
	}
	if *rows == 0 {
		return usagef("--rows is required and must be at least 1")
	}
	p, err := blindindex.Recommend(blindindex.PlanInput{Rows: *rows, Distinct: *distinct, Bits: *bits, Others: others, Slow: *slow})
	if err != nil {
		return &usageError{err}
	}
	if *markdown {
		fmt.Fprint(std.out, p.Markdown())
	} else {
		fmt.Fprint(std.out, p.String())
	}
	return nil
}
