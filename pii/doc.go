// Package pii protects the personal data inside an application's own
// structs. Tag the fields that hold personal data, call Seal before writing
// a record and Open after reading it; each data subject (person) gets their
// own key, and Forget erases a person by destroying that key.
//
//	type Customer struct {
//		ID     string   `pii:"subject"`                 // whose data this is
//		Name   string   `pii:"encrypt"`                 // randomized AEAD
//		Email  string   `pii:"encrypt,deterministic"`   // equal emails, equal ciphertexts
//		Notes  []byte   `pii:"encrypt,name=notes_v1"`   // name bound into the ciphertext
//		Home   Address                                  // nested structs are walked
//		Phones []Phone                                  // and so are slices, maps, pointers
//	}
//
//	p, err := pii.New(ctx, kek, store)   // kek from kms/..., store from keystore/...
//	err = p.Seal(ctx, &c)                // in place, all-or-nothing
//	err = p.Open(ctx, &c)
//	receipt, err := p.Forget(ctx, c.ID)  // c's data is unreadable everywhere
//
// # Tags
//
//	Tag                                  Meaning
//	---------------------------------    ------------------------------------------------------------
//	`pii:"subject"`                      This string field identifies the data subject. Every
//	                                     encrypted field at this level and in nested structs
//	                                     without a subject of their own uses that subject's key.
//	`pii:"record"`                       This string field identifies the record (row, document)
//	                                     the struct is: every encrypted field at this level and in
//	                                     nested structs without a record field of their own is
//	                                     bound to it, so a value copied to another record of the
//	                                     same person fails to open. Empty at Seal: ErrNoRecord.
//	                                     See "What a ciphertext is bound to".
//	`pii:"encrypt"`                      Encrypt with AES-256-GCM (Tink). Equal plaintexts give
//	                                     different ciphertexts.
//	`pii:"encrypt,deterministic"`        Encrypt with AES-SIV (Tink). Equal plaintexts of the same
//	                                     subject and field give equal ciphertexts, so the column
//	                                     can be compared for equality — and so anyone who sees
//	                                     the data learns which of a person's values are equal
//	                                     (the count of distinct values, repeats). Use it only
//	                                     where that leak is acceptable.
//	`pii:"encrypt,bindindex"`            For a slice, array or map field: bind each element to its
//	                                     position (index, or map key of string or integer kind),
//	                                     so that swapping two elements fails to open.
//	`pii:"encrypt,deterministic,bind=subject"`
//	`pii:"encrypt,deterministic,bind=record"`
//	                                     With a record field in reach, a deterministic field must
//	                                     choose: bind=subject keeps equality across the subject's
//	                                     records but does not bind the record; bind=record binds it
//	                                     and keeps equality only within one record. (bind= is
//	                                     accepted on randomized fields too: bind=subject opts out of
//	                                     record binding.)
//	`pii:"encrypt,name=email_v1"`        Bind the stable name "email_v1" into the ciphertext
//	                                     instead of the Go field name. Without name=, renaming the
//	                                     Go field makes old values fail to open: give name= to
//	                                     fields you may rename (or set it to the old name when you
//	                                     do). Names: letters, digits and _ - . /
//	`pii:"token,format=pan"`             Replace the value with a format-preserving token (FF1,
//	                                     package tokenize) that keeps its shape: pan keeps the
//	                                     first digit and last four and always fails the Luhn
//	                                     check. Formats: digits, ssn, pan, phone, email, alnum.
//	                                     Tokens are deterministic: equal values of one subject
//	                                     and field give equal tokens. The key is the subject's,
//	                                     so Forget shreds tokens too. Strings only. A token gives
//	                                     confidentiality, NOT integrity: an altered or copied
//	                                     token opens to another plausible value, without error,
//	                                     unless it has a tokenmac (see UnauthenticatedFields).
//	`pii:"token,format=pan,scope=global"` Use the global token key instead: equal values give
//	                                     equal tokens across subjects (for joins), and such
//	                                     tokens SURVIVE Forget — see SurvivingFields. Needs no
//	                                     subject.
//	`pii:"token,format=ssn,name=tax_id"` name= works as for encrypt: it is the FF1 tweak.
//	SSNMAC string `pii:"tokenmac=SSN"`   A string field beside the token field SSN (a single
//	                                     string, not a slice or pointer): Seal writes a MAC of the
//	                                     token into it ("m1." and 22 characters), and Open fails
//	                                     with ErrAuthentication if it is missing or wrong, before
//	                                     detokenizing. The MAC binds the token to its subject
//	                                     (even for scope=global), scope, record and name. SSN then
//	                                     uses the version 2 tweak (with the scope): existing
//	                                     tokens of SSN do not open until re-sealed (see below).
//	`pii:"token,format=digits,vault"`   FF1 where the value's domain allows it (6 digits and up);
//	                                     smaller values get a random token of the same shape, kept
//	                                     in the key store's token vault (see "Vaulted tokens").
//	`pii:"token,format=date,vault,convergent"`
//	                                     Always vaulted (also postcode-us|uk|de|nl|ca, text: formats
//	                                     FF1 has no domain for); convergent: equal values of the
//	                                     subject get equal tokens (LookupToken finds them).
//	`pii:"token,format=digits,vault=always,ttl=720h"`
//	                                     Every value vaulted; mappings expire (ExpireTokens).
//	`pii:"token,format=text,vault=always,convergent,scope=global,survive"`
//	                                     Shared across subjects, and outlives Forget (SurvivingFields).
//	EmailIdx string `pii:"index=Email,transform=trim+fold"`
//	                                     A blind index of the protected sibling field Email (see
//	                                     "Search"): Seal fills it with a keyed, truncated hash of
//	                                     Email's normalised plaintext, as text "v1:3fa0" (a []byte
//	                                     index field gets the binary form); Open leaves it alone.
//	                                     The index field is a string or []byte; each source is an
//	                                     encrypt or token field of the same struct holding a single
//	                                     string or []byte. transform= is package blindindex's
//	                                     grammar (trim, fold, nfc, nfkc, digits, firstN, lastN,
//	                                     email-local, email-domain, joined by '+'). Several index
//	                                     fields may name the same source.
//	NameYear string `pii:"index=LastName+BirthDate,transform=nfkc+trim+fold|first4"`
//	                                     A compound index of several sources, joined by '+': one
//	                                     transform per source, joined by '|' in the same order, or
//	                                     a single transform for all of them. A []byte source takes
//	                                     no transform; a token source takes email-local and
//	                                     email-domain only with format=email.
//	`pii:"index=Email,bits=24"`          The term size, blindindex.MinBits to MaxBits (8 to 128);
//	                                     default blindindex.DefaultBits (16). Choose it with the
//	                                     planner (`fieldcrypt index plan`, blindindex.Recommend).
//	`pii:"index=SSN,slow"`               Pass each term through Argon2id (blindindex.DefaultSlow,
//	`pii:"index=SSN,slow=m4096+t1+p1"`   or these parameters) so that a stolen index key still
//	                                     costs real work per guess: for low-entropy values.
//	`pii:"index=Email,scope=subject"`    Key the index with the subject's own keys instead of the
//	                                     global ones (default scope=global): lookups within one
//	                                     person only (SubjectIndexTerms), and the index dies with
//	                                     the person at Forget.
//	`pii:"index=Email,name=email_v1"`    The index name that queries use and that is bound into
//	                                     its key (default: the Go name of the index field). As
//	                                     for encrypt, give name= to index fields you may rename.
//	`pii:"encrypt,purpose=billing|support"`
//	                                     Open this field only for the purposes listed (joined by
//	                                     '|'), stated with WithAccess and declared with
//	                                     WithPurposes; for any other purpose it stays sealed.
//	                                     Without purpose= a field opens for every purpose. Also
//	                                     on token fields and Sealed fields; NOT on a token with
//	                                     scope=global (a *TagError: anyone who can Seal a guessed
//	                                     value gets the same global token, it has no subject whose
//	                                     consent could be asked, and it survives Forget). See
//	                                     "Purposes, masks and consent".
//	`pii:"encrypt,purpose=billing,mask=last4"`
//	                                     Show every other purpose the value masked instead of
//	                                     sealed: mask= is last4, first1, email (keeps the domain)
//	                                     or redact (package mask). On string values only
//	                                     (strings and pointers, slices, arrays and maps of them;
//	                                     not []byte, not Sealed). Without purpose=, mask= is the
//	                                     mask a Policy may ask for. Seal refuses masked values in
//	                                     the field (ErrMasked).
//	`pii:"-"`                            Ignore this field and everything inside it.
//	_ struct{} `pii:"scope=customer"`    Name this struct type's scope (see below) instead of
//	                                     its Go type name, so the type can be renamed; required
//	                                     for unnamed struct types, and for a type whose name
//	                                     another type already uses as its scope.
//
// Options combine: `pii:"encrypt,deterministic,name=email"`. Anything else is
// an error (token without format=, an unknown format, token on []byte), as
// are: a tag on an unexported field; encrypt on a type that
// cannot hold a ciphertext (integers, time.Time, bools: format them as a
// string and encrypt that); subject or record on a non-string; two subjects
// or two records at one level; two encrypted fields with one name at one
// level; an encrypted field with no subject in reach; bindindex on a field
// without elements or with map keys that are not strings or integers;
// bind=record without a record in reach; a deterministic field within reach
// of a record without bind=; tokenmac naming no token field of its struct;
// an index= naming a missing field, a field of another struct level, or a
// field that is not a single protected string or []byte; an index field
// that is not a string or []byte; bits= out of range; a malformed transform
// or one the source cannot take; two indexes with one name at a level;
// index= combined with encrypt, token or another verb; scope=subject
// without a subject in reach; a malformed or repeated purpose, purpose= on a
// scope=global token, an unknown mask, mask= on a value that is not a
// string;
// an unnamed struct type holding protected fields without scope=; a second
// type whose name is already another type's implicit scope; an unexported
// untagged field that holds encrypted fields (fieldcrypt could not reach
// them: export it or tag it `pii:"-"`).
//
// Such errors are *TagError values naming the type and the field. They are
// found the first time a type is used, and cached, so a type fails the same
// way every time. Call Check at start-up to fail fast:
//
//	if err := pii.Check[Customer](); err != nil { log.Fatal(err) }
//
// # Shapes
//
// Encrypted fields may be string or []byte (including named types such as
// `type Email string`), or pointers, slices, arrays and map values of them,
// nested to any depth: *string, []string, map[string][]byte, [3]string. Map
// keys are never encrypted (they may be personal data: do not use them for
// it). Untagged fields are walked into when they can hold encrypted fields:
// nested structs, pointers to structs, slices, arrays and map values of
// structs, and embedded structs.
//
// Embedded structs follow Go's promotion rules: their fields belong to the
// embedding struct's level, with its subject and scope, under their own
// names. Unlike encoding/json, a field that Go's shadowing hides is still
// protected — it still holds data; if its name collides with another
// encrypted field, give one of them name=. Values behind interface fields
// are not walked.
//
// A sealed string field holds ASCII text "fc1a." (or "fc1d." for
// deterministic; "fc2a." and "fc2d." when bound to a record or to
// positions) followed by unpadded base64url; plan its column for 4/3 of the
// plaintext length in bytes plus 49 characters (33 for deterministic).
// A sealed []byte holds 3 bytes of header and the Tink ciphertext: plaintext
// plus 36 bytes (24 for deterministic). A tokenmac field holds 25 ASCII
// characters.
//
// # What a ciphertext is bound to
//
// Every ciphertext is bound to its subject, its scope and its field name, by
// AEAD associated data. Copying a sealed value to another person's record,
// another field, or a field of another struct type makes Open fail with
// ErrAuthentication.
//
// The scope is the Go name of the struct type that holds the field (for a
// field of a nested struct, the nested type's name; for a promoted field,
// the embedding type's), unless a blank field declares scope=. A name is not
// a type, so one name serves one type per process: a second struct type
// with protected fields and the same name (billing.Customer and
// crm.Customer, or a Customer declared inside a function) is refused with a
// TagError until one of them declares scope=, and so is an unnamed struct
// type. scope= is the binding: two types declaring the same scope accept
// each other's values, which is how a type is renamed.
//
// Records. Without a `pii:"record"` field, two records of one subject and
// type can exchange a field's value unnoticed. With one, the record's
// value is bound too (format version 2: "fc2a.", "fc2d.", binary version
// byte 2), and so is, with bindindex, each element's position in its slice,
// array or map. Nested structs without a record field of their own inherit
// the enclosing one, as they inherit the subject; a nested struct with its
// own record field starts a new record. Two nested structs of one type in
// one record (Home and Work addresses) share a binding: give one of them a
// record field, or store them as a map with bindindex, to bind them apart.
// Without bindindex, elements of one slice or map field share a binding:
// swapping two of them is not detected. Deterministic fields choose with
// bind= (above). The record field itself is stored in the clear, like the
// subject.
//
// Adding a record field to a type with existing data: values sealed before
// (version 1) keep opening, bound only to subject, scope and name, and Seal
// writes version 2, so re-sealing every record migrates it. Until then a
// version 1 value copied from another record opens; once every record is
// re-sealed, WithRecordBindingRequired makes Open refuse version 1 values
// in bound fields (ErrNotRecordBound, which wraps ErrAuthentication).
// Fields with bind=subject stay version 1. Changing a record field's value
// makes the record's bound values fail to open: record identities must be
// stable (a primary key, not a version counter).
//
// Tokens are FF1 output and carry no authentication: any string of the
// format detokenizes to some value. Without a tokenmac, an altered token
// opens to another plausible value, and a scope=global token copied from
// another person's record opens to that person's value, without error;
// UnauthenticatedFields lists such fields. The FF1 tweak of a token without
// tokenmac binds only its name ("fieldcrypt/token/v1\x00" || name). A token
// with a tokenmac uses the version 2 tweak, which adds the scope
// ("fieldcrypt/token/v2\x00" || LEN(scope) || scope || LEN(name) || name), and
// its MAC, checked before detokenizing, binds subject, scope, record (when
// one is in reach) and name. Tokens carry no version marker, so the tweak
// version comes from the tag alone: adding tokenmac to a field with
// existing tokens makes them fail to open (no MAC) rather than detokenize
// wrongly. Migrate by opening with the old type and sealing with the new.
//
// # Empty values, nil values
//
// By default empty strings and empty []byte are left empty by Seal (so
// emptiness is visible in stored data); WithEncryptEmpty encrypts them too.
// Nil pointers, slices and maps stay nil. Open always leaves empty values
// empty.
//
// # Errors
//
// Seal and Open are all-or-nothing: when they fail, the value is exactly as
// it was. Errors wrap sentinels for errors.Is: ErrForgotten, ErrAuthentication,
// ErrNotSealed, ErrMalformed, ErrNoSubject, ErrNoRecord, ErrNotRecordBound,
// ErrKeyNotFound, ErrInvalidArgument, ErrCycle, ErrNoPurpose, ErrUnknownPurpose,
// ErrNoConsent, ErrMasked, ErrPolicy, and the KMS classes of package kms (kms.ErrUnavailable is worth a
// retry; nothing is written when the KMS is down). Errors about a field are
// *FieldError values carrying the field's path, such as
// "Customer.Phones[2].Number"; no error ever holds a value, a key or a
// ciphertext.
//
// # Keys and erasure
//
// The first Seal for a subject creates their keys (a Tink keyset), wraps
// them with the key-encryption key (KEK) and stores them in the key store.
// The store never sees the subject identifier: records are addressed by a
// keyed hash of it, computed with the global keys (a keyset stored under a
// reserved record the same way). Unwrapped keys are cached in memory,
// bounded by WithKeyCache.
//
// Token values that are too small a domain for FF1 (fewer than 6 digits
// left to encipher, an email local part like "ada") fail Seal with an error
// wrapping tokenize.ErrInvalidValue, unless the field has the vault option.
// Migration mode cannot tell tokens from
// plaintext (they share a format), except for pan (real card numbers pass
// the Luhn check, tokens never do): Open in migration mode fails with
// ErrAmbiguousToken on other token fields.
//
// Forget deletes the subject's keys and writes a tombstone: from then on,
// Open fails with ErrForgotten (or shows WithErasedPlaceholder's text) and
// Seal fails with ErrForgotten until Readmit. Everything sealed for the
// subject, including copies in backups, can no longer be opened. Forget
// returns a Receipt naming the destroyed keys without personal data.
//
// Time-to-forget: in the process that calls Forget, the key is unusable
// when Forget returns. Other processes sharing the key store learn of it:
//
//   - with keystore/postgres, at once: the erasure is announced with
//     NOTIFY when it commits and every Protector listens (measured: see
//     bench/RESULTS.md). A Protector whose listening connection is lost
//     drops all its cached keys when it reconnects (within a second);
//   - with other stores, when their cache entry expires: at most the cache
//     TTL (DefaultCacheTTL unless WithKeyCache says otherwise).
//
// A Seal that had already fetched the key may finish after Forget returns;
// what it produces can never be opened, by anyone. Call Close on a
// Protector you no longer need, to stop its listener.
//
// # Search
//
// Index fields (the index= tag) let a database find records by the value of
// an encrypted field, across people, without seeing it. Seal computes each
// index from the plaintext of its sources, before they are encrypted: the
// sources are normalised by the index's transforms, hashed with HMAC-SHA256
// under a key derived for (type scope, source names, index name, the whole
// definition, key version) from a global index root key, and truncated to
// bits (package blindindex has the exact construction). A lookup computes
// the same terms:
//
//	terms, err := pii.IndexTerms[Customer](ctx, p, "EmailIdx", "ada@example.com")
//	rows := db.Query(ctx, `SELECT ... WHERE email_idx = ANY($1)`, terms)
//	found, err := pii.Matches(ctx, p, rows, "EmailIdx", "ada@example.com")
//
// IndexTerms returns one term per live index key version (newest first);
// IndexTermsBytes the binary form for []byte index fields; a compound index
// takes one value per source, in the tag's order. A term matches every value
// of its class, so the rows are candidates: Matches opens them in place (as
// OpenEach) and keeps those whose normalised sources equal the query's,
// dropping candidates of forgotten subjects. A query naming an unknown index
// or giving the wrong number of values fails with an *IndexError
// (ErrUnknownIndex, blindindex.ErrArity), never with an empty result; no
// error holds a value searched for.
//
// Empty sources follow the empty-value rule: when every source of an index
// is empty, Seal leaves the index field empty (emptiness shows), unless
// WithEncryptEmpty, which indexes the empty values too. A source value the
// transform refuses (not an email address for email-domain, invalid UTF-8)
// fails Seal with a *FieldError naming the index field, wrapping
// blindindex.ErrInvalidValue, and changes nothing.
//
// What an index leaks, to whoever holds the table but not the keys
// (blindindex's package doc has the detail, and the planner the figures for
// a given table): which rows have equal normalised values, up to the
// truncation (rows fall into classes of about N/2^bits; at the planner's
// bits every class holds at least 2 rows); the class sizes, hence the
// frequency of values, which known distributions can turn into values (the
// more so for transforms that keep little: last4, email-domain); the
// intersection of every index of a row (their bits add up); and, to whoever
// sees the queries, which class is asked for and how often. A stolen index
// key turns each term into a guessing game: one HMAC per guess, or one
// Argon2id with slow. Transforms decide what counts as equal: an index with
// fold says that two rows differ at most in case.
//
// Keys. The global index root keys are part of the global keys, random and
// never derived from or shared with the token or addressing keys, one per
// version (1, 2, 3 ...), each with the time from which Seal writes it; a
// store made by an older release gains version 1, active at once, on first
// use. A scope=subject index is keyed from the subject's own keys
// (a PRF output with a label of its own), one version.
//
// Rotation without downtime. Lookups ask for every live version; Seal
// writes only the newest active one: each version has an activation time,
// and a process that has not yet read a new version would not ask for it,
// so nobody writes it until every process has:
//
//  1. RotateIndexKey adds a version, active one activation delay later:
//     by default this Protector's key cache TTL plus IndexKeyClockSkew
//     (30 s; DefaultCacheTTL gives 5 min 30 s). This Protector asks for it
//     at once; the others when they read the global keys again, at the
//     latest one TTL later (sooner on a key miss, Forget or Readmit).
//     Meanwhile everyone writes the previous version, which everyone asks
//     for, so every lookup finds every row. If other processes have a
//     longer TTL, rotate with WithIndexKeyActivationDelay set to their TTL
//     plus IndexKeyClockSkew; set it to 0 only for a single process (other
//     processes would miss rows written with the new version for up to
//     their TTL). IndexKeyStatus shows each version's activation time and
//     the one written now. An application that caches the terms of
//     IndexTerms must not keep them longer than IndexKeyClockSkew.
//  2. Once the new version is active, ReindexAll recomputes every index
//     field under it in resumable batches (ciphertexts untouched; cursor
//     in ReindexProgress.After). Before then it fails with an
//     *IndexKeyNotActiveError (ErrIndexKeyNotActive) saying when to run it.
//  3. Scan for terms of the old version (IndexTermVersion, or LIKE
//     'v1:%'), re-index what a process still wrote meanwhile, then
//     RetireIndexKey: lookups ask for one term per version left. Neither
//     the newest version nor the one Seal writes now can be retired.
//
// Rotating again before a version is active gives the newer one the later
// of the two activation times. A process whose clock is far behind and
// finds no version active writes the oldest live one.
//
// Erasure. Forget destroys the ciphertexts of the subject, but a global
// index term stays in the row until the application clears it: it still
// places the row in its class, so anyone who knows or guesses the value can
// confirm that the row is in it. SurvivingFields lists global index fields
// for that reason; Reindex clears the index fields of forgotten subjects.
// A scope=subject index cannot be computed once the subject is forgotten
// (SubjectIndexTerms fails with ErrForgotten) and is not listed.
//
// # Vaulted tokens
//
// A token field with `vault` keeps FF1 where the value's domain allows it
// and gives every other value (a 4-digit PIN, a short email local part) a
// random token of the same shape; `vault=always` vaults every value, and
// the formats date, postcode-us, postcode-uk, postcode-de, postcode-nl,
// postcode-ca and text exist only vaulted. A vaulted token reveals nothing
// of its value: the key store's token vault (keystore.TokenVault) maps it to
// the value sealed under the subject's key and bound to subject, field,
// length and token, so an altered or copied token finds no mapping, and
// Forget removes the subject's mappings in the erasing step (Receipt.Tokens
// counts them). Open tells vaulted from FF1 tokens by shape alone. SealAll,
// OpenAll and OpenEach resolve vaulted tokens in one store round trip per
// batch. convergent gives equal values of one subject (or, with
// scope=global, of everyone) equal tokens through a keyed index of the
// value, and LookupToken returns a value's token without creating one.
// survive (scope=global only) keeps a mapping after Forget, sealed under a
// global key: SurvivingFields lists such fields. ttl= expires mappings
// (ExpireTokens removes them). TokenPlan says which values of each field
// are vaulted. Each partition (a subject, or the global scope, per field and
// length) refuses new tokens with ErrTokenSpaceFull once it holds 1/16 of
// the shape's token space: 625 four-digit PINs per subject, 4,565 dates.
//
// # Typed values
//
// A field of type Sealed[T] holds a time, integer, float, bool, string,
// []byte or encoding.BinaryMarshaler / TextMarshaler value:
//
//	Born   pii.Sealed[time.Time]                            // untagged Sealed: implicitly `pii:"encrypt"`
//	Salary pii.Sealed[int64]  `pii:"encrypt,name=salary"`   // every encrypt option applies
//	Staff  pii.Sealed[bool]   `pii:"encrypt,deterministic"` // canonical kinds only; marshalers: *TagError
//	Email  pii.SealedString   `pii:"encrypt"`               // a string column whose Value refuses plaintext
//	Notes  pii.Sealed[string] `pii:"-"`                     // left alone; still refuses to be written unsealed
//
// Seal encrypts the value's canonical encoding (a version byte, a kind
// byte, the value: integers and floats as 8 bytes, a time as its instant —
// the monotonic reading and location are dropped and it opens in UTC) into
// the text envelope; Open decrypts it. A Sealed value is null, plain,
// sealed or erased, never plaintext and ciphertext at once: Get of a sealed
// value fails with ErrNotOpened, of a null one with ErrNull. Its Value,
// MarshalJSON, and SealedString's Value refuse plaintext with ErrNotSealed,
// so a forgotten Seal cannot reach a column or a JSON document. Reading
// another type's column fails with ErrTypeMismatch, naming the field. A
// T without an encoding (a struct, []string, ...), token on a Sealed
// field, and deterministic on a marshaler type are *TagError at Check time;
// Sealed is not comparable, so it cannot be a map key. Structs with
// protected fields, and Sealed values, held by an `any` field are refused
// with ErrUnprotectedInterface: give the field a concrete type.
//
// Backfill seals an existing table in resumable pages (the application's
// fetch and conditional save callbacks), and re-seals rows still under an
// old subject key after RotateSubjectKey or in format 1 where the field is
// now record-bound; its report counts what is left.
//
// # Purposes, masks and consent
//
// A Protector can open each field only for the purposes it serves, show
// other callers a mask, and ask the data subject's consent for purposes
// that need it. Declare the purposes, state one per call, and tag fields:
//
//	p, err := pii.New(ctx, kek, store, pii.WithPurposes(
//		pii.Purpose{Name: "billing"},
//		pii.Purpose{Name: "support"},
//		pii.Purpose{Name: "marketing", NeedsConsent: true},
//	))
//
//	type Customer struct {
//		ID    string `pii:"subject"`
//		Name  string `pii:"encrypt"`                                   // every purpose
//		Card  string `pii:"encrypt,purpose=billing,mask=last4"`        // billing; "••••••••••••1111" to the others
//		Notes string `pii:"encrypt,purpose=support"`                   // support; sealed to the others
//	}
//
//	ctx = pii.WithAccess(ctx, pii.Access{Actor: "support-agent", Purpose: "support"})
//	err = p.Open(ctx, &c) // Name and Notes opened, Card masked
//
// What Open does with each field, for the purpose in the context:
//
//   - a field without purpose= opens for every purpose;
//   - a field with purpose= opens for the purposes it lists; for any other,
//     it shows its mask if it has mask=, and otherwise stays sealed: its
//     ciphertext is left exactly as it was (its key is not even fetched);
//   - a Policy (WithPolicy), if given, then decides per actor, purpose and
//     field, and can only narrow: the field gets the more restrictive of
//     the tags' and the policy's Decision (Refused < Masked < Opened), and
//     Masked on a field without mask= is Refused. The policy is asked once
//     per field per call; one that panics fails the call with ErrPolicy
//     and opens nothing.
//
// OpenAll, OpenEach and Matches follow the same rules (Matches compares
// what the purpose opens: a masked or sealed source matches nothing).
// Masked and refused fields are listed in the Open audit event (Masked,
// Refused), beside those opened. Seal does not depend on the caller's
// purpose; Backfill and Reindex ignore purposes altogether: none of them
// hands plaintext to the caller.
//
// Purposes are checked so that typos fail. A purpose named by a tag or the
// context that was not declared fails Seal and Open with a *PurposeError
// (ErrUnknownPurpose) and changes nothing; for a tag, the error names the
// type and field, the first time the type is used and every time after.
// CheckPurposes[T]("billing", "support", "marketing") checks a type at
// start-up. A Protector without WithPurposes opens every field, as before
// purposes existed, and ignores the purpose its callers state (it is only
// audited), but refuses to Open a type whose tags name purposes, which it
// could not honour (it Seals them).
//
// No purpose in the context: a Protector with WithPurposes refuses the
// Open with ErrNoPurpose (nothing changes); with WithPurposeRequired(false)
// it opens the fields without purpose= and treats the others as for an
// unlisted purpose. A Protector without WithPurposes opens everything
// unless WithPurposeRequired(true).
//
// Masks. A masked value always contains mask.Rune (•, U+2022), so it can
// be neither plaintext nor a ciphertext (ASCII, starting with "fc"), and
// mask.IsMasked tells it apart; display code can mask values itself with
// mask.Apply. Seal refuses a masked value in a field with mask= (a record
// opened for display being saved back) with ErrMasked, and changes
// nothing.
//
// Consent. Open for a purpose declared NeedsConsent asks, for each subject
// whose fields it would open or mask, whether the subject consents
// (GrantConsent, WithdrawConsent). Without a grant, or after a withdrawal,
// Open and OpenAll fail with a *FieldError wrapping a *PurposeError that
// wraps ErrNoConsent, naming the purpose, never the subject, and change
// nothing; OpenEach fails only that subject's records. The answers are
// cached like keys (the key cache's TTL and size). A withdrawal takes
// effect at once in the process that records it; in others, with
// keystore/postgres, as soon as the store's announcement arrives (well
// under a second; within a second while the watcher reconnects); with
// stores that cannot announce (SQLite, memory), within the cache TTL.
// Declaring a NeedsConsent purpose needs a store that keeps consent
// (keystore.ConsentStore). A scope=global token without a subject in reach
// has nobody to ask: it stays sealed for such a purpose.
//
// What purposes are not: access control inside a process that holds the
// keys, not cryptographic separation. Every purpose opens with the same
// subject key; code that holds the Protector can state any declared
// purpose, and code that reads the key store and the KEK can decrypt
// everything. Purposes keep honest code honest, make each access state
// and audit its reason, and enforce consent and masking in one place, not
// in every handler.
//
// # Data-subject rights
//
// PlaceHold puts a subject on legal hold: the key store itself refuses the
// erasure (Forget fails with a *LegalHoldError, errors.Is ErrLegalHold, and
// nothing is erased) and Expire skips the subject; ReleaseHold lifts it.
// RequestErasure records an erasure request (ticket, who, when received,
// deadline — 30 days by default) and runs Forget, recording the outcome;
// LateRequests lists requests completed after their deadline or open past
// it. GrantConsent and WithdrawConsent record consent to a purpose (names:
// [a-z][a-z0-9_-]{0,63}), Consent lists what is granted now, and
// ConsentHistory the append-only history. All of them are keyed by the
// subject's record ID, never the identifier, and need a store that
// implements keystore.Holder / RequestLog / ConsentStore (the module's
// memory, SQLite and PostgreSQL stores do).
//
// # Data map, access export, retention sweep
//
// DataMapOf (and Protector.DataMap, WriteDataMap) reports every personal
// field of the given types from their plans — protection, binding, token
// format and scope, blind indexes, Sealed kinds, what survives Forget,
// retention — as JSON or Markdown, with warnings for unprotected fields
// whose names look personal (PersonalWords). ExportSubject returns one
// subject's records opened (on copies), field by field, with their consent,
// holds and erasure requests, for an access or portability request; it
// refuses a record of another subject (ErrOtherSubject) and holds no keys,
// ciphertexts or index terms. WithRetentionSweep runs Expire in the
// background; with keystore/postgres one instance sweeps at a time.
//
// # Logging
//
// LogValue renders a tagged struct for log/slog with every protected field
// shown as "[redacted]", sealed or not; nested structs, slices and maps of
// them are shown element by element. Give your models a LogValue method
// (`func (c Customer) LogValue() slog.Value { return pii.LogValue(c) }`),
// or, better, wrap the application's handler once:
//
//	logger := slog.New(pii.NewRedactingHandler(handler))
//
// It redacts tagged values wherever they appear in a record — in groups,
// slices, maps, pointers, nested structs and what LogValue methods return —
// and passes other records through untouched, without allocating. What the
// library cannot see: fmt and encoding/json, which print a model without
// asking it, messages already formatted with fmt.Sprintf, and database
// writes of unsealed values. The piivet analyzer (module tools/piivet)
// reports those at build time: go vet -vettool=$(which piivet) ./...
//
// # Audit
//
// With WithAuditor, every Seal, Open (and the bulk variants), Forget,
// RequestErasure, Readmit, key rotation, retention sweep, legal hold and
// consent change hands an audit.Event to the Auditor. Events hold the
// type's scope, field paths, counts, keyed subject references (record IDs),
// the actor and purpose stated with WithAccess, and an outcome class —
// never values, keys or subject identifiers. Seal and Open are audited after
// every value is computed and before any is assigned: an Auditor error fails
// the call with *AuditError and changes nothing. Lifecycle operations audit
// their outcome after the store changed; an Auditor error then says the
// operation took effect unaudited (AuditError.Applied). For a durable trail
// use NewAuditTable (a hash-chained table in the key store's database)
// behind an audit.Writer: with audit.Block callers wait when the database
// lags, with audit.FailClosed they fail; events are never dropped silently.
// The field-path slices of an event may be shared with other events: an
// Auditor must not modify their elements.
// WithObserver reports key-cache hits and misses, KMS calls and erasures
// (module telemetry/otelfc turns both into OpenTelemetry spans and metrics).
//
// # Retrying
//
// kms.ErrUnavailable — returned by every KEK backend for an outage or
// throttling, and by keystore/postgres for a lost or refused connection —
// is worth a retry; check kms.Retryable(err). A failed Seal or SealAll
// changes nothing, so retrying it is safe.
//
// # Concurrency
//
// A Protector is safe for concurrent use by many goroutines. Sealing or
// opening one struct value from two goroutines at once is a data race, as
// for any write to a value.
package pii
