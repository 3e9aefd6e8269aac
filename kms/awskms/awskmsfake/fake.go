// Package awskmsfake is a fake AWS KMS for tests: an http.Handler that
// speaks KMS's wire protocol (JSON 1.1 over HTTP; the TrentService.Encrypt
// and TrentService.Decrypt targets; errors as {"__type", "message"}), so the
// real AWS SDK client can be pointed at it. It really encrypts (AES-256-GCM,
// authenticating the encryption context) and can be told to throttle or
// fail. It implements only what fieldcrypt uses.
package awskmsfake

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Fake is an AWS KMS with one symmetric key.
type Fake struct {
	KeyARN string
	aead   cipher.AEAD

	mu       sync.Mutex
	throttle int // answer ThrottlingException to this many more requests
	internal int // answer KMSInternalException (HTTP 500) to this many more

	Requests atomic.Int64
}

// New returns a fake holding one fresh key named keyARN.
func New(keyARN string) *Fake {
	key := make([]byte, 32)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	return &Fake{KeyARN: keyARN, aead: aead}
}

// Throttle makes the next n requests fail with ThrottlingException.
func (f *Fake) Throttle(n int) { f.mu.Lock(); f.throttle = n; f.mu.Unlock() }

// FailInternal makes the next n requests fail with KMSInternalException.
func (f *Fake) FailInternal(n int) { f.mu.Lock(); f.internal = n; f.mu.Unlock() }

type request struct {
	KeyId             string
	Plaintext         []byte
	CiphertextBlob    []byte
	EncryptionContext map[string]string
}

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.Requests.Add(1)
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
		fail(w, http.StatusBadRequest, "SerializationException", "not a JSON 1.1 request")
		return
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		fail(w, http.StatusBadRequest, "MissingAuthenticationTokenException", "request is not signed")
		return
	}
	f.mu.Lock()
	throttle, internal := f.throttle > 0, f.internal > 0
	if throttle {
		f.throttle--
	} else if internal {
		f.internal--
	}
	f.mu.Unlock()
	if throttle {
		fail(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
		return
	}
	if internal {
		fail(w, http.StatusInternalServerError, "KMSInternalException", "internal error")
		return
	}
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fail(w, http.StatusBadRequest, "SerializationException", "bad JSON")
		return
	}
	if req.KeyId != f.KeyARN {
		fail(w, http.StatusBadRequest, "NotFoundException", "Key '"+req.KeyId+"' does not exist")
		return
	}
	ad := canonical(req.EncryptionContext)
	switch r.Header.Get("X-Amz-Target") {
	case "TrentService.Encrypt":
		nonce := make([]byte, f.aead.NonceSize())
		rand.Read(nonce)
		blob := f.aead.Seal(nonce, nonce, req.Plaintext, ad)
		reply(w, map[string]any{"CiphertextBlob": blob, "KeyId": f.KeyARN, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
	case "TrentService.Decrypt":
		n := f.aead.NonceSize()
		if len(req.CiphertextBlob) < n {
			fail(w, http.StatusBadRequest, "InvalidCiphertextException", "")
			return
		}
		pt, err := f.aead.Open(nil, req.CiphertextBlob[:n], req.CiphertextBlob[n:], ad)
		if err != nil {
			fail(w, http.StatusBadRequest, "InvalidCiphertextException", "")
			return
		}
		reply(w, map[string]any{"Plaintext": pt, "KeyId": f.KeyARN, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"})
	default:
		fail(w, http.StatusBadRequest, "UnknownOperationException", "")
	}
}

// canonical serializes an encryption context so that equal maps give
// equal bytes.
func canonical(ec map[string]string) []byte {
	keys := make([]string, 0, len(ec))
	for k := range ec {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "\x00" + ec[k] + "\x00")
	}
	return []byte(b.String())
}

func reply(w http.ResponseWriter, body any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(body) // []byte fields encode as base64, as KMS's blobs do
}

func fail(w http.ResponseWriter, status int, kind, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"__type": kind, "message": msg})
}
