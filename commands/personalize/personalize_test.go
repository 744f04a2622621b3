package personalize

import "testing"

func TestRender(t *testing.T) {
	v := NewValues()
	v.Set(Subscriber, "EmailAddress", "jane@example.com")
	v.Set(Subscriber, "FirstName", `Jane <b>&"`)
	v.Set(Subscriber, "Company", "")
	v.Set(User, "FirstName", "Ann")
	v.Set(Link, "Unsubscribe", "https://x.test/t/u/a?b=1&c=2")
	for _, c := range []struct {
		in   string
		mode Mode
		want string
	}{
		{"Hi %Subscriber:FirstName%!", Text, `Hi Jane <b>&"!`},
		{"Hi %subscriber:firstname%!", HTML, `Hi Jane &lt;b&gt;&amp;&#34;!`},
		{"Hi {{ Subscriber:FirstName }}", Header, `Hi Jane <b>&"`},
		{"{{Subscriber:Company|ACME}} / %Subscriber:Company|\"Our friends\"% / %Subscriber:Nope%.", HTML, "ACME / Our friends / ."},
		{"{{ Subscriber:Company | A & B }}", HTML, "A & B"},
		{"50% off, 100% sure, %Other:X%, {{ name }}, %Subscriber:%, {{ Subscriber:X", Text, "50% off, 100% sure, %Other:X%, {{ name }}, %Subscriber:%, {{ Subscriber:X"},
		{`<a href="%Link:Unsubscribe%">u</a> by %User:FirstName%`, HTML, `<a href="https://x.test/t/u/a?b=1&amp;c=2">u</a> by Ann`},
		{"%Subscriber:EmailAddress|x\ny%", Text, "%Subscriber:EmailAddress|x\ny%"},
		{"", Text, ""},
		{"%", Text, "%"},
		{"{{", Text, "{{"},
	} {
		if got := Render(c.in, v, c.mode); got != c.want {
			t.Errorf("Render(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	v.Set(Subscriber, "FirstName", "a\r\nBcc: x")
	if got := Render("%Subscriber:FirstName%", v, Header); got != "a Bcc: x" {
		t.Errorf("header render = %q", got)
	}
	tags := Compile("%Subscriber:A% {{ User:B | c }} %Link:Unsubscribe%").Tags()
	if len(tags) != 3 || tags[1].Category != User || tags[1].Name != "B" || tags[1].Fallback != "c" {
		t.Errorf("tags = %+v", tags)
	}
}
