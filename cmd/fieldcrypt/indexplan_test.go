package main

import (
	"strings"
	"testing"
)

func TestIndexPlan(t *testing.T) {
	out, _ := fieldcrypt(t, "index", "plan", "--rows", "100000", "--distinct", "100000")
	for _, want := range []string{"bits: 15 (recommended; within the rule", "sizes within the rule: 9 to 15 bits", "false positives per lookup: 3.05", "What an attacker holding the table learns", "Forget"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	out, _ = fieldcrypt(t, "index", "plan", "--rows", "100000", "--bits", "32", "--other", "8:100", "--slow", "--markdown")
	for _, want := range []string{"### Blind index plan", "bits: 32 (evaluated; OUTSIDE the rule", "Argon2id", "other indexes 7"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
}

func TestIndexPlanUsage(t *testing.T) {
	for _, args := range [][]string{
		{"index", "plan"},
		{"index", "plan", "--rows", "0"},
		{"index", "plan", "--rows", "10", "--distinct", "11"},
		{"index", "plan", "--rows", "10", "--bits", "7"},
		{"index", "plan", "--rows", "10", "--other", "x"},
		{"index", "plan", "--rows", "10", "extra"},
	} {
		code, _, errOut := fieldcryptExit(t, "", args...)
		if code != exitUsage || !strings.Contains(errOut, "fieldcrypt index plan") && !strings.Contains(errOut, "invalid value") {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
}
