package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"

	"models"
)

// Local is tagged in this package.
type Local struct {
	ID    string `pii:"subject"`
	Email string `pii:"encrypt,deterministic"`
}

func printing(c models.Customer, n models.Nested, l Local, w *bytes.Buffer) {
	fmt.Println(c)                                // want `c of type models.Customer is passed to fmt.Println, which prints its protected field Name in the clear`
	fmt.Printf("%v\n", &c)                        // want `&c of type \*models.Customer is passed to fmt.Printf, which prints its protected field Name`
	_ = fmt.Sprintf("%+v", n)                     // want `protected field Home.Street`
	_ = fmt.Errorf("bad %v", l)                   // want `protected field Email`
	fmt.Fprintln(w, []models.Customer{c})         // want `protected field \[\]\.Name`
	fmt.Printf("%s\n", c.Name)                    // want `c.Name \(protected field Customer.Name\) is passed to fmt.Printf`
	fmt.Println(*c.Nick, c.Aliases[0])            // want `\*c.Nick \(protected field Customer.Nick\)` `c.Aliases\[0\] \(protected field Customer.Aliases\)`
	fmt.Println(string(c.Notes))                  // want `protected field Customer.Notes`
	fmt.Println(l.Email)                          // want `protected field Local.Email`
	fmt.Println(map[string]models.Phone{"a": {}}) // want `protected field \[\]\.Number`
	fmt.Println(models.ByMap{})                   // want `protected field ByKind\[\]\.Number`
	fmt.Println(models.Embeds{})                  // want `protected field Address.Street`
	fmt.Println(models.Hidden{})                  // want `protected field home.Street`
	log.Printf("saved %v", c)                     // want `passed to log.Printf`
	log.New(w, "", 0).Println(n)                  // want `passed to \(\*log.Logger\).Println`

	// Not reported.
	fmt.Println(c.ID, c.Tier, models.Plain{})
	fmt.Println(models.Stringer{}, []models.Stringer{{}}, &models.PtrStringer{})
	fmt.Println(models.ByPointer{Work: &models.Address{}}) // fmt prints a nested pointer as an address
	fmt.Printf("%v", any(c))                               // behind an interface: not seen
	fmt.Println("x")                                       //piivet:ignore a test of the directive
	//piivet:ignore a test of the directive on the line before
	fmt.Println(c)
}

// fmt does not call a pointer method on a value.
func printingPtrStringer(ps models.PtrStringer) {
	fmt.Println(ps) // want `protected field Name`
}

func logging(ctx context.Context, c models.Customer, n models.Nested, lg *slog.Logger) {
	slog.Info("saved", "customer", c)                         // want `c of type models.Customer is passed to slog.Info, which logs its protected field Name`
	lg.ErrorContext(ctx, "failed", "n", n)                    // want `passed to \(\*slog.Logger\).ErrorContext`
	lg.With("c", &c).Info("x")                                // want `passed to \(\*slog.Logger\).With`
	slog.LogAttrs(ctx, slog.LevelInfo, "x", slog.Any("c", c)) // want `passed to slog.Any`
	_ = slog.Group("g", "s", models.Stringer{})               // want `passed to slog.Group, which logs its protected field Name`
	slog.Info("saved", "logged", []models.Logged{{}})         // want `protected field \[\]\.Name`
	slog.Info("saved", "name", c.Name)                        // want `c.Name \(protected field Customer.Name\) is passed to slog.Info`
	_ = slog.String("name", c.Name)                           // want `protected field Customer.Name`

	// Not reported.
	slog.Info("saved", "customer", models.Logged{}, "id", c.ID, "plain", models.Plain{})
	lg.Info("saved", "logged", &models.Logged{})
}

func encoding(c models.Customer, n *models.Nested, w *bytes.Buffer) {
	_, _ = json.Marshal(c)                                // want `c of type models.Customer is passed to json.Marshal, which encodes its protected field Name`
	_, _ = json.MarshalIndent(n, "", " ")                 // want `protected field Home.Street`
	_ = json.NewEncoder(w).Encode([]*models.Customer{&c}) // want `passed to \(\*json.Encoder\).Encode`
	_, _ = json.Marshal(models.ByPointer{})               // want `protected field Work.Street`

	// Not reported.
	_, _ = json.Marshal(models.JSONSafe{})
	_, _ = json.Marshal([]models.JSONSafe{})
	_, _ = json.Marshal(models.JSONOmits{})
	_, _ = json.Marshal(models.Hidden{})
	_, _ = json.Marshal(models.Plain{})
}
