package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// cmdDataMap renders the data map an application wrote with
// pii.WriteDataMap (the CLI cannot know the application's types): as
// Markdown with --markdown, else as checked, re-indented JSON. Warnings
// (unprotected fields that look personal) go to standard error; with
// --strict they make the command fail, for CI.
func cmdDataMap(_ context.Context, args []string, std stdio) error {
	f := flag.NewFlagSet("datamap show", flag.ContinueOnError)
	f.SetOutput(std.err)
	from := f.String("from", "", "the data map JSON the application wrote with pii.WriteDataMap (required; - for standard input)")
	markdown := f.Bool("markdown", false, "print Markdown (for a privacy notice or a record of processing) instead of JSON")
	strict := f.Bool("strict", false, "fail (exit 1) if the map has warnings")
	f.Usage = func() {
		fmt.Fprintln(std.err, "usage: fieldcrypt datamap show --from FILE.json [--markdown] [--strict]")
		fmt.Fprintln(std.err)
		fmt.Fprintln(std.err, "Renders the data map of an application's model types: every personal field, its protection")
		fmt.Fprintln(std.err, "(encrypt, deterministic, token, blind index, Sealed[T], record binding, tokenmac), what survives")
		fmt.Fprintln(std.err, "Forget, the retention, and warnings for unprotected fields whose names look personal.")
		fmt.Fprintln(std.err, "The application writes the JSON, e.g. from a go generate step:")
		fmt.Fprintln(std.err, "    pii.WriteDataMap(os.Stdout, reflect.TypeFor[Customer](), reflect.TypeFor[Order]())")
		fmt.Fprintln(std.err)
		f.PrintDefaults()
	}
	if err := f.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &usageError{err}
	}
	if f.NArg() != 0 {
		return usagef("unexpected argument %q (see -h)", f.Arg(0))
	}
	if *from == "" {
		return usagef("--from is required: the JSON written by pii.WriteDataMap (- for standard input)")
	}
	var r io.Reader = std.in
	if *from != "-" {
		file, err := os.Open(*from)
		if err != nil {
			return err
		}
		defer file.Close()
		r = file
	}
	m, err := pii.ReadDataMap(r)
	if err != nil {
		return err
	}
	if *markdown {
		err = m.WriteMarkdown(std.out)
	} else {
		err = m.WriteJSON(std.out)
	}
	if err != nil {
		return err
	}
	for _, w := range m.Warnings {
		fmt.Fprintf(std.err, "%s: %s\n", w.Type, w.Reason)
	}
	if *strict && len(m.Warnings) > 0 {
		return fmt.Errorf("%d warning(s): unprotected fields that look personal", len(m.Warnings))
	}
	return nil
}
