// Package piivet is a static analyzer that reports personal data tagged for
// fieldcrypt (`pii:"encrypt"`, `pii:"token,..."`) reaching a log, a
// printout or a database in the clear.
//
// Run it with go vet:
//
//	go install github.com/fieldcrypt/fieldcrypt/tools/piivet/cmd/piivet@latest
//	go vet -vettool=$(which piivet) ./...
//
// or on its own: piivet ./...
//
// # Printing and logging
//
// piivet reports an argument of a call to
//
//   - fmt: Print, Printf, Println, Sprint*, Fprint*, Append*, Errorf;
//   - log: Print*, Fatal*, Panic*, and the same methods of *log.Logger;
//   - log/slog: every function and *slog.Logger method (Info, ErrorContext,
//     Log, With, Any, AnyValue, Group, String, ...);
//   - encoding/json: Marshal, MarshalIndent and (*json.Encoder).Encode;
//
// that is either a protected field itself (c.Name, *c.Nick, c.Aliases[0],
// string(c.Notes)), or a value whose static type holds one, directly or
// nested: in struct fields, embedded structs, slices, arrays, maps and
// pointers, in this package or any package it imports. A type that prints
// itself is trusted to redact:
//
//   - for fmt and log: a String, Error, Format or GoString method (fmt
//     ignores methods of unexported fields' values, and prints a pointer
//     nested inside a value as an address, and so does piivet);
//   - for encoding/json: MarshalJSON or MarshalText (on the type or its
//     pointer); fields that json leaves out (unexported, `json:"-"`) do not
//     count;
//   - for log/slog: a LogValue method (typically returning pii.LogValue);
//     otherwise the value is shown by the handler, with fmt (TextHandler)
//     or encoding/json (JSONHandler), so either leak counts. slog calls
//     LogValue on an argument, not on the elements of a slice or map, nor
//     on fields of a struct.
//
// When every slog handler of the program is wrapped in
// pii.NewRedactingHandler, pass -slogredacted: values given to slog are then
// not reported, protected fields passed as such (slog.String("name",
// c.Name)) still are.
//
// # Database writes
//
// piivet reports an argument of Exec, ExecContext, Query, QueryContext,
// QueryRow and QueryRowContext of *sql.DB, *sql.Tx, *sql.Conn and
// *sql.Stmt that is a protected field (c.Email) or a value whose type holds
// one (a model with a driver.Valuer method, say), unless the same function
// calls pii's Seal or SealAll (or a function named with -seal) earlier in
// the source with an argument rooted at the same variable: `p.Seal(ctx,
// &c)` covers c.Email, order.Customer.Email is covered by a Seal of order,
// and a range variable is covered by a SealAll of what it ranges over.
//
// This is an intraprocedural approximation, on purpose simple:
//
//   - "earlier" is source order, not dominance: a Seal in one branch of an
//     if covers an Exec after the if;
//   - a Seal whose error is ignored, or that failed, still counts;
//   - a value sealed by the caller (a function that receives a sealed
//     model) is reported: seal where you write, or mark the line;
//   - a protected value copied to a local variable first (name := c.Name)
//     and values passed as a []any with args... are not seen;
//   - values behind interfaces (any) are not seen, in logs or in writes;
//   - every argument of a print call counts, whatever its verb: %T and %p
//     of a model are reported too (mark them);
//   - a protected field printed on purpose, after Open, by display code is
//     reported like a log line: mark it, or show pii's masked form;
//   - a query built as text (fmt.Sprintf("... '%s'", c.Name)) is reported
//     only as a fmt call, if at all; use parameters.
//
// # Suppressing
//
// A comment "//piivet:ignore" (with a reason after it) on the line of the
// reported expression, or on the line before, silences piivet there.
package piivet

import (
	"fmt"
	"go/ast"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/analysis"
	"golang.org/x/tools/go/analysis/passes/inspect"
	"golang.org/x/tools/go/ast/inspector"
	"golang.org/x/tools/go/types/typeutil"
)

// Analyzer reports protected fields reaching fmt, log, log/slog,
// encoding/json or database/sql in the clear.
var Analyzer = &analysis.Analyzer{
	Name:     "piivet",
	Doc:      "report personal data tagged pii:\"encrypt\" or pii:\"token\" reaching fmt, log, log/slog, encoding/json unredacted, or database/sql without Seal",
	URL:      "https://pkg.go.dev/github.com/fieldcrypt/fieldcrypt/tools/piivet",
	Requires: []*analysis.Analyzer{inspect.Analyzer},
	Run:      run,
}

var (
	slogRedacted bool
	sealFuncs    string
)

func init() {
	Analyzer.Flags.BoolVar(&slogRedacted, "slogredacted", false,
		"slog handlers are wrapped in pii.NewRedactingHandler: do not report values passed to log/slog")
	Analyzer.Flags.StringVar(&sealFuncs, "seal", "",
		"comma-separated functions that seal their arguments, besides pii's Seal and SealAll: pkg/path.Func or pkg/path.Type.Method")
}

// piiPath is the import path of the package whose Seal and SealAll count.
const piiPath = "github.com/fieldcrypt/fieldcrypt/pii"

// A target is a function piivet looks at the arguments of.
type target uint8

const (
	notTarget target = iota
	targetFmt
	targetSlog
	targetJSON
	targetSQL
)

// targetOf classifies a callee.
func targetOf(fn *types.Func) target {
	if fn.Pkg() == nil {
		return notTarget
	}
	name := fn.Name()
	recv := ""
	if sig, ok := fn.Type().(*types.Signature); ok && sig.Recv() != nil {
		t := sig.Recv().Type()
		if p, ok := t.(*types.Pointer); ok {
			t = p.Elem()
		}
		if n, ok := t.(*types.Named); ok {
			recv = n.Obj().Name()
		}
	}
	switch fn.Pkg().Path() {
	case "fmt":
		if recv == "" && (strings.HasPrefix(name, "Print") || strings.HasPrefix(name, "Sprint") ||
			strings.HasPrefix(name, "Fprint") || strings.HasPrefix(name, "Append") || name == "Errorf") {
			return targetFmt
		}
	case "log":
		if (recv == "" || recv == "Logger") && (strings.HasPrefix(name, "Print") ||
			strings.HasPrefix(name, "Fatal") || strings.HasPrefix(name, "Panic")) {
			return targetFmt
		}
	case "log/slog":
		if recv == "" || recv == "Logger" {
			return targetSlog
		}
	case "encoding/json":
		if (recv == "" && (name == "Marshal" || name == "MarshalIndent")) || (recv == "Encoder" && name == "Encode") {
			return targetJSON
		}
	case "database/sql":
		switch recv {
		case "DB", "Tx", "Conn", "Stmt":
			switch name {
			case "Exec", "ExecContext", "Query", "QueryContext", "QueryRow", "QueryRowContext":
				return targetSQL
			}
		}
	}
	return notTarget
}

func funcName(fn *types.Func) string {
	if sig, ok := fn.Type().(*types.Signature); ok && sig.Recv() != nil {
		return fmt.Sprintf("(%s).%s", types.TypeString(sig.Recv().Type(), func(p *types.Package) string { return p.Name() }), fn.Name())
	}
	return fn.Pkg().Name() + "." + fn.Name()
}

func run(pass *analysis.Pass) (any, error) {
	insp := pass.ResultOf[inspect.Analyzer].(*inspector.Inspector)
	a := &checker{
		pass:    pass,
		tc:      newTypeChecker(),
		ignored: ignoredLines(pass),
		seals:   sealSet(sealFuncs),
		funcs:   map[ast.Node]*funcInfo{},
	}
	insp.WithStack([]ast.Node{(*ast.CallExpr)(nil)}, func(n ast.Node, push bool, stack []ast.Node) bool {
		if !push {
			return true
		}
		call := n.(*ast.CallExpr)
		fn, _ := typeutil.Callee(pass.TypesInfo, call).(*types.Func)
		if fn == nil {
			return true
		}
		tg := targetOf(fn)
		if tg == notTarget {
			return true
		}
		for _, arg := range call.Args {
			a.checkArg(call, fn, tg, arg, stack)
		}
		return true
	})
	return nil, nil
}

// checker is the state of one run.
type checker struct {
	pass    *analysis.Pass
	tc      *typeChecker
	ignored map[lineKey]bool
	seals   map[string]bool
	funcs   map[ast.Node]*funcInfo
}

type lineKey struct {
	file string
	line int
}

// ignoredLines finds the lines silenced by //piivet:ignore: the comment's
// own line and the next.
func ignoredLines(pass *analysis.Pass) map[lineKey]bool {
	m := map[lineKey]bool{}
	for _, f := range pass.Files {
		for _, cg := range f.Comments {
			for _, c := range cg.List {
				if strings.HasPrefix(c.Text, "//piivet:ignore") {
					p := pass.Fset.Position(c.Slash)
					m[lineKey{p.Filename, p.Line}] = true
					m[lineKey{p.Filename, p.Line + 1}] = true
				}
			}
		}
	}
	return m
}

func (a *checker) report(pos token.Pos, format string, args ...any) {
	p := a.pass.Fset.Position(pos)
	if a.ignored[lineKey{p.Filename, p.Line}] {
		return
	}
	a.pass.Reportf(pos, format, args...)
}

func (a *checker) checkArg(call *ast.CallExpr, fn *types.Func, tg target, arg ast.Expr, stack []ast.Node) {
	name := funcName(fn)
	if field, root := a.protectedField(arg); field != "" {
		if tg == targetSQL {
			if !a.sealedBefore(root, call, stack) {
				a.report(arg.Pos(), "%s (protected field %s) is written to the database by %s, with no pii Seal of %s before it in this function",
					render(a.pass.Fset, arg), field, name, rootName(root))
			}
			return
		}
		a.report(arg.Pos(), "%s (protected field %s) is passed to %s: it prints in the clear (or as ciphertext, once sealed)",
			render(a.pass.Fset, arg), field, name)
		return
	}
	tv, ok := a.pass.TypesInfo.Types[arg]
	if !ok || tv.Type == nil || !tv.IsValue() {
		return
	}
	t := tv.Type
	switch tg {
	case targetFmt:
		if p := a.tc.leak(t, sinkFmt, true, true); p != "" {
			a.report(arg.Pos(), "%s of type %s is passed to %s, which prints its protected field %s in the clear: give the type a String method that redacts, or log it with log/slog and pii.LogValue",
				render(a.pass.Fset, arg), typeName(a.pass, t), name, p)
		}
	case targetJSON:
		if p := a.tc.leak(t, sinkJSON, true, true); p != "" {
			a.report(arg.Pos(), "%s of type %s is passed to %s, which encodes its protected field %s in the clear: seal it first, leave the field out (json:\"-\") or give the type a MarshalJSON method",
				render(a.pass.Fset, arg), typeName(a.pass, t), name, p)
		}
	case targetSlog:
		if slogRedacted {
			return
		}
		if p := a.tc.slogLeak(t); p != "" {
			a.report(arg.Pos(), "%s of type %s is passed to %s, which logs its protected field %s in the clear: give the type a LogValue method returning pii.LogValue, or wrap the handler in pii.NewRedactingHandler (and run piivet with -slogredacted)",
				render(a.pass.Fset, arg), typeName(a.pass, t), name, p)
		}
	case targetSQL:
		if p := a.tc.leak(t, sinkDB, true, false); p != "" {
			root := a.rootObj(arg)
			if !a.sealedBefore(root, call, stack) {
				a.report(arg.Pos(), "%s of type %s, which holds protected field %s, is written to the database by %s, with no pii Seal of %s before it in this function",
					render(a.pass.Fset, arg), typeName(a.pass, t), p, name, rootName(root))
			}
		}
	}
}

func typeName(pass *analysis.Pass, t types.Type) string {
	return types.TypeString(t, types.RelativeTo(pass.Pkg))
}

func rootName(root types.Object) string {
	if root == nil {
		return "it"
	}
	return root.Name()
}

func render(fset *token.FileSet, e ast.Expr) string {
	s := types.ExprString(e)
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
