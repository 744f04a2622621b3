package commands

import (
	"bytes"
	"context"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"gatewayd/dispatcher"
	"gatewayd/storage"
)

// Codes of the event commands beyond the documented ones (docs/events.md).
const (
	codeBadEvent = 3 // Event is not an event type of either vocabulary
	codeBadDate  = 6 // StartDate/EndDate unparsable, or StartDate after EndDate
)

// Paging limits of the event lists.
const (
	maxRetrieveCount = 100
	v1DefaultCount   = 5
	maxExportRows    = 100000
)

func (a *App) registerEvents(r *dispatcher.Registry) {
	r.Register(&dispatcher.Command{
		Name: "emailgateway.getevents", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: []dispatcher.Param{
			{Name: "DomainID", Type: dispatcher.Int, Code: 2, Message: "Domain not found or access denied"},
			{Name: "StartFrom", Type: dispatcher.Int, Required: true, Code: 4},
			{Name: "RetrieveCount", Type: dispatcher.Int, Required: true, Code: 5},
			{Name: "StartDate", Type: dispatcher.String, Code: codeBadDate},
			{Name: "EndDate", Type: dispatcher.String, Code: codeBadDate},
			{Name: "Event", Type: dispatcher.String, Code: codeBadEvent},
			{Name: "Query", Type: dispatcher.String, Code: 7},
			{Name: "Tag", Type: dispatcher.String, Code: 7},
		},
		Handler: a.getEvents,
	})
	// GET /api/v1/events; emailgateway.getevents.public is its api.php name (octeth-5.9.4),
	// the same code path.
	for _, name := range []string{"emailgateway.listevents", "emailgateway.getevents.public"} {
		r.Register(&dispatcher.Command{
			Name: name, Auth: dispatcher.AuthSender, RateLimited: true, RateGroup: "events",
			AuthMissing: dispatcher.Fail(dispatcher.KindAuth, 1, "Missing SenderAPIKey"),
			AuthInvalid: dispatcher.Fail(dispatcher.KindAuth, 13, "Invalid SenderAPIKey"),
			Params: []dispatcher.Param{
				{Name: "StartFrom", Type: dispatcher.Int, Code: 4, Message: "Invalid StartFrom"},
				{Name: "RetrieveCount", Type: dispatcher.Int, Code: 5, Message: "Invalid RetrieveCount"},
				{Name: "StartDate", Type: dispatcher.Int, Code: codeBadDate, Message: "Invalid StartDate (Unix timestamp)"},
				{Name: "EndDate", Type: dispatcher.Int, Code: codeBadDate, Message: "Invalid EndDate (Unix timestamp)"},
				{Name: "Event", Type: dispatcher.String, Code: codeBadEvent, Message: "Invalid Event"},
				{Name: "MessageID", Type: dispatcher.String, Code: 7, Message: "Invalid MessageID"},
			},
			Handler: a.listEvents,
		})
	}
	r.Register(&dispatcher.Command{
		Name: "emailgateway.exportevents", Auth: dispatcher.AuthUser, Permission: PermManageDomain,
		Params: []dispatcher.Param{
			{Name: "DomainID", Type: dispatcher.Int, Code: 2, Message: "Domain not found or access denied"},
			{Name: "StartFrom", Type: dispatcher.Int, Code: 4},
			{Name: "RetrieveCount", Type: dispatcher.Int, Code: 5},
			{Name: "StartDate", Type: dispatcher.String, Code: codeBadDate},
			{Name: "EndDate", Type: dispatcher.String, Code: codeBadDate},
			{Name: "Event", Type: dispatcher.String, Code: codeBadEvent},
			{Name: "Query", Type: dispatcher.String, Code: 7},
			{Name: "Tag", Type: dispatcher.String, Code: 7},
		},
		Handler: a.exportEvents,
	})
}

// parseEvents reads an Event filter: one name, or several separated by commas, of either
// vocabulary.
func parseEvents(s string) ([]string, bool) {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		t, ok := EventType(n)
		if !ok {
			return nil, false
		}
		out = append(out, t)
	}
	return out, true
}

// parseDay reads a Y-m-d date as a UTC day.
func parseDay(s string) (time.Time, bool) {
	t, err := time.ParseInLocation("2006-01-02", strings.TrimSpace(s), time.UTC)
	if err != nil || t.Year() < 1970 {
		return time.Time{}, false
	}
	return t, true
}

// dayKey is the stats_daily key of a UTC day.
func dayKey(t time.Time) int { return t.Year()*10000 + int(t.Month())*100 + t.Day() }

// dateRange reads StartDate/EndDate (Y-m-d, UTC, both inclusive). Absent ends come from
// defStart/defEnd (zero: open).
func dateRange(p dispatcher.Params, defStart, defEnd time.Time) (start, end time.Time, issue *dispatcher.Issue) {
	start, end = defStart, defEnd
	if p.Has("StartDate") {
		t, ok := parseDay(p.String("StartDate"))
		if !ok {
			is := dispatcher.Field("StartDate", codeBadDate, "Invalid StartDate (Y-m-d)")
			return start, end, &is
		}
		start = t
	}
	if p.Has("EndDate") {
		t, ok := parseDay(p.String("EndDate"))
		if !ok {
			is := dispatcher.Field("EndDate", codeBadDate, "Invalid EndDate (Y-m-d)")
			return start, end, &is
		}
		end = t
	}
	if !start.IsZero() && !end.IsZero() && start.After(end) {
		is := dispatcher.Field("StartDate", codeBadDate, "StartDate is after EndDate")
		return start, end, &is
	}
	return start, end, nil
}

// eventFilter builds the filter shared by getevents and exportevents.
func eventFilter(p dispatcher.Params, domainID int64) (storage.EventFilter, []dispatcher.Issue) {
	var issues []dispatcher.Issue
	f := storage.EventFilter{DomainIDs: []int64{domainID}, Query: strings.TrimSpace(p.String("Query")), Tag: strings.TrimSpace(p.String("Tag"))}
	start, end, is := dateRange(p, time.Time{}, time.Time{})
	if is != nil {
		issues = append(issues, *is)
	}
	if !start.IsZero() {
		f.From = start.Unix()
	}
	if !end.IsZero() {
		f.To = end.Add(24*time.Hour).Unix() - 1
	}
	if p.Has("Event") {
		types, ok := parseEvents(p.String("Event"))
		if !ok {
			issues = append(issues, dispatcher.Field("Event", codeBadEvent, "Invalid event type"))
		}
		f.Types = types
	}
	return f, issues
}

// paging reads StartFrom and RetrieveCount (1..max).
func paging(p dispatcher.Params, defCount, max int64) (offset, count int, issues []dispatcher.Issue) {
	from, count64 := int64(0), defCount
	if p.Has("StartFrom") {
		from = p.Int("StartFrom")
	}
	if p.Has("RetrieveCount") {
		count64 = p.Int("RetrieveCount")
	}
	if from < 0 {
		issues = append(issues, dispatcher.Field("StartFrom", 4, "Invalid StartFrom (0 or more)"))
	}
	if count64 < 1 || count64 > max {
		issues = append(issues, dispatcher.Field("RetrieveCount", 5, "Invalid RetrieveCount (1-"+strconv.FormatInt(max, 10)+")"))
	}
	return int(from), int(count64), issues
}

// scopeDomains is the DomainID scope of getevents and dailyseries (octeth-5.9.4): the one
// domain named, which must be the caller's (code), or, when DomainID is absent or 0, every
// domain of the caller.
func (a *App) scopeDomains(ctx context.Context, req *dispatcher.Request, code int) ([]int64, error) {
	if id := req.Params.Int("DomainID"); req.Params.Has("DomainID") && id != 0 {
		d, err := a.ownDomain(ctx, req, id, code)
		if err != nil {
			return nil, err
		}
		return []int64{d.ID}, nil
	}
	ds, err := a.DB.DomainsByUser(ctx, req.Principal.UserID)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids, nil
}

// getEvents lists events of one domain, or of all the caller's domains without DomainID.
func (a *App) getEvents(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	offset, count, issues := paging(p, 0, maxRetrieveCount)
	f, more := eventFilter(p, p.Int("DomainID"))
	if issues = append(issues, more...); len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	ids, err := a.scopeDomains(ctx, req, 2)
	if err != nil {
		return nil, err
	}
	f.DomainIDs, f.Offset, f.Limit = ids, offset, count
	rows, total, err := a.DB.Events(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]legacyEvent, len(rows))
	for i := range rows {
		out[i] = legacyView(&rows[i])
	}
	return struct {
		TotalRecords int64         `json:"TotalRecords"`
		Events       []legacyEvent `json:"Events"`
	}{total, out}, nil
}

func (a *App) listEvents(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	offset, count, issues := paging(p, v1DefaultCount, maxRetrieveCount)
	f := storage.EventFilter{MessageUUID: strings.TrimSpace(p.String("MessageID")), Offset: offset, Limit: count}
	if p.Has("StartDate") {
		f.From = p.Int("StartDate")
	}
	if p.Has("EndDate") {
		f.To = p.Int("EndDate")
	}
	if f.From < 0 || f.To < 0 || (f.To > 0 && f.From > f.To) {
		issues = append(issues, dispatcher.Field("StartDate", codeBadDate, "Invalid StartDate or EndDate"))
	}
	if p.Has("Event") {
		types, ok := parseEvents(p.String("Event"))
		if !ok {
			issues = append(issues, dispatcher.Field("Event", codeBadEvent, "Invalid Event"))
		}
		f.Types = types
	}
	if len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	// A disabled account's sender keys read nothing: they answer as an invalid key does.
	if u, err := a.userOf(ctx, req.Principal); isNotFound(err) || (err == nil && !accountEnabled(u)) {
		if req.Command.AuthInvalid != nil {
			return nil, req.Command.AuthInvalid
		}
		return nil, dispatcher.Fail(dispatcher.KindAuth, dispatcher.CodeAuthFailed, "Authentication failed")
	} else if err != nil {
		return nil, err
	}
	d, err := a.DB.DomainByID(ctx, req.Principal.DomainID, req.Principal.UserID)
	if isNotFound(err) {
		return nil, dispatcher.NotFound(2, "Invalid sender domain")
	}
	if err != nil {
		return nil, err
	}
	f.DomainIDs = []int64{d.ID}
	rows, total, err := a.DB.Events(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]v1Event, len(rows))
	for i := range rows {
		out[i] = v1View(&rows[i])
	}
	return struct {
		TotalRecords int64     `json:"TotalRecords"`
		Events       []v1Event `json:"Events"`
	}{total, out}, nil
}

// legacyEvent is an event as getevents shows it: the documented event, timestamp and
// message.headers, then extra fields (docs/events.md).
type legacyEvent struct {
	Event          string          `json:"event"`
	Timestamp      int64           `json:"timestamp"`
	Message        legacyMessage   `json:"message"`
	Recipient      string          `json:"recipient"`
	MessageID      string          `json:"message_id"`
	JourneyID      int64           `json:"journey_id,omitempty"`
	ActionID       int64           `json:"action_id,omitempty"`
	Tags           []string        `json:"tags"`
	DeliveryStatus *legacyDelivery `json:"delivery_status,omitempty"`
	URL            string          `json:"url,omitempty"`
	Bot            bool            `json:"bot,omitempty"`
}

type legacyMessage struct {
	Headers legacyHeaders `json:"headers"`
}

type legacyHeaders struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Subject string `json:"subject"`
}

type legacyDelivery struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func tagsOf(r *storage.EventRow) []string {
	t := r.TagList()
	if t == nil {
		t = []string{}
	}
	return t
}

func legacyView(r *storage.EventRow) legacyEvent {
	e := legacyEvent{
		Event: LegacyEventName(r.Type), Timestamp: r.CreatedAt,
		Message:   legacyMessage{Headers: legacyHeaders{From: r.MailFrom, To: r.Email, Subject: r.Subject}},
		Recipient: r.Email, MessageID: r.MessageUUID, JourneyID: r.JourneyID, ActionID: r.ActionID, Tags: tagsOf(r),
		URL: r.URL, Bot: r.Bot,
	}
	if r.Code != 0 || r.Details != "" {
		e.DeliveryStatus = &legacyDelivery{Code: r.Code, Message: r.Details}
	}
	return e
}

// v1Event is an event as /api/v1/events shows it.
type v1Event struct {
	Event          string      `json:"Event"`
	LoggedAt       int64       `json:"LoggedAt"`
	Message        v1Message   `json:"Message"`
	Recipient      string      `json:"Recipient"`
	MessageID      string      `json:"MessageID"`
	JourneyID      int64       `json:"JourneyID,omitempty"`
	ActionID       int64       `json:"ActionID,omitempty"`
	Tags           []string    `json:"Tags"`
	DeliveryStatus *v1Delivery `json:"DeliveryStatus,omitempty"`
	URL            string      `json:"URL,omitempty"`
	Bot            bool        `json:"Bot,omitempty"`
}

type v1Message struct {
	Headers v1Headers `json:"Headers"`
}

type v1Headers struct {
	From    string `json:"From"`
	To      string `json:"To"`
	Subject string `json:"Subject"`
}

type v1Delivery struct {
	Code    int    `json:"Code"`
	Message string `json:"Message"`
}

func v1View(r *storage.EventRow) v1Event {
	e := v1Event{
		Event: LegacyEventName(r.Type), LoggedAt: r.CreatedAt,
		Message:   v1Message{Headers: v1Headers{From: r.MailFrom, To: r.Email, Subject: r.Subject}},
		Recipient: r.Email, MessageID: r.MessageUUID, JourneyID: r.JourneyID, ActionID: r.ActionID, Tags: tagsOf(r),
		URL: r.URL, Bot: r.Bot,
	}
	if r.Code != 0 || r.Details != "" {
		e.DeliveryStatus = &v1Delivery{Code: r.Code, Message: r.Details}
	}
	return e
}

// exportEvents answers the events of one domain, or without DomainID (or 0) of all the
// caller's domains (octeth-5.9.4), as CSV (newest first, at most 100,000 rows per
// call; page with StartFrom and RetrieveCount).
func (a *App) exportEvents(ctx context.Context, req *dispatcher.Request) (any, error) {
	p := req.Params
	offset, count, issues := paging(p, maxExportRows, maxExportRows)
	f, more := eventFilter(p, p.Int("DomainID"))
	if issues = append(issues, more...); len(issues) > 0 {
		return nil, dispatcher.Invalid(issues...)
	}
	ids, err := a.scopeDomains(ctx, req, 2)
	if err != nil {
		return nil, err
	}
	f.DomainIDs = ids
	_, total, err := a.DB.Events(ctx, f)
	if err != nil {
		return nil, err
	}
	f.Offset, f.Limit = offset, count
	var buf bytes.Buffer
	buf.WriteString("\ufeff") // octeth-5.9.4: a UTF-8 BOM, so spreadsheets read the encoding right
	w := csv.NewWriter(&buf)
	// octeth-5.9.4's columns first, then gatewayd's own.
	w.Write([]string{"Time", "Event", "MessageID", "From", "To", "Subject", "Domain", "SMTPCode",
		"event_id", "timestamp", "tags", "details", "url", "user_agent", "ip", "bot", "journey_id", "action_id"})
	rows := 0
	err = a.DB.EachEvent(ctx, f, func(r *storage.EventRow) error {
		rows++
		smtpCode := ""
		if r.Code != 0 {
			smtpCode = strconv.Itoa(r.Code)
		}
		_, rcptDomain, _ := strings.Cut(r.Email, "@")
		return w.Write([]string{
			time.Unix(r.CreatedAt, 0).UTC().Format(time.RFC3339), LegacyEventName(r.Type), r.MessageUUID, cell(r.MailFrom),
			cell(r.Email), cell(r.Subject), cell(strings.ToLower(rcptDomain)), smtpCode,
			strconv.FormatInt(r.ID, 10), strconv.FormatInt(r.CreatedAt, 10), cell(strings.Join(r.TagList(), ";")),
			cell(r.Details), cell(r.URL), cell(r.UserAgent), r.IP, strconv.Itoa(b2i(r.Bot)), strconv.FormatInt(r.JourneyID, 10),
			strconv.FormatInt(r.ActionID, 10),
		})
	})
	if err != nil {
		return nil, err
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Disposition", `attachment; filename="transactional-events-`+timeNow().UTC().Format(ymd)+`.csv"`)
	h.Set("X-Octeth-Export-Total", strconv.FormatInt(total, 10))
	if int64(offset+rows) < total {
		h.Set("X-Octeth-Export-Truncated", "1")
		h.Set("X-Octeth-Export-Limit", strconv.Itoa(count))
	}
	return dispatcher.Raw{ContentType: "text/csv; charset=utf-8", Body: buf.Bytes(), Header: h}, nil
}

// cell keeps a text value from being read as a formula by spreadsheets (CSV injection): one
// starting with = + - @ or a control character gets a leading apostrophe.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
