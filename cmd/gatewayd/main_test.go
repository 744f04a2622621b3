package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"gatewayd/storage"
	"gatewayd/storage/storagetest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestSubcommands(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{
		"GATEWAY_DB":              storagetest.DSN(t),
		"GATEWAY_SECRET_KEY_FILE": filepath.Join(dir, "secret.key"),
	}
	runOK := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := run(args, &out, &errb, env(vars)); code != 0 {
			t.Fatalf("gatewayd %v: exit %d\n%s%s", args, code, out.String(), errb.String())
		}
		return out.String()
	}
	if out := runOK("migrate"); !strings.Contains(out, "applied 0001_foundation.sql") {
		t.Fatalf("migrate: %s", out)
	}
	if out := runOK("migrate"); !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: %s", out)
	}
	if out := runOK("user", "create", "--username", "carol", "--email", "carol@example.com", "--password", "long-enough"); !strings.Contains(out, "created user 1 (carol)") {
		t.Fatalf("user create: %s", out)
	}
	if out := runOK("user", "create", "--admin", "--username", "root", "--password", "long-enough"); !strings.Contains(out, "created administrator") {
		t.Fatalf("admin create: %s", out)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"user", "create", "--username", "x"}, &out, &errb, env(vars)); code != 2 {
		t.Fatalf("missing flags: exit %d", code)
	}
	if code := run([]string{"domain", "approve", "--name", "nosuch.example"}, &out, &errb, env(vars)); code != 1 || !strings.Contains(errb.String(), "not found") {
		t.Fatalf("approve unknown: exit %d %s", code, errb.String())
	}
	for _, c := range [][]string{{"serve", "--help"}, {"migrate", "--help"}, {"user", "create", "--help"}, {"domain", "approve", "--help"}, {"--help"}} {
		out.Reset()
		errb.Reset()
		if code := run(c, &out, &errb, env(vars)); code != 0 || (out.Len() == 0 && errb.Len() == 0) {
			t.Fatalf("%v: exit %d, no help text", c, code)
		}
	}
	if code := run([]string{"bogus"}, &out, &errb, env(vars)); code != 2 {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
}

// A squatter's registration of a name must not be approved together with the owner's.
func TestDomainApproveAmbiguous(t *testing.T) {
	dir := t.TempDir()
	dsn := storagetest.DSN(t)
	vars := map[string]string{"GATEWAY_DB": dsn, "GATEWAY_SECRET_KEY_FILE": filepath.Join(dir, "secret.key")}
	ctx := context.Background()
	db, err := openMigrated(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ids []int64
	for _, name := range []string{"owner", "squatter"} {
		u := &storage.User{GroupID: 1, Username: name, Email: name + "@example.net", AccountStatus: "Enabled"}
		if err := db.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		d := &storage.SenderDomain{UserID: u.ID, Name: "shared.example", Status: storage.DomainPending}
		if err := db.CreateDomain(ctx, d, 0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"domain", "approve", "--name", "shared.example"}, &out, &errb, env(vars)); code != 1 {
		t.Fatalf("ambiguous approve: exit %d\n%s%s", code, out.String(), errb.String())
	}
	for _, id := range ids {
		if !strings.Contains(errb.String(), fmt.Sprintf("--id %d ", id)) {
			t.Fatalf("registration %d not listed:\n%s", id, errb.String())
		}
		d, err := db.DomainByID(ctx, id, 0)
		if err != nil || d.Status == storage.DomainEnabled {
			t.Fatalf("domain %d after ambiguous approve: %+v %v", id, d, err)
		}
	}
	out.Reset()
	if code := run([]string{"domain", "approve", "--id", fmt.Sprint(ids[0])}, &out, &errb, env(vars)); code != 0 {
		t.Fatalf("approve by id: exit %d %s", code, errb.String())
	}
	for i, id := range ids {
		d, _ := db.DomainByID(ctx, id, 0)
		if (d.Status == storage.DomainEnabled) != (i == 0) {
			t.Fatalf("domain %d status %s after approving %d", id, d.Status, ids[0])
		}
	}
}
