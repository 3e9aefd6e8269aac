package pii

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/fieldcrypt/fieldcrypt/tokenize"
	"github.com/fieldcrypt/fieldcrypt/vaulttoken"
)

// The vault options of a token tag.
//
//	PIN      string `pii:"token,format=digits,vault"`                  // FF1 from 6 digits, the vault below
//	Birth    string `pii:"token,format=date,vault"`                    // always the vault: FF1 has no dates
//	Code     string `pii:"token,format=digits,vault=always,ttl=720h"`  // always the vault; mappings expire
//	Postcode string `pii:"token,format=postcode-uk,vault,convergent"`  // one value, one token (per subject)
//	Dept     string `pii:"token,format=text,vault=always,convergent,scope=global,survive"`
//
// vault sends to the token vault the values FF1 cannot serve (a domain of
// fewer than tokenize.MinDomain values, or a format FF1 does not have);
// vault=always sends every value. convergent makes equal values get equal
// tokens (in the subject's partition, or across subjects with
// scope=global). ttl= (vault=always only) makes mappings expire. survive
// (scope=global only) keeps the field's mappings through Forget.

// vaultTag is the vault part of a token tag.
type vaultTag struct {
	enabled    bool // vault or vault=always was given
	always     bool // vault=always: every value goes to the vault
	convergent bool
	survive    bool
	ttl        time.Duration
}

// isVaultOption reports whether key names a vault option.
func isVaultOption(key string) bool {
	switch key {
	case "vault", "convergent", "survive", "ttl":
		return true
	}
	return false
}

// vaultOption parses one vault option of a token tag.
func (t *tag) vaultOption(opt, key, value string, hasValue bool) error {
	if t.vault == nil {
		t.vault = &vaultTag{}
	}
	v := t.vault
	switch {
	case opt == "vault":
		v.enabled = true
	case key == "vault" && value == "always":
		v.enabled, v.always = true, true
	case key == "vault":
		return fmt.Errorf("vault= must be always (or write vault alone: the vault only where FF1 cannot serve)")
	case opt == "convergent":
		v.convergent = true
	case opt == "survive":
		v.survive = true
	case key == "ttl" && hasValue:
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return fmt.Errorf("ttl= must be a positive duration, such as 720h")
		}
		v.ttl = d
	default:
		return fmt.Errorf("unknown option %q for token", opt)
	}
	return nil
}

// finishVault checks the vault options of a token tag against each other
// and the format, once every option is read.
func (t *tag) finishVault() error {
	if t.verb != verbToken {
		return nil
	}
	v := t.vault
	if v == nil {
		if t.format != "" && !vaulttoken.FF1Capable(t.format) {
			return fmt.Errorf("format=%s has no FF1 tokens: add the vault option (token,format=%s,vault)", t.format, t.format)
		}
		return nil
	}
	switch {
	case !v.enabled:
		return fmt.Errorf("convergent, ttl= and survive are options of vaulted tokens: add vault")
	case v.ttl > 0 && !v.always:
		return fmt.Errorf("ttl= needs vault=always: FF1 tokens cannot expire")
	case v.survive && !t.global:
		return fmt.Errorf("survive needs scope=global: a subject's own tokens always go with the subject")
	}
	return nil
}

// vaultOptions copies a token tag's vault options into its field plan and
// checks that the field holds plain strings.
func (b *builder) vaultOptions(st *structPlan, f reflect.StructField, fp *fieldPlan, tg tag) *TagError {
	if tg.vault == nil {
		return nil
	}
	n := fp.node
	for n.elem != nil {
		n = n.elem
	}
	if n.kind != nString {
		return b.tagError(st, f, "vaulted tokens apply to string fields (and pointers, slices, arrays and maps of them)")
	}
	fp.vault = tg.vault
	return nil
}

// survives reports whether some protection of field f outlives Forget:
// scope=global FF1 tokens (computable with the global key), and
// scope=global vaulted tokens with survive.
func (f *fieldPlan) survives() bool {
	if !f.global {
		return false
	}
	return f.vault == nil || f.vault.survive || !f.vault.always
}

// vaultSpace returns the token vault space of field f in scope for values
// of n bytes: "<len(scope)>:<scope>/<name>#<n>" when that is printable
// ASCII of at most keystore.MaxSpaceLength bytes, otherwise "h1." and a
// SHA-256 of the same. Values of each length have a space of their own, so
// the occupancy limit of one shape is never used up by another.
func vaultSpace(scope, name string, n int) string {
	s := strconv.Itoa(len(scope)) + ":" + scope + "/" + name + "#" + strconv.Itoa(n)
	if len(s) <= 300 && printableASCII(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h1." + base64.RawURLEncoding.EncodeToString(sum[:24])
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// VaultMode says which values of a token field go to the token vault.
type VaultMode uint8

const (
	// VaultNever: every value is an FF1 token (the field has no vault
	// option).
	VaultNever VaultMode = iota
	// VaultSmall: values FF1 cannot serve go to the vault (the vault
	// option): see TokenField.Vaulted.
	VaultSmall
	// VaultAlways: every value goes to the vault (vault=always, or a
	// format FF1 does not have).
	VaultAlways
)

// TokenField describes how one token field of a type is tokenized.
type TokenField struct {
	Path       string // such as "Customer.PIN"
	Format     tokenize.Format
	Global     bool // scope=global
	Vault      VaultMode
	Vaulted    string // which values go to the vault, in words
	Convergent bool
	Survive    bool
	TTL        time.Duration
}

// TokenPlan lists the token fields of T (a struct type, or a pointer to
// one) and, for each, which of its values go to the token vault: the
// explanation of a type's tags that Check gives as an error only when they
// are invalid. It returns the TagError if T's tags are invalid.
func TokenPlan[T any]() ([]TokenField, error) {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: %v is not a struct type", ErrInvalidArgument, t)
	}
	rp := planFor(t)
	if rp.err != nil {
		return nil, rp.err
	}
	var out []TokenField
	onPath := map[*structPlan]bool{}
	var walk func(st *structPlan, path string)
	walk = func(st *structPlan, path string) {
		if onPath[st] {
			return
		}
		onPath[st] = true
		for i := range st.fields {
			f := &st.fields[i]
			p := path + "." + f.goName
			if f.inline {
				p = path
			}
			if f.token != "" {
				out = append(out, describeToken(f, p))
			}
			for n := f.node; n != nil; n = n.elem {
				if n.kind == nStruct {
					walk(n.st, p)
				}
			}
		}
		delete(onPath, st)
	}
	walk(rp.st, rp.st.name)
	return out, nil
}

func describeToken(f *fieldPlan, path string) TokenField {
	tf := TokenField{Path: path, Format: f.token, Global: f.global, Vaulted: "none: every value is an FF1 token"}
	if f.vault == nil {
		return tf
	}
	tf.Convergent, tf.Survive, tf.TTL = f.vault.convergent, f.vault.survive, f.vault.ttl
	if f.vault.always || !vaulttoken.FF1Capable(f.token) {
		tf.Vault, tf.Vaulted = VaultAlways, "every value"
		return tf
	}
	tf.Vault = VaultSmall
	switch f.token {
	case tokenize.Digits:
		tf.Vaulted = "values of 1 to 5 digits"
	case tokenize.Phone:
		tf.Vaulted = "numbers with fewer than 6 digits after the country code"
	case tokenize.Email:
		tf.Vaulted = "addresses whose local part's letters and digits admit fewer than 1,000,000 values (26 per letter, 10 per digit): up to 4 letters, 5 digits, or 3 letters and 1 digit, for example"
	case tokenize.Alnum:
		tf.Vaulted = "values whose letters and digits admit fewer than 1,000,000 values (26 per letter, 10 per digit): up to 4 letters, 5 digits, or 3 letters and 1 digit, for example"
	default: // ssn, pan: at least 10^7 values whatever the value
		tf.Vaulted = "none: every value of this format has at least 1,000,000 possible tokens"
	}
	return tf
}
