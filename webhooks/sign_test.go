package webhooks

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The published Standard Webhooks test vector.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignTestVector(t *testing.T) {
	got, err := Sign(vecSecret, vecID, time.Unix(vecTS, 0), []byte(vecBody))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	if got != vecSig {
		t.Errorf("Sign = %q, want %q", got, vecSig)
	}
}

func TestHeaders(t *testing.T) {
	h, err := Headers(vecSecret, vecID, time.Unix(vecTS, 0), []byte(vecBody))
	if err != nil {
		t.Fatalf("Headers: %v", err)
	}
	want := map[string]string{
		"webhook-id":        vecID,
		"webhook-timestamp": "1614265330",
		"webhook-signature": vecSig,
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	if len(h) != 3 {
		t.Errorf("Headers has %d entries, want 3: %v", len(h), h)
	}
}

func vectorHeader(sig string) http.Header {
	h := http.Header{}
	h.Set("webhook-id", vecID)
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", sig)
	return h
}

func TestVerify(t *testing.T) {
	now := time.Unix(vecTS+10, 0)
	body := []byte(vecBody)
	if err := Verify(vecSecret, vectorHeader(vecSig), body, time.Minute, now); err != nil {
		t.Errorf("Verify(test vector) = %v, want nil", err)
	}
	// Several space-separated values, the good one last, others skipped.
	multi := "v1a,abc v2,Zm9v v1,AAAA " + vecSig
	if err := Verify(vecSecret, vectorHeader(multi), body, time.Minute, now); err != nil {
		t.Errorf("Verify(%q) = %v, want nil", multi, err)
	}
	// A timestamp slightly in the future is within tolerance.
	if err := Verify(vecSecret, vectorHeader(vecSig), body, time.Minute, time.Unix(vecTS-30, 0)); err != nil {
		t.Errorf("Verify 30s early = %v, want nil", err)
	}

	wrongSecret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	noID := vectorHeader(vecSig)
	noID.Del("webhook-id")
	otherID := vectorHeader(vecSig)
	otherID.Set("webhook-id", "msg_other")
	for _, c := range []struct {
		name   string
		secret string
		h      http.Header
		body   string
		now    time.Time
	}{
		{"wrong secret", wrongSecret, vectorHeader(vecSig), vecBody, now},
		{"tampered body", vecSecret, vectorHeader(vecSig), `{"test": 2432232315}`, now},
		{"old timestamp", vecSecret, vectorHeader(vecSig), vecBody, time.Unix(vecTS+61, 0)},
		{"future timestamp", vecSecret, vectorHeader(vecSig), vecBody, time.Unix(vecTS-61, 0)},
		{"other message id", vecSecret, otherID, vecBody, now},
		{"missing id", vecSecret, noID, vecBody, now},
		{"only other versions", vecSecret, vectorHeader("v2," + strings.TrimPrefix(vecSig, "v1,")), vecBody, now},
		{"bad timestamp", vecSecret, func() http.Header { h := vectorHeader(vecSig); h.Set("webhook-timestamp", "x"); return h }(), vecBody, now},
	} {
		err := Verify(c.secret, c.h, []byte(c.body), time.Minute, c.now)
		if !errors.Is(err, ErrSignature) {
			t.Errorf("%s: Verify = %v, want an error wrapping ErrSignature", c.name, err)
		}
	}
	// The default tolerance is five minutes.
	if err := Verify(vecSecret, vectorHeader(vecSig), body, 0, time.Unix(vecTS+4*60, 0)); err != nil {
		t.Errorf("Verify 4 min late with default tolerance = %v, want nil", err)
	}
	if err := Verify(vecSecret, vectorHeader(vecSig), body, 0, time.Unix(vecTS+6*60, 0)); !errors.Is(err, ErrSignature) {
		t.Errorf("Verify 6 min late with default tolerance = %v, want ErrSignature", err)
	}
}

func TestNewSecretRoundTrip(t *testing.T) {
	s1, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := NewSecret()
	if s1 == s2 {
		t.Error("two NewSecret calls returned the same secret")
	}
	b64, ok := strings.CutPrefix(s1, "whsec_")
	if !ok {
		t.Fatalf("secret %q lacks the whsec_ prefix", s1)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(key) != 32 {
		t.Fatalf("secret %q: key of %d bytes (%v), want 32", s1, len(key), err)
	}
	if len(b64) != 44 || !strings.HasSuffix(b64, "=") {
		t.Errorf("secret %q is not padded standard base64 of 32 bytes", s1)
	}
	now := time.Now()
	body := []byte(`{"type":"delivered","MessageID":"abc"}`)
	h, err := Headers(s1, "msg_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(s1, h, body, 0, now); err != nil {
		t.Errorf("Verify(Headers(...)) = %v, want nil", err)
	}
}

func TestSignRejectsBadSecrets(t *testing.T) {
	for _, s := range []string{"", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not*base64"} {
		if _, err := Sign(s, vecID, time.Unix(vecTS, 0), nil); err == nil {
			t.Errorf("Sign with secret %q succeeded, want an error", s)
		}
	}
	if _, err := Sign(vecSecret, "", time.Unix(vecTS, 0), nil); err == nil {
		t.Error("Sign with an empty message id succeeded, want an error")
	}
}
