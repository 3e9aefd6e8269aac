package piivet_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/fieldcrypt/fieldcrypt/tools/piivet"
)

func TestLogs(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), piivet.Analyzer, "logs")
}
