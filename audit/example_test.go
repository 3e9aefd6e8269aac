package audit_test

import (
	"bytes"
	"fmt"
	"iter"
	"time"

	"github.com/fieldcrypt/fieldcrypt/audit"
)

// A chain of three events verifies; after one stored row is edited,
// Verify names the row.
func ExampleVerify() {
	key := bytes.Repeat([]byte{1}, 32) // in fieldcrypt, derived from the global keys
	chain, _ := audit.NewChain(key, audit.Head{})
	var rows []audit.Row
	for i, actor := range []string{"billing-job", "agent-7", "agent-9"} {
		r, _ := chain.Next(audit.Event{
			Time: time.Date(2026, 11, 29, 12, i, 0, 0, time.UTC), Op: audit.OpOpen, Type: "customer",
			Subject: "s.4Yc…", Actor: actor, Purpose: "support", Outcome: "ok",
		})
		rows = append(rows, r)
	}
	all := func(rows []audit.Row) iter.Seq2[audit.Row, error] {
		return func(yield func(audit.Row, error) bool) {
			for _, r := range rows {
				if !yield(r, nil) {
					return
				}
			}
		}
	}
	head, err := audit.Verify(key, all(rows))
	fmt.Println(head.Seq, err)

	rows[1].Events = bytes.Replace(rows[1].Events, []byte("agent-7"), []byte("agent-8"), 1)
	_, err = audit.Verify(key, all(rows))
	fmt.Println(err)
	// Output:
	// 3 <nil>
	// audit: chain broken at row 2 (events 2-2): row edited (MAC does not match its contents)
}
