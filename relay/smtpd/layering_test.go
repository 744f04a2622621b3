package smtpd_test

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"
)

// TestLayering: the SMTP server is an edge. Its package and everything it imports from
// gatewayd must not reach the commands layer or storage: the acceptance path is handed in
// as a Backend (app wires it), so data flows edge -> acceptance -> storage, never back up.
func TestLayering(t *testing.T) {
	forbidden := map[string]bool{"gatewayd/commands": true, "gatewayd/storage": true, "gatewayd/app": true}
	seen := map[string]bool{}
	var walk func(path string, via []string)
	walk = func(path string, via []string) {
		if seen[path] {
			return
		}
		seen[path] = true
		if forbidden[path] {
			t.Errorf("relay/smtpd depends on %s (%s)", path, strings.Join(append(via, path), " -> "))
			return
		}
		dir := filepath.Join("..", "..", strings.TrimPrefix(path, "gatewayd"))
		pkg, err := build.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, imp := range pkg.Imports {
			if imp == "gatewayd" || strings.HasPrefix(imp, "gatewayd/") {
				walk(imp, append(via, path))
			}
		}
	}
	walk("gatewayd/relay/smtpd", nil)
	if len(seen) < 2 {
		t.Fatalf("walked %d packages: the import graph was not read", len(seen))
	}
}
