package netpolicy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// hookServer is a loopback HTTP server that counts the requests it gets.
type hookServer struct {
	*httptest.Server
	hits   atomic.Int32
	target atomic.Int32
	port   string
}

func newHookServer(t *testing.T) *hookServer {
	t.Helper()
	s := &hookServer{}
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Seen-Host", r.Host)
		_, _ = w.Write(append([]byte("got "), body...))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	mux.HandleFunc("/target", func(w http.ResponseWriter, r *http.Request) {
		s.target.Add(1)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	_, s.port, _ = net.SplitHostPort(s.Listener.Addr().String())
	return s
}

func TestClientRefusesRebindingAtConnect(t *testing.T) {
	srv := newHookServer(t)
	// The name answers a public address the first time (registration) and
	// loopback afterwards (delivery): DNS rebinding.
	var calls atomic.Int32
	p := Policy{LookupHost: func(_ context.Context, host string) ([]string, error) {
		if host != "hook.example" {
			return nil, errors.New("no such host")
		}
		if calls.Add(1) == 1 {
			return []string{"93.184.215.14"}, nil
		}
		return []string{"127.0.0.1"}, nil
	}}
	u := "http://hook.example:" + srv.port + "/hook"
	if err := p.ValidateURL(context.Background(), u); err != nil {
		t.Fatalf("ValidateURL(%q) at registration = %v, want nil", u, err)
	}
	resp, err := p.HTTPClient(5*time.Second).Post(u, "application/json", strings.NewReader(`{}`))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("POST %s succeeded with status %d, want a refusal", u, resp.StatusCode)
	}
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("POST error = %v, want it to wrap ErrRefused", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1 is loopback") {
		t.Errorf("POST error = %q, want it to name 127.0.0.1 as loopback", err)
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

func TestClientRefusesLiteralsAndNames(t *testing.T) {
	srv := newHookServer(t)
	p := Policy{LookupHost: stubLookup(nil)}
	c := p.HTTPClient(5 * time.Second)
	for _, u := range []string{
		"http://127.0.0.1:" + srv.port + "/hook",
		"http://0x7f.0.0.1:" + srv.port + "/hook",
		"http://2130706433:" + srv.port + "/hook",
		"http://localhost:" + srv.port + "/hook",
	} {
		resp, err := c.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("GET %s succeeded with status %d, want a refusal", u, resp.StatusCode)
			continue
		}
		if !errors.Is(err, ErrRefused) {
			t.Errorf("GET %s error = %v, want it to wrap ErrRefused", u, err)
		}
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

func TestClientAllowPrivateReachesLoopback(t *testing.T) {
	srv := newHookServer(t)
	p := Policy{AllowPrivate: true, LookupHost: stubLookup(map[string][]string{"hook.example": {"127.0.0.1"}})}
	c := p.HTTPClient(5 * time.Second)
	for i, u := range []string{
		"http://hook.example:" + srv.port + "/hook",
		"http://0x7f.0.0.1:" + srv.port + "/hook",
	} {
		resp, err := c.Post(u, "application/json", strings.NewReader(`{"n":1}`))
		if err != nil {
			t.Fatalf("POST %s: %v", u, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != `got {"n":1}` {
			t.Errorf("POST %s = %d %q, want 200 %q", u, resp.StatusCode, body, `got {"n":1}`)
		}
		if n := srv.hits.Load(); n != int32(i+1) {
			t.Errorf("after POST %s server has %d requests, want %d", u, n, i+1)
		}
	}
}

func TestClientReturnsRedirect(t *testing.T) {
	srv := newHookServer(t)
	p := Policy{AllowPrivate: true}
	resp, err := p.HTTPClient(5 * time.Second).Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatalf("GET /redirect: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status = %d, want 302", resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "/target" {
		t.Errorf("Location = %q, want /target", loc)
	}
	if n := srv.target.Load(); n != 0 {
		t.Errorf("redirect target got %d requests, want 0 (redirect followed)", n)
	}
}

func TestClientTimeout(t *testing.T) {
	srv := newHookServer(t)
	p := Policy{AllowPrivate: true}
	start := time.Now()
	resp, err := p.HTTPClient(300 * time.Millisecond).Get(srv.URL + "/slow")
	if err == nil {
		resp.Body.Close()
		t.Fatal("GET /slow succeeded, want a timeout")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("GET /slow took %s, want about 300ms", d)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("GET /slow error = %v, want a timeout", err)
	}
}

func TestClientIgnoresEnvironmentProxy(t *testing.T) {
	tr, ok := Policy{}.HTTPClient(0).Transport.(*http.Transport)
	if !ok {
		t.Fatal("Client transport is not an *http.Transport")
	}
	if tr.Proxy != nil {
		t.Error("Client transport has a Proxy function, want none")
	}
	if c := (Policy{}).HTTPClient(0); c.Timeout != DefaultTimeout {
		t.Errorf("Client(0).Timeout = %s, want %s", c.Timeout, DefaultTimeout)
	}
}
