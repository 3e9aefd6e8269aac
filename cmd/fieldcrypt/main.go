// Command fieldcrypt is the operator's tool for a fieldcrypt key store.
//
//	fieldcrypt keystore migrate          --store STORE
//	fieldcrypt keys status               --store STORE
//	fieldcrypt keys rewrap               --store STORE --kek vault:MOUNT/KEY [--batch N] [--after ID] [--limit N]
//	fieldcrypt keys migrate              --store STORE --from KEK --to KEK [--batch N] [--after ID] [--limit N]
//	fieldcrypt keys expire               --store STORE [--now TIME] [--batch N]
//	fieldcrypt keys receipts             --store STORE [--id RECORD-ID] [--limit N]
//	fieldcrypt keys verify-erased        --store STORE --kek KEK SUBJECT
//	fieldcrypt keys export-tombstones    --store STORE [--out FILE]
//	fieldcrypt keys reapply-tombstones   --store STORE [--from FILE]
//
// STORE is sqlite:PATH or a postgres:// (or postgresql://) URL. KEK is
// local:PATH (a kms/local key file) or vault:MOUNT/KEY (Vault Transit, with
// VAULT_ADDR and VAULT_TOKEN from the environment). Results go to standard output,
// progress and errors to standard error.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type command struct {
	group, name, summary string
	run                  func(ctx context.Context, args []string, out, errOut io.Writer) error
}

var commands = []command{
	{"keystore", "migrate", "create or upgrade the key store's schema", cmdMigrate},
	{"keys", "status", "count subject keys per KEK (and Transit key version), tombstones", cmdStatus},
	{"keys", "rewrap", "rewrap every key to the newest KEK version, inside the KMS", cmdRewrap},
	{"keys", "migrate", "move every key from one KEK to another (unwrap + wrap)", cmdMigrateKEK},
	{"keys", "expire", "erase every subject whose retention has passed", cmdExpire},
	{"keys", "receipts", "list erasure receipts", cmdReceipts},
	{"keys", "verify-erased", "say whether a subject was erased, and when", cmdVerifyErased},
	{"keys", "export-tombstones", "write every tombstone as JSON lines, to keep outside the store's backups", cmdExportTombstones},
	{"keys", "reapply-tombstones", "after restoring a backup: erase again every key that came back", cmdReapplyTombstones},
}

func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	if len(args) >= 2 {
		for _, c := range commands {
			if c.group == args[0] && c.name == args[1] {
				if err := c.run(ctx, args[2:], out, errOut); err != nil {
					fmt.Fprintf(errOut, "fieldcrypt %s %s: %v\n", c.group, c.name, err)
					return 1
				}
				return 0
			}
		}
	}
	usage(errOut)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: fieldcrypt GROUP COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %-20s %s\n", c.group, c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every command takes --store STORE: sqlite:PATH or a postgres:// URL.")
}
