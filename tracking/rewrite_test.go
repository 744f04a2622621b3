package tracking

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/rewrite")

const (
	testBase      = "https://track.example.com"
	testRecipient = int64(42)
)

func testSigner() *Signer { return NewSigner([]byte("0123456789abcdef0123456789abcdef")) }

// tracked is one rewritten anchor in an output document: its click token
// parsed back, and the raw tag it sits in.
type tracked struct {
	claim Claim
	tag   string
}

// trackedLinks tokenizes out and returns, in document order, every <a> whose
// href points at the click endpoint, failing on any token that does not parse.
func trackedLinks(t testing.TB, s *Signer, out string) []tracked {
	t.Helper()
	var got []tracked
	z := html.NewTokenizer(strings.NewReader(out))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return got
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		raw := string(z.Raw())
		name, more := z.TagName()
		if string(name) != "a" {
			continue
		}
		for more {
			var k, v []byte
			k, v, more = z.TagAttr()
			if string(k) != "href" || !strings.HasPrefix(string(v), testBase+"/t/c/") {
				continue
			}
			c, err := s.ParseKind(strings.TrimPrefix(string(v), testBase+"/t/c/"), Click)
			if err != nil {
				t.Fatalf("click token in %q does not parse: %v", raw, err)
			}
			got = append(got, tracked{claim: c, tag: raw})
			break
		}
	}
}

func TestRewriteGolden(t *testing.T) {
	cases := []struct {
		name         string
		links, opens bool
		// follow is, per rewritten anchor in document order, where the
		// click must lead; urls is what Rewrite returns.
		follow []string
		urls   []string
		pixel  bool
	}{
		{
			name: "links", links: true, opens: true, pixel: true,
			follow: []string{
				"https://shop.example.com/orders/1",
				"https://shop.example.com/help",
				"http://shop.example.com/plain",
				"https://Shop.Example.com/UPPER",
				"https://shop.example.com/spaced",
				"https://shop.example.com/orders/1",
			},
			urls: []string{
				"https://shop.example.com/orders/1",
				"https://shop.example.com/help",
				"http://shop.example.com/plain",
				"https://Shop.Example.com/UPPER",
				"https://shop.example.com/spaced",
			},
		},
		{
			name: "entities", links: true, opens: false,
			follow: []string{
				"https://shop.example.com/search?q=shoes&size=42&colour=red",
				"https://shop.example.com/?a=1&copy=2&lang=en",
				"https://shop.example.com/?sym=%C2%A9",
				"https://shop.example.com/numeric",
				"https://shop.example.com/pad",
				"https://shop.example.com/long/path",
				"https://shop.example.com/caf%C3%A9%20menu?q=a%20b",
				"https://xn--bcher-kva.example/katalog",
				"https://user@shop.example.com:8443/port",
				"https://shop.example.com/q?x=%22y%22",
			},
		},
		{
			name: "no-body", links: true, opens: true, pixel: true,
			follow: []string{"https://app.example.com/verify?t=1&u=2"},
		},
		{name: "opens-only", links: false, opens: true, pixel: true},
		{
			name: "upper-body", links: true, opens: true, pixel: true,
			follow: []string{"https://app.example.com/x?a=1&b=2"},
		},
		{
			name: "broken", links: true, opens: true, pixel: true,
			follow: []string{
				"https://app.example.com/one",
				"https://app.example.com/two",
				"https://app.example.com/three/",
				"https://app.example.com/four",
				"https://app.example.com/five",
			},
		},
	}
	s := testSigner()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", "rewrite", tc.name+".html"))
			if err != nil {
				t.Fatal(err)
			}
			out, urls, err := Rewrite(string(in), testBase, s, testRecipient, tc.links, tc.opens)
			if err != nil {
				t.Fatalf("Rewrite: %v", err)
			}
			golden := filepath.Join("testdata", "rewrite", tc.name+".golden.html")
			if *update {
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Errorf("output differs from %s\n got: %s\nwant: %s", golden, out, want)
			}

			wantURLs := tc.urls
			if wantURLs == nil {
				wantURLs = tc.follow
			}
			if !slices.Equal(urls, wantURLs) {
				t.Errorf("urls:\n got %q\nwant %q", urls, wantURLs)
			}
			links := trackedLinks(t, s, out)
			if len(links) != len(tc.follow) {
				t.Fatalf("%d tracked links in output, want %d", len(links), len(tc.follow))
			}
			for i, l := range links {
				if l.claim.RecipientID != testRecipient {
					t.Errorf("link %d: recipient %d", i, l.claim.RecipientID)
				}
				if l.claim.Link >= len(urls) || urls[l.claim.Link] != tc.follow[i] {
					t.Errorf("link %d (%s) leads to index %d, want %q", i, l.tag, l.claim.Link, tc.follow[i])
				}
			}
			pixels := strings.Count(out, `<img src="`+testBase+"/t/o/")
			if tc.pixel != (pixels == 1) || pixels > 1 {
				t.Errorf("%d open pixels in output, want pixel=%v", pixels, tc.pixel)
			}
		})
	}
}

func TestRewriteOpenPixelPlacement(t *testing.T) {
	s := testSigner()
	tok := s.Token(Claim{Kind: Open, RecipientID: testRecipient})
	pixel := `<img src="` + testBase + `/t/o/` + tok + `" width="1" height="1" border="0" alt="" style="` + pixelStyle + `" />`
	cases := []struct{ in, want string }{
		{"<html><body><p>hi</p></body></html>", "<html><body><p>hi</p>" + pixel + "</body></html>"},
		{"<p>hi</p>", "<p>hi</p>" + pixel},
		{"", pixel},
		{"<BODY>x</BODY >y", "<BODY>x" + pixel + "</BODY >y"},
		{"<body>a</body>b</body>c", "<body>a</body>b" + pixel + "</body>c"},
		{"<body><!-- </body> --></body>", "<body><!-- </body> -->" + pixel + "</body>"},
		{"<script>'</body>'</script>", "<script>'</body>'</script>" + pixel},
	}
	for _, tc := range cases {
		out, urls, err := Rewrite(tc.in, testBase+"/", s, testRecipient, false, true)
		if err != nil {
			t.Fatalf("Rewrite(%q): %v", tc.in, err)
		}
		if out != tc.want {
			t.Errorf("Rewrite(%q)\n got %q\nwant %q", tc.in, out, tc.want)
		}
		if len(urls) != 0 {
			t.Errorf("Rewrite(%q) with links off returned urls %q", tc.in, urls)
		}
	}
	c, err := s.ParseKind(tok, Open)
	if err != nil || c != (Claim{Kind: Open, RecipientID: testRecipient}) {
		t.Fatalf("pixel token parses to %+v, %v", c, err)
	}
}

func TestRewriteSkipsUnsubscribeURL(t *testing.T) {
	s := testSigner()
	unsub := UnsubscribeURL(testBase+"/", s, testRecipient)
	if !strings.HasPrefix(unsub, testBase+"/t/u/") {
		t.Fatalf("UnsubscribeURL = %q", unsub)
	}
	c, err := s.ParseKind(strings.TrimPrefix(unsub, testBase+"/t/u/"), Unsubscribe)
	if err != nil || c != (Claim{Kind: Unsubscribe, RecipientID: testRecipient}) {
		t.Fatalf("unsubscribe token parses to %+v, %v", c, err)
	}
	in := `<a href="` + unsub + `">Unsubscribe</a> <a href="https://app.example.com/">App</a>`
	out, urls, err := Rewrite(in, testBase, s, testRecipient, true, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, `<a href="`+unsub+`">Unsubscribe</a> `) {
		t.Errorf("unsubscribe link was rewritten: %s", out)
	}
	if !slices.Equal(urls, []string{"https://app.example.com/"}) {
		t.Errorf("urls = %q", urls)
	}
	// Rewriting twice must not wrap click URLs in click URLs.
	again, urls2, err := Rewrite(out, testBase, s, testRecipient, true, false)
	if err != nil || again != out || len(urls2) != 0 {
		t.Errorf("second Rewrite changed the body or found links: %q %q %v", again, urls2, err)
	}
}

func TestRewriteNilSigner(t *testing.T) {
	if _, _, err := Rewrite("<a href='https://x.example/'>x</a>", testBase, nil, 1, true, false); err == nil {
		t.Error("Rewrite with a nil signer and links on: no error")
	}
	out, _, err := Rewrite("<p>x</p>", testBase, nil, 1, false, false)
	if err != nil || out != "<p>x</p>" {
		t.Errorf("Rewrite with nothing to do = %q, %v", out, err)
	}
}

func TestBrowserURL(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"https://a.example/", "https://a.example/", true},
		{"HtTp://a.example", "http://a.example", true},
		{"\x01 https://a.example/x \x1f", "https://a.example/x", true},
		{"https://a.ex\tample/p\na\rth", "https://a.example/path", true},
		{"https://a.example/%41%20b", "https://a.example/%41%20b", true},
		{"https://a.example/\x7f", "https://a.example/%7F", true},
		{"https://[::1]:8080/v6", "https://[::1]:8080/v6", true},
		{"https://", "", false},
		{"https:///path", "", false},
		{"https://user@/x", "", false},
		{"https://a b.example/", "", false},
		{"mailto:x@a.example", "", false},
		{"//a.example/", "", false},
		{"/relative", "", false},
		{"#top", "", false},
		{"", "", false},
		{"javascript:alert(1)", "", false},
		{"https:a.example", "", false},
	}
	for _, tc := range cases {
		got, ok := browserURL(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("browserURL(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
