package pii

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/fieldcrypt/fieldcrypt/tokenize"
	"github.com/fieldcrypt/fieldcrypt/vaulttoken"
)

// tagName is the struct tag key fieldcrypt reads.
const tagName = "pii"

type verb uint8

const (
	verbNone     verb = iota // no tag: walk into the field if it can hold protected data
	verbSkip                 // `pii:"-"`: never look inside
	verbSubject              // `pii:"subject"`
	verbEncrypt              // `pii:"encrypt"`
	verbScope                // `pii:"scope=NAME"` on a blank field
	verbToken                // `pii:"token,format=pan"`
	verbRecord               // `pii:"record"`
	verbTokenMAC             // `pii:"tokenmac=Card"`
	verbIndex                // `pii:"index=Email,transform=trim+fold"` (search.go)
)

// bindMode is an encrypt field's bind= option: what the ciphertext is
// bound to besides subject, scope and name.
type bindMode uint8

const (
	bindDefault bindMode = iota // no bind=: the record if one is in reach (refused for deterministic fields)
	bindSubject                 // bind=subject: never the record
	bindRecord                  // bind=record: the record, which must be in reach
)

// tag is a parsed `pii` struct tag.
type tag struct {
	verb          verb
	deterministic bool
	name          string // name=, the stable name bound into associated data
	scope         string // scope=, on a blank field only
	format        tokenize.Format
	global        bool      // token,scope=global
	bindIndex     bool      // encrypt,bindindex
	bind          bindMode  // encrypt,bind=subject|record
	macFor        string    // tokenmac=FIELD: the Go name of the token field
	index         *idxTag   // index=SOURCES and its options (searchtags.go)
	acl           aclTag    // purpose= and mask= (purpose_plan.go)
	vault         *vaultTag // vault options of a token (vault_tags.go)
}

// parseTag parses the value of a `pii` tag. The error is a reason, to be put
// into a TagError by the caller.
func parseTag(s string) (tag, error) {
	if s == "" {
		return tag{}, fmt.Errorf("empty pii tag: remove it, or say what to do")
	}
	if s == "-" {
		return tag{verb: verbSkip}, nil
	}
	parts := strings.Split(s, ",")
	var t tag
	head := parts[0]
	switch {
	case head == "subject":
		t.verb = verbSubject
	case head == "encrypt":
		t.verb = verbEncrypt
	case strings.HasPrefix(head, "scope="):
		t.verb = verbScope
		t.scope = strings.TrimPrefix(head, "scope=")
		if err := checkStableName("scope", t.scope); err != nil {
			return tag{}, err
		}
	case head == "token":
		t.verb = verbToken
	case head == "record":
		t.verb = verbRecord
	case strings.HasPrefix(head, "tokenmac="):
		t.verb = verbTokenMAC
		t.macFor = strings.TrimPrefix(head, "tokenmac=")
		if !isGoIdentifier(t.macFor) {
			return tag{}, fmt.Errorf("tokenmac= must name a token field of this struct by its Go name")
		}
	case strings.HasPrefix(head, "index="):
		t.verb = verbIndex
		var err error
		if t.index, err = parseIndexSources(strings.TrimPrefix(head, "index=")); err != nil {
			return tag{}, err
		}
	default:
		return tag{}, fmt.Errorf("unknown pii tag %q: want subject, record, encrypt, token, tokenmac=FIELD, index=FIELDS, scope=NAME or -", head)
	}
	seen := map[string]bool{}
	for _, opt := range parts[1:] {
		key, value, hasValue := strings.Cut(opt, "=")
		if seen[key] {
			return tag{}, fmt.Errorf("option %q given twice", key)
		}
		seen[key] = true
		switch {
		case t.verb == verbIndex:
			if err := t.index.option(opt, key, value, hasValue); err != nil {
				return tag{}, err
			}
		case key == "index":
			return tag{}, errIndexElsewhere
		case t.verb == verbEncrypt && opt == "deterministic":
			t.deterministic = true
		case (t.verb == verbEncrypt || t.verb == verbToken) && key == "name" && hasValue:
			if err := checkStableName("name", value); err != nil {
				return tag{}, err
			}
			t.name = value
		case t.verb == verbToken && key == "format" && hasValue:
			f, err := vaulttoken.ParseFormat(value) // tokenize's, and the vault-only ones
			if err != nil {
				return tag{}, err
			}
			t.format = f
		case t.verb == verbToken && key == "scope" && (value == "subject" || value == "global"):
			t.global = value == "global"
		case t.verb == verbEncrypt && opt == "bindindex":
			t.bindIndex = true
		case t.verb == verbEncrypt && key == "bind" && value == "subject":
			t.bind = bindSubject
		case t.verb == verbEncrypt && key == "bind" && value == "record":
			t.bind = bindRecord
		case t.verb == verbEncrypt && key == "bind":
			return tag{}, fmt.Errorf("bind= must be subject or record")
		case (t.verb == verbEncrypt || t.verb == verbToken) && (key == "purpose" || key == "mask"):
			if err := t.acl.option(key, value, hasValue); err != nil {
				return tag{}, err
			}
		case t.verb == verbToken && isVaultOption(key): // vault_tags.go
			if err := t.vaultOption(opt, key, value, hasValue); err != nil {
				return tag{}, err
			}
		case opt == "":
			return tag{}, fmt.Errorf("empty option in pii tag")
		default:
			return tag{}, fmt.Errorf("unknown option %q for %s", opt, head)
		}
	}
	if t.verb == verbIndex {
		if err := t.index.finish(); err != nil {
			return tag{}, err
		}
	}
	if t.verb == verbToken && t.format == "" {
		return tag{}, fmt.Errorf("token needs format=: one of digits, ssn, pan, phone, email, alnum (or, with vault, date, postcode-us, postcode-uk, postcode-de, postcode-nl, postcode-ca, text)")
	}
	if err := t.finishVault(); err != nil { // vault_tags.go
		return tag{}, err
	}
	if t.global && len(t.acl.purposes) > 0 {
		return tag{}, errGlobalPurpose
	}
	return t, nil
}

// checkStableName restricts names bound into associated data to a plain
// alphabet, so that they survive being written in code, config and docs.
func checkStableName(what, s string) error {
	if s == "" || len(s) > 128 {
		return fmt.Errorf("%s= must be 1 to 128 characters", what)
	}
	for _, r := range s {
		ok := r == '_' || r == '-' || r == '.' || r == '/' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("%s= may contain only letters, digits and _ - . /", what)
		}
	}
	return nil
}

// isGoIdentifier reports whether s is an exported or unexported Go
// identifier of ASCII letters, digits and underscores.
func isGoIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (i > 0 && r >= '0' && r <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// malformedTag returns why the struct tag tag mentions the pii key in a way
// reflect.StructTag.Lookup does not read, or "" if it does not. Lookup stops
// at the first syntax error and ignores the rest, so `json:"x",pii:"encrypt"`
// (a comma between pairs) and `pii: "encrypt"` (a space after the colon)
// would otherwise leave the field unprotected without a word. It follows
// Lookup's grammar: key:"value" pairs separated by spaces.
func malformedTag(tag string) string {
	pii := 0 // pairs whose key is exactly pii
	for tag != "" {
		i := 0
		for i < len(tag) && tag[i] == ' ' {
			i++
		}
		tag = tag[i:]
		if tag == "" {
			break
		}
		i = 0
		for i < len(tag) && tag[i] > ' ' && tag[i] != ':' && tag[i] != '"' && tag[i] != 0x7f {
			i++
		}
		if i == 0 || i+1 >= len(tag) || tag[i] != ':' || tag[i+1] != '"' {
			// Lookup stops here: whatever follows is not read.
			if mentionsPII(tag) {
				return "cannot parse the pii key of this struct tag (want key:\"value\" pairs separated by spaces, as in `json:\"x\" pii:\"encrypt\"`)"
			}
			return ""
		}
		key := tag[:i]
		tag = tag[i+1:]
		i = 1
		for i < len(tag) && tag[i] != '"' {
			if tag[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(tag) {
			if key == tagName || mentionsPII(key) {
				return "cannot parse the pii key of this struct tag: unterminated quoted value"
			}
			return ""
		}
		qvalue := tag[:i+1]
		tag = tag[i+1:]
		switch {
		case key == tagName:
			if _, err := strconv.Unquote(qvalue); err != nil {
				return "cannot parse the pii key of this struct tag: invalid quoted value"
			}
			if pii++; pii > 1 {
				return "the pii key appears twice in this struct tag"
			}
		case mentionsPII(key):
			return fmt.Sprintf("struct tag key %q is not pii: separate key:\"value\" pairs with spaces and write the key in lower case", key)
		}
	}
	return ""
}

// mentionsPII reports whether s contains "pii" (in any case) as a word: not
// next to a letter, digit or underscore, and followed by optional spaces
// and a colon, or by the end of s (a key cut short).
func mentionsPII(s string) bool {
	for i := 0; i+3 <= len(s); i++ {
		if !strings.EqualFold(s[i:i+3], tagName) {
			continue
		}
		if i > 0 && isWordByte(s[i-1]) {
			continue
		}
		j := i + 3
		if j < len(s) && isWordByte(s[j]) {
			continue
		}
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j == len(s) || s[j] == ':' || s[j] == '=' {
			return true
		}
	}
	return false
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
