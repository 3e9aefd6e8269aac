package piivet_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/fieldcrypt/fieldcrypt/tools/piivet"
)

func TestLogs(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), piivet.Analyzer, "logs")
}

func TestDatabase(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), piivet.Analyzer, "db")
}

func TestFlags(t *testing.T) {
	for name, value := range map[string]string{"slogredacted": "true", "seal": "store.Repo.Protect"} {
		if err := piivet.Analyzer.Flags.Set(name, value); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		piivet.Analyzer.Flags.Set("slogredacted", "false")
		piivet.Analyzer.Flags.Set("seal", "")
	}()
	analysistest.Run(t, analysistest.TestData(), piivet.Analyzer, "flags")
}
