package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

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
