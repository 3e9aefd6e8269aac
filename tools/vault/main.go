// Command vault is the HashiCorp Vault server, built from the Go module
// proxy so that fieldcrypt's tests can run a real Vault (dev mode, on a
// loopback port) without a prebuilt download. This is a separate Go module:
// the library does not depend on it.
//
// It is Vault's own main, which is three lines that call command.Run.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
