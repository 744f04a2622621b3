package dispatcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// marshal renders v as compact JSON without HTML escaping (URLs and HTML bodies stay readable).
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// withEnvelope puts head's fields in front of the JSON object body.
func withEnvelope(head []byte, body []byte) []byte {
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' {
		return append(head, '}')
	}
	inner := bytes.TrimSpace(body[1 : len(body)-1])
	out := make([]byte, 0, len(head)+len(body)+1)
	out = append(out, head...)
	if len(inner) > 0 {
		out = append(out, ',')
		out = append(out, inner...)
	}
	return append(out, '}')
}

// jsonToXML renders a JSON document as Octeth's XML: <response> with one element per field,
// scalar values in CDATA, array items as <node_N> elements (error-handling.md's example).
func jsonToXML(doc []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var out bytes.Buffer
	out.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("xml: document is not an object")
	}
	out.WriteString("<response>")
	if err := xmlObject(dec, &out); err != nil {
		return nil, err
	}
	out.WriteString("</response>\n")
	return out.Bytes(), nil
}

func xmlObject(dec *json.Decoder, out *bytes.Buffer) error {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name := xmlName(tok.(string))
		fmt.Fprintf(out, "<%s>", name)
		if err := xmlValue(dec, out); err != nil {
			return err
		}
		fmt.Fprintf(out, "</%s>", name)
	}
	_, err := dec.Token() // '}'
	return err
}

func xmlValue(dec *json.Decoder, out *bytes.Buffer) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return xmlObject(dec, out)
		case '[':
			for i := 0; dec.More(); i++ {
				fmt.Fprintf(out, "<node_%d>", i)
				if err := xmlValue(dec, out); err != nil {
					return err
				}
				fmt.Fprintf(out, "</node_%d>", i)
			}
			_, err := dec.Token() // ']'
			return err
		}
	case string:
		cdata(out, t)
	case json.Number:
		cdata(out, t.String())
	case bool:
		if t {
			cdata(out, "true")
		} else {
			cdata(out, "false")
		}
	case nil:
	}
	return nil
}

func cdata(out *bytes.Buffer, s string) {
	out.WriteString("<![CDATA[")
	out.WriteString(strings.ReplaceAll(s, "]]>", "]]]]><![CDATA[>"))
	out.WriteString("]]>")
}

// xmlName makes a JSON key a valid XML element name: keys such as "mail.example.com" or
// "0" are kept readable but prefixed or cleaned where XML forbids them.
func xmlName(k string) string {
	var b strings.Builder
	for i, r := range k {
		ok := r == '_' || r == '-' || r == '.' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			r = '_'
		}
		if i == 0 && (r == '-' || r == '.' || (r >= '0' && r <= '9')) {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}
