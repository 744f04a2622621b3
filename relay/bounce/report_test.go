package bounce

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fixtureKey is the key the VERP addresses in testdata/ were made with.
var fixtureKey = []byte("fixture-key-0123456789abcdef0123")

func TestParseFixtures(t *testing.T) {
	postfixRecipients := []RecipientStatus{{
		Recipient:  "nosuchuser@example.org",
		Action:     "failed",
		Status:     "5.1.1",
		Diagnostic: "550 5.1.1 <nosuchuser@example.org>: Recipient address rejected: User unknown in virtual mailbox table",
		Hard:       true,
	}}
	cases := []struct {
		file    string
		want    *Report
		wantErr error
		// verpID is the recipient id ParseVERP must find in
		// OriginalEnvelopeFrom; 0 when there is none.
		verpID int64
	}{
		{
			file: "postfix-hard-5.1.1.eml",
			want: &Report{
				Kind:                 Bounce,
				Recipients:           postfixRecipients,
				OriginalMessageID:    "0b7c6f2e-8d1a-4c55-9a3e-6f1d2c4b8e90@shop.example.com",
				OriginalEnvelopeFrom: "bounce+aaaaaaaaaacbfyj7qeffpgvyh4@rp.example.net",
			},
			verpID: 1042,
		},
		{
			file: "exchange-5.7.1.eml",
			want: &Report{
				Kind: Bounce,
				Recipients: []RecipientStatus{{
					Recipient:  "alice@contoso.example",
					Action:     "failed",
					Status:     "5.7.1",
					Diagnostic: "550 5.7.1 RESOLVER.RST.NotAuthorized; not authorized",
					Hard:       false,
				}},
				OriginalMessageID: "a3f5c9d2-1e4b-4f7a-8c6d-2b9e0f1a7c33@shop.example.com",
			},
		},
		{
			file: "gmail-delayed-4.x.eml",
			want: &Report{
				Kind: Delay,
				Recipients: []RecipientStatus{{
					Recipient: "bob@slowmail.example",
					Action:    "delayed",
					Status:    "4.4.1",
					Diagnostic: "The recipient server did not accept our requests to connect. " +
						"Learn more at https://support.google.com/mail/answer/7720 " +
						"[mx.slowmail.example 203.0.113.55: timed out]",
				}},
				OriginalMessageID: "7d2e9b14-60af-4c3b-9e8d-5a1f0c2b3d47@shop.example.com",
			},
		},
		{
			file: "multi-recipient-dsn.eml",
			want: &Report{
				Kind: Bounce,
				Recipients: []RecipientStatus{
					{
						Recipient:  "carol.old@example.edu",
						Action:     "failed",
						Status:     "5.1.1",
						Diagnostic: "550 5.1.1 <carol.old@example.edu>... User unknown",
						Hard:       true,
					},
					{
						Recipient:  "dave@example.edu",
						Action:     "delivered",
						Status:     "2.0.0",
						Diagnostic: "250 2.0.0 50GJUCxm012346 Message accepted for delivery",
					},
				},
				OriginalMessageID:    "c2e8a1d7-9f34-4b6a-8e21-7d0b5c3f9a12@shop.example.com",
				OriginalEnvelopeFrom: "bounce+aaaaaaaaaagelbk6fqdnk5g2ju@rp.example.net",
			},
			verpID: 3141,
		},
		{
			file: "arf-abuse.eml",
			want: &Report{
				Kind:                 Complaint,
				OriginalRecipient:    "erin@mail.example-provider.com",
				FeedbackType:         "abuse",
				OriginalMessageID:    "e91b6c0d-2a7f-4d38-b5e4-0c8f1a6d2b73@shop.example.com",
				OriginalEnvelopeFrom: "bounce+aaaaaaaaaafj4zl6iticuhiqzy@rp.example.net",
				UserAgent:            "ExampleProvider-Mail-Feedback/2.0",
			},
			verpID: 2718,
		},
		{
			// No Original-Rcpt-To: the recipient comes from the original's To.
			// No Return-Path: the envelope sender comes from Original-Mail-From.
			file: "arf-fraud-no-rcpt.eml",
			want: &Report{
				Kind:                 Complaint,
				OriginalRecipient:    "jane@webmail.example",
				FeedbackType:         "fraud",
				OriginalMessageID:    "5f0e3d2c-1b4a-4e97-8c65-3a2d1f0e9b84@shop.example.com",
				OriginalEnvelopeFrom: "bounce+aaaaaaaaaajyqfh5kgd6zyxske@rp.example.net",
				UserAgent:            "WebmailFBL/1.4",
			},
			verpID: 5000,
		},
		{
			file: "plain-text-bounce.eml",
			want: &Report{Kind: Unknown},
		},
		{
			// The returned headers are cut off and the boundary never closes,
			// but the delivery-status part is whole: the report stands.
			file: "truncated-original.eml",
			want: &Report{
				Kind:                 Bounce,
				Recipients:           postfixRecipients,
				OriginalMessageID:    "0b7c6f2e-8d1a-4c55-9a3e-6f1d2c4b8e90@shop.example.com",
				OriginalEnvelopeFrom: "bounce+aaaaaaaaaacbfyj7qeffpgvyh4@rp.example.net",
			},
			verpID: 1042,
		},
		{
			// Cut inside the delivery-status part.
			file:    "malformed-truncated.eml",
			wantErr: ErrMalformed,
		},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(raw, []byte("\r\n")) || bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
				t.Fatalf("%s: fixture must use CRLF line endings only", c.file)
			}
			got, err := Parse(bytes.NewReader(raw))
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("Parse error = %v, want %v", err, c.wantErr)
				}
				if got != nil {
					t.Fatalf("Parse returned %+v with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Parse =\n%+v\nwant\n%+v", got, c.want)
			}
			if c.verpID != 0 {
				id, domain, ok := ParseVERP(fixtureKey, got.OriginalEnvelopeFrom)
				if !ok || id != c.verpID || domain != "rp.example.net" {
					t.Fatalf("ParseVERP(%q) = %d, %q, %v; want %d", got.OriginalEnvelopeFrom, id, domain, ok, c.verpID)
				}
			}
		})
	}
}

// report builds a CRLF multipart/report message around one status part.
func report(contentType, partType, partHeaders, partBody string) string {
	msg := "From: MAILER-DAEMON@mx.example.org\n" +
		"To: bounce+x@rp.example.net\n" +
		"Subject: Delivery report\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: " + contentType + "\n" +
		"\n" +
		"--b1\n" +
		"Content-Type: text/plain\n" +
		"\n" +
		"Something happened.\n" +
		"--b1\n" +
		"Content-Type: " + partType + "\n" +
		partHeaders +
		"\n" +
		partBody +
		"\n--b1--\n"
	return strings.ReplaceAll(msg, "\n", "\r\n")
}

const dsnReport = "multipart/report; report-type=delivery-status; boundary=b1"

func perRecipient(fields string) string {
	return "Reporting-MTA: dns; mx.example.org\n\n" + fields
}

func TestParseCases(t *testing.T) {
	cases := []struct {
		name string
		msg  string
		want *Report
	}{
		{
			name: "generic 5.0.0 refined from the diagnostic",
			msg: report(dsnReport, "message/delivery-status", "", perRecipient(
				"Final-Recipient: rfc822; <gone@example.org>\nAction: failed\nStatus: 5.0.0\n"+
					"Diagnostic-Code: smtp; 550 5.1.1 No such user here\n")),
			want: &Report{Kind: Bounce, Recipients: []RecipientStatus{{
				Recipient: "gone@example.org", Action: "failed", Status: "5.0.0",
				Diagnostic: "550 5.1.1 No such user here", Hard: true,
			}}},
		},
		{
			name: "status and action missing: both from the diagnostic",
			msg: report(dsnReport, "message/delivery-status", "", perRecipient(
				"Final-Recipient: rfc822;gone@example.org\nDiagnostic-Code: X-Postfix; host said: 550 5.1.1 unknown user\n")),
			want: &Report{Kind: Bounce, Recipients: []RecipientStatus{{
				Recipient: "gone@example.org", Action: "failed", Status: "5.1.1",
				Diagnostic: "host said: 550 5.1.1 unknown user", Hard: true,
			}}},
		},
		{
			name: "mailbox full is soft",
			msg: report(dsnReport, "message/delivery-status", "", perRecipient(
				"Final-Recipient: rfc822; full@example.org\nAction: FAILED\nStatus: 5.2.2 (mailbox full)\n")),
			want: &Report{Kind: Bounce, Recipients: []RecipientStatus{{
				Recipient: "full@example.org", Action: "failed", Status: "5.2.2",
			}}},
		},
		{
			name: "mailbox disabled is hard",
			msg: report(dsnReport, "message/delivery-status", "", perRecipient(
				"Final-Recipient: rfc822; old@example.org\nAction: failed\nStatus: 5.2.1\n")),
			want: &Report{Kind: Bounce, Recipients: []RecipientStatus{{
				Recipient: "old@example.org", Action: "failed", Status: "5.2.1", Hard: true,
			}}},
		},
		{
			name: "sender address rejected is soft",
			msg: report(dsnReport, "message/delivery-status", "", perRecipient(
				"Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.8\n")),
			want: &Report{Kind: Bounce, Recipients: []RecipientStatus{{
				Recipient: "a@example.org", Action: "failed", Status: "5.1.8",
			}}},
		},
		{
			name: "5.1.1 that is only delayed is not hard",
			msg: report(dsnReport, "message/delivery-status", "", perRecipient(
				"Final-Recipient: rfc822; a@example.org\nAction: delayed\nStatus: 5.1.1\n")),
			want: &Report{Kind: Delay, Recipients: []RecipientStatus{{
				Recipient: "a@example.org", Action: "delayed", Status: "5.1.1",
			}}},
		},
		{
			name: "original recipient when final recipient is missing",
			msg: report(dsnReport, "message/delivery-status", "", perRecipient(
				"Original-Recipient: rfc822;orig@example.org\nAction: failed\nStatus: 5.1.10\n")),
			want: &Report{Kind: Bounce, Recipients: []RecipientStatus{{
				Recipient: "orig@example.org", Action: "failed", Status: "5.1.10", Hard: true,
			}}},
		},
		{
			name: "per-message and per-recipient fields run together",
			msg: report(dsnReport, "message/delivery-status", "",
				"Reporting-MTA: dns; mx.example.org\nFinal-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.1.1\n"),
			want: &Report{Kind: Bounce, Recipients: []RecipientStatus{{
				Recipient: "a@example.org", Action: "failed", Status: "5.1.1", Hard: true,
			}}},
		},
		{
			name: "positive DSN is not a bounce",
			msg: report(dsnReport, "message/delivery-status", "", perRecipient(
				"Final-Recipient: rfc822; a@example.org\nAction: relayed\nStatus: 2.0.0\n")),
			want: &Report{Kind: Unknown, Recipients: []RecipientStatus{{
				Recipient: "a@example.org", Action: "relayed", Status: "2.0.0",
			}}},
		},
		{
			name: "delivery report without recipient blocks is a bounce",
			msg:  report(dsnReport, "message/delivery-status", "", "Reporting-MTA: dns; mx.example.org\n"),
			want: &Report{Kind: Bounce},
		},
		{
			name: "base64 delivery-status part",
			msg: report(dsnReport, "message/delivery-status", "Content-Transfer-Encoding: base64\n",
				// "Final-Recipient: rfc822; b64@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
				"RmluYWwtUmVjaXBpZW50OiByZmM4MjI7IGI2NEBleGFtcGxlLm9yZw0KQWN0aW9uOiBmYWlsZWQN\nClN0YXR1czogNS4xLjENCg==\n"),
			want: &Report{Kind: Bounce, Recipients: []RecipientStatus{{
				Recipient: "b64@example.org", Action: "failed", Status: "5.1.1", Hard: true,
			}}},
		},
		{
			name: "global delivery status (RFC 6533)",
			msg: report(dsnReport, "message/global-delivery-status", "", perRecipient(
				"Final-Recipient: utf-8; jürgen@example.de\nAction: failed\nStatus: 5.1.1\n")),
			want: &Report{Kind: Bounce, Recipients: []RecipientStatus{{
				Recipient: "jürgen@example.de", Action: "failed", Status: "5.1.1", Hard: true,
			}}},
		},
		{
			name: "report-type missing: inferred from the parts",
			msg: report("multipart/report; boundary=b1", "message/delivery-status", "", perRecipient(
				"Final-Recipient: rfc822; a@example.org\nAction: failed\nStatus: 5.4.4\n")),
			want: &Report{Kind: Bounce, Recipients: []RecipientStatus{{
				Recipient: "a@example.org", Action: "failed", Status: "5.4.4",
			}}},
		},
		{
			name: "read receipt is unknown",
			msg: report("multipart/report; report-type=disposition-notification; boundary=b1",
				"message/disposition-notification", "", "Final-Recipient: rfc822; a@example.org\nDisposition: manual-action/MDN-sent-manually; displayed\n"),
			want: &Report{Kind: Unknown},
		},
		{
			name: "ordinary multipart mail is unknown",
			msg:  report("multipart/mixed; boundary=b1", "text/html", "", "<p>Out of office until Monday.</p>"),
			want: &Report{Kind: Unknown},
		},
		{
			name: "empty message is unknown",
			msg:  "",
			want: &Report{Kind: Unknown},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(c.msg))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("Parse =\n%+v\nwant\n%+v", got, c.want)
			}
		})
	}
}

func TestParseNestedReport(t *testing.T) {
	inner, err := os.ReadFile(filepath.Join("testdata", "postfix-hard-5.1.1.eml"))
	if err != nil {
		t.Fatal(err)
	}
	// Keep the inner report's Content-Type and body, drop its other headers,
	// and wrap it as the second part of a multipart/mixed.
	head, body, _ := bytes.Cut(inner, []byte("\r\n\r\n"))
	ct := head[bytes.Index(head, []byte("Content-Type: multipart/report")):]
	ct = ct[:bytes.Index(ct, []byte("\r\nContent-Transfer-Encoding"))]
	msg := "From: gateway@relay.example\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\nContent-Type: text/plain\r\n\r\nForwarded bounce.\r\n" +
		"--outer\r\n" + string(ct) + "\r\n\r\n" + string(body) + "\r\n--outer--\r\n"
	got, err := Parse(strings.NewReader(msg))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got.Kind != Bounce || len(got.Recipients) != 1 || got.Recipients[0].Recipient != "nosuchuser@example.org" || !got.Recipients[0].Hard {
		t.Fatalf("Parse = %+v; want the nested hard bounce for nosuchuser@example.org", got)
	}
}

func TestParseMalformed(t *testing.T) {
	cases := map[string]string{
		"header line without colon":     "From: a@b\r\nthis is not a header\r\n\r\nbody\r\n",
		"header starts with a space":    " folded: nothing\r\n\r\n",
		"multipart without boundary":    "Content-Type: multipart/report; report-type=delivery-status\r\n\r\n--x\r\n\r\n",
		"multipart with bad parameters": "Content-Type: multipart/report; boundary=\"unterminated\r\n\r\n--x\r\n",
		"boundary never appears":        "Content-Type: multipart/report; report-type=delivery-status; boundary=zz\r\n\r\nno parts here\r\n",
		"truncated feedback report": strings.ReplaceAll("Content-Type: multipart/report; report-type=feedback-report; boundary=b\n\n"+
			"--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\nUser-Agent: x", "\n", "\r\n"),
	}
	for name, msg := range cases {
		got, err := Parse(strings.NewReader(msg))
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse = %+v, %v; want ErrMalformed", name, got, err)
		}
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Unknown: "unknown", Bounce: "bounce", Delay: "delay", Complaint: "complaint", Kind(42): "unknown"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed fixtures: %v", err)
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(report(dsnReport, "message/delivery-status", "", perRecipient("Final-Recipient: rfc822; a@b\nAction: failed\nStatus: 5.1.1\n"))))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := Parse(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrMalformed) || rep != nil {
				t.Fatalf("Parse = %+v, %v; errors must wrap ErrMalformed and come alone", rep, err)
			}
			return
		}
		if rep == nil {
			t.Fatal("Parse returned nil report and nil error")
		}
		if rep.Kind < Unknown || rep.Kind > Complaint {
			t.Fatalf("Kind %d out of range", rep.Kind)
		}
		if len(rep.Recipients) > 0 && rep.Kind != dsnKind(rep.Recipients) {
			t.Fatalf("Kind %v disagrees with recipients %+v", rep.Kind, rep.Recipients)
		}
		for _, r := range rep.Recipients {
			if r.Hard && (r.Action != "failed" || !strings.HasPrefix(r.Status, "5.")) {
				t.Fatalf("hard bounce without a failed 5.x.x status: %+v", r)
			}
		}
	})
}
