// Command piivet reports personal data tagged for fieldcrypt reaching fmt,
// log, log/slog or encoding/json in the clear, or database/sql without
// Seal. See package github.com/fieldcrypt/fieldcrypt/tools/piivet.
//
//	go vet -vettool=$(which piivet) ./...
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/fieldcrypt/fieldcrypt/tools/piivet"
)

func main() { singlechecker.Main(piivet.Analyzer) }
