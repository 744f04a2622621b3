package console

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"gatewayd/dispatcher"
)

// Subscriber lists and their subscribers (lists.md, subscribers.md).

// flexID is an id some commands answer as a number and others as a string.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	*f = flexID(strings.Trim(string(b), `"`))
	if *f == "null" {
		*f = ""
	}
	return nil
}

type listRow struct {
	ListID          flexID
	Name            string
	OptInMode       string
	SubscriberCount int64
}

func (c *Console) lists(ec echo.Context, s *session) error {
	return c.showLists(ec, s, http.StatusOK, "", "")
}

func (c *Console) showLists(ec echo.Context, s *session, status int, msg, value string) error {
	var res struct {
		TotalListCount int64
		Lists          []listRow
	}
	if e := c.call(ec, s.creds(), "lists.get", map[string]any{"RecordsPerRequest": 100, "RecordsFrom": 0,
		"OrderField": "Name", "OrderType": "ASC"}, &res); e != nil {
		return c.failed(ec, s, e)
	}
	return c.render(ec, status, "lists", page{Title: "Lists", Nav: "lists", Session: s, Error: msg,
		Data: map[string]any{"Lists": res.Lists, "Total": res.TotalListCount, "Value": value}})
}

func (c *Console) addList(ec echo.Context, s *session) error {
	name := strings.TrimSpace(ec.FormValue("Name"))
	var res struct{ ListID flexID }
	if e := c.call(ec, s.creds(), "list.create", map[string]any{"SubscriberListName": name}, &res); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		return c.showLists(ec, s, http.StatusUnprocessableEntity, e.Message(), name)
	}
	return c.redirect(ec, "/console/lists/"+url.PathEscape(string(res.ListID)), "added")
}

var listSegments = []string{"Active", "Unsubscribed", "Opt-in pending", "Soft bounced", "Hard bounced", "Suppressed"}

type subscriberRow struct {
	SubscriberID       flexID
	EmailAddress       string
	SubscriptionStatus string
	SubscriptionDate   *string
	BounceType         string
}

const subscribersPage = 50

func (c *Console) list(ec echo.Context, s *session) error {
	return c.showList(ec, s, http.StatusOK, "", "")
}

// showList is a list's subscribers, a segment at a time, with the add form.
func (c *Console) showList(ec echo.Context, s *session, status int, msg, value string) error {
	id := ec.Param("list")
	var l struct{ List listRow }
	if e := c.call(ec, s.creds(), "list.get", map[string]any{"ListID": id}, &l); e != nil {
		return c.failed(ec, s, e)
	}
	seg := ec.QueryParam("segment")
	if seg == "" {
		seg = "Active"
	}
	start, _ := strconv.Atoi(ec.QueryParam("start"))
	if start < 0 {
		start = 0
	}
	var res struct {
		Subscribers      []subscriberRow
		TotalSubscribers int64
	}
	if e := c.call(ec, s.creds(), "subscribers.get", map[string]any{"SubscriberListID": id, "SubscriberSegment": seg,
		"RecordsPerRequest": subscribersPage, "RecordsFrom": start, "OrderField": "EmailAddress", "OrderType": "ASC"}, &res); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		status, msg = http.StatusUnprocessableEntity, e.Message()
	}
	data := map[string]any{"List": l.List, "Segment": seg, "Segments": listSegments, "Subscribers": res.Subscribers,
		"Total": res.TotalSubscribers, "Value": value}
	if int64(start+subscribersPage) < res.TotalSubscribers {
		data["Next"] = start + subscribersPage
	}
	return c.render(ec, status, "list", page{Title: l.List.Name, Nav: "lists", Session: s, Error: msg, Data: data})
}

// clientIP is the browser's address, as the commands see it.
func clientIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

// addSubscriber subscribes an address to the list, as the tenant typed it (no confirmation
// mail: the tenant vouches for it, as subscriber.create with Status Subscribed does).
func (c *Console) addSubscriber(ec echo.Context, s *session) error {
	id := ec.Param("list")
	email := strings.TrimSpace(ec.FormValue("EmailAddress"))
	if e := c.call(ec, s.creds(), "subscriber.create", map[string]any{"ListID": id, "EmailAddress": email,
		"Status": "Subscribed", "SubscriptionDate": time.Now().UTC().Format("2006-01-02 15:04:05"),
		"SubscriptionIP": clientIP(ec.Request()), "Source": "Manual", "UpdateIfUnsubscribed": "true"}, nil); e != nil {
		if e.Kind != dispatcher.KindInvalid {
			return c.failed(ec, s, e)
		}
		return c.showList(ec, s, http.StatusUnprocessableEntity, e.Message(), email)
	}
	return c.redirect(ec, "/console/lists/"+url.PathEscape(id), "added")
}

// unsubscribeSubscriber unsubscribes an address from one of the tenant's lists (the list is
// checked first: subscriber.unsubscribe itself needs no credential, as subscription forms
// post to it).
func (c *Console) unsubscribeSubscriber(ec echo.Context, s *session) error {
	id := ec.Param("list")
	if e := c.call(ec, s.creds(), "list.get", map[string]any{"ListID": id}, nil); e != nil {
		return c.failed(ec, s, e)
	}
	if e := c.call(ec, s.creds(), "subscriber.unsubscribe", map[string]any{"ListID": id,
		"EmailAddress": ec.FormValue("EmailAddress"), "IPAddress": clientIP(ec.Request())}, nil); e != nil {
		if e.Kind != dispatcher.KindInvalid && e.Kind != dispatcher.KindNotFound {
			return c.failed(ec, s, e)
		}
		return c.showList(ec, s, http.StatusUnprocessableEntity, e.Message(), "")
	}
	return c.redirect(ec, "/console/lists/"+url.PathEscape(id), "unsubscribed")
}
