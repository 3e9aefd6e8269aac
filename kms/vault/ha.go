package vault

import (
	"fmt"
	"net/url"
	"path"
	"sync"

	"github.com/hashicorp/vault/api"

	"github.com/fieldcrypt/fieldcrypt/kms"
)

// nodes is the list of addresses of Config.Addresses and the one in use.
// A KEK without Addresses has no nodes and uses its client's address.
type nodes struct {
	mu    sync.Mutex
	addrs []*url.URL
	cur   int
}

// parseAddresses checks Config.Addresses: each an http or https URL with a
// host, and no query, fragment or credentials.
func parseAddresses(addrs []string) ([]*url.URL, error) {
	out := make([]*url.URL, 0, len(addrs))
	for i, a := range addrs {
		u, err := url.Parse(a)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("vault: Config.Addresses[%d] must be an http or https URL with a host", i)
		}
		out = append(out, u)
	}
	return out, nil
}

// request builds a request for the address in use and returns its index
// in Config.Addresses (-1 without Addresses).
func (k *KEK) request(method, p string) (*api.Request, int) {
	req := k.client.NewRequest(method, p)
	if len(k.nodes.addrs) == 0 {
		return req, -1
	}
	k.nodes.mu.Lock()
	i := k.nodes.cur
	k.nodes.mu.Unlock()
	u := k.nodes.addrs[i]
	req.URL.Scheme, req.URL.Host, req.URL.Path = u.Scheme, u.Host, path.Join("/", u.Path, p)
	req.Host = u.Host
	return req, i
}

// failover moves to the next address after a retryable failure (no
// answer, 5xx, 429, the client's timeout) of a request sent to address i,
// unless another request has moved on already. The client's own address
// follows, so that logging in and renewing the token (Config.Login) go to
// the same node.
func (k *KEK) failover(i int, err error) {
	if i < 0 || len(k.nodes.addrs) < 2 || !kms.Retryable(err) {
		return
	}
	k.nodes.mu.Lock()
	defer k.nodes.mu.Unlock()
	if k.nodes.cur != i {
		return
	}
	k.nodes.cur = (i + 1) % len(k.nodes.addrs)
	k.client.SetAddress(k.nodes.addrs[k.nodes.cur].String())
}

// Address returns the address requests go to now: with Config.Addresses,
// the one that last answered (or the first); otherwise the client's.
func (k *KEK) Address() string {
	if len(k.nodes.addrs) == 0 {
		return k.client.Address()
	}
	k.nodes.mu.Lock()
	defer k.nodes.mu.Unlock()
	return k.nodes.addrs[k.nodes.cur].String()
}
