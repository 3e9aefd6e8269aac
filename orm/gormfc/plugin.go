package gormfc

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"sync"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

// Plugin seals and opens the protected fields of GORM models. Make one
// with New and register it with db.Use. It is safe for concurrent use, as
// the *gorm.DB it is registered with.
type Plugin struct {
	p *pii.Protector
}

var _ gorm.Plugin = (*Plugin)(nil)

// New returns a plugin that seals and opens with p.
func New(p *pii.Protector) *Plugin { return &Plugin{p: p} }

// Name implements gorm.Plugin.
func (*Plugin) Name() string { return "fieldcrypt" }

// Initialize implements gorm.Plugin: it registers the callbacks.
func (pl *Plugin) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	if err := cb.Create().After("gorm:before_create").Before("gorm:save_before_associations").
		Register("fieldcrypt:seal", pl.sealCreate); err != nil {
		return err
	}
	if err := cb.Create().After("gorm:create").Before("gorm:save_after_associations").
		Register("fieldcrypt:restore", restore); err != nil {
		return err
	}
	if err := cb.Update().After("gorm:before_update").Before("gorm:save_before_associations").
		Register("fieldcrypt:seal", pl.sealUpdate); err != nil {
		return err
	}
	if err := cb.Update().After("gorm:update").Before("gorm:save_after_associations").
		Register("fieldcrypt:restore", restore); err != nil {
		return err
	}
	return cb.Query().After("gorm:query").Before("gorm:preload").Register("fieldcrypt:open", pl.open)
}

// rawKey is the setting Raw sets.
const rawKey = "fieldcrypt:raw"

// Raw returns db with the plugin turned off for the statements made from
// it: values are written and read as they are. It is for code that seals
// and opens by itself: pii.Matches on candidates (as FindByIndex does),
// pii.Backfill, or moving sealed rows between tables. Columns of type
// pii.Sealed and pii.SealedString still refuse plaintext; plain string
// fields do not, so seal them before writing through Raw.
func Raw(db *gorm.DB) *gorm.DB { return db.Set(rawKey, true) }

func isRaw(db *gorm.DB) bool {
	v, ok := db.Get(rawKey)
	return ok && v == true
}

// typeInfo is what the plugin knows of one struct type.
type typeInfo struct {
	fields []pii.WrittenField
	err    error
}

var types sync.Map // reflect.Type -> *typeInfo

func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := types.Load(t); ok {
		return ti.(*typeInfo)
	}
	fields, err := pii.WrittenFields(t)
	ti, _ := types.LoadOrStore(t, &typeInfo{fields: fields, err: err})
	return ti.(*typeInfo)
}

// structType returns the struct type of the values v holds or is (a
// struct, a pointer to one, a slice or array of either), or nil.
func structType(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return t
}

// sealedColumns returns the columns of s that hold what Seal writes, by
// database name.
var columnsCache sync.Map // *schema.Schema -> map[string]bool

func sealedColumns(s *schema.Schema) (map[string]bool, error) {
	if c, ok := columnsCache.Load(s); ok {
		return c.(map[string]bool), nil
	}
	ti := infoOf(s.ModelType)
	if ti.err != nil {
		return nil, ti.err
	}
	cols := map[string]bool{}
	for _, f := range s.Fields {
		if f.DBName == "" {
			continue
		}
		p := fieldPath(f)
		for _, w := range ti.fields {
			if len(p) >= len(w.Path) && slices.Equal(p[:len(w.Path)], w.Path) {
				cols[f.DBName] = true
			}
		}
	}
	c, _ := columnsCache.LoadOrStore(s, cols)
	return c.(map[string]bool), nil
}

// fieldPath is f's index path from its model type. GORM marks a step
// through an embedded pointer as -index-1.
func fieldPath(f *schema.Field) []int {
	p := slices.Clone(f.StructField.Index)
	for i, x := range p {
		if x < 0 {
			p[i] = -x - 1
		}
	}
	return p
}

func ctxOf(db *gorm.DB) context.Context {
	if db.Statement.Context != nil {
		return db.Statement.Context
	}
	return context.Background()
}

func (pl *Plugin) sealCreate(db *gorm.DB) {
	if db.Error != nil || isRaw(db) {
		return
	}
	pl.seal(db, "create", db.Statement.ReflectValue, true)
}

func (pl *Plugin) sealUpdate(db *gorm.DB) {
	if db.Error != nil || isRaw(db) {
		return
	}
	stmt := db.Statement
	if stmt.Schema == nil {
		return
	}
	if stmt.Dest == stmt.Model || sameTarget(stmt.Dest, stmt.ReflectValue) {
		// Save(&m), Updates(&m) on Model(&m): the model is written.
		pl.seal(db, "update", stmt.ReflectValue, true)
		return
	}
	// The model receives what GORM assigns from the update: keep its
	// protected fields as they are (they would get ciphertexts).
	model := stmt.ReflectValue
	if ti := pl.info(db, "update", model.Type()); ti != nil && len(ti.fields) > 0 {
		snapshot(db, model, ti.fields)
	}
	if db.Error != nil {
		return
	}
	dest := reflect.ValueOf(stmt.Dest)
	for dest.Kind() == reflect.Pointer && !dest.IsNil() {
		dest = dest.Elem()
	}
	switch dest.Kind() {
	case reflect.Map:
		pl.checkMap(db, "update", dest)
	case reflect.Struct:
		// Updates(T{...}) or Updates(&t) with t not the model: seal a copy,
		// so the caller's value stays as it is.
		ti := pl.info(db, "update", dest.Type())
		if ti == nil {
			return
		}
		cp := reflect.New(dest.Type())
		cp.Elem().Set(dest)
		if len(ti.fields) > 0 {
			if err := pl.p.Seal(ctxOf(db), cp.Interface()); err != nil {
				db.AddError(&Error{Op: "update", Table: stmt.Table, Err: err})
				return
			}
		}
		pl.checkOtherType(db, cp.Elem(), ti)
		stmt.Dest = cp.Interface()
	}
}

// sameTarget reports whether dest points to the value v is.
func sameTarget(dest any, v reflect.Value) bool {
	d := reflect.ValueOf(dest)
	if d.Kind() != reflect.Pointer || d.IsNil() || !v.CanAddr() {
		return false
	}
	return d.Pointer() == v.Addr().Pointer() && d.Type().Elem() == v.Type()
}

// info returns what the plugin knows of the struct type of t, or nil if t
// holds no structs; it fails the statement for a type pii refuses.
func (pl *Plugin) info(db *gorm.DB, op string, t reflect.Type) *typeInfo {
	st := structType(t)
	if st == nil {
		return nil
	}
	ti := infoOf(st)
	if ti.err != nil {
		db.AddError(&Error{Op: op, Table: db.Statement.Table, Err: ti.err})
		return nil
	}
	return ti
}

// seal seals the values of v (a struct, or a slice or array of structs or
// pointers to them) in place and saves what they held, for restore.
func (pl *Plugin) seal(db *gorm.DB, op string, v reflect.Value, assoc bool) {
	stmt := db.Statement
	if v.Kind() == reflect.Map || (v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Map) {
		pl.checkMaps(db, op, v)
		return
	}
	ti := pl.info(db, op, v.Type())
	if ti == nil || len(ti.fields) == 0 {
		return
	}
	if assoc && !pl.checkAssociations(db, op, v) {
		return
	}
	if !v.CanAddr() && (v.Kind() == reflect.Struct || v.Kind() == reflect.Array) {
		// Create(t) by value: GORM cannot write back into it either. Seal
		// an addressable copy, and leave the caller's value alone.
		cp := reflect.New(v.Type())
		cp.Elem().Set(v)
		stmt.Dest, stmt.ReflectValue = cp.Interface(), cp.Elem()
		v = cp.Elem()
	}
	s := snapshot(db, v, ti.fields)
	if s == nil {
		return
	}
	var err error
	ctx := ctxOf(db)
	switch v.Kind() {
	case reflect.Struct:
		err = pl.p.Seal(ctx, v.Addr().Interface())
	case reflect.Slice:
		err = pl.p.SealAll(ctx, v.Interface())
	case reflect.Array:
		err = pl.p.SealAll(ctx, v.Slice(0, v.Len()).Interface())
	}
	if err != nil {
		// Seal is all-or-nothing: nothing changed.
		stmt.Settings.Delete(savedKey{})
		db.AddError(&Error{Op: op, Table: stmt.Table, Err: err})
	}
}

// checkAssociations refuses to save associations whose type has protected
// fields along with their parent.
func (pl *Plugin) checkAssociations(db *gorm.DB, op string, v reflect.Value) bool {
	stmt := db.Statement
	if stmt.Schema == nil || slices.Contains(stmt.Omits, clause.Associations) {
		return true
	}
	// The relations GORM saves with their parent (callbacks/associations.go).
	r := &stmt.Schema.Relationships
	for _, rel := range slices.Concat(r.BelongsTo, r.HasOne, r.HasMany, r.Many2Many) {
		name := rel.Name
		if slices.Contains(stmt.Omits, name) || rel.FieldSchema == nil {
			continue
		}
		ti := infoOf(rel.FieldSchema.ModelType)
		if ti.err == nil && len(ti.fields) == 0 {
			continue
		}
		if anySet(stmt.Context, rel.Field, v) {
			db.AddError(&Error{Op: op, Table: stmt.Table, Column: name, Err: ErrAssociation})
			return false
		}
	}
	return true
}

// anySet reports whether field f is non-zero in any struct of v.
func anySet(ctx context.Context, f *schema.Field, v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Struct:
		_, zero := f.ValueOf(ctx, v)
		return !zero
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			e := reflect.Indirect(v.Index(i))
			if e.Kind() == reflect.Struct && anySet(ctx, f, e) {
				return true
			}
		}
	}
	return false
}

// checkMaps checks the maps of Create(map) or Create([]map).
func (pl *Plugin) checkMaps(db *gorm.DB, op string, v reflect.Value) {
	if v.Kind() == reflect.Map {
		pl.checkMap(db, op, v)
		return
	}
	for i := range v.Len() {
		if pl.checkMap(db, op, v.Index(i)); db.Error != nil {
			return
		}
	}
}

// checkMap refuses a map of column values (Updates, Update, UpdateColumn,
// Create) that names a column of sealed values with a value that is not
// a pii.Sealed or pii.SealedString (whose Value refuses plaintext) or nil.
func (pl *Plugin) checkMap(db *gorm.DB, op string, m reflect.Value) {
	stmt := db.Statement
	if stmt.Schema == nil || m.Type().Key().Kind() != reflect.String {
		return
	}
	if ti := pl.info(db, op, stmt.Schema.ModelType); ti == nil || len(ti.fields) == 0 {
		return
	}
	cols, err := sealedColumns(stmt.Schema)
	if err != nil {
		db.AddError(&Error{Op: op, Table: stmt.Table, Err: err})
		return
	}
	keys := m.MapKeys()
	slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
	for _, k := range keys {
		f := stmt.Schema.LookUpField(k.String())
		if f == nil || !cols[f.DBName] {
			continue
		}
		if !selfGuarded(m.MapIndex(k)) {
			db.AddError(&Error{Op: op, Table: stmt.Table, Column: f.DBName, Err: ErrPlaintextWrite})
			return
		}
	}
}

// checkOtherType refuses an update struct of another type than the model
// whose fields write columns of sealed values without being protected in
// that type.
func (pl *Plugin) checkOtherType(db *gorm.DB, v reflect.Value, ti *typeInfo) {
	stmt := db.Statement
	if v.Type() == stmt.Schema.ModelType {
		return
	}
	cols, err := sealedColumns(stmt.Schema)
	if err != nil {
		db.AddError(&Error{Op: "update", Table: stmt.Table, Err: err})
		return
	}
	if len(cols) == 0 {
		return
	}
	other := &gorm.Statement{DB: stmt.DB}
	if err := other.Parse(v.Addr().Interface()); err != nil {
		db.AddError(&Error{Op: "update", Table: stmt.Table, Err: err})
		return
	}
	for _, f := range other.Schema.Fields {
		if !cols[f.DBName] {
			continue
		}
		p := fieldPath(f)
		guarded := selfGuarded(v.FieldByIndex(p))
		for _, w := range ti.fields {
			if len(p) >= len(w.Path) && slices.Equal(p[:len(w.Path)], w.Path) {
				guarded = true
			}
		}
		if !guarded {
			db.AddError(&Error{Op: "update", Table: stmt.Table, Column: f.DBName, Err: ErrPlaintextWrite})
			return
		}
	}
}

// selfGuarded reports whether v is nil or a pii.Sealed or pii.SealedString
// value: types whose Value refuses to write plaintext.
func selfGuarded(v reflect.Value) bool {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return true
		}
		v = v.Elem()
	}
	t := v.Type()
	return t.PkgPath() == piiPkg && (t.Name() == "SealedString" || strings.HasPrefix(t.Name(), "Sealed["))
}

var piiPkg = reflect.TypeFor[pii.SealedString]().PkgPath()

func (pl *Plugin) open(db *gorm.DB) {
	if db.Error != nil || isRaw(db) {
		return
	}
	stmt := db.Statement
	v := stmt.ReflectValue
	if !v.IsValid() {
		return
	}
	ti := pl.info(db, "query", v.Type())
	if ti == nil || len(ti.fields) == 0 {
		return
	}
	ctx := ctxOf(db)
	switch v.Kind() {
	case reflect.Struct:
		if !v.CanAddr() {
			return
		}
		if err := pl.p.Open(ctx, v.Addr().Interface()); err != nil {
			db.AddError(&OpenError{Table: stmt.Table, Errs: []error{err}})
		}
	case reflect.Slice:
		errs, err := pl.p.OpenEach(ctx, v.Interface())
		if err != nil {
			db.AddError(&Error{Op: "query", Table: stmt.Table, Err: err})
			return
		}
		for _, e := range errs {
			if e != nil {
				db.AddError(&OpenError{Table: stmt.Table, Errs: errs})
				return
			}
		}
	}
}
