// Package testkit holds what several packages' tests share and none of them owns: one DKIM
// key per test binary, the real gatewayd binary built once per test and run as a process, and
// free loopback addresses. Test support only: production code must not import it.
package testkit

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

// Process is a running `gatewayd serve`.
type Process struct {
	URL    string // http://127.0.0.1:port
	Cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	log    bytes.Buffer
}

// Serve starts bin serve with env (GATEWAY_* settings; PATH and HOME are given, HOME a
// temporary directory; GATEWAY_HTTP_ADDR is chosen here) and waits up to a minute for
// /healthz. The process is killed when the test ends (or when the test binary dies) and its
// output is logged when the test failed.
func Serve(t testing.TB, bin string, env ...string) *Process {
	t.Helper()
	addr := FreeAddr(t)
	p := &Process{URL: "http://" + addr, exited: make(chan struct{})}
	p.Cmd = exec.Command(bin, "serve")
	p.Cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GATEWAY_HTTP_ADDR=" + addr}, env...)
	p.Cmd.Stdout, p.Cmd.Stderr = (*processLog)(p), (*processLog)(p)
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // nothing outlives a test binary that times out
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.Cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("gatewayd %s log:\n%s", p.URL, p.Log())
		}
	})
	deadline := time.Now().Add(time.Minute)
	for {
		if p.Healthy() {
			return p
		}
		if p.Exited() {
			t.Fatalf("gatewayd exited: %s", p.Log())
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatewayd did not come up: %s", p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type processLog Process

func (w *processLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.Write(b)
}

// Log is what the process wrote so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Healthy reports whether /healthz answers 200 within 5 s.
func (p *Process) Healthy() bool {
	c := &http.Client{Timeout: 5 * time.Second}
	r, err := c.Get(p.URL + "/healthz")
	if err != nil {
		return false
	}
	r.Body.Close()
	return r.StatusCode == http.StatusOK
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Kill ends the process with SIGKILL and waits for it.
func (p *Process) Kill() {
	p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop asks the process to shut down (SIGTERM) and waits up to 45 s for a clean exit.
func (p *Process) Stop() error {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if !p.Cmd.ProcessState.Success() {
			return fmt.Errorf("gatewayd exited with %v after SIGTERM", p.Cmd.ProcessState)
		}
		return nil
	case <-time.After(45 * time.Second):
		return fmt.Errorf("gatewayd did not stop within 45 s of SIGTERM")
	}
}

// Status reads a field of /proc/<pid>/status in bytes (VmRSS, VmHWM: the resident set now and
// at its peak).
func (p *Process) Status(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, p.Cmd.Process.Pid)
}

// CPUTime is the CPU (user and system) this process has used so far. Benchmarks report
// CPUTime's growth over their messages as cpu-ms/msg: CPU per message moves less than a rate
// on a busy machine.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// EnvInt is the positive integer in the environment variable name (a benchmark's size), or
// def when it is unset or not one.
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
