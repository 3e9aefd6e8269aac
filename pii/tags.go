package pii

import (
	"fmt"
	"strings"

	"github.com/fieldcrypt/fieldcrypt/tokenize"
)

// tagName is the struct tag key fieldcrypt reads.
const tagName = "pii"

type verb uint8

const (
	verbNone    verb = iota // no tag: walk into the field if it can hold protected data
	verbSkip                // `pii:"-"`: never look inside
	verbSubject             // `pii:"subject"`
	verbEncrypt             // `pii:"encrypt"`
	verbScope               // `pii:"scope=NAME"` on a blank field
	verbToken               // `pii:"token,format=pan"`
)

// tag is a parsed `pii` struct tag.
type tag struct {
	verb          verb
	deterministic bool
	name          string // name=, the stable name bound into associated data
	scope         string // scope=, on a blank field only
	format        tokenize.Format
	global        bool // token,scope=global
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
	default:
		return tag{}, fmt.Errorf("unknown pii tag %q: want subject, encrypt, token, scope=NAME or -", head)
	}
	seen := map[string]bool{}
	for _, opt := range parts[1:] {
		key, value, hasValue := strings.Cut(opt, "=")
		if seen[key] {
			return tag{}, fmt.Errorf("option %q given twice", key)
		}
		seen[key] = true
		switch {
		case t.verb == verbEncrypt && opt == "deterministic":
			t.deterministic = true
		case (t.verb == verbEncrypt || t.verb == verbToken) && key == "name" && hasValue:
			if err := checkStableName("name", value); err != nil {
				return tag{}, err
			}
			t.name = value
		case t.verb == verbToken && key == "format" && hasValue:
			f, err := tokenize.ParseFormat(value)
			if err != nil {
				return tag{}, err
			}
			t.format = f
		case t.verb == verbToken && key == "scope" && (value == "subject" || value == "global"):
			t.global = value == "global"
		case opt == "":
			return tag{}, fmt.Errorf("empty option in pii tag")
		default:
			return tag{}, fmt.Errorf("unknown option %q for %s", opt, head)
		}
	}
	if t.verb == verbToken && t.format == "" {
		return tag{}, fmt.Errorf("token needs format=: one of digits, ssn, pan, phone, email, alnum")
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
