// Package vault is a key-encryption key in HashiCorp Vault's Transit
// secrets engine, through github.com/hashicorp/vault/api. The key never
// leaves Vault: fieldcrypt sends subject keysets to be wrapped (encrypt) and
// unwrapped (decrypt), many per request when it can (batch_input). With a
// derived Transit key it also rewraps them to the newest key version without
// the keysets leaving Vault (rewrap).
//
// Associated data is sent as Transit's associated_data parameter, which the
// key's AEAD cipher (aes256-gcm96, the default) authenticates: a wrapped key
// moved to another record fails to unwrap. Keys of a type without AEAD
// support are refused by Vault when associated data is given, so the binding
// can never be silently dropped. With a derived key (Config.Derived) it is
// sent as the key-derivation context instead, which binds just as well and
// which Vault's rewrap honours (it ignores associated_data).
//
// Errors are classified for kms: permission denied and invalid requests are
// kms.ErrRefused; a failed authentication of a ciphertext is
// kms.ErrAuthentication; 429, 5xx and connection failures are
// kms.ErrUnavailable and are retried by the configured policy, honouring the
// caller's context and Vault's Retry-After (up to the policy's
// MaxRetryAfter). Nothing is ever written when Vault does not answer:
// callers fail closed.
//
// # A Vault HA cluster
//
// Any unsealed node of a cluster serves Transit: a standby forwards the
// request to the active node over the cluster port, or, when it cannot (or
// the client sends X-Vault-No-Request-Forwarding), answers 307 with the
// active node's api_addr, which vault/api follows once. What the KEK needs
// is an address that stays up when a node goes down. Either put a load
// balancer in front of the cluster (health check GET /v1/sys/health: 200
// active, 429 standby; routing to unsealed standbys too is fine, they
// forward) and give Config.Client its address, or list every node's
// api_addr in Config.Addresses: the KEK then moves to the next address
// after a retryable failure and stays with the one that answers. While a
// new active node is elected (about two seconds with Raft's default
// timing scaled down, longer with the production performance_multiplier
// of 5) calls fail with kms.ErrUnavailable, retryable; nothing is written
// by a call that failed, and a caller's retry completes once a node is
// active again (TestHAActiveNodeKilledMidSealAll).
//
// When the caller's context ends (before Vault answers, while its answer is
// read, or while the KEK waits to retry), the error wraps both
// kms.ErrUnavailable and the context's error, and is not retryable. When
// the Vault client's own timeout (api.Config.Timeout, 60 s by default)
// expires first, the error wraps kms.ErrUnavailable and kms.ErrTimeout, not
// context.DeadlineExceeded, and is retryable.
package vault

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/fieldcrypt/fieldcrypt/kms"
)

// Config configures a Transit KEK.
type Config struct {
	// Client is a configured Vault client (address, TLS). Its token is used
	// unless Login is set. Its own retries are turned off: the KEK retries.
	Client *api.Client
	// Addresses, if set, are the API addresses of the nodes of a Vault HA
	// cluster (api_addr of each), used instead of Client's address: the KEK
	// sends every request to one of them, and after a retryable failure
	// (no answer, 5xx, 429, the client's timeout) moves to the next for the
	// following attempt, staying with whichever answers. Any unsealed node
	// serves Transit: a standby forwards the request to the active node (or
	// redirects with 307, which the client follows once). Leave it empty
	// behind a load balancer, which gives Client one address for the
	// cluster. Each must be an http or https URL; Client's TLS settings
	// apply to all.
	Addresses []string
	// Mount is where Transit is mounted; default "transit".
	Mount string
	// Key is the Transit key's name. Required.
	Key string
	// Namespace is the Vault Enterprise namespace, if any.
	Namespace string
	// Login, if set, logs in with this auth method (api/auth/approle,
	// api/auth/kubernetes, ...), keeps the token renewed and logs in again
	// when it can no longer be renewed.
	Login api.AuthMethod
	// Retry is the retry policy for unavailable errors; zero means
	// kms.DefaultRetry.
	Retry kms.RetryPolicy
	// Derived says the Transit key was created with derived=true. Then the
	// associated data is sent as Transit's key-derivation context instead
	// of associated_data: each record's key is derived from its own
	// context, so the binding holds just the same, and Vault's rewrap,
	// which honours context but ignores associated_data, works — keys are
	// rewrapped without leaving Vault.
	Derived bool
}

// KEK is a Transit key. It is safe for concurrent use.
type KEK struct {
	client  *api.Client
	mount   string
	key     string
	id      string
	retry   kms.RetryPolicy
	derived bool
	nodes   nodes // Config.Addresses (ha.go)

	stop    context.CancelFunc
	stopped sync.WaitGroup
}

// Vault's transit/rewrap (v1.21) accepts associated_data but does not use
// it (TestTransitRewrapIgnoresAssociatedData pins this), so Rewrap works
// only for derived keys (Config.Derived), whose binding is the context.
var (
	_ kms.Batcher   = (*KEK)(nil)
	_ kms.Rewrapper = (*KEK)(nil)
)

// New validates cfg and returns the KEK. With cfg.Login it logs in first
// and starts renewing the token in the background (stopped by Close).
func New(ctx context.Context, cfg Config) (*KEK, error) {
	if cfg.Client == nil {
		return nil, errors.New("vault: Config.Client is required")
	}
	if cfg.Key == "" || strings.ContainsAny(cfg.Key, "/ ") {
		return nil, errors.New("vault: Config.Key must be a Transit key name")
	}
	mount := strings.Trim(cfg.Mount, "/")
	if mount == "" {
		mount = "transit"
	}
	addrs, err := parseAddresses(cfg.Addresses)
	if err != nil {
		return nil, err
	}
	client, err := cfg.Client.Clone()
	if err != nil {
		return nil, fmt.Errorf("vault: %w", err)
	}
	if len(addrs) > 0 {
		if err := client.SetAddress(addrs[0].String()); err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
	}
	client.SetToken(cfg.Client.Token())
	client.SetMaxRetries(0)
	if cfg.Namespace != "" {
		client.SetNamespace(cfg.Namespace)
	}
	retry := cfg.Retry
	if retry.Attempts == 0 {
		retry = kms.DefaultRetry
	}
	id := "vault:" + mount + "/" + cfg.Key
	if cfg.Namespace != "" {
		id = "vault:" + strings.Trim(cfg.Namespace, "/") + "/" + mount + "/" + cfg.Key
	}
	k := &KEK{client: client, mount: mount, key: cfg.Key, id: id, retry: retry, derived: cfg.Derived, nodes: nodes{addrs: addrs}, stop: func() {}}
	if cfg.Login != nil {
		if err := k.startLogin(ctx, cfg.Login); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// Close stops token renewal, if any.
func (k *KEK) Close() {
	k.stop()
	k.stopped.Wait()
}

// ID returns "vault:" followed by the mount and key name (and namespace).
// It does not change when the key is rotated: see KeyVersion.
func (k *KEK) ID() string { return k.id }

// KeyVersion returns the Transit key version that produced wrapped, read
// from its "vault:vN:" prefix.
func KeyVersion(wrapped []byte) (int, bool) {
	s := string(wrapped)
	if !strings.HasPrefix(s, "vault:v") {
		return 0, false
	}
	end := strings.IndexByte(s[7:], ':')
	if end < 0 {
		return 0, false
	}
	v, err := strconv.Atoi(s[7 : 7+end])
	return v, err == nil && v > 0
}

// Encrypt wraps plaintext.
func (k *KEK) Encrypt(ctx context.Context, plaintext, associatedData []byte) ([]byte, error) {
	res, err := k.batch(ctx, "encrypt", []kms.Request{{Data: plaintext, AssociatedData: associatedData}})
	if err != nil {
		return nil, err
	}
	return res[0].Data, res[0].Err
}

// Decrypt unwraps ciphertext.
func (k *KEK) Decrypt(ctx context.Context, ciphertext, associatedData []byte) ([]byte, error) {
	res, err := k.batch(ctx, "decrypt", []kms.Request{{Data: ciphertext, AssociatedData: associatedData}})
	if err != nil {
		return nil, err
	}
	return res[0].Data, res[0].Err
}

// EncryptBatch wraps every request in one Transit call.
func (k *KEK) EncryptBatch(ctx context.Context, reqs []kms.Request) ([]kms.Result, error) {
	return k.batch(ctx, "encrypt", reqs)
}

// DecryptBatch unwraps every request in one Transit call.
func (k *KEK) DecryptBatch(ctx context.Context, reqs []kms.Request) ([]kms.Result, error) {
	return k.batch(ctx, "decrypt", reqs)
}

// Derived reports whether the KEK binds with key-derivation context, and so
// can Rewrap inside Vault.
func (k *KEK) Derived() bool { return k.derived }

// Rewrap re-encrypts wrapped keys under the newest version of the Transit
// key inside Vault, so the keysets never leave it. It needs a derived key
// (Config.Derived): with associated_data binding it fails with
// kms.ErrRefused, because Vault's rewrap ignores associated_data.
func (k *KEK) Rewrap(ctx context.Context, reqs []kms.Request) ([]kms.Result, error) {
	if !k.derived {
		return nil, k.fail("rewrap", kms.Classify(kms.ErrRefused, errors.New("Transit rewrap ignores associated_data; it can rewrap only keys of a derived Transit key (Config.Derived)")))
	}
	return k.batch(ctx, "rewrap", reqs)
}

type batchItem struct {
	Plaintext      string `json:"plaintext,omitempty"`
	Ciphertext     string `json:"ciphertext,omitempty"`
	AssociatedData string `json:"associated_data,omitempty"`
	Context        string `json:"context,omitempty"`
	Reference      string `json:"reference"`
}

// batch runs one Transit operation over reqs, with retries, and maps each
// result back to its request by position (and checks the echoed reference).
func (k *KEK) batch(ctx context.Context, op string, reqs []kms.Request) ([]kms.Result, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	out := make([]kms.Result, len(reqs))
	items := make([]batchItem, 0, len(reqs))
	at := make([]int, 0, len(reqs)) // items[j] answers reqs[at[j]]
	for i, r := range reqs {
		var item batchItem
		switch {
		case k.derived && len(r.AssociatedData) == 0 && op == "encrypt":
			// Wrapping without a derivation context is a caller's mistake.
			return nil, k.fail(op, kms.Classify(kms.ErrRefused, errors.New("a derived Transit key needs associated data (its derivation context)")))
		case k.derived && len(r.AssociatedData) == 0:
			// Nothing a derived key wrapped opens without its context.
			out[i].Err = k.fail(op, kms.ErrAuthentication)
			continue
		case k.derived:
			item.Context = base64.StdEncoding.EncodeToString(r.AssociatedData)
		case len(r.AssociatedData) > 0:
			item.AssociatedData = base64.StdEncoding.EncodeToString(r.AssociatedData)
		}
		if op == "encrypt" {
			item.Plaintext = base64.StdEncoding.EncodeToString(r.Data)
		} else {
			item.Ciphertext = string(r.Data)
		}
		item.Reference = strconv.Itoa(len(items))
		items = append(items, item)
		at = append(at, i)
	}
	if len(items) == 0 {
		return out, nil
	}
	var secret *api.Secret
	err := k.retry.Do(ctx, func(ctx context.Context) error {
		var err error
		body := map[string]any{"batch_input": items}
		if op != "rewrap" {
			// Report per-item failures in a 200 response rather than a
			// 400 for the whole batch, so good items still come back
			// (rewrap always answers that way).
			body["partial_failure_response_code"] = http.StatusOK
		}
		secret, err = k.call(ctx, op, body)
		return err
	})
	if err != nil {
		return nil, k.fail(op, err)
	}
	raw, _ := secret.Data["batch_results"].([]any)
	if len(raw) != len(items) {
		return nil, k.fail(op, kms.Classify(kms.ErrUnavailable, fmt.Errorf("Vault returned %d results for %d requests", len(raw), len(items))))
	}
	for j, r := range raw {
		i := at[j]
		item, _ := r.(map[string]any)
		if ref, _ := item["reference"].(string); ref != strconv.Itoa(j) {
			return nil, k.fail(op, kms.Classify(kms.ErrUnavailable, errors.New("Vault returned batch results out of order")))
		}
		if msg, _ := item["error"].(string); msg != "" {
			out[i].Err = k.fail(op, classifyMessage(msg))
			continue
		}
		switch op {
		case "decrypt":
			pt, err := base64.StdEncoding.DecodeString(fmt.Sprint(item["plaintext"]))
			if err != nil {
				out[i].Err = k.fail(op, kms.Classify(kms.ErrUnavailable, errors.New("Vault returned a plaintext that is not base64")))
				continue
			}
			out[i].Data = pt
		default:
			ct, _ := item["ciphertext"].(string)
			if _, ok := KeyVersion([]byte(ct)); !ok {
				out[i].Err = k.fail(op, kms.Classify(kms.ErrUnavailable, errors.New("Vault returned no ciphertext")))
				continue
			}
			out[i].Data = []byte(ct)
		}
	}
	return out, nil
}

// call makes one request to Transit. It uses the raw client so that a
// Retry-After header can be honoured.
func (k *KEK) call(ctx context.Context, op string, body map[string]any) (*api.Secret, error) {
	req, node := k.request(http.MethodPost, "/v1/"+k.mount+"/"+op+"/"+k.key)
	if err := req.SetJSONBody(body); err != nil {
		return nil, kms.Classify(kms.ErrRefused, err)
	}
	resp, err := k.client.RawRequestWithContext(ctx, req)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		// When every item of a batch fails, Transit answers 400 with the
		// per-item errors in the body: report those, item by item.
		if resp != nil && resp.StatusCode == http.StatusBadRequest {
			if secret, perr := api.ParseSecret(resp.Body); perr == nil && secret != nil && secret.Data["batch_results"] != nil {
				return secret, nil
			}
		}
		err = classify(ctx, resp, err)
		k.failover(node, err)
		return nil, err
	}
	secret, err := api.ParseSecret(resp.Body)
	if err != nil || secret == nil {
		err = unreadable(ctx, err)
		k.failover(node, err)
		return nil, err
	}
	return secret, nil
}

// unreadable classifies a response whose body could not be read or parsed:
// Vault, or the connection, may have stalled midway until a deadline.
func unreadable(ctx context.Context, err error) error {
	if err == nil {
		err = errors.New("empty body")
	}
	return classify(ctx, nil, fmt.Errorf("unreadable response from Vault: %w", err))
}

// retryAfter is an unavailable error carrying Vault's Retry-After.
type retryAfter struct {
	error
	after time.Duration
}

func (e retryAfter) RetryAfter() time.Duration { return e.after }
func (e retryAfter) Unwrap() error             { return e.error }

// maxRetryAfter bounds the Retry-After header as read, so that no header
// overflows a time.Duration; kms.RetryPolicy caps the wait itself.
const maxRetryAfter = time.Hour

// classify maps a failed request to a kms error class. The caller's context
// comes first: once it has ended, the error wraps kms.ErrUnavailable and
// ctx.Err(), whatever the request itself failed with. A deadline that is
// not the caller's (the Vault client's own timeout, api.Config.Timeout) is
// reported with kms.Timeout, which is retryable.
func classify(ctx context.Context, resp *api.Response, err error) error {
	if ctx.Err() != nil {
		return kms.Classify(kms.ErrUnavailable, ctx.Err())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return kms.Timeout(fmt.Errorf("no answer from Vault within the client's timeout: %w", err))
	}
	var re *api.ResponseError
	if !errors.As(err, &re) {
		// No HTTP answer: connection refused, reset, timeout.
		return kms.Classify(kms.ErrUnavailable, err)
	}
	msg := strings.Join(re.Errors, "; ")
	switch {
	case re.StatusCode == http.StatusTooManyRequests || re.StatusCode >= 500:
		e := kms.Classify(kms.ErrUnavailable, fmt.Errorf("Vault answered %d: %s", re.StatusCode, msg))
		if resp != nil {
			if secs, err := strconv.ParseInt(resp.Header.Get("Retry-After"), 10, 64); err == nil && secs > 0 {
				return retryAfter{e, time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second}
			}
		}
		return e
	case re.StatusCode == http.StatusForbidden:
		return kms.Classify(kms.ErrRefused, fmt.Errorf("Vault answered 403 (permission denied; is the token valid and allowed on this key?): %s", msg))
	}
	return classifyMessage(fmt.Sprintf("Vault answered %d: %s", re.StatusCode, msg))
}

// classifyMessage classifies an error Vault reported for one item.
func classifyMessage(msg string) error {
	if strings.Contains(msg, "message authentication failed") {
		return kms.ErrAuthentication
	}
	return kms.Classify(kms.ErrRefused, errors.New(msg))
}

func (k *KEK) fail(op string, err error) error {
	return &kms.Error{Op: op, Backend: "vault", KeyID: k.id, Err: err}
}

// String never reveals the token.
func (k *KEK) String() string { return "vault.KEK(" + k.id + ")" }

// GoString never reveals the token.
func (k *KEK) GoString() string { return k.String() }

// LatestVersion reads the newest version of the Transit key.
func (k *KEK) LatestVersion(ctx context.Context) (int, error) {
	var latest int
	err := k.retry.Do(ctx, func(ctx context.Context) error {
		req, node := k.request(http.MethodGet, "/v1/"+k.mount+"/keys/"+k.key)
		resp, err := k.client.RawRequestWithContext(ctx, req)
		if resp != nil {
			defer resp.Body.Close()
		}
		if err != nil {
			err = classify(ctx, resp, err)
			k.failover(node, err)
			return err
		}
		secret, err := api.ParseSecret(resp.Body)
		if err != nil || secret == nil {
			err = unreadable(ctx, err)
			k.failover(node, err)
			return err
		}
		n, err := strconv.Atoi(fmt.Sprint(secret.Data["latest_version"]))
		if err != nil {
			return kms.Classify(kms.ErrRefused, errors.New("Vault did not report the key's latest version"))
		}
		latest = n
		return nil
	})
	if err != nil {
		return 0, k.fail("read key", err)
	}
	return latest, nil
}
