package pii

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/fieldcrypt/fieldcrypt/internal/envelope"
)

// The data map: what personal data a set of model types holds, read from
// the one per-type plan that Seal and Open follow (plan.go, searchtags.go,
// sealed_plan.go), never from a second reading of the tags. It is meant for
// a privacy notice or a record of processing activities (GDPR Art. 30), and
// for review: a field whose name looks personal but that nothing protects is
// a Warning.
//
// The CLI cannot know an application's types, so the application writes
// the map (WriteDataMap, typically from a `go generate` step or a
// `-datamap` flag of its own binary) and `fieldcrypt datamap --from
// FILE.json` renders and checks it.

// DataMapVersion is the version of the data map's JSON format. A reader
// refuses a map of another version.
const DataMapVersion = 1

// Protections of a DataMapField.
const (
	ProtectSubject       = "subject"       // the subject identifier: selects the keys, stored as the application stores it
	ProtectRecord        = "record"        // the record identifier bound into ciphertexts, stored as the application stores it
	ProtectEncrypt       = "encrypt"       // randomized AEAD (AES-256-GCM)
	ProtectDeterministic = "deterministic" // deterministic AEAD (AES-SIV): equal values give equal ciphertexts
	ProtectToken         = "token"         // format-preserving FF1 token
	ProtectIndex         = "index"         // keyed blind index: a truncated keyed hash of other fields
	ProtectTokenMAC      = "tokenmac"      // MAC of a token field (integrity; holds no value)
)

// DataMap is the data map of a set of model types: every field that holds
// personal data, with its protection, and the warnings.
type DataMap struct {
	// Version is DataMapVersion.
	Version int `json:"version"`
	// Retention is the Protector's default retention of subject keys
	// (WithRetention) as a Go duration ("8760h0m0s"); "" when none is
	// declared: keys are kept until Forget. Erasing a subject's keys erases
	// every field of theirs except those that survive Forget.
	Retention string `json:"retention"`
	// Types are the model types, in the order given.
	Types []DataMapType `json:"types"`
	// Warnings are fields with no protection whose name looks personal
	// (see PersonalWords); an empty list, never null.
	Warnings []DataMapWarning `json:"warnings"`
}

// DataMapType is one model type of a DataMap.
type DataMapType struct {
	// Type is the package-qualified type name ("billing.Customer"), and
	// Package its import path.
	Type    string `json:"type"`
	Package string `json:"package"`
	// Fields are the type's personal fields, depth first in field order.
	Fields []DataMapField `json:"fields"`
	// SurvivingFields are the paths of the fields whose protection
	// survives Forget (as SurvivingFields[T] lists them): clear them in
	// the application's own records when a subject is erased.
	SurvivingFields []string `json:"surviving_fields"`
}

// DataMapField is one personal field.
type DataMapField struct {
	// Path is the field's path from the model type: Go field names joined
	// by '.', with "[]" for each element of a slice or array and "{}" for
	// each value of a map; promoted fields of embedded structs appear
	// under the embedding type.
	Path string `json:"path"`
	// GoType is the field's Go type.
	GoType string `json:"go_type"`
	// Scope is the scope bound into the field's values (the struct
	// type's name, or its scope=), for encrypt and deterministic fields
	// and token fields with a tokenmac companion.
	Scope string `json:"scope,omitempty"`
	// Name is the stable name bound into the field's ciphertexts or
	// tokens (name=, or the Go field name), or the index name.
	Name string `json:"name,omitempty"`
	// Protection is one of the Protect* constants.
	Protection string `json:"protection"`
	// Sealed is the value type of a pii.Sealed[T] field ("time.Time",
	// "int64"), empty otherwise.
	Sealed string `json:"sealed,omitempty"`
	// BoundTo lists what a ciphertext of the field is bound to, besides
	// the key it is sealed with: "subject", "scope", "name", and "record"
	// and "position" where the plan binds them (binding.go). Empty for
	// subject, record and index fields.
	BoundTo []string `json:"bound_to,omitempty"`
	// Token describes a token field's format and key scope.
	Token *DataMapToken `json:"token,omitempty"`
	// TokenMAC is the path of a token field's tokenmac companion, or of
	// the token field a tokenmac field authenticates.
	TokenMAC string `json:"tokenmac,omitempty"`
	// Index describes a blind-index field.
	Index *DataMapIndex `json:"index,omitempty"`
	// SurvivesForget: the protection is made with a global key and
	// survives Forget (scope=global tokens, scope=global indexes); the
	// subject and record identifiers too, as the application stores them.
	SurvivesForget bool `json:"survives_forget"`
	// Purposes lists the purposes the field may be opened for (its
	// purpose= tag); an empty list — never null — means every purpose.
	Purposes []string `json:"purposes"`
	// Mask is the mask other purposes see (mask=), if any.
	Mask string `json:"mask,omitempty"`
	// Vault says how a token field uses the token vault: "small" (values
	// FF1 cannot take) or "always"; empty for FF1 only.
	Vault string `json:"vault,omitempty"`
}

// DataMapToken describes a token field.
type DataMapToken struct {
	Format string `json:"format"` // digits, ssn, pan, phone, email, alnum
	Scope  string `json:"scope"`  // "subject" or "global"
}

// DataMapIndex describes a blind-index field.
type DataMapIndex struct {
	// Sources are the paths of the fields the index is computed from.
	Sources []string `json:"sources"`
	// Transforms are the transforms of each source, in order ("" for
	// none), as the tag's transform= spells them.
	Transforms []string `json:"transforms"`
	// Bits is the term size.
	Bits int `json:"bits"`
	// Slow gives the Argon2id parameters of a slow index
	// ("m19456+t2+p1"), "" for a fast one.
	Slow string `json:"slow,omitempty"`
	// Scope is "global" (one key for every subject: survives Forget) or
	// "subject".
	Scope string `json:"scope"`
}

// DataMapWarning is a field that looks personal by its name and has no
// protection.
type DataMapWarning struct {
	Type   string `json:"type"`
	Path   string `json:"path"`
	GoType string `json:"go_type"`
	// Word is the personal-looking word found in the field's Go name or
	// json/db tag name.
	Word string `json:"word"`
	// Reason is a sentence for a report.
	Reason string `json:"reason"`
}

// ErrDataMap: a data map read by ReadDataMap is malformed or of another
// version.
var ErrDataMap = errors.New("pii: invalid data map")

// DataMapOf returns the data map of the given model types (struct types,
// or pointers to them), without a retention (see Protector.DataMap). A
// type whose tags are invalid fails with its TagError, as Check does.
func DataMapOf(types ...reflect.Type) (DataMap, error) {
	m := DataMap{Version: DataMapVersion, Types: []DataMapType{}, Warnings: []DataMapWarning{}}
	seen := map[reflect.Type]bool{}
	for _, t := range types {
		if t == nil {
			return DataMap{}, fmt.Errorf("%w: DataMapOf: nil type", ErrInvalidArgument)
		}
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return DataMap{}, fmt.Errorf("%w: DataMapOf: %v is not a struct type", ErrInvalidArgument, t)
		}
		if seen[t] {
			continue
		}
		seen[t] = true
		rp := planFor(t)
		if rp.err != nil {
			return DataMap{}, rp.err
		}
		dt, warns := mapType(rp.st)
		m.Types = append(m.Types, dt)
		m.Warnings = append(m.Warnings, warns...)
	}
	return m, nil
}

// DataMap is DataMapOf with this Protector's default retention
// (WithRetention).
func (p *Protector) DataMap(types ...reflect.Type) (DataMap, error) {
	m, err := DataMapOf(types...)
	if err == nil && p.ring.retention > 0 {
		m.Retention = p.ring.retention.String()
	}
	return m, err
}

// WriteDataMap writes the data map of types as indented JSON, for
// `fieldcrypt datamap --from`. An application typically calls it from a
// small program run by `go generate`:
//
//	//go:generate go run ./cmd/datamap -o datamap.json
//
//	func main() { pii.WriteDataMap(os.Stdout, reflect.TypeFor[Customer](), reflect.TypeFor[Order]()) }
func WriteDataMap(w io.Writer, types ...reflect.Type) error {
	m, err := DataMapOf(types...)
	if err != nil {
		return err
	}
	return m.WriteJSON(w)
}

// WriteJSON writes m as indented JSON.
func (m DataMap) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// ReadDataMap reads a data map written by WriteJSON, refusing one of
// another version or with missing parts (ErrDataMap).
func ReadDataMap(r io.Reader) (DataMap, error) {
	var m DataMap
	dec := json.NewDecoder(io.LimitReader(r, 64<<20))
	if err := dec.Decode(&m); err != nil {
		return DataMap{}, fmt.Errorf("%w: %v", ErrDataMap, err)
	}
	if m.Version != DataMapVersion {
		return DataMap{}, fmt.Errorf("%w: version %d, want %d", ErrDataMap, m.Version, DataMapVersion)
	}
	if m.Retention != "" {
		if _, err := time.ParseDuration(m.Retention); err != nil {
			return DataMap{}, fmt.Errorf("%w: retention %q is not a duration", ErrDataMap, m.Retention)
		}
	}
	for _, t := range m.Types {
		if t.Type == "" {
			return DataMap{}, fmt.Errorf("%w: a type without a name", ErrDataMap)
		}
		for _, f := range t.Fields {
			if f.Path == "" || f.Protection == "" {
				return DataMap{}, fmt.Errorf("%w: %s: a field without a path or protection", ErrDataMap, t.Type)
			}
		}
	}
	if m.Types == nil {
		m.Types = []DataMapType{}
	}
	if m.Warnings == nil {
		m.Warnings = []DataMapWarning{}
	}
	return m, nil
}

// mapper walks one root plan.
type mapper struct {
	root   *structPlan
	fields []DataMapField
	warns  []DataMapWarning
	stack  map[*structPlan]bool // plans on the current path (recursive types)
	warned map[string]bool      // reflect-only walk: types on the current path
}

func mapType(st *structPlan) (DataMapType, []DataMapWarning) {
	m := &mapper{root: st, stack: map[*structPlan]bool{}, warned: map[string]bool{}}
	m.walk(st, st.name, false)
	m.warnUnprotected(st.typ, st.name, map[reflect.Type]bool{})
	dt := DataMapType{Type: st.typ.String(), Package: st.typ.PkgPath(), Fields: m.fields, SurvivingFields: []string{}}
	if dt.Fields == nil {
		dt.Fields = []DataMapField{}
	}
	for _, f := range dt.Fields {
		if f.SurvivesForget && (f.Protection == ProtectToken || f.Protection == ProtectIndex) {
			dt.SurvivingFields = append(dt.SurvivingFields, f.Path)
		}
	}
	sort.SliceStable(m.warns, func(i, j int) bool { return m.warns[i].Path < m.warns[j].Path })
	return dt, m.warns
}

// walk adds the personal fields of st, reached at path; hasRecord: a
// record field is in reach from an enclosing level.
func (m *mapper) walk(st *structPlan, path string, hasRecord bool) {
	if m.stack[st] {
		return // a recursive type: its fields are listed at its first level
	}
	m.stack[st] = true
	defer delete(m.stack, st)
	hasRecord = hasRecord || st.record != nil
	if len(st.subject) == 1 {
		sf := st.typ.Field(st.subject[0])
		m.add(DataMapField{Path: path + "." + sf.Name, GoType: sf.Type.String(), Protection: ProtectSubject, SurvivesForget: true})
	}
	if len(st.record) == 1 {
		rf := st.typ.Field(st.record[0])
		m.add(DataMapField{Path: path + "." + rf.Name, GoType: rf.Type.String(), Protection: ProtectRecord, SurvivesForget: true})
	}
	for i := range st.fields {
		f := &st.fields[i]
		sf := st.typ.Field(f.index)
		p := path + "." + f.goName
		if f.inline {
			p = path
		}
		if f.name == "" { // an untagged field leading to nested structs
			suffix, inner := containerPath(f.node)
			if inner != nil {
				m.walk(inner, p+suffix, hasRecord)
			}
			continue
		}
		suffix, _ := containerPath(f.node)
		df := DataMapField{Path: p + suffix, GoType: sf.Type.String(), Scope: st.scope, Name: f.name}
		switch {
		case f.token != "":
			df.Protection = ProtectToken
			scope := "subject"
			if f.global {
				scope = "global"
				df.SurvivesForget = f.survives()
			}
			if f.vault != nil && f.vault.enabled {
				df.Vault = "small"
				if f.vault.always {
					df.Vault = "always"
				}
			}
			df.Token = &DataMapToken{Format: string(f.token), Scope: scope}
			if f.hasMAC {
				df.TokenMAC = path + "." + st.typ.Field(f.macIndex).Name
			}
		case f.mode == envelope.Deterministic:
			df.Protection = ProtectDeterministic
		default:
			df.Protection = ProtectEncrypt
		}
		if leaf := leafOf(f.node); leaf.kind == nSealed {
			df.Sealed = leaf.codec.Type().String()
		}
		if f.acl != nil {
			df.Purposes = slices.Clone(f.acl.purposes)
			df.Mask = string(f.acl.mask)
		}
		df.BoundTo = boundTo(f, hasRecord)
		if !slices.Contains(df.BoundTo, "scope") {
			df.Scope = "" // a token without tokenmac: its tweak holds the name only
		}
		m.add(df)
		if f.hasMAC {
			mf := st.typ.Field(f.macIndex)
			m.add(DataMapField{Path: path + "." + mf.Name, GoType: mf.Type.String(), Protection: ProtectTokenMAC, TokenMAC: df.Path, SurvivesForget: false})
		}
	}
	for _, ix := range st.indexes {
		sf := st.typ.Field(ix.index)
		di := &DataMapIndex{Bits: ix.def.Bits, Scope: "global"}
		if ix.subject {
			di.Scope = "subject"
		}
		for k, src := range ix.sources {
			di.Sources = append(di.Sources, path+"."+st.typ.Field(src.index).Name)
			tr := ""
			if k < len(ix.def.Inputs) {
				tr = ix.def.Inputs[k].String()
			}
			di.Transforms = append(di.Transforms, tr)
		}
		if s := ix.def.Slow; s != nil {
			di.Slow = fmt.Sprintf("m%d+t%d+p%d", s.MemoryKiB, s.Time, s.Threads)
		}
		m.add(DataMapField{Path: path + "." + ix.goName, GoType: sf.Type.String(), Name: ix.name, Protection: ProtectIndex, Index: di, SurvivesForget: !ix.subject})
	}
}

// boundTo lists what a value of f is bound to: what a value copied from
// elsewhere must match to open.
func boundTo(f *fieldPlan, hasRecord bool) []string {
	var out []string
	if f.token != "" && !f.hasMAC {
		// A bare token: the key (the subject's, or the global one) and the
		// tweak, which holds the name only.
		if !f.global {
			out = append(out, "subject")
		}
		return append(out, "name")
	}
	// Encrypted values (associated data), and tokens with a tokenmac
	// companion (the MAC's input, and the v2 tweak's scope and name).
	out = append(out, "subject", "scope", "name")
	if hasRecord && f.bind != bindSubject {
		out = append(out, "record")
	}
	if f.bindIndex {
		out = append(out, "position")
	}
	return out
}

func (m *mapper) add(f DataMapField) {
	if f.Purposes == nil {
		f.Purposes = []string{}
	}
	m.fields = append(m.fields, f)
}

// containerPath returns the path suffix of the containers of n ("[]" per
// slice or array, "{}" per map, nothing for pointers) and the struct plan
// at its end, if any.
func containerPath(n *node) (string, *structPlan) {
	var b strings.Builder
	for ; n != nil; n = n.elem {
		switch n.kind {
		case nSlice, nArray:
			b.WriteString("[]")
		case nMap:
			b.WriteString("{}")
		case nStruct:
			return b.String(), n.st
		}
	}
	return b.String(), nil
}

func leafOf(n *node) *node {
	for n.elem != nil {
		n = n.elem
	}
	return n
}
