package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gatewayd/internal/testkit"
	"gatewayd/storage/storagetest"
)

// rssBound is the peak resident set docs/limits.md promises with default settings, whatever
// arrives: twice (the garbage collector's headroom) the in-flight budget of 256 MiB, plus
// 64 MiB for the rest of the process.
const rssBound = 2*256<<20 + 64<<20

// TestHostileBodiesAgainstBinary runs the attacks of issue 12 (findings 1 and 3) against the
// real gatewayd with its default limits, as an attacker would, without credentials:
//   - 8 bodies of 8 MiB of JSON ({"a":[0,0,...]}) at once, then 8 forms of 4 MiB of small
//     fields at once: every one refused, and the peak resident set (VmHWM) stays under
//     rssBound — the old decoder held about 310 MB per 8 MiB JSON body and 780 MB per form;
//   - a PHP form name nested about 7 million levels deep (22 MiB), urlencoded and multipart,
//     to every HTTP surface: each answers its documented error and the process lives on
//     (/healthz) — the old decoder recursed once per level until a fatal stack overflow;
//   - 20 of those deep forms at once: refused, under the same bound.
func TestHostileBodiesAgainstBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := testkit.BuildGatewayd(t)
	dir := t.TempDir()
	p := testkit.Serve(t, bin,
		"GATEWAY_DB="+storagetest.DSN(t), "GATEWAY_SMTP_ADDR=127.0.0.1:0",
		"GATEWAY_SECRET_KEY="+strings.Repeat("5a", 32), "GATEWAY_SECRET_KEY_FILE="+filepath.Join(dir, "secret.key"),
		"GATEWAY_ADMIN_API_KEY=hostile-admin", "GATEWAY_DNS_SERVER=127.0.0.1:9", "GATEWAY_LOG_LEVEL=error")
	base, err := p.Status("VmRSS")
	if err != nil {
		t.Fatal(err)
	}

	deepName := "a" + strings.Repeat("[x]", 7<<20)
	deepForm := []byte(deepName + "=1")
	deepMP := []byte("--deepdeepdeep\r\nContent-Disposition: form-data; name=\"" + deepName + "\"\r\n\r\n1\r\n--deepdeepdeep--\r\n")

	// Amplification, 8 at once: 8 MiB of JSON zeros; 4 MiB forms of distinct small fields.
	zeros := []byte(`{"a":[0` + strings.Repeat(",0", 4<<20-8) + `]}`)
	var form bytes.Buffer
	for i := 0; form.Len() < 4<<20; i++ {
		fmt.Fprintf(&form, "f%d=1&", i)
	}
	paths := []string{"/api.php", "/api/v1/email", "/rest/email", "/api.php?Command=emailgateway.sendemail"}
	type round struct {
		name, ctype string
		body        []byte
		n           int
	}
	attack := func(r round) {
		start := time.Now()
		var wg sync.WaitGroup
		statuses := make([]int, r.n)
		for i := 0; i < r.n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				status, body, err := rawPost(p.URL, paths[i%len(paths)], r.ctype, r.body)
				if err != nil {
					t.Errorf("%s #%d to %s: %v", r.name, i, paths[i%len(paths)], err)
					return
				}
				statuses[i] = status
				if status != http.StatusBadRequest && status != http.StatusServiceUnavailable {
					t.Errorf("%s #%d to %s: HTTP %d %.200q; want 400 (over a limit) or 503 (busy)", r.name, i, paths[i%len(paths)], status, body)
				}
			}(i)
		}
		wg.Wait()
		hwm, err := p.Status("VmHWM")
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d x %s at once: answers %v in %s; peak RSS %d MiB (at start %d MiB)",
			r.n, r.name, statuses, time.Since(start).Round(time.Millisecond), hwm>>20, base>>20)
		if hwm > rssBound {
			t.Errorf("%d x %s at once: peak RSS %d MiB, over the documented bound of %d MiB", r.n, r.name, hwm>>20, rssBound>>20)
		}
		if !p.Healthy() {
			t.Fatalf("after %d x %s: /healthz does not answer; exited: %v", r.n, r.name, p.Exited())
		}
	}
	attack(round{"8 MiB JSON", "application/json", zeros, 8})
	attack(round{"4 MiB form", "application/x-www-form-urlencoded", form.Bytes(), 8})

	// The deep form to every surface, one at a time, urlencoded and multipart.
	type answer struct {
		status int
		want   string // in the body
	}
	for _, s := range []struct {
		path            string
		form, multipart answer
	}{
		{"/api.php", answer{400, `"ErrorCode":100000`}, answer{400, `"ErrorCode":100000`}},
		{"/api.php?Command=emailgateway.sendemail", answer{400, `"ErrorCode":100000`}, answer{400, `"ErrorCode":100000`}},
		{"/api.php?Command=emailgateway.getdomains", answer{413, `"ErrorCode":100000`}, answer{413, `"ErrorCode":100000`}},
		{"/api/v1/email", answer{400, `"Errors":[{"Code":100000`}, answer{400, `"Errors":[{"Code":100000`}},
		{"/api/v1/webhooks", answer{413, `"Errors":[{"Code":100000`}, answer{413, `"Errors":[{"Code":100000`}},
		{"/rest/email", answer{400, `"code":"0x0202"`}, answer{422, `"code":"0x0200"`}},
		{"/api/v2/mail/providers", answer{413, `"errors":[{"field":null`}, answer{413, `"errors":[{"field":null`}},
		{"/messages/gateways", answer{413, `"errors":[{"field":null`}, answer{413, `"errors":[{"field":null`}},
		{"/panel/account/auth", answer{400, `"status":{"code":5`}, answer{400, `"status":{"code":5`}},
		{"/v2/panel/gateways/email/list", answer{400, `"status":{"code":5`}, answer{400, `"status":{"code":5`}},
	} {
		for _, c := range []struct {
			ctype string
			body  []byte
			want  answer
		}{
			{"application/x-www-form-urlencoded", deepForm, s.form},
			{"multipart/form-data; boundary=deepdeepdeep", deepMP, s.multipart},
		} {
			status, body, err := rawPost(p.URL, s.path, c.ctype, c.body)
			if err != nil {
				t.Fatalf("%s (%s): %v", s.path, c.ctype, err)
			}
			if status != c.want.status || !bytes.Contains(body, []byte(c.want.want)) {
				t.Errorf("%s (%s): HTTP %d %.300q; want %d with %s", s.path, c.ctype, status, body, c.want.status, c.want.want)
			}
			if !p.Healthy() {
				t.Fatalf("after the deep form to %s (%s): /healthz does not answer; exited: %v", s.path, c.ctype, p.Exited())
			}
		}
	}

	// The surfaces above that refuse 22 MiB by their small cap (413) never decode it; a deep
	// name under that cap (300,000 levels, 900 KiB) reaches their decoder and is refused there.
	smallName := "a" + strings.Repeat("[x]", 300000)
	for _, s := range []struct{ path, want string }{
		{"/api.php?Command=emailgateway.getdomains", `"ErrorCode":100000`},
		{"/api/v1/webhooks", `"Errors":[{"Code":100000`},
		{"/api/v2/mail/providers", `"errors":[{"field":null`},
		{"/messages/gateways", `"errors":[{"field":null`},
	} {
		for _, c := range []struct {
			ctype string
			body  []byte
		}{
			{"application/x-www-form-urlencoded", []byte(smallName + "=1")},
			{"multipart/form-data; boundary=deepdeepdeep", []byte("--deepdeepdeep\r\nContent-Disposition: form-data; name=\"" + smallName + "\"\r\n\r\n1\r\n--deepdeepdeep--\r\n")},
		} {
			status, body, err := rawPost(p.URL, s.path, c.ctype, c.body)
			if err != nil {
				t.Fatalf("%s (%s, 900 KiB): %v", s.path, c.ctype, err)
			}
			if status != http.StatusBadRequest || !bytes.Contains(body, []byte(s.want)) {
				t.Errorf("%s (%s, 900 KiB): HTTP %d %.300q; want 400 with %s", s.path, c.ctype, status, body, s.want)
			}
			if !p.Healthy() {
				t.Fatalf("after the 900 KiB deep form to %s (%s): /healthz does not answer; exited: %v", s.path, c.ctype, p.Exited())
			}
		}
	}

	attack(round{"22 MiB deep form", "application/x-www-form-urlencoded", deepForm, 20})
}

// rawPost sends a POST over a fresh connection, writing the body while it reads the answer (a
// server may answer and close before the body is read), and returns the status and body.
func rawPost(baseURL, path, ctype string, body []byte) (int, []byte, error) {
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(baseURL, "http://"), 5*time.Second)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	go func() {
		fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: gatewayd\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", path, ctype, len(body))
		conn.Write(body)
	}()
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, nil, err
	}
	if !json.Valid(b) {
		return res.StatusCode, b, fmt.Errorf("HTTP %d answer is not JSON: %.200q", res.StatusCode, b)
	}
	return res.StatusCode, b, nil
}
