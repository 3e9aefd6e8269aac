package pii

import (
	"fmt"
	"reflect"
	"strings"
	"time"
	"unicode"
)

// Warnings of the data map: fields that look personal by their name and
// that nothing protects.
//
// A field is checked against PersonalWords by its words: its Go name split
// at case changes and digits ("IPAddress" is ip, address; "DOB" is dob;
// "billingEmail" is billing, email), and its json and db tag names split at
// '_', '-', '.' and case changes. A word matches only whole: "Discard"
// does not match "card", "Username" does (it is in the list). The word
// "name" is not counted after a word that makes it a thing's name
// (FileName, TypeName, HostName, ... see nameExceptions).
//
// A field tagged `pii:"-"` is never flagged: the tag says it was looked at
// and is not personal (or is protected elsewhere). Unexported fields are
// not checked (fieldcrypt cannot protect them). A nested struct field whose
// type holds protected fields is walked into, not flagged itself; one that
// holds none is flagged by its own name, or else walked into.

// personalWords are the words that make a field look personal.
var personalWords = []string{
	"email", "mail", "phone", "mobile", "tel", "telephone", "fax",
	"ssn", "nin", "passport", "license", "licence", "taxid", "iban", "bic",
	"card", "pan", "cvv", "cvc",
	"birth", "birthday", "birthdate", "dob", "born",
	"address", "addr", "street", "postcode", "postal", "zip", "zipcode",
	"name", "firstname", "lastname", "surname", "fullname", "forename", "username", "nickname",
	"gender", "sex", "nationality", "ethnicity", "religion",
	"ip", "ipaddress", "geo", "gps", "latitude", "longitude", "lat", "lng", "location",
	"health", "medical", "diagnosis", "biometric", "fingerprint",
	"salary", "income",
}

// nameExceptions are the words after which "name" names a thing, not a
// person.
var nameExceptions = map[string]bool{
	"file": true, "type": true, "host": true, "table": true, "column": true, "field": true,
	"key": true, "bucket": true, "class": true, "method": true, "service": true, "product": true,
	"company": true, "org": true, "organization": true, "organisation": true, "domain": true,
	"kind": true, "path": true, "app": true, "queue": true, "topic": true, "index": true,
	"event": true, "device": true, "brand": true, "model": true, "db": true, "database": true,
	"schema": true, "server": true, "cluster": true, "region": true, "zone": true, "project": true,
	"package": true, "module": true, "func": true, "function": true, "tag": true, "label": true,
}

var personalSet = func() map[string]bool {
	m := make(map[string]bool, len(personalWords))
	for _, w := range personalWords {
		m[w] = true
	}
	return m
}()

// PersonalWords returns the words that make an unprotected field a data
// map Warning, in lower case.
func PersonalWords() []string { return append([]string(nil), personalWords...) }

// personalWord returns the first personal word among the words of a field
// name, or "".
func personalWord(name string) string {
	words := splitWords(name)
	for i, w := range words {
		if !personalSet[w] {
			continue
		}
		if w == "name" && i > 0 && nameExceptions[words[i-1]] {
			continue
		}
		return w
	}
	return ""
}

// splitWords splits an identifier or tag name into lower-case words: at
// '_', '-', '.', spaces, at a lower-to-upper case change, before the last
// capital of a run followed by a lower-case letter ("IPAddress": IP,
// Address), and between letters and digits.
func splitWords(s string) []string {
	var words []string
	rs := []rune(s)
	start := 0
	flush := func(end int) {
		if end > start {
			words = append(words, strings.ToLower(string(rs[start:end])))
		}
		start = end
	}
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush(i)
			start = i + 1
			continue
		}
		if i == start {
			continue
		}
		prev := rs[i-1]
		switch {
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			flush(i)
		case unicode.IsUpper(r) && unicode.IsUpper(prev) && i+1 < len(rs) && unicode.IsLower(rs[i+1]):
			flush(i)
		case unicode.IsDigit(r) != unicode.IsDigit(prev):
			flush(i)
		}
	}
	flush(len(rs))
	return words
}

// structTagName returns the name a json or db struct tag gives a field, or "".
func structTagName(f reflect.StructField, key string) string {
	v, ok := f.Tag.Lookup(key)
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(v, ",")
	if name == "-" {
		return ""
	}
	return name
}

// fieldPersonalWord returns the personal word of field f's Go name, json
// name or db name, and where it was found.
func fieldPersonalWord(f reflect.StructField) (word, where string) {
	if w := personalWord(f.Name); w != "" {
		return w, "name"
	}
	for _, key := range []string{"json", "db"} {
		if n := structTagName(f, key); n != "" {
			if w := personalWord(n); w != "" {
				return w, fmt.Sprintf("%s name %q", key, n)
			}
		}
	}
	return "", ""
}

// warnUnprotected adds warnings for the unprotected personal-looking
// fields of struct type t, reached at path. It reads the plan of t (if t
// has one) only to know which fields are protected or lead to protected
// fields.
func (m *mapper) warnUnprotected(t reflect.Type, path string, visiting map[reflect.Type]bool) {
	if visiting[t] {
		return
	}
	visiting[t] = true
	defer delete(visiting, t)
	handled := map[int]bool{} // protected fields, and fields leading to protected ones
	if v, ok := plans.Load(t); ok {
		st := v.(*structPlan)
		for _, f := range st.fields {
			handled[f.index] = true
			if f.hasMAC {
				handled[f.macIndex] = true
			}
		}
		for _, ix := range st.indexes {
			handled[ix.index] = true
		}
		if len(st.subject) > 0 {
			handled[st.subject[0]] = true
		}
		if len(st.record) > 0 {
			handled[st.record[0]] = true
		}
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Tag.Get(tagName) == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		inner, suffix := structBehind(f.Type)
		p := path + "." + f.Name
		if f.Anonymous && inner != nil {
			m.warnUnprotected(inner, path, visiting) // promoted fields
			continue
		}
		if handled[i] {
			if inner != nil && !isSealedType(inner) {
				m.warnUnprotected(inner, p+suffix, visiting)
			}
			continue
		}
		if w, where := fieldPersonalWord(f); w != "" {
			m.warns = append(m.warns, DataMapWarning{
				Type: m.root.typ.String(), Path: p, GoType: f.Type.String(), Word: w,
				Reason: fmt.Sprintf("WARNING %s (%v): its %s looks personal (%q) and it has no protection: tag it pii:\"encrypt\" (or token, or make it a pii.Sealed), or pii:\"-\" to record that it is not personal", p, f.Type, where, w),
			})
			continue
		}
		if inner != nil {
			m.warnUnprotected(inner, p+suffix, visiting)
		}
	}
}

// structBehind returns the struct type that t holds through pointers,
// slices, arrays and maps, with the path suffix of its containers, or nil
// for a leaf (time.Time and Sealed values count as leaves).
func structBehind(t reflect.Type) (reflect.Type, string) {
	var b strings.Builder
	for {
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
			continue
		case reflect.Slice, reflect.Array:
			if t.Elem().Kind() == reflect.Uint8 {
				return nil, ""
			}
			b.WriteString("[]")
			t = t.Elem()
			continue
		case reflect.Map:
			b.WriteString("{}")
			t = t.Elem()
			continue
		case reflect.Struct:
			if t == reflect.TypeFor[time.Time]() || isSealedType(t) {
				return nil, ""
			}
			return t, b.String()
		}
		return nil, ""
	}
}
