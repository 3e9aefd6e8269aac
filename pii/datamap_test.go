package pii_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fieldcrypt/fieldcrypt/keystore/memory"
	"github.com/fieldcrypt/fieldcrypt/kms/local"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// The model of the data map tests, in two versions: V2 is V1 after a
// change (a new field, a protection changed, a warning fixed).

type DMAddress struct {
	Street   string `pii:"encrypt"`
	Postcode string `pii:"encrypt,deterministic,bind=record"`
	Country  string
}

type DMAudit struct {
	CreatedBy string `pii:"encrypt"`
	FileName  string // not personal: "name" after "file"
}

type DMCustomerV1 struct {
	_        struct{} `pii:"scope=dm_customer"`
	ID       string   `pii:"subject"`
	Order    string   `pii:"record"`
	Email    string   `pii:"encrypt,bind=subject"`
	EmailIdx string   `pii:"index=Email,transform=trim+fold,bits=16"`
	SSN      string   `pii:"token,format=ssn"`
	Card     string   `pii:"token,format=pan,scope=global"`
	CardMAC  string   `pii:"tokenmac=Card"`
	Born     pii.Sealed[time.Time]
	Home     DMAddress
	Phones   []string          `pii:"encrypt,bindindex"`
	Notes    map[string]string `pii:"encrypt"`
	Phone    string            `json:"phone_number"` // WARNING
	ClientIP string            // WARNING
	Internal string            `pii:"-" json:"email"` // looked at: not flagged
	Plan     string            // not personal
	*DMAudit
}

type DMCustomerV2 struct {
	_        struct{} `pii:"scope=dm_customer"`
	ID       string   `pii:"subject"`
	Order    string   `pii:"record"`
	Email    string   `pii:"encrypt,bind=subject"`
	EmailIdx string   `pii:"index=Email,transform=trim+fold,bits=16"`
	SSN      string   `pii:"token,format=ssn"`
	Card     string   `pii:"token,format=pan,scope=global"`
	CardMAC  string   `pii:"tokenmac=Card"`
	Born     pii.Sealed[time.Time]
	Home     DMAddress
	Work     *DMAddress        // new
	Phones   []string          `pii:"encrypt,bindindex"`
	Notes    map[string]string `pii:"encrypt"`
	Phone    string            `json:"phone_number" pii:"encrypt"` // fixed
	PhoneIdx []byte            `pii:"index=Phone+Email,transform=digits|fold,bits=24,scope=subject,slow=m64+t1+p1"`
	ClientIP string            // WARNING
	Internal string            `pii:"-" json:"email"`
	Plan     string
	*DMAudit
}

// TestDataMapGolden checks the JSON and Markdown data maps of both
// versions of the model against testdata/datamap, and that the model
// change changed both.
func TestDataMapGolden(t *testing.T) {
	var prevJSON, prevMD string
	for _, v := range []struct {
		name string
		typ  reflect.Type
	}{{"v1", reflect.TypeFor[DMCustomerV1]()}, {"v2", reflect.TypeFor[*DMCustomerV2]()}} {
		m, err := pii.DataMapOf(v.typ)
		if err != nil {
			t.Fatal(err)
		}
		var js bytes.Buffer
		if err := m.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		md := m.Markdown()
		golden(t, v.name+".json", js.String())
		golden(t, v.name+".md", md)
		if js.String() == prevJSON || md == prevMD {
			t.Errorf("%s: the model changed, the data map did not", v.name)
		}
		prevJSON, prevMD = js.String(), md
		// What the CLI reads back is what was written.
		back, err := pii.ReadDataMap(&js)
		if err != nil || !reflect.DeepEqual(back, m) {
			t.Errorf("%s: ReadDataMap = %+v, %v", v.name, back, err)
		}
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "datamap", name)
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run go test -run TestDataMapGolden -update to accept):\n%s", name, got)
	}
}

func TestDataMapContents(t *testing.T) {
	m, err := pii.DataMapOf(reflect.TypeFor[DMCustomerV1]())
	if err != nil {
		t.Fatal(err)
	}
	dt := m.Types[0]
	byPath := map[string]pii.DataMapField{}
	for _, f := range dt.Fields {
		byPath[f.Path] = f
		if f.Purposes == nil {
			t.Errorf("%s: purposes is null, want []", f.Path)
		}
	}
	check := func(path, protection string) pii.DataMapField {
		t.Helper()
		f, ok := byPath[path]
		if !ok || f.Protection != protection {
			t.Errorf("%s: %+v, want protection %s", path, f, protection)
		}
		return f
	}
	check("DMCustomerV1.ID", pii.ProtectSubject)
	check("DMCustomerV1.Order", pii.ProtectRecord)
	if f := check("DMCustomerV1.Email", pii.ProtectEncrypt); !slices.Equal(f.BoundTo, []string{"subject", "scope", "name"}) || f.Scope != "dm_customer" {
		t.Errorf("Email (bind=subject): %+v", f)
	}
	if f := check("DMCustomerV1.Card", pii.ProtectToken); f.Token.Scope != "global" || !f.SurvivesForget || f.TokenMAC != "DMCustomerV1.CardMAC" ||
		!slices.Equal(f.BoundTo, []string{"subject", "scope", "name", "record"}) {
		t.Errorf("Card: %+v", f)
	}
	check("DMCustomerV1.CardMAC", pii.ProtectTokenMAC)
	if f := check("DMCustomerV1.SSN", pii.ProtectToken); f.Token.Format != "ssn" || f.SurvivesForget || !slices.Equal(f.BoundTo, []string{"subject", "name"}) {
		t.Errorf("SSN: %+v", f)
	}
	if f := check("DMCustomerV1.EmailIdx", pii.ProtectIndex); f.Index.Bits != 16 || f.Index.Transforms[0] != "trim+fold" || f.Index.Sources[0] != "DMCustomerV1.Email" || !f.SurvivesForget {
		t.Errorf("EmailIdx: %+v", f.Index)
	}
	if f := check("DMCustomerV1.Born", pii.ProtectEncrypt); f.Sealed != "time.Time" {
		t.Errorf("Born: %+v", f)
	}
	check("DMCustomerV1.Home.Street", pii.ProtectEncrypt)
	check("DMCustomerV1.Home.Postcode", pii.ProtectDeterministic)
	if f := check("DMCustomerV1.Phones[]", pii.ProtectEncrypt); !slices.Contains(f.BoundTo, "position") {
		t.Errorf("Phones: %+v", f)
	}
	check("DMCustomerV1.Notes{}", pii.ProtectEncrypt)
	check("DMCustomerV1.CreatedBy", pii.ProtectEncrypt) // promoted from *DMAudit
	if !slices.Equal(dt.SurvivingFields, []string{"DMCustomerV1.Card", "DMCustomerV1.EmailIdx"}) {
		t.Errorf("surviving fields %v", dt.SurvivingFields)
	}
	want, _ := pii.SurvivingFields[DMCustomerV1]()
	if !slices.Equal(dt.SurvivingFields, want) {
		t.Errorf("data map surviving fields %v, SurvivingFields %v", dt.SurvivingFields, want)
	}
	var warned []string
	for _, w := range m.Warnings {
		warned = append(warned, w.Path+"="+w.Word)
		if !strings.HasPrefix(w.Reason, "WARNING ") {
			t.Errorf("reason %q", w.Reason)
		}
	}
	if !slices.Equal(warned, []string{"DMCustomerV1.ClientIP=ip", "DMCustomerV1.Phone=phone"}) {
		t.Errorf("warnings %v", warned)
	}
}

// TestPersonalWords checks the word-boundary matching of names.
func TestPersonalWords(t *testing.T) {
	for name, want := range map[string]bool{
		"Email": true, "billingEmail": true, "EMAIL": true, "email_address": true, "IPAddress": true, "ClientIP": true,
		"DOB": true, "DateOfBirth": true, "SSNLast4": true, "Username": true, "FirstName": true, "Name": true,
		"home-address": true, "iban": true, "CardNumber": true, "PassportNo": true, "Latitude": true,
		"FileName": false, "TypeName": false, "hostname": false, "Discard": false, "Shipping": false,
		"Tip": false, "Planet": false, "Status": false, "Created": false, "Mailbox": false, "Zipper": false,
	} {
		m, err := pii.DataMapOf(reflect.StructOf([]reflect.StructField{
			{Name: "X", Type: reflect.TypeFor[string](), Tag: reflect.StructTag(`json:"` + name + `"`)},
		}))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(m.Warnings) == 1; got != want {
			t.Errorf("%q: warned %v, want %v", name, got, want)
		}
	}
	if !slices.Contains(pii.PersonalWords(), "passport") {
		t.Error("PersonalWords lacks passport")
	}
}

func TestDataMapErrors(t *testing.T) {
	type DMBad struct {
		ID   string `pii:"subject"`
		Name int    `pii:"encrypt"`
	}
	var te *pii.TagError
	if _, err := pii.DataMapOf(reflect.TypeFor[DMBad]()); !errors.As(err, &te) {
		t.Errorf("bad tags: %v, want a TagError", err)
	}
	if _, err := pii.DataMapOf(reflect.TypeFor[int]()); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Errorf("int: %v", err)
	}
	if _, err := pii.DataMapOf(nil); !errors.Is(err, pii.ErrInvalidArgument) {
		t.Errorf("nil: %v", err)
	}
	for _, in := range []string{`{"version":2,"types":[]}`, `not json`, `{"version":1,"retention":"forever"}`, `{"version":1,"types":[{"type":"","fields":[]}]}`} {
		if _, err := pii.ReadDataMap(strings.NewReader(in)); !errors.Is(err, pii.ErrDataMap) {
			t.Errorf("ReadDataMap(%s) = %v", in, err)
		}
	}
}

// TestProtectorDataMapRetention: the Protector's default retention is in
// its data map.
func TestProtectorDataMapRetention(t *testing.T) {
	ctx := context.Background()
	kek, err := local.Open(filepath.Join(t.TempDir(), "kek.json"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := pii.New(ctx, kek, memory.New(), pii.WithRetention(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m, err := p.DataMap(reflect.TypeFor[DMCustomerV1]())
	if err != nil || m.Retention != "8760h0m0s" || !strings.Contains(m.Markdown(), "erased 8760h0m0s after") {
		t.Errorf("retention %q, %v", m.Retention, err)
	}
}
