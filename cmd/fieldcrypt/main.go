// Command fieldcrypt is the operator's tool for a fieldcrypt key store.
//
//	fieldcrypt keystore migrate          --store STORE
//	fieldcrypt keys status               --store STORE
//	fieldcrypt keys rewrap               --store STORE --kek vault:MOUNT/KEY [--batch N] [--after ID] [--limit N]
//	fieldcrypt keys migrate              --store STORE --from KEK --to KEK [--batch N] [--after ID] [--limit N]
//	fieldcrypt keys expire               --store STORE [--now TIME] [--batch N]
//	fieldcrypt keys receipts             --store STORE [--id RECORD-ID] [--limit N]
//	fieldcrypt keys verify-erased        --store STORE --kek KEK (SUBJECT | -)
//	fieldcrypt keys export-tombstones    --store STORE --kek KEK [--out FILE]
//	fieldcrypt keys reapply-tombstones   --store STORE --kek KEK [--from FILE] [--dry-run] [--yes] [--unauthenticated]
//	fieldcrypt keys vacuum               --store STORE
//	fieldcrypt keys readdress            --store STORE --kek KEK [--rotate] [--dry-run] [--batch N]
//	fieldcrypt keys forget               --store STORE --kek KEK --ticket T --by WHO [--received TIME] [--deadline 30d] (SUBJECT | -)
//	fieldcrypt keys hold                 --store STORE --kek KEK --reference REF --by WHO (SUBJECT | -)
//	fieldcrypt keys release              --store STORE --kek KEK --reference REF --by WHO (SUBJECT | -)
//	fieldcrypt keys requests             --store STORE [--late [--deadline 30d] [--now TIME]]
//	fieldcrypt consent grant|withdraw    --store STORE --kek KEK --purpose P --actor WHO (SUBJECT | -)
//	fieldcrypt consent show|history      --store STORE --kek KEK (SUBJECT | -)
//	fieldcrypt keys rotate-subject       --store STORE --kek KEK (SUBJECT | -)
//	fieldcrypt keys rotate-token-key     --store STORE --kek KEK [--yes]
//	fieldcrypt index plan                --rows N [--distinct D] [--bits B] [--other BITS[:DISTINCT]]... [--slow] [--markdown]
//	fieldcrypt index rotate-key          --store STORE --kek KEK [--activation-delay D]
//	fieldcrypt index status              --store STORE --kek KEK
//	fieldcrypt audit verify              --store STORE --kek KEK [--anchor SEQ:HEXMAC]...
//	fieldcrypt audit head                --store STORE --kek KEK
//	fieldcrypt datamap show              --from FILE.json|- [--markdown] [--strict]
//
// STORE is sqlite:PATH or a postgres:// (or postgresql://) URL; --store
// defaults to $FIELDCRYPT_STORE, so that a database password need not be on
// the command line (where ps and the shell history see it). KEK is
// local:PATH (a kms/local key file), vault:MOUNT/KEY (Vault Transit, with
// VAULT_ADDR and VAULT_TOKEN from the environment), awskms:ARN (AWS's
// standard environment; AWS_ENDPOINT_URL_KMS is honoured) or
// gcpkms:projects/P/locations/L/keyRings/R/cryptoKeys/K (application
// default credentials; FIELDCRYPT_GCPKMS_ENDPOINT, plaintext gRPC to a
// loopback emulator only, for tests); --kek defaults to
// $FIELDCRYPT_KEK. Results go to standard output, progress and errors to
// standard error. Errors never show a password of the store.
//
// Only keystore migrate creates a store: every other command refuses a store
// that does not exist (a mistyped path or URL) instead of creating an empty
// one, and the commands that open keys (verify-erased, export-tombstones,
// reapply-tombstones) never create the global keys.
//
// keys forget records an erasure request (ticket, who, when received, its
// deadline) and carries it out, printing the request and the erasure
// receipt; a subject under legal hold (keys hold) is refused with exit
// status 3 and nothing erased, and the request is recorded as held (run
// keys forget again with the same --ticket after keys release). keys
// requests lists the requests; --late lists those completed after their
// deadline or still open past it. Subjects given as - are read from
// standard input, and no command prints a subject identifier: subjects
// appear as their record ID (subject_hash) only.
//
// After restoring a backup of the key store, run reapply-tombstones with the
// file that export-tombstones wrote: it checks the file's MACs, refuses IDs
// that are not subject keys, keeps subjects readmitted since their erasure,
// and erases only with --yes (see --dry-run).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/fieldcrypt/fieldcrypt/pii"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// stdio is a command's standard input, output and error.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

type command struct {
	group, name, summary string
	run                  func(ctx context.Context, args []string, std stdio) error
}

var commands = []command{
	{"keystore", "migrate", "create or upgrade the key store's schema", cmdMigrate},
	{"keys", "status", "count subject keys per KEK (and Transit key version), tombstones", cmdStatus},
	{"keys", "rewrap", "rewrap every key to the newest KEK version, inside the KMS", cmdRewrap},
	{"keys", "migrate", "move every key from one KEK to another (unwrap + wrap)", cmdMigrateKEK},
	{"keys", "expire", "erase every subject whose retention has passed", cmdExpire},
	{"keys", "receipts", "list erasure receipts", cmdReceipts},
	{"keys", "verify-erased", "say whether a subject was erased, and when (subject from argv, or - for stdin)", cmdVerifyErased},
	{"keys", "export-tombstones", "write every tombstone as authenticated JSON lines, to keep outside the store's backups", cmdExportTombstones},
	{"keys", "reapply-tombstones", "after restoring a backup: erase again every key that came back (--dry-run, --yes)", cmdReapplyTombstones},
	{"keys", "vacuum", "PostgreSQL: remove erased keys' dead rows from the table files (VACUUM)", cmdVacuum},
	{"keys", "readdress", "after a leak of the addressing key: --rotate, then move every record to its new address (resumable, --dry-run)", cmdReaddress},
	{"keys", "rotate-subject", "after a leak of one subject's keys: a new encryption key for Seal (then re-seal with pii.Backfill)", cmdRotateSubject},
	{"keys", "rotate-token-key", "after a leak of the global token key: a new one (--yes; then re-tokenize scope=global tokens)", cmdRotateTokenKey},
	{"keys", "forget", "erase a subject for a request (--ticket, --by); refuses a subject under legal hold (exit 3)", cmdForget},
	{"keys", "hold", "place a legal hold on a subject (--reference, --by): no erasure, no expiry until released", cmdHold},
	{"keys", "release", "lift a legal hold (--reference, --by)", cmdRelease},
	{"keys", "requests", "list erasure requests; --late: completed after their deadline or still open past it", cmdRequests},
	{"consent", "grant", "record a subject's consent to a purpose (--purpose, --actor)", cmdConsentGrant},
	{"consent", "withdraw", "record the withdrawal of a subject's consent (--purpose, --actor)", cmdConsentWithdraw},
	{"consent", "show", "list the purposes a subject consents to now", cmdConsentShow},
	{"consent", "history", "list every grant and withdrawal recorded for a subject", cmdConsentHistory},
	{"audit", "verify", "check the tamper-evident audit trail: an edited, deleted or reordered row fails with its row number (--anchor SEQ:HEXMAC)", cmdAuditVerify},
	{"audit", "head", "verify the audit trail and print its head (SEQ:HEXMAC), to keep outside the database for audit verify --anchor", cmdAuditHead},
	{"datamap", "show", "render the data map an application wrote (pii.WriteDataMap) as JSON or --markdown; warnings to stderr (--strict)", cmdDataMap},
	{"index", "rotate-key", "after a leak of the global index key: a new version, written after --activation-delay", cmdIndexRotateKey},
	{"index", "status", "list the global index key's versions and which one Seal writes", cmdIndexStatus},
	{"index", "plan", "recommend blind-index bits for N rows and D distinct values, and say what the index leaks (no store)", cmdIndexPlan},
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed
	exitUsage = 2 // unknown command or bad flags
	// exitHeld (3): keys forget refused a subject under legal hold.
)

// usageError is a mistake in the command line: bad flags or arguments.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

func run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	if len(args) >= 2 {
		for _, c := range commands {
			if c.group == args[0] && c.name == args[1] {
				err := c.run(ctx, args[2:], stdio{in, out, errOut})
				if err == nil {
					return exitOK
				}
				if errors.Is(err, flag.ErrHelp) {
					return exitUsage // the flag package printed the command's flags
				}
				// Whatever an error wraps, it is printed without the
				// passwords of the stores named on the command line or
				// in the environment.
				fmt.Fprintf(errOut, "fieldcrypt %s %s: %s\n", c.group, c.name, scrub(err.Error(), append(args[2:], os.Getenv(envStore))...))
				var u *usageError
				if errors.As(err, &u) {
					return exitUsage
				}
				if errors.Is(err, pii.ErrLegalHold) {
					return exitHeld
				}
				return exitError
			}
		}
	}
	usage(errOut)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: fieldcrypt GROUP COMMAND [flags]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %-20s %s\n", c.group, c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Every command except index plan takes --store STORE: sqlite:PATH or a postgres:// URL, by default")
	fmt.Fprintln(w, "from $FIELDCRYPT_STORE (keep a database password out of argv and shell history).")
	fmt.Fprintln(w, "Only keystore migrate creates a store; every other command refuses a missing one.")
	fmt.Fprintln(w, "Commands that take --kek (local:PATH, vault:MOUNT/KEY, awskms:ARN or gcpkms:projects/...) default to $FIELDCRYPT_KEK.")
	fmt.Fprintln(w, "Run fieldcrypt GROUP COMMAND -h for a command's flags.")
}
