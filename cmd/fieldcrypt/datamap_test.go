package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testdata/datamap.json is pii's golden data map of its test model
// (pii/testdata/datamap/v1.json), as an application would write it.
func TestDataMapCommand(t *testing.T) {
	out, errOut := fieldcrypt(t, "datamap", "show", "--from", "testdata/datamap.json", "--markdown")
	for _, want := range []string{"# Data map", "| `DMCustomerV1.Email` | `string` | encrypt |", "of DMCustomerV1.Email (trim+fold); 16 bits; key: global", "**Retention:** none declared"} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "WARNING DMCustomerV1.Phone") || !strings.Contains(errOut, "WARNING DMCustomerV1.ClientIP") {
		t.Errorf("warnings on stderr: %s", errOut)
	}
	js, err := os.ReadFile("testdata/datamap.json")
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := fieldcryptExit(t, string(js), "datamap", "show", "--from", "-")
	if code != 0 || out != string(js) {
		t.Errorf("JSON from stdin: exit %d, output differs from input:\n%s", code, out)
	}
	if code, _, errOut := fieldcryptExit(t, "", "datamap", "show", "--from", "testdata/datamap.json", "--strict"); code != 1 || !strings.Contains(errOut, "2 warning(s)") {
		t.Errorf("--strict with warnings: exit %d, %s", code, errOut)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"version":9}`), 0o600)
	if code, _, errOut := fieldcryptExit(t, "", "datamap", "show", "--from", bad); code != 1 || !strings.Contains(errOut, "invalid data map") {
		t.Errorf("bad version: exit %d, %s", code, errOut)
	}
	for _, args := range [][]string{{"datamap", "show"}, {"datamap", "show", "--from", "x", "extra"}} {
		if code, _, _ := fieldcryptExit(t, "", args...); code != exitUsage {
			t.Errorf("%v: exit %d", args, code)
		}
	}
	if code, _, errOut := fieldcryptExit(t, "", "datamap", "show", "-h"); code != exitUsage || !strings.Contains(errOut, "pii.WriteDataMap") {
		t.Errorf("-h: exit %d, %s", code, errOut)
	}
}
