package tracking

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func FuzzParse(f *testing.F) {
	s := testSigner()
	f.Add(s.Token(Claim{Kind: Open, RecipientID: 1}))
	f.Add(s.Token(Claim{Kind: Click, RecipientID: 1 << 40, Link: 300}))
	f.Add(s.Token(Claim{Kind: Unsubscribe, RecipientID: 42}))
	f.Add("")
	f.Add("AAAA")
	f.Add("A___________f1BHYZWbYHZLB_PsIqpNmmU")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Parse(tok)
		if err != nil {
			return
		}
		// An accepted token is exactly the one the signer makes for its claim.
		if again := s.Token(c); again != tok {
			t.Fatalf("Parse(%q) accepted claim %+v whose token is %q", tok, c, again)
		}
	})
}

func FuzzRewrite(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "rewrite", "*.html"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, seed := range []string{
		"", "<", "<a", "<a href", "<a href=", `<a href="https://x.example/`, "<a href=https://x.example/>",
		"<A HREF='HTTPS://X.EXAMPLE/?A=1&AMP;B=2'>", "<a =href=https://x.example/>", "<a href/=https://x.example/>",
		"<a\x00href=https://x.example/>", "</body></body>", "<plaintext><a href=https://x.example/>",
		"<a href=\"https://x.example/\"/><a/href=https://y.example/>",
	} {
		f.Add(seed)
	}
	s := testSigner()
	f.Fuzz(func(t *testing.T, in string) {
		// Nothing to do: the document comes back byte for byte.
		out, urls, err := Rewrite(in, testBase, s, testRecipient, false, false)
		if err != nil || out != in || len(urls) != 0 {
			t.Fatalf("Rewrite(off) = %q, %q, %v; want the input back", out, urls, err)
		}

		// Opens only: the input with the pixel inserted once.
		pixel := `<img src="` + testBase + "/t/o/" + s.Token(Claim{Kind: Open, RecipientID: testRecipient}) + `"`
		out, _, err = Rewrite(in, testBase, s, testRecipient, false, true)
		if err != nil {
			t.Fatalf("Rewrite(opens): %v", err)
		}
		if !pixelInserted(in, out, pixel) {
			t.Fatalf("Rewrite(opens) of %q = %q: not the input plus one pixel", in, out)
		}

		// Links: the same token stream, only tracked hrefs differ, and each
		// leads where the original did.
		out, urls, err = Rewrite(in, testBase, s, testRecipient, true, false)
		if err != nil {
			t.Fatalf("Rewrite(links) of %q: %v", in, err)
		}
		zi := html.NewTokenizer(strings.NewReader(in))
		zo := html.NewTokenizer(strings.NewReader(out))
		for {
			ti, to := zi.Next(), zo.Next()
			if ti != to {
				t.Fatalf("token types diverge: %v in input, %v in output\n in: %q\nout: %q", ti, to, in, out)
			}
			if ti == html.ErrorToken {
				break
			}
			rawIn, rawOut := string(zi.Raw()), string(zo.Raw())
			tin, tout := zi.Token(), zo.Token()
			if rawIn == rawOut {
				continue
			}
			if tin.Data != "a" || tout.Data != "a" || len(tin.Attr) != len(tout.Attr) {
				t.Fatalf("changed token %q -> %q is not an anchor rewrite", rawIn, rawOut)
			}
			for i := range tin.Attr {
				ai, ao := tin.Attr[i], tout.Attr[i]
				if ai.Key != ao.Key {
					t.Fatalf("attribute %d renamed in %q -> %q", i, rawIn, rawOut)
				}
				if ai.Key != "href" {
					if ai.Val != ao.Val {
						t.Fatalf("attribute %q changed in %q -> %q", ai.Key, rawIn, rawOut)
					}
					continue
				}
				c, err := s.ParseKind(strings.TrimPrefix(ao.Val, testBase+"/t/c/"), Click)
				if err != nil || !strings.HasPrefix(ao.Val, testBase+"/t/c/") {
					t.Fatalf("rewritten href %q: %v", ao.Val, err)
				}
				want, ok := browserURL(ai.Val)
				if !ok || c.Link >= len(urls) || urls[c.Link] != want {
					t.Fatalf("href %q became link %d of %q, want %q", ai.Val, c.Link, urls, want)
				}
			}
		}
	})
}

// pixelInserted reports whether out is in with one string starting with
// pixel and ending in "/>" inserted somewhere.
func pixelInserted(in, out, pixel string) bool {
	for i := 0; i < len(out); {
		j := strings.Index(out[i:], pixel)
		if j < 0 {
			return false
		}
		start := i + j
		if end := strings.Index(out[start:], "/>"); end >= 0 {
			end += start + len("/>")
			if out[:start]+out[end:] == in {
				return true
			}
		}
		i = start + 1
	}
	return false
}
