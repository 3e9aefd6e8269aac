package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/hashicorp/vault/api"

	"github.com/fieldcrypt/fieldcrypt/keystore"
	"github.com/fieldcrypt/fieldcrypt/keystore/sqlite"
	"github.com/fieldcrypt/fieldcrypt/kms"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/kms/vault"
)

// Environment variables that stand in for flags, so that secrets need not
// be in argv.
const (
	envStore = "FIELDCRYPT_STORE" // --store
	envKEK   = "FIELDCRYPT_KEK"   // --kek
)

// openMode says whether opening a store may create it.
type openMode int

const (
	mustExist openMode = iota // a missing store (or schema) is an error
	mayCreate                 // create or upgrade the schema (keystore migrate)
)

// openStore opens the store named by spec, and returns a function to close
// it. With mustExist, a store that does not exist is an error and nothing
// is created. Errors never contain a password.
func openStore(ctx context.Context, spec string, mode openMode) (keystore.Store, func(), error) {
	switch {
	case strings.HasPrefix(spec, "sqlite:"):
		path := strings.TrimPrefix(spec, "sqlite:")
		if path == "" {
			return nil, nil, usagef("--store sqlite: needs a path")
		}
		var opts []sqlite.Option
		if mode == mustExist {
			opts = append(opts, sqlite.MustExist())
		}
		s, err := sqlite.Open(ctx, path, opts...)
		if err != nil {
			return nil, nil, storeError(spec, err)
		}
		return s, func() { s.Close() }, nil
	case strings.HasPrefix(spec, "postgres://"), strings.HasPrefix(spec, "postgresql://"):
		s, err := openPostgres(ctx, spec, mode)
		if err != nil {
			return nil, nil, storeError(spec, err)
		}
		return s, s.Close, nil
	case spec == "":
		return nil, nil, usagef("--store (or $%s) is required: sqlite:PATH or a postgres:// URL", envStore)
	}
	return nil, nil, usagef("unknown store %s: want sqlite:PATH or a postgres:// URL", redactStore(spec))
}

// storeError wraps an error opening the store: it names the store without
// its password, says what to do about a missing store, and keeps err for
// errors.Is.
func storeError(spec string, err error) error {
	if errors.Is(err, keystore.ErrNoStore) {
		return fmt.Errorf("store %s does not exist (check --store; only keystore migrate creates a store): %w", redactStore(spec), err)
	}
	return fmt.Errorf("store %s: %w", redactStore(spec), err)
}

// kekForms lists the KEK specs openKEK accepts, for messages.
const kekForms = "local:PATH, vault:MOUNT/KEY, awskms:ARN or gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K"

// openKEK opens the KEK named by spec: local:PATH; vault:MOUNT/KEY with
// the server and token from Vault's usual environment (VAULT_ADDR,
// VAULT_TOKEN, VAULT_NAMESPACE, VAULT_CACERT, ...); awskms:ARN and
// gcpkms:RESOURCE with each cloud's standard environment (cloudkek.go).
func openKEK(ctx context.Context, spec string) (kms.KEK, error) {
	switch {
	case strings.HasPrefix(spec, "local:"):
		return local.Open(strings.TrimPrefix(spec, "local:"))
	case strings.HasPrefix(spec, "vault:"):
		mount, key, ok := strings.Cut(strings.TrimPrefix(spec, "vault:"), "/")
		if !ok {
			return nil, usagef("KEK %q: want vault:MOUNT/KEY", spec)
		}
		client, err := api.NewClient(api.DefaultConfig())
		if err != nil {
			return nil, err
		}
		// A derived key binds with context and can rewrap inside Vault;
		// read the key's configuration to know (without read permission on
		// it, assume associated_data binding).
		derived := false
		if sec, err := client.Logical().ReadWithContext(ctx, mount+"/keys/"+key); err == nil && sec != nil {
			derived, _ = sec.Data["derived"].(bool)
		}
		return vault.New(ctx, vault.Config{Client: client, Mount: mount, Key: key, Namespace: os.Getenv("VAULT_NAMESPACE"), Derived: derived})
	case strings.HasPrefix(spec, "awskms:"):
		return openAWSKMS(ctx, strings.TrimPrefix(spec, "awskms:"))
	case strings.HasPrefix(spec, "gcpkms:"):
		return openGCPKMS(ctx, strings.TrimPrefix(spec, "gcpkms:"))
	case spec == "":
		return nil, usagef("a KEK is required (--kek or $%s): %s", envKEK, kekForms)
	}
	return nil, usagef("unknown KEK %q: want %s", spec, kekForms)
}

// closeKEK releases a KEK's resources (a Vault client's login renewal).
func closeKEK(k kms.KEK) {
	if c, ok := k.(interface{ Close() }); ok {
		c.Close()
	}
}

// redactStore names a store for a message: sqlite:PATH as it is, a URL as
// its scheme, host and path only (no user, password or query), and
// anything else (a libpq key=value DSN) as its host and database only.
func redactStore(spec string) string {
	if strings.HasPrefix(spec, "sqlite:") {
		return spec
	}
	if scheme, _, ok := strings.Cut(spec, "://"); ok {
		u, err := url.Parse(spec)
		if err != nil || u.Scheme == "" {
			return scheme + "://…"
		}
		s := u.Scheme + "://" + u.Host + u.EscapedPath()
		if u.User != nil || u.RawQuery != "" {
			s += " (user and parameters hidden)"
		}
		return s
	}
	var kept []string
	for _, kv := range keyValues(spec) {
		switch kv[0] {
		case "host", "hostaddr", "port", "dbname":
			kept = append(kept, kv[0]+"="+kv[1])
		}
	}
	if len(kept) == 0 {
		return "(a store spec not shown: it may hold a password)"
	}
	return `"` + strings.Join(kept, " ") + ` …"`
}

// keyValues splits a libpq key=value connection string, with its quoting
// ('...' with \' and \\ escapes), into pairs. It is lenient: it serves
// only to redact.
func keyValues(s string) [][2]string {
	var out [][2]string
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
		k := i
		for i < len(s) && s[i] != '=' && s[i] != ' ' {
			i++
		}
		key := strings.TrimSpace(s[k:i])
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i >= len(s) || s[i] != '=' {
			if key == "" {
				i++
			}
			continue
		}
		i++ // '='
		for i < len(s) && s[i] == ' ' {
			i++
		}
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for i < len(s) && s[i] != '\'' {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
				i++
			}
			i++ // closing quote
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
				val.WriteByte(s[i])
				i++
			}
		}
		out = append(out, [2]string{strings.ToLower(key), val.String()})
	}
	return out
}

// passwordPattern finds a password in a message: key=value, URL query or
// URL user info.
var passwordPattern = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)|(://[^/@\s:]*:)([^/@\s]+)(@)`)

// secretsIn returns the passwords that s (a store spec, or a command-line
// argument holding one) contains, in every form an error might quote them.
func secretsIn(s string) []string {
	var out []string
	add := func(p string) {
		if p != "" {
			out = append(out, p)
			if d, err := url.QueryUnescape(p); err == nil && d != p {
				out = append(out, d)
			}
		}
	}
	for _, m := range passwordPattern.FindAllStringSubmatch(s, -1) {
		if m[2] != "" {
			v := m[2]
			if strings.HasPrefix(v, "'") {
				add(v)
				v = strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(strings.Trim(v, "'"))
			}
			add(v)
		}
		add(m[4])
	}
	for _, kv := range keyValues(s) {
		if kv[0] == "password" || strings.HasSuffix(kv[0], "password") {
			add(kv[1])
		}
	}
	return out
}

// scrub removes from msg every password that the sources (command-line
// arguments, the environment's store spec) contain, and any password that
// msg itself shows as key=value or in a URL.
func scrub(msg string, sources ...string) string {
	for _, src := range sources {
		for _, p := range secretsIn(src) {
			msg = strings.ReplaceAll(msg, p, "xxxxx")
		}
	}
	return passwordPattern.ReplaceAllString(msg, "${1}${3}xxxxx${5}")
}
