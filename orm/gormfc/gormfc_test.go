package gormfc_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/fieldcrypt/fieldcrypt/orm/gormfc"
	"github.com/fieldcrypt/fieldcrypt/pii"
)

var born = time.Date(1990, 4, 1, 12, 30, 0, 0, time.UTC)

func newCustomer(subject, name, email, code string, salary int64) Customer {
	return Customer{
		Subject: subject,
		Name:    name,
		Email:   pii.SealedString(email),
		Born:    pii.NewSealed(born),
		Salary:  pii.NewSealed(salary),
		Team:    "blue",
		Code:    code,
	}
}

// plaintexts are the values tests write: none may appear in a table.
var plaintexts = []string{"Ada Lovelace", "ada@example.com", "Grace Hopper", "grace@example.com", "Alan Turing", "alan@example.com", "Edsger", "edsger@example.com", "1990-04-01", "123456"}

var termRE = regexp.MustCompile(`^v[0-9]+:[0-9a-f]+$`)

// checkTable reads every row with database/sql and asserts that the
// sealed columns hold ciphertexts (parsed strictly), the index column
// holds terms, and no plaintext appears anywhere. It returns the number of
// rows.
func checkTable(t *testing.T, e *env) int {
	t.Helper()
	rows, err := e.raw.Query(`SELECT subject, name, email, email_idx, born, salary, team, code FROM customers`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var subject, name, email, idx, bornCol, salary, team, code string
		if err := rows.Scan(&subject, &name, &email, &idx, &bornCol, &salary, &team, &code); err != nil {
			t.Fatal(err)
		}
		for col, v := range map[string]string{"name": name, "email": email, "born": bornCol, "salary": salary} {
			var s pii.Sealed[string]
			if err := s.Scan(v); err != nil {
				t.Errorf("column %s holds no ciphertext: %v", col, err)
			}
		}
		if !termRE.MatchString(idx) {
			t.Errorf("email_idx = %q, want a term", idx)
		}
		for _, col := range []string{subject, name, email, idx, bornCol, salary, team, code} {
			for _, p := range plaintexts {
				if strings.Contains(col, p) {
					t.Errorf("plaintext %q in the table", p)
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// checkPlain asserts that c holds its plaintext, as newCustomer made it.
func checkPlain(t *testing.T, c *Customer, name, email string, salary int64) {
	t.Helper()
	if c.Name != name || string(c.Email) != email {
		t.Errorf("caller's value holds %q, %q; want its plaintext", c.Name, c.Email)
	}
	if b, err := c.Born.Get(); err != nil || !b.Equal(born) {
		t.Errorf("Born.Get() = %v, %v", b, err)
	}
	if s, err := c.Salary.Get(); err != nil || s != salary {
		t.Errorf("Salary.Get() = %v, %v", s, err)
	}
	if c.EmailIdx != "" {
		t.Errorf("EmailIdx = %q, want it as before Create (empty)", c.EmailIdx)
	}
}

func TestCreateRead(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		ada := newCustomer("s-ada", "Ada Lovelace", "ada@example.com", "c1", 123456)
		if err := e.db.Create(&ada).Error; err != nil {
			t.Fatal(err)
		}
		if ada.ID == 0 || ada.CreatedAt.IsZero() {
			t.Errorf("GORM's write-back lost: ID %d, CreatedAt %v", ada.ID, ada.CreatedAt)
		}
		checkPlain(t, &ada, "Ada Lovelace", "ada@example.com", 123456)

		batch := []Customer{
			newCustomer("s-grace", "Grace Hopper", "grace@example.com", "c2", 1),
			newCustomer("s-alan", "Alan Turing", "alan@example.com", "c3", 2),
		}
		if err := e.db.Create(&batch).Error; err != nil {
			t.Fatal(err)
		}
		checkPlain(t, &batch[0], "Grace Hopper", "grace@example.com", 1)
		checkPlain(t, &batch[1], "Alan Turing", "alan@example.com", 2)
		if batch[0].ID == 0 || batch[1].ID == 0 {
			t.Error("IDs not written back into the slice")
		}
		ptrs := []*Customer{ptr(newCustomer("s-edsger", "Edsger", "edsger@example.com", "c4", 3))}
		if err := e.db.Create(ptrs).Error; err != nil {
			t.Fatal(err)
		}
		checkPlain(t, ptrs[0], "Edsger", "edsger@example.com", 3)

		if n := checkTable(t, e); n != 4 {
			t.Fatalf("%d rows, want 4", n)
		}

		var got Customer
		if err := e.db.First(&got, ada.ID).Error; err != nil {
			t.Fatal(err)
		}
		checkOpened(t, &got, "Ada Lovelace", "ada@example.com", 123456)
		var all []Customer
		if err := e.db.Order("id").Find(&all).Error; err != nil {
			t.Fatal(err)
		}
		if len(all) != 4 || all[1].Name != "Grace Hopper" || all[3].Email != "edsger@example.com" {
			t.Fatalf("Find: %d rows, %q, %q", len(all), all[1].Name, all[3].Email)
		}
		var pall []*Customer
		if err := e.db.Order("id").Find(&pall).Error; err != nil {
			t.Fatal(err)
		}
		checkOpened(t, pall[2], "Alan Turing", "alan@example.com", 2)

		// Raw reads the row as it is.
		var sealed Customer
		if err := gormfc.Raw(e.db).First(&sealed, ada.ID).Error; err != nil {
			t.Fatal(err)
		}
		if !sealed.Born.IsSealed() || sealed.Name == "Ada Lovelace" {
			t.Error("Raw opened the row")
		}
	})
}

func checkOpened(t *testing.T, c *Customer, name, email string, salary int64) {
	t.Helper()
	if c.Name != name || string(c.Email) != email {
		t.Errorf("opened row holds %q, %q", c.Name, c.Email)
	}
	if b, err := c.Born.Get(); err != nil || !b.Equal(born) {
		t.Errorf("Born.Get() = %v, %v", b, err)
	}
	if s, err := c.Salary.Get(); err != nil || s != salary {
		t.Errorf("Salary.Get() = %v, %v", s, err)
	}
	if !termRE.MatchString(c.EmailIdx) {
		t.Errorf("EmailIdx = %q, want the term read", c.EmailIdx)
	}
}

func ptr[T any](v T) *T { return &v }

func TestUpdate(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		ada := newCustomer("s-ada", "Ada Lovelace", "ada@example.com", "c1", 123456)
		if err := e.db.Create(&ada).Error; err != nil {
			t.Fatal(err)
		}

		// Save: the whole model, sealed; the caller keeps its plaintext.
		ada.Email = "ADA@example.com "
		ada.Salary.Set(654321)
		if err := e.db.Save(&ada).Error; err != nil {
			t.Fatal(err)
		}
		if ada.Email != "ADA@example.com " || ada.Name != "Ada Lovelace" {
			t.Errorf("after Save the caller holds %q, %q", ada.Name, ada.Email)
		}
		checkTable(t, e)
		var got Customer
		if err := e.db.First(&got, ada.ID).Error; err != nil {
			t.Fatal(err)
		}
		checkOpened(t, &got, "Ada Lovelace", "ADA@example.com ", 654321)

		// The index follows the update.
		found, err := gormfc.FindByIndex[Customer](ctx, e.db, e.p, "email", "ada@example.com")
		if err != nil || len(found) != 1 || found[0].ID != ada.ID {
			t.Fatalf("FindByIndex after Save = %d rows, %v", len(found), err)
		}

		// Updates with the model itself, some columns selected.
		ada.Name = "Ada King"
		if err := e.db.Model(&ada).Select("Name").Updates(&ada).Error; err != nil {
			t.Fatal(err)
		}
		if ada.Name != "Ada King" {
			t.Errorf("after Updates the caller holds %q", ada.Name)
		}

		// Updates with a struct of the model's type that is not the model:
		// a sealed copy is written; the model's protected fields stay.
		model := got
		upd := Customer{Subject: "s-ada", Name: "Ada Byron"}
		if err := e.db.Model(&model).Updates(upd).Error; err != nil {
			t.Fatal(err)
		}
		if upd.Name != "Ada Byron" || model.Name != "Ada Lovelace" {
			t.Errorf("after Updates(struct): update %q, model %q", upd.Name, model.Name)
		}
		checkTable(t, e)
		if err := e.db.First(&got, ada.ID).Error; err != nil || got.Name != "Ada Byron" {
			t.Fatalf("after Updates(struct) the row opens to %q, %v", got.Name, err)
		}

		// Plain columns update as usual.
		if err := e.db.Model(&ada).Update("team", "red").Error; err != nil {
			t.Fatal(err)
		}
		if err := e.db.Model(&Customer{}).Where("id = ?", ada.ID).Updates(map[string]any{"team": "green", "code": "c9"}).Error; err != nil {
			t.Fatal(err)
		}

		// Plaintext for a sealed column is refused, before anything is sent.
		before := rawRow(t, e, ada.ID)
		refused := map[string]func() error{
			"Update":            func() error { return e.db.Model(&ada).Update("email", "new@example.com").Error },
			"Update Go name":    func() error { return e.db.Model(&ada).Update("Name", "Mallory").Error },
			"UpdateColumn":      func() error { return e.db.Model(&ada).UpdateColumn("name", "Mallory").Error },
			"Updates map":       func() error { return e.db.Model(&ada).Updates(map[string]any{"team": "x", "salary": 1}).Error },
			"Updates index":     func() error { return e.db.Model(&ada).Updates(map[string]any{"email_idx": "v1:00"}).Error },
			"Updates expr":      func() error { return e.db.Model(&ada).Update("name", gorm.Expr("team")).Error },
			"Updates other":     func() error { return e.db.Model(&ada).Updates(nameOnly{Name: "Mallory"}).Error },
			"Updates other ptr": func() error { return e.db.Model(&ada).Updates(&nameOnly{Name: "Mallory"}).Error },
			"Create map": func() error {
				return e.db.Model(&Customer{}).Create(map[string]any{"subject": "s-m", "name": "Mallory", "code": "m"}).Error
			},
		}
		for name, f := range refused {
			err := f()
			var ge *gormfc.Error
			if !errors.Is(err, gormfc.ErrPlaintextWrite) || !errors.As(err, &ge) || ge.Column == "" {
				t.Errorf("%s: err = %v, want ErrPlaintextWrite naming the column", name, err)
			}
			if err != nil && strings.Contains(err.Error(), "Mallory") {
				t.Errorf("%s: the error holds the value: %v", name, err)
			}
		}
		if after := rawRow(t, e, ada.ID); after != before {
			t.Error("a refused update changed the row")
		}
		if ada.Name != "Ada King" {
			t.Errorf("a refused update changed the model: %q", ada.Name)
		}

		// A sealed value may be written to its column.
		var rawRowC Customer
		if err := gormfc.Raw(e.db).First(&rawRowC, ada.ID).Error; err != nil {
			t.Fatal(err)
		}
		if err := e.db.Model(&ada).Update("salary", rawRowC.Salary).Error; err != nil {
			t.Errorf("Update with a pii.Sealed holding a ciphertext: %v", err)
		}
		checkTable(t, e)
	})
}

// nameOnly is an update struct of another type that names a sealed
// column without protecting it.
type nameOnly struct {
	Name string
}

func rawRow(t *testing.T, e *env, id uint) string {
	t.Helper()
	var name, email, salary, team string
	if err := e.raw.QueryRow(fmt.Sprintf(`SELECT name, email, salary, team FROM customers WHERE id = %d`, id)).Scan(&name, &email, &salary, &team); err != nil {
		t.Fatal(err)
	}
	return name + "|" + email + "|" + salary + "|" + team
}

func TestFindByIndex(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		cs := []Customer{
			newCustomer("s-ada", "Ada Lovelace", "ada@example.com", "c1", 1),
			newCustomer("s-ada2", "Ada Lovelace", " ADA@Example.com", "c2", 2),
			newCustomer("s-grace", "Grace Hopper", "grace@example.com", "c3", 3),
		}
		if err := e.db.Create(&cs).Error; err != nil {
			t.Fatal(err)
		}
		found, err := gormfc.FindByIndex[Customer](ctx, e.db.Order("id"), e.p, "email", "Ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 2 || found[0].ID != cs[0].ID || found[1].ID != cs[1].ID {
			t.Fatalf("FindByIndex = %d rows, want Ada's two", len(found))
		}
		checkOpened(t, &found[1], "Ada Lovelace", " ADA@Example.com", 2)
		// With other conditions.
		found, err = gormfc.FindByIndex[Customer](ctx, e.db.Where("code = ?", "c2"), e.p, "email", "ada@example.com")
		if err != nil || len(found) != 1 || found[0].ID != cs[1].ID {
			t.Fatalf("FindByIndex with Where = %d rows, %v", len(found), err)
		}
		if found, err := gormfc.FindByIndex[Customer](ctx, e.db, e.p, "email", "nobody@example.com"); err != nil || len(found) != 0 {
			t.Fatalf("FindByIndex(nobody) = %d rows, %v", len(found), err)
		}

		// WhereIndex with Raw and pii.Matches, by hand.
		cond, err := gormfc.WhereIndex[Customer](ctx, e.p, "email", "grace@example.com")
		if err != nil {
			t.Fatal(err)
		}
		var cands []Customer
		if err := gormfc.Raw(e.db).Where(cond).Find(&cands).Error; err != nil {
			t.Fatal(err)
		}
		m, err := pii.Matches(ctx, e.p, cands, "email", "grace@example.com")
		if err != nil || len(m) != 1 || m[0].Name != "Grace Hopper" {
			t.Fatalf("Matches = %d, %v", len(m), err)
		}
		// The plugin opens what WhereIndex finds, without Raw.
		var opened []Customer
		if err := e.db.Where(cond).Find(&opened).Error; err != nil || len(opened) == 0 || opened[0].Name != "Grace Hopper" {
			t.Fatalf("Where(cond).Find = %d rows, %v", len(opened), err)
		}

		// Bad queries: typed errors.
		if _, err := gormfc.WhereIndex[Customer](ctx, e.p, "nope", "x"); !errors.Is(err, pii.ErrUnknownIndex) {
			t.Errorf("unknown index: %v", err)
		}
		var others []nameOnly
		if err := e.db.Table("customers").Where(cond).Find(&others).Error; !errors.Is(err, gormfc.ErrIndexColumn) {
			t.Errorf("index condition on another model: %v", err)
		}
	})
}

func TestForgottenSubject(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		cs := []Customer{
			newCustomer("s-ada", "Ada Lovelace", "ada@example.com", "c1", 1),
			newCustomer("s-grace", "Grace Hopper", "grace@example.com", "c2", 2),
			newCustomer("s-ada", "Ada Lovelace", "ada@example.com", "c3", 3),
		}
		if err := e.db.Create(&cs).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := e.p.Forget(ctx, "s-ada"); err != nil {
			t.Fatal(err)
		}
		var all []Customer
		err := e.db.Order("id").Find(&all).Error
		var oe *gormfc.OpenError
		if !errors.Is(err, pii.ErrForgotten) || !errors.As(err, &oe) {
			t.Fatalf("Find with a forgotten subject: %v, want an OpenError wrapping ErrForgotten", err)
		}
		if len(all) != 3 || len(oe.Errs) != 3 || oe.Errs[0] == nil || oe.Errs[1] != nil || oe.Errs[2] == nil {
			t.Fatalf("OpenError.Errs = %v", oe.Errs)
		}
		if all[1].Name != "Grace Hopper" || !all[0].Born.IsSealed() || all[0].Name == "Ada Lovelace" {
			t.Error("the other subject's row must open, the forgotten one's stay sealed")
		}
		var one Customer
		if err := e.db.First(&one, cs[0].ID).Error; !errors.Is(err, pii.ErrForgotten) {
			t.Errorf("First of a forgotten subject's row: %v", err)
		}
		if found, err := gormfc.FindByIndex[Customer](ctx, e.db, e.p, "email", "ada@example.com"); err != nil || len(found) != 0 {
			t.Errorf("FindByIndex of a forgotten subject = %d rows, %v", len(found), err)
		}
		// No new data for them.
		again := newCustomer("s-ada", "Ada Lovelace", "ada@example.com", "c4", 4)
		if err := e.db.Create(&again).Error; !errors.Is(err, pii.ErrForgotten) {
			t.Errorf("Create for a forgotten subject: %v", err)
		}
		checkPlain(t, &again, "Ada Lovelace", "ada@example.com", 4)
		if again.ID != 0 {
			t.Error("refused Create wrote an ID")
		}

		checkTable(t, e)
	})
}

func TestFailedInsert(t *testing.T) {
	forEach(t, func(t *testing.T, e *env) {
		first := newCustomer("s-ada", "Ada Lovelace", "ada@example.com", "dup", 1)
		if err := e.db.Create(&first).Error; err != nil {
			t.Fatal(err)
		}
		// A constraint violation: the caller's value holds its plaintext,
		// and nothing else changed.
		dup := newCustomer("s-grace", "Grace Hopper", "grace@example.com", "dup", 2)
		if err := e.db.Create(&dup).Error; err == nil {
			t.Fatal("duplicate code inserted")
		}
		checkPlain(t, &dup, "Grace Hopper", "grace@example.com", 2)
		if dup.ID != 0 {
			t.Errorf("failed insert wrote ID %d", dup.ID)
		}
		// The same in a batch, and in a transaction.
		batch := []Customer{
			newCustomer("s-alan", "Alan Turing", "alan@example.com", "ok", 3),
			newCustomer("s-grace", "Grace Hopper", "grace@example.com", "dup", 2),
		}
		if err := e.db.Create(&batch).Error; err == nil {
			t.Fatal("batch with a duplicate inserted")
		}
		checkPlain(t, &batch[0], "Alan Turing", "alan@example.com", 3)
		checkPlain(t, &batch[1], "Grace Hopper", "grace@example.com", 2)
		err := e.db.Transaction(func(tx *gorm.DB) error {
			return tx.Create(&dup).Error
		})
		if err == nil {
			t.Fatal("duplicate inserted in a transaction")
		}
		checkPlain(t, &dup, "Grace Hopper", "grace@example.com", 2)

		// A Seal failure: nothing sent, nothing changed.
		nosub := newCustomer("", "Grace Hopper", "grace@example.com", "new", 2)
		if err := e.db.Create(&nosub).Error; !errors.Is(err, pii.ErrNoSubject) {
			t.Fatalf("Create without a subject: %v", err)
		}
		checkPlain(t, &nosub, "Grace Hopper", "grace@example.com", 2)
		// An already sealed value is refused, not sealed twice.
		var sealed Customer
		if err := gormfc.Raw(e.db).First(&sealed).Error; err != nil {
			t.Fatal(err)
		}
		sealed.ID, sealed.Code = 0, "copy"
		if err := e.db.Create(&sealed).Error; !errors.Is(err, pii.ErrAlreadySealed) {
			t.Fatalf("Create of a sealed value: %v", err)
		}
		if n := checkTable(t, e); n != 1 {
			t.Fatalf("%d rows, want 1", n)
		}
	})
}

// Order is an association whose type has protected fields.
type Order struct {
	ID         uint   `gorm:"primaryKey"`
	CustomerID uint   //
	Subject    string `pii:"subject"`
	Address    string `pii:"encrypt"`
}

type Buyer struct {
	ID      uint    `gorm:"primaryKey"`
	Subject string  `pii:"subject"`
	Name    string  `pii:"encrypt"`
	Orders  []Order `gorm:"foreignKey:CustomerID"`
}

func TestAssociations(t *testing.T) {
	db, _ := openSQLite(t)
	p := newProtector(t)
	if err := db.Use(gormfc.New(p)); err != nil {
		t.Fatal(err)
	}
	if err := db.AutoMigrate(&Buyer{}, &Order{}); err != nil {
		t.Fatal(err)
	}
	b := Buyer{Subject: "s1", Name: "Ada", Orders: []Order{{Subject: "s1", Address: "1 Road"}}}
	if err := db.Create(&b).Error; !errors.Is(err, gormfc.ErrAssociation) {
		t.Fatalf("Create with associations: %v, want ErrAssociation", err)
	}
	if b.Name != "Ada" || b.Orders[0].Address != "1 Road" {
		t.Error("refused Create changed the value")
	}
	if err := db.Omit(clause.Associations).Create(&b).Error; err != nil {
		t.Fatal(err)
	}
	for i := range b.Orders {
		b.Orders[i].CustomerID = b.ID
	}
	if err := db.Create(&b.Orders).Error; err != nil {
		t.Fatal(err)
	}
	var got Buyer
	if err := db.Preload("Orders").First(&got, b.ID).Error; err != nil {
		t.Fatal(err)
	}
	if got.Name != "Ada" || len(got.Orders) != 1 || got.Orders[0].Address != "1 Road" {
		t.Fatalf("Preload: %q, %d orders", got.Name, len(got.Orders))
	}
}
