package vault

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/fieldcrypt/fieldcrypt/kms"
)

// TestReviewL10VaultRetryAfterHeaderCapped (finding L10): Vault's
// Retry-After header is read with a cap, so no header can overflow the
// duration or ask for more than an hour (kms.RetryPolicy caps the actual
// wait far lower).
func TestReviewL10VaultRetryAfterHeaderCapped(t *testing.T) {
	for header, want := range map[string]time.Duration{
		"1":                   time.Second,
		"86400":               time.Hour,
		"9223372036854775807": time.Hour,
		"99999999999":         time.Hour,
	} {
		resp := &api.Response{Response: &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {header}}}}
		err := classify(context.Background(), resp, &api.ResponseError{StatusCode: http.StatusTooManyRequests, Errors: []string{"rate limited"}})
		var ra kms.RetryAfterError
		if !errors.As(err, &ra) || ra.RetryAfter() != want || !errors.Is(err, kms.ErrUnavailable) {
			t.Errorf("Retry-After: %s: %v, hint %v; want %v", header, err, ra, want)
		}
	}
}
