package pii

import (
	"reflect"
	"slices"
	"testing"
)

// TestDataMapPurposesMasksVault: the data map says which purposes a field
// is opened for, what mask the others see, how a token uses the vault, and
// that a global vault=always token without survive does not outlive
// Forget.
func TestDataMapPurposesMasksVault(t *testing.T) {
	type billingRecord struct {
		ID     string `pii:"subject"`
		Name   string `pii:"encrypt"`
		Card   string `pii:"encrypt,purpose=billing,mask=last4"`
		PIN    string `pii:"token,format=digits,vault"`
		Team   string `pii:"token,format=text,vault=always,convergent,scope=global"`
		Shared string `pii:"token,format=text,vault=always,convergent,scope=global,survive"`
	}
	dm, err := DataMapOf(reflect.TypeFor[billingRecord]())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]DataMapField{}
	for _, typ := range dm.Types {
		for _, f := range typ.Fields {
			got[f.Path] = f
		}
	}
	check := func(path string, want func(DataMapField) bool) {
		t.Helper()
		f, ok := got[path]
		if !ok || !want(f) {
			t.Errorf("%s: %+v", path, f)
		}
	}
	check("billingRecord.Name", func(f DataMapField) bool { return f.Purposes != nil && len(f.Purposes) == 0 && f.Mask == "" })
	check("billingRecord.Card", func(f DataMapField) bool { return slices.Equal(f.Purposes, []string{"billing"}) && f.Mask == "last4" })
	check("billingRecord.PIN", func(f DataMapField) bool { return f.Vault == "small" && !f.SurvivesForget })
	check("billingRecord.Team", func(f DataMapField) bool { return f.Vault == "always" && !f.SurvivesForget })
	check("billingRecord.Shared", func(f DataMapField) bool { return f.Vault == "always" && f.SurvivesForget })
}
