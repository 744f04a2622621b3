// Package testkit holds what several packages' tests share and none of them owns: one DKIM
// key per test binary, the real gatewayd binary built once per test, and free loopback
// addresses. Test support only: production code must not import it.
package testkit

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"gatewayd/relay/dkim"
)

var (
	keyOnce sync.Once
	keyPriv []byte
	keyPub  string
	keyErr  error
)

// DKIMKey returns one 2048-bit key per test binary (making one takes a while).
func DKIMKey() ([]byte, string, error) {
	keyOnce.Do(func() { keyPriv, keyPub, keyErr = dkim.GenerateKey() })
	return keyPriv, keyPub, keyErr
}

// BuildGatewayd compiles cmd/gatewayd into the test's temporary directory and returns its path.
func BuildGatewayd(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gatewayd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "gatewayd/cmd/gatewayd").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// FreeAddr returns a loopback address nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
