// Package gcpkmsfake is a fake Google Cloud KMS for tests: a gRPC server of
// the real KeyManagementService API (Encrypt and Decrypt only) on a
// loopback port, so the real Cloud KMS client can be pointed at it. It
// really encrypts (AES-256-GCM, authenticating the additional authenticated
// data), checks and returns CRC32C checksums as Cloud KMS does, and can be
// told to fail with UNAVAILABLE.
package gcpkmsfake

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"hash/crc32"
	"net"
	"sync"
	"sync/atomic"

	kmspb "cloud.google.com/go/kms/apiv1/kmspb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Fake is a Cloud KMS with one CryptoKey.
type Fake struct {
	kmspb.UnimplementedKeyManagementServiceServer
	KeyName string
	aead    cipher.AEAD

	mu          sync.Mutex
	unavailable int

	Requests atomic.Int64
}

// Start serves a fake with one fresh key named keyName on 127.0.0.1 and
// returns it and its address; stop shuts it down.
func Start(keyName string) (f *Fake, addr string, stop func(), err error) {
	key := make([]byte, 32)
	rand.Read(key)
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	f = &Fake{KeyName: keyName, aead: aead}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	srv := grpc.NewServer()
	kmspb.RegisterKeyManagementServiceServer(srv, f)
	go srv.Serve(ln)
	return f, ln.Addr().String(), srv.Stop, nil
}

// FailUnavailable makes the next n requests fail with UNAVAILABLE.
func (f *Fake) FailUnavailable(n int) { f.mu.Lock(); f.unavailable = n; f.mu.Unlock() }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) int64 { return int64(crc32.Checksum(b, castagnoli)) }

func (f *Fake) enter(name string) error {
	f.Requests.Add(1)
	f.mu.Lock()
	down := f.unavailable > 0
	if down {
		f.unavailable--
	}
	f.mu.Unlock()
	if down {
		return status.Error(codes.Unavailable, "service unavailable")
	}
	if name != f.KeyName {
		return status.Errorf(codes.NotFound, "CryptoKey %s not found", name)
	}
	return nil
}

// Encrypt implements the Cloud KMS API.
func (f *Fake) Encrypt(_ context.Context, req *kmspb.EncryptRequest) (*kmspb.EncryptResponse, error) {
	if err := f.enter(req.GetName()); err != nil {
		return nil, err
	}
	if c := req.GetPlaintextCrc32C(); c != nil && c.GetValue() != crc(req.GetPlaintext()) {
		return nil, status.Error(codes.InvalidArgument, "plaintext_crc32c mismatch")
	}
	if c := req.GetAdditionalAuthenticatedDataCrc32C(); c != nil && c.GetValue() != crc(req.GetAdditionalAuthenticatedData()) {
		return nil, status.Error(codes.InvalidArgument, "additional_authenticated_data_crc32c mismatch")
	}
	nonce := make([]byte, f.aead.NonceSize())
	rand.Read(nonce)
	ct := f.aead.Seal(nonce, nonce, req.GetPlaintext(), req.GetAdditionalAuthenticatedData())
	return &kmspb.EncryptResponse{
		Name: f.KeyName + "/cryptoKeyVersions/1", Ciphertext: ct, CiphertextCrc32C: wrapperspb.Int64(crc(ct)),
		VerifiedPlaintextCrc32C:                   req.GetPlaintextCrc32C() != nil,
		VerifiedAdditionalAuthenticatedDataCrc32C: req.GetAdditionalAuthenticatedDataCrc32C() != nil,
	}, nil
}

// Decrypt implements the Cloud KMS API.
func (f *Fake) Decrypt(_ context.Context, req *kmspb.DecryptRequest) (*kmspb.DecryptResponse, error) {
	if err := f.enter(req.GetName()); err != nil {
		return nil, err
	}
	if c := req.GetCiphertextCrc32C(); c != nil && c.GetValue() != crc(req.GetCiphertext()) {
		return nil, status.Error(codes.InvalidArgument, "ciphertext_crc32c mismatch")
	}
	ct := req.GetCiphertext()
	n := f.aead.NonceSize()
	if len(ct) < n {
		return nil, status.Error(codes.InvalidArgument, "Decryption failed: the ciphertext is invalid.")
	}
	pt, err := f.aead.Open(nil, ct[:n], ct[n:], req.GetAdditionalAuthenticatedData())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "Decryption failed: the ciphertext is invalid.")
	}
	return &kmspb.DecryptResponse{Plaintext: pt, PlaintextCrc32C: wrapperspb.Int64(crc(pt))}, nil
}
