// Package gormfc is a GORM plugin that seals the protected fields of
// models (tagged `pii:"..."`, pii.Sealed[T], blind-index fields) before
// they are written and opens them after they are read, so that a model
// goes through GORM as plaintext in Go and as ciphertext in the database:
//
//	db, err := gorm.Open(postgres.Open(dsn), &gorm.Config{})
//	err = db.Use(gormfc.New(p)) // p is a *pii.Protector
//	err = db.Create(&customer).Error         // sealed on the way in
//	err = db.First(&customer, "id = ?", id).Error // opened on the way out
//	found, err := gormfc.FindByIndex[Customer](ctx, db, p, "email", "ada@example.com")
//
// It is its own Go module, so that importing pii does not bring GORM.
//
// # Writes
//
// Create, Save and Updates of a model (a struct, a pointer to one, a
// slice of structs or of pointers to them) seal it with pii's Seal (or
// SealAll), after the model's BeforeCreate/BeforeSave/BeforeUpdate hooks
// and before GORM builds the statement. The caller's structs are sealed in
// place, because GORM writes primary keys, defaults and timestamps back
// into them, after a copy of each is taken; once the statement ran,
// whether it succeeded or failed (a constraint violation, a lost
// connection), every field Seal writes is set back from the copy. After
// Create or Save the caller's value therefore holds exactly its
// plaintext, plus what GORM wrote back into the other fields (the ID, the
// timestamps); the blind-index fields hold what they held before the
// call (the terms written are in the row). It is never left sealed or
// half-sealed. A Seal failure (a forgotten subject, a bad tag, an empty
// subject) fails the statement before anything is sent, with an *Error
// wrapping pii's error, and changes nothing. The AfterCreate/AfterSave
// hooks see the plaintext again; hooks that run between (none of GORM's)
// would see ciphertexts.
//
// Updates with a struct that is not the model (Model(&m).Updates(T{...}))
// seals a copy of that struct; it must carry the subject of the records
// it writes, as any value given to Seal. GORM copies the updated values
// into the model; the plugin keeps the model's protected fields as they
// were before the call (reload it to see the new values).
//
// Writes that carry column values the plugin cannot seal are refused with
// ErrPlaintextWrite (an *Error naming the column), before anything is
// sent: Update("email", v), UpdateColumn, Updates(map[string]any{...}) and
// Create(map[string]any{...}) that name a column of sealed values (a
// protected field, a tokenmac or a blind-index field), unless the value
// is nil or a pii.Sealed / pii.SealedString (types whose Value refuses
// plaintext), and Updates with a struct of another type whose field maps
// to such a column without being protected in that type. Sealing a
// single column is not possible: the subject, and with it the key, is in
// the rest of the struct. Update the model instead:
// db.Model(&m).Select("Email", "EmailIdx").Updates(&m).
//
// Associations: the plugin does not save associations whose type has
// protected fields along with their parent (ErrAssociation): Create them
// on their own, or Omit(clause.Associations). Preload works: each
// preloaded query is opened on its own.
//
// # Reads
//
// After a query (Find, First, Take, Last, and Preload's queries) into a
// struct or a slice of structs with protected fields, the rows are opened
// with pii's OpenEach, before preloading: each row is opened or left as
// it was read (sealed), and the rows that did not open are reported in an
// *OpenError (errors.Is finds pii.ErrForgotten, pii.ErrAuthentication, ...
// through it). With pii.WithErasedPlaceholder the rows of forgotten
// subjects open to the placeholder instead. Row, Rows, Scan and Pluck are
// not opened (Scan into a struct is read as it is: open it with pii).
//
// # Blind indexes
//
// WhereIndex makes the condition `column IN (terms)` for a blind index
// (the terms of every live index key version); FindByIndex runs it and
// keeps the true matches with pii.Matches. Raw turns the plugin off for
// code that seals and opens by itself.
//
// # SQLite without cgo
//
// The plugin imports no driver. With SQLite, gorm.io/driver/sqlite's
// dialector can be given a *sql.DB opened with the pure-Go
// modernc.org/sqlite driver (which fieldcrypt's keystore/sqlite uses):
//
//	sqlDB, err := sql.Open("sqlite", path)
//	db, err := gorm.Open(sqlite.New(sqlite.Config{Conn: sqlDB}), &gorm.Config{})
//
// gorm.io/driver/sqlite imports github.com/mattn/go-sqlite3, which with
// CGO_ENABLED=0 compiles to a stub that registers the driver name
// "sqlite3" (not "sqlite", so there is no clash with modernc) and is never
// used. github.com/glebarez/sqlite cannot be used beside fieldcrypt's
// SQLite key store: its driver registers the name "sqlite" too, and the
// second registration panics at init.
//
// # Errors
//
// The plugin's errors are an *Error (Op, Table, Column, wrapping
// ErrPlaintextWrite, ErrAssociation or pii's error) or an *OpenError; like
// pii's, they never hold a value, a ciphertext or a key.
package gormfc
