package app_test

import (
	"testing"

	"gatewayd/app/apptest"
)

// A tenant never sees, changes or learns of another tenant's domain: every domain command
// answers user B exactly as it answers for a domain that does not exist.
func TestDomainIsolation(t *testing.T) {
	e := apptest.Start(t, nil)
	a := e.CreateUser("alice")
	b := e.CreateUser("bob")
	id := e.AddDomain(a, "alice.example")
	for _, c := range []struct {
		cmd  string
		code float64
	}{
		{"emailgateway.getdomain", 2},
		{"emailgateway.updatedomain", 5},
		{"emailgateway.verifydomain", 2},
		{"emailgateway.deletedomain", 2},
	} {
		theirs := e.API(map[string]any{"Command": c.cmd, "SessionID": b.SessionID, "DomainID": id, "LinkTracking": 1})
		missing := e.API(map[string]any{"Command": c.cmd, "SessionID": b.SessionID, "DomainID": id + 1000, "LinkTracking": 1})
		if theirs["Success"] != false || theirs["ErrorCode"].(interface{ String() string }).String() != missing["ErrorCode"].(interface{ String() string }).String() ||
			theirs["ErrorText"] != missing["ErrorText"] {
			t.Errorf("%s: other tenant's domain %v, missing domain %v", c.cmd, theirs, missing)
		}
	}
	list := e.MustAPI(map[string]any{"Command": "emailgateway.getdomains", "SessionID": b.SessionID})
	if n := len(list["Domains"].([]any)); n != 0 {
		t.Fatalf("bob sees %d domains", n)
	}
	// Alice's domain is untouched.
	got := e.MustAPI(map[string]any{"Command": "emailgateway.getdomain", "SessionID": a.SessionID, "DomainID": id})
	if got["Domain"].(map[string]any)["Options"].(map[string]any)["LinkTracking"].(interface{ String() string }).String() != "0" {
		t.Fatalf("bob changed alice's domain: %v", got)
	}
}
