package audit

import (
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendCanonical appends the stored form of e (already validated, time in
// UTC) to dst: byte for byte what encoding/json produces for Event
// (FuzzCanonicalMatchesJSON checks it), without reflection, because the
// audit writer encodes every event and encoding/json was most of its cost.
func appendCanonical(dst []byte, e *Event) ([]byte, error) {
	if y := e.Time.Year(); y < 0 || y > 9999 {
		return nil, errors.New("audit: event time outside years 0-9999")
	}
	dst = append(dst, `{"time":"`...)
	dst = e.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","op":`...)
	dst = appendJSONString(dst, string(e.Op))
	dst = appendStringField(dst, "type", e.Type)
	dst = appendStringField(dst, "subject", e.Subject)
	dst = appendListField(dst, "subjects", e.Subjects)
	dst = appendIntField(dst, "records", e.Records)
	dst = appendIntField(dst, "failed", e.Failed)
	dst = appendStringField(dst, "detail", e.Detail)
	dst = appendStringField(dst, "actor", e.Actor)
	dst = appendStringField(dst, "purpose", e.Purpose)
	dst = appendListField(dst, "sealed", e.Sealed)
	dst = appendListField(dst, "opened", e.Opened)
	dst = appendListField(dst, "masked", e.Masked)
	dst = appendListField(dst, "refused", e.Refused)
	dst = append(dst, `,"outcome":`...)
	dst = appendJSONString(dst, e.Outcome)
	return append(dst, '}'), nil
}

func appendStringField(dst []byte, name, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(append(append(dst, `,"`...), name...), `":`...)
	return appendJSONString(dst, v)
}

func appendIntField(dst []byte, name string, v int) []byte {
	if v == 0 {
		return dst
	}
	dst = append(append(append(dst, `,"`...), name...), `":`...)
	return strconv.AppendInt(dst, int64(v), 10)
}

func appendListField(dst []byte, name string, vs []string) []byte {
	if len(vs) == 0 {
		return dst
	}
	dst = append(append(append(dst, `,"`...), name...), `":[`...)
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, v)
	}
	return append(dst, ']')
}

const hexDigits = "0123456789abcdef"

// plainASCII[b] reports whether ASCII byte b is copied as it is.
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for b := range t {
		t[b] = b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

// appendJSONString quotes s as encoding/json does: <, > and & escaped for
// HTML, control characters as \n \r \t \b \f or \u00XX, invalid UTF-8 as
// \ufffd, and U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if plainASCII[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
