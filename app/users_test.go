package app_test

import (
	"encoding/json"
	"testing"

	"gatewayd/app/apptest"
	"gatewayd/config"
)

// GATEWAY_MAX_USERS caps the accounts user.create makes: code 16, as users.md numbers
// "Maximum number of user accounts exceeded".
func TestUserCreateLimit(t *testing.T) {
	e := apptest.Start(t, func(c *config.Config) { c.MaxUsers = 2 })
	create := func(name string) map[string]any {
		return e.API(map[string]any{"Command": "user.create", "AdminAPIKey": apptest.AdminKey, "RelUserGroupID": 1,
			"EmailAddress": name + "@example.com", "Username": name, "Password": "correct-horse",
			"TimeZone": "UTC", "Language": "en", "FirstName": name})
	}
	for _, n := range []string{"ann", "bea"} {
		if m := create(n); m["Success"] != true {
			t.Fatalf("%s: %v", n, m)
		}
	}
	m := create("cat")
	if m["Success"] != false || m["ErrorCode"] != json.Number("16") || m["ErrorText"] != "Maximum number of user accounts exceeded" {
		t.Fatalf("third user: %v", m)
	}
}
