package vault

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/vault/api"
)

// startLogin logs in with method, then keeps the token alive in the
// background: a LifetimeWatcher renews it while Vault allows, and when it
// can no longer be renewed (max TTL reached, token revoked) the KEK logs in
// again, retrying with backoff until Close.
func (k *KEK) startLogin(ctx context.Context, method api.AuthMethod) error {
	secret, err := k.client.Auth().Login(ctx, method)
	if err != nil {
		return fmt.Errorf("vault: login: %w", classify(ctx, nil, err))
	}
	bg, cancel := context.WithCancel(context.Background())
	k.stop = cancel
	k.stopped.Add(1)
	go func() {
		defer k.stopped.Done()
		k.keepAlive(bg, method, secret)
	}()
	return nil
}

func (k *KEK) keepAlive(ctx context.Context, method api.AuthMethod, secret *api.Secret) {
	backoff := time.Second
	for {
		if secret != nil && secret.Auth != nil && secret.Auth.Renewable {
			w, err := k.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: secret})
			if err == nil {
				go w.Start()
				select {
				case <-ctx.Done():
					w.Stop()
					return
				case <-w.DoneCh():
					// Renewal ended: log in again below.
				}
				w.Stop()
			}
		} else {
			// Not renewable: log in again shortly before it expires.
			ttl := time.Minute
			if secret != nil && secret.Auth != nil && secret.Auth.LeaseDuration > 0 {
				ttl = time.Duration(secret.Auth.LeaseDuration) * time.Second * 4 / 5
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(ttl):
			}
		}
		for {
			var err error
			secret, err = k.client.Auth().Login(ctx, method)
			if err == nil {
				backoff = time.Second
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
		}
	}
}
