package smtpd_test

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"

	"gatewayd/config"
	"gatewayd/relay/smtpd"
)

func TestLoadTLS(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Defaults()
	cfg.SecretKeyFile = filepath.Join(dir, "secret.key")
	cfg.Hostname = "mx.one.test"

	// No pair configured: a self-signed certificate for the hostname, made once.
	tc, err := smtpd.LoadTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(tc.Certificates[0].Certificate[0])
	if err != nil || c.VerifyHostname("mx.one.test") != nil {
		t.Fatalf("self-signed certificate %v: %v", c.DNSNames, err)
	}
	st, err := os.Stat(filepath.Join(dir, "tls-key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	again, err := smtpd.LoadTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Certificates[0].Certificate[0]) != string(tc.Certificates[0].Certificate[0]) {
		t.Error("certificate made again at the second start")
	}
	// A new hostname gets a new certificate.
	cfg.Hostname = "mx.two.test"
	renamed, err := smtpd.LoadTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := x509.ParseCertificate(renamed.Certificates[0].Certificate[0]); c.VerifyHostname("mx.two.test") != nil {
		t.Errorf("certificate names %v after the hostname changed", c.DNSNames)
	}

	// A configured pair is used as given.
	certPEM, keyPEM, err := smtpd.SelfSigned("given.test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLSCert, cfg.TLSKey = filepath.Join(dir, "given.crt"), filepath.Join(dir, "given.key")
	os.WriteFile(cfg.TLSCert, certPEM, 0o644)
	os.WriteFile(cfg.TLSKey, keyPEM, 0o600)
	given, err := smtpd.LoadTLS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := x509.ParseCertificate(given.Certificates[0].Certificate[0]); c.VerifyHostname("given.test") != nil {
		t.Errorf("configured certificate not used: %v", c.DNSNames)
	}
	cfg.TLSKey = ""
	if _, err := smtpd.LoadTLS(cfg); err == nil {
		t.Error("a certificate without its key was accepted")
	}
}
