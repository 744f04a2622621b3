package compose

import (
	"mime"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxFilename bounds attachment names (the common file-system limit); it also
// keeps Content-Disposition within a header line.
const maxFilename = 255

// body validates the content of m and arranges it in MIME entities.
func (b builder) body(m *Message) (*entity, error) {
	if !utf8.ValidString(m.HTML) {
		return nil, fieldError("HTML", "HTML content is not valid UTF-8")
	}
	if !utf8.ValidString(m.Text) {
		return nil, fieldError("Text", "plain content is not valid UTF-8")
	}

	var related, mixed []*entity
	for i, a := range m.Attachments {
		e, inline, err := attachmentEntity(i, a)
		if err != nil {
			return nil, err
		}
		if inline && m.HTML != "" {
			related = append(related, e)
		} else {
			mixed = append(mixed, e)
		}
	}

	var root *entity
	switch {
	case m.HTML == "":
		root = textEntity("text/plain", m.Text)
	case len(related) > 0:
		html := textEntity("text/html", m.HTML)
		root = multipart("multipart/related", map[string]string{"type": "text/html"},
			append([]*entity{html}, related...))
		if m.Text != "" {
			root = multipart("multipart/alternative", nil,
				[]*entity{textEntity("text/plain", m.Text), root})
		}
	case m.Text != "":
		root = multipart("multipart/alternative", nil,
			[]*entity{textEntity("text/plain", m.Text), textEntity("text/html", m.HTML)})
	default:
		root = textEntity("text/html", m.HTML)
	}
	if len(mixed) > 0 {
		root = multipart("multipart/mixed", nil, append([]*entity{root}, mixed...))
	}
	b.assignBoundaries(root)
	return root, nil
}

// multipart makes a multipart entity; its boundary is assigned by
// assignBoundaries once the tree is complete.
func multipart(mediaType string, params map[string]string, children []*entity) *entity {
	return &entity{mediaType: mediaType, params: params, children: children}
}

// assignBoundaries gives every multipart entity a boundary and its
// Content-Type line, outermost first.
func (b builder) assignBoundaries(e *entity) {
	if len(e.children) == 0 {
		return
	}
	p := map[string]string{"boundary": b.boundary()}
	for k, v := range e.params {
		p[k] = v
	}
	ct, _ := foldField("Content-Type", mime.FormatMediaType(e.mediaType, p))
	e.lines = []string{ct}
	for _, c := range e.children {
		b.assignBoundaries(c)
	}
}

// textEntity makes a UTF-8 text part. Line endings become CRLF and the text
// ends with one.
func textEntity(mediaType, s string) *entity {
	body := normalizeText(s)
	cte := "quoted-printable"
	if sevenBit(body) {
		cte = "7bit"
	}
	ct, _ := foldField("Content-Type", mime.FormatMediaType(mediaType, map[string]string{"charset": "utf-8"}))
	enc, _ := foldField("Content-Transfer-Encoding", cte)
	return &entity{lines: []string{ct, enc}, body: []byte(body)}
}

func normalizeText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ReplaceAll(s, "\n", "\r\n")
	if s != "" && !strings.HasSuffix(s, "\r\n") {
		s += "\r\n"
	}
	return s
}

// sevenBit reports whether CRLF text can go out unencoded: ASCII without
// NUL, lines of at most 78 octets without trailing white space (which relays
// may strip), and no "=_" (so it cannot contain a boundary).
func sevenBit(s string) bool {
	if strings.Contains(s, "=_") {
		return false
	}
	for line := range strings.SplitSeq(s, "\r\n") {
		if len(line) > preferredLineLen {
			return false
		}
		if line != "" && isWSP(line[len(line)-1]) {
			return false
		}
		for i := 0; i < len(line); i++ {
			if c := line[i]; c == 0 || c >= 0x80 {
				return false
			}
		}
	}
	return true
}

// attachmentEntity validates a and makes its base64 part. inline reports a
// part that belongs in multipart/related (inline with a Content-ID).
func attachmentEntity(i int, a Attachment) (e *entity, inline bool, err error) {
	which := "attachment " + strconv.Itoa(i+1)
	if err := checkText("Attachments", which+" filename", a.Filename); err != nil {
		return nil, false, err
	}
	if len(a.Filename) > maxFilename {
		return nil, false, fieldError("Attachments", "%s filename is longer than %d octets", which, maxFilename)
	}
	if hasBreak(a.ContentType) || hasBreak(a.Disposition) {
		return nil, false, fieldError("Attachments", "%s content type or disposition contains a line break or NUL", which)
	}
	cid, err := contentID(which, a.ContentID)
	if err != nil {
		return nil, false, err
	}

	ctype := strings.TrimSpace(a.ContentType)
	if ctype == "" {
		ctype = mime.TypeByExtension(path.Ext(a.Filename))
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	mediaType, params, perr := mime.ParseMediaType(ctype)
	if perr != nil || !strings.Contains(mediaType, "/") {
		return nil, false, fieldError("Attachments", "%s content type %q is not a media type", which, a.ContentType)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		return nil, false, fieldError("Attachments", "%s content type %q cannot be sent as an attachment", which, a.ContentType)
	}
	disp := strings.ToLower(strings.TrimSpace(a.Disposition))
	switch disp {
	case "":
		disp = "attachment"
	case "attachment", "inline":
	default:
		return nil, false, fieldError("Attachments", "%s disposition %q is neither attachment nor inline", which, a.Disposition)
	}

	dparams := map[string]string{}
	if a.Filename != "" {
		name := encodeText(a.Filename)
		params["name"] = name
		dparams["filename"] = name
	}
	ctv := mime.FormatMediaType(mediaType, params)
	if ctv == "" {
		return nil, false, fieldError("Attachments", "%s content type %q has invalid parameters", which, a.ContentType)
	}
	lines := make([]string, 0, 4)
	for _, f := range [][2]string{
		{"Content-Type", ctv},
		{"Content-Transfer-Encoding", "base64"},
		{"Content-Disposition", mime.FormatMediaType(disp, dparams)},
	} {
		l, ok := foldField(f[0], f[1])
		if !ok {
			return nil, false, fieldError("Attachments", "%s %s is too long", which, f[0])
		}
		lines = append(lines, l)
	}
	if cid != "" {
		l, _ := foldField("Content-ID", "<"+cid+">")
		lines = append(lines, l)
	}
	return &entity{lines: lines, body: a.Content}, disp == "inline" && cid != "", nil
}

// contentID validates a content id (surrounding angle brackets are
// tolerated) and returns it bare.
func contentID(which, id string) (string, error) {
	if hasBreak(id) {
		return "", fieldError("Attachments", "%s content id contains a line break or NUL", which)
	}
	id = strings.TrimSpace(id)
	if strings.HasPrefix(id, "<") && strings.HasSuffix(id, ">") {
		id = id[1 : len(id)-1]
	}
	if len(id) > 250 {
		return "", fieldError("Attachments", "%s content id is too long", which)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 33 || c > 126 || c == '<' || c == '>' || c == '"' || c == '\\' {
			return "", fieldError("Attachments", "%s content id %q has a forbidden character", which, id)
		}
	}
	return id, nil
}
