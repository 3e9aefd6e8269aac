package piivet

import (
	"go/ast"
	"go/token"
	"go/types"
	"strings"

	"golang.org/x/tools/go/types/typeutil"
)

// unwrap strips from e what keeps its value the same protected value:
// parentheses, dereferences, indexing, slicing and conversions.
func (a *checker) unwrap(e ast.Expr) ast.Expr {
	for {
		switch x := e.(type) {
		case *ast.ParenExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.SliceExpr:
			e = x.X
		case *ast.CallExpr:
			// A conversion, string(c.Notes): its Fun is a type.
			if len(x.Args) != 1 {
				return e
			}
			if tv, ok := a.pass.TypesInfo.Types[x.Fun]; !ok || !tv.IsType() {
				return e
			}
			e = x.Args[0]
		default:
			return e
		}
	}
}

// protectedField reports whether e is (a part of) a protected field's
// value, returning the field as Type.Field and the variable it is read
// from (nil if not a variable).
func (a *checker) protectedField(e ast.Expr) (field string, root types.Object) {
	sel, ok := a.unwrap(e).(*ast.SelectorExpr)
	if !ok {
		return "", nil
	}
	owner, name, tag, ok := a.selectedField(sel)
	if !ok || !protectedTag(tag) {
		return "", nil
	}
	// Not protected if reached through a field tagged pii:"-": Seal
	// leaves it alone.
	for x := a.unwrap(sel.X); ; {
		up, isSel := x.(*ast.SelectorExpr)
		if !isSel {
			break
		}
		_, _, upTag, isField := a.selectedField(up)
		if !isField {
			break
		}
		if skippedTag(upTag) {
			return "", nil
		}
		x = a.unwrap(up.X)
	}
	return owner + "." + name, a.rootObj(sel.X)
}

// selectedField returns, for a field selection, the type that declares
// the field, its name and its tag (following promoted fields through
// embedded structs; a pii:"-" embedded struct on the way counts as the
// tag).
func (a *checker) selectedField(sel *ast.SelectorExpr) (owner, name, tag string, ok bool) {
	s, found := a.pass.TypesInfo.Selections[sel]
	if !found || s.Kind() != types.FieldVal {
		return "", "", "", false
	}
	t := s.Recv()
	idx := s.Index()
	for i, fi := range idx {
		if p, isPtr := t.Underlying().(*types.Pointer); isPtr {
			t = p.Elem()
		}
		st, isStruct := t.Underlying().(*types.Struct)
		if !isStruct || fi >= st.NumFields() {
			return "", "", "", false
		}
		if i == len(idx)-1 {
			owner = "struct"
			if n, isNamed := types.Unalias(t).(*types.Named); isNamed {
				owner = n.Obj().Name()
			}
			return owner, st.Field(fi).Name(), st.Tag(fi), true
		}
		if skippedTag(st.Tag(fi)) {
			return "", st.Field(fi).Name(), st.Tag(fi), true
		}
		t = st.Field(fi).Type()
	}
	return "", "", "", false
}

// rootObj returns the variable an expression reads from: c for c, &c,
// c.Home.Street, cs[i].Name, *p; nil for anything else (a call result).
func (a *checker) rootObj(e ast.Expr) types.Object {
	for {
		e = a.unwrap(e)
		switch x := e.(type) {
		case *ast.SelectorExpr:
			if s, ok := a.pass.TypesInfo.Selections[x]; ok && s.Kind() == types.FieldVal {
				e = x.X
				continue
			}
			return nil // a qualified identifier or a method value
		case *ast.UnaryExpr:
			if x.Op != token.AND {
				return nil
			}
			e = x.X
			continue
		case *ast.CompositeLit:
			return nil
		case *ast.Ident:
			if v, ok := a.pass.TypesInfo.ObjectOf(x).(*types.Var); ok {
				return v
			}
		}
		return nil
	}
}

// funcInfo is what piivet knows of one function body: the Seal calls in
// it, and what each range variable ranges over.
type funcInfo struct {
	seals    []sealCall
	rangeSrc map[types.Object]types.Object
}

type sealCall struct {
	pos  token.Pos
	root types.Object
}

func sealSet(flag string) map[string]bool {
	m := map[string]bool{piiPath + ".Protector.Seal": true, piiPath + ".Protector.SealAll": true}
	for _, f := range strings.Split(flag, ",") {
		if f = strings.TrimSpace(f); f != "" {
			m[f] = true
		}
	}
	return m
}

// sealKey names fn as -seal does: pkg/path.Func or pkg/path.Type.Method.
func sealKey(fn *types.Func) string {
	if fn.Pkg() == nil {
		return ""
	}
	if sig, ok := fn.Type().(*types.Signature); ok && sig.Recv() != nil {
		t := sig.Recv().Type()
		if p, ok := t.(*types.Pointer); ok {
			t = p.Elem()
		}
		if n, ok := types.Unalias(t).(*types.Named); ok {
			return fn.Pkg().Path() + "." + n.Obj().Name() + "." + fn.Name()
		}
		return fn.Pkg().Path() + "." + fn.Name() // an interface method
	}
	return fn.Pkg().Path() + "." + fn.Name()
}

// enclosingFunc returns the outermost function around the top of stack:
// closures see the Seal calls of the function they are in.
func enclosingFunc(stack []ast.Node) ast.Node {
	for _, n := range stack {
		switch n.(type) {
		case *ast.FuncDecl, *ast.FuncLit:
			return n
		}
	}
	return nil
}

func (a *checker) info(fn ast.Node) *funcInfo {
	if fi, ok := a.funcs[fn]; ok {
		return fi
	}
	fi := &funcInfo{rangeSrc: map[types.Object]types.Object{}}
	ast.Inspect(fn, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.CallExpr:
			callee, _ := typeutil.Callee(a.pass.TypesInfo, x).(*types.Func)
			if callee == nil || !a.seals[sealKey(callee)] {
				return true
			}
			for _, arg := range x.Args {
				if r := a.rootObj(arg); r != nil {
					fi.seals = append(fi.seals, sealCall{pos: x.Pos(), root: r})
				}
			}
		case *ast.RangeStmt:
			src := a.rootObj(x.X)
			if src == nil {
				return true
			}
			for _, v := range []ast.Expr{x.Key, x.Value} {
				if id, ok := v.(*ast.Ident); ok {
					if obj := a.pass.TypesInfo.ObjectOf(id); obj != nil {
						fi.rangeSrc[obj] = src
					}
				}
			}
		}
		return true
	})
	a.funcs[fn] = fi
	return fi
}

// sealedBefore reports whether root, or what it ranges over, is sealed by
// a call earlier in the function that contains call.
func (a *checker) sealedBefore(root types.Object, call *ast.CallExpr, stack []ast.Node) bool {
	if root == nil {
		return false
	}
	fn := enclosingFunc(stack)
	if fn == nil {
		return false
	}
	fi := a.info(fn)
	for _, s := range fi.seals {
		if s.pos >= call.Pos() {
			continue
		}
		for r, n := root, 0; r != nil && n < 8; r, n = fi.rangeSrc[r], n+1 {
			if s.root == r {
				return true
			}
		}
	}
	return false
}
