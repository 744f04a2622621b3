package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"gatewayd/app/apptest"
	"gatewayd/storage"
)

// The statistics commands read rollups; here they must agree with a brute-force count over
// the same random events (bots excluded), for random periods.
func TestStatsAgreeWithBruteForce(t *testing.T) {
	env := apptest.Start(t, nil)
	u := env.CreateUser("alice")
	d := env.AddDomain(u, "example.com")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(7, seed))

	day0 := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	const days = 60
	tagSets := [][]string{nil, {"a"}, {"b"}, {"a", "b"}, {"c", "a"}}
	rcptDomains := []string{"gmail.test", "yahoo.test", "example.net"}
	types := storage.EventTypes

	type gen struct {
		day    int
		typ    string
		tags   []string
		bot    bool
		domain string
	}
	var all []gen
	ctx := context.Background()
	for i := 0; i < 40; i++ {
		tags := tagSets[rng.IntN(len(tagSets))]
		at := day0.Add(time.Duration(rng.IntN(days*24)) * time.Hour)
		var to []string
		for j := 0; j < 1+rng.IntN(3); j++ {
			to = append(to, fmt.Sprintf("u%d.%d@%s", i, j, rcptDomains[rng.IntN(len(rcptDomains))]))
		}
		m, rs, _ := env.Message(d, at.Unix(), "news@example.com", to, tags, "Message "+fmt.Sprint(i))
		for _, r := range rs {
			all = append(all, gen{day: int(at.Sub(day0).Hours() / 24), typ: storage.EventAccepted, tags: tags,
				domain: r.Email[strings.IndexByte(r.Email, '@')+1:]})
		}
		var evs []*storage.Event
		for k := 0; k < 5+rng.IntN(30); k++ {
			r := rs[rng.IntN(len(rs))]
			typ := types[1+rng.IntN(len(types)-1)]
			when := at.Add(time.Duration(rng.IntN(10*24*3600)) * time.Second)
			bot := (typ == storage.EventOpened || typ == storage.EventClicked) && rng.IntN(4) == 0
			evs = append(evs, &storage.Event{DomainID: d, UserID: u.ID, MessageID: m.ID, RecipientID: r.ID, Type: typ,
				Email: r.Email, Bot: bot, CreatedAt: when.Unix()})
			day := int(when.Sub(day0).Hours() / 24)
			all = append(all, gen{day: day, typ: typ, tags: tags, bot: bot, domain: r.Email[strings.IndexByte(r.Email, '@')+1:]})
		}
		if err := env.Server.DB.ImportEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
	}

	// count is the brute force: every generated human event of a day range, for a tag ("" all).
	count := func(from, to int, tag string) map[string]int64 {
		c := map[string]int64{}
		for _, g := range all {
			if g.bot || g.day < from || g.day > to {
				continue
			}
			if tag != "" && !containsTag(g.tags, tag) {
				continue
			}
			c[g.typ]++
		}
		return c
	}
	asStats := func(c map[string]int64) map[string]any {
		return map[string]any{"Sent": c[storage.EventAccepted], "Delivered": c[storage.EventDelivered],
			"Bounced": c[storage.EventBounced], "Opened": c[storage.EventOpened], "Clicked": c[storage.EventClicked],
			"Deferred": c[storage.EventDeferred], "Failed": c[storage.EventFailed],
			"Unsubscribed": c[storage.EventUnsubscribed], "Complained": c[storage.EventComplained]}
	}
	ymd := func(i int) string { return day0.AddDate(0, 0, i).Format("2006-01-02") }
	norm := func(v any) string {
		b, _ := json.Marshal(v)
		var x any
		json.Unmarshal(b, &x)
		b, _ = json.Marshal(x)
		return string(b)
	}

	for trial := 0; trial < 12; trial++ {
		from := rng.IntN(days)
		to := from + rng.IntN(days-from+10)
		length := to - from + 1
		res := env.MustAPI(map[string]any{"Command": "emailgateway.domainstats", "SessionID": u.SessionID, "DomainID": d,
			"StartDate": ymd(from), "EndDate": ymd(to)})
		if got, want := norm(res["Stats"]), norm(asStats(count(from, to, ""))); got != want {
			t.Fatalf("%s..%s Stats\n got %s\nwant %s", ymd(from), ymd(to), got, want)
		}
		prev := res["ComparisonStats"].(map[string]any)["PreviousPeriod"]
		if got, want := norm(prev), norm(asStats(count(from-length, from-1, ""))); got != want {
			t.Fatalf("%s..%s PreviousPeriod\n got %s\nwant %s", ymd(from), ymd(to), got, want)
		}
		wantTags := map[string]any{}
		for _, tag := range []string{"a", "b", "c"} {
			c := count(from, to, tag)
			var n int64
			for _, v := range c {
				n += v
			}
			if n > 0 {
				wantTags[tag] = asStats(c)
			}
		}
		if got, want := norm(res["TagStats"]), norm(wantTags); got != want {
			t.Fatalf("%s..%s TagStats\n got %s\nwant %s", ymd(from), ymd(to), got, want)
		}

		// aggrevents by type and by recipient domain.
		agg := env.MustAPI(map[string]any{"Command": "emailgateway.aggrevents", "SessionID": u.SessionID, "DomainID": d,
			"StartDate": ymd(from), "EndDate": ymd(to), "AggregateSize": 100})
		byType := map[string]int64{}
		for _, b := range agg["AggBuckets"].([]any) {
			bm := b.(map[string]any)
			n, _ := bm["doc_count"].(json.Number).Int64()
			byType[bm["key"].(string)] = n
		}
		c := count(from, to, "")
		for _, typ := range types {
			if byType[storage.LegacyEventName(typ)] != c[typ] {
				t.Fatalf("%s..%s aggrevents %s = %d, want %d", ymd(from), ymd(to), typ, byType[storage.LegacyEventName(typ)], c[typ])
			}
		}
		agg = env.MustAPI(map[string]any{"Command": "emailgateway.aggrevents", "SessionID": u.SessionID, "DomainID": d,
			"StartDate": ymd(from), "EndDate": ymd(to), "AggregatedField": "recipient_domain"})
		wantDom := map[string]int64{}
		for _, g := range all {
			if !g.bot && g.day >= from && g.day <= to {
				wantDom[g.domain]++
			}
		}
		gotDom := map[string]int64{}
		for _, b := range agg["AggBuckets"].([]any) {
			bm := b.(map[string]any)
			n, _ := bm["doc_count"].(json.Number).Int64()
			gotDom[bm["key"].(string)] = n
		}
		for k, v := range wantDom {
			if gotDom[k] != v {
				t.Fatalf("%s..%s recipient domain %s = %d, want %d (got %v)", ymd(from), ymd(to), k, gotDom[k], v, gotDom)
			}
		}
		if len(gotDom) != len(wantDom) {
			t.Fatalf("recipient domains %v, want %v", gotDom, wantDom)
		}
	}

	// dailyseries, day by day, over the whole range: the days with activity, keyed by date.
	res := env.MustAPI(map[string]any{"Command": "emailgateway.dailyseries", "SessionID": u.SessionID, "DomainID": d,
		"StartDate": ymd(0), "EndDate": ymd(days + 9)})
	series := res["Series"].(map[string]any)
	active := 0
	for i := 0; i < days+10; i++ {
		c := count(i, i, "")
		row, ok := series[ymd(i)]
		if len(c) == 0 {
			if ok {
				t.Fatalf("dailyseries has %s, a day without activity: %v", ymd(i), row)
			}
			continue
		}
		active++
		if got, want := norm(row), norm(asStats(c)); got != want {
			t.Fatalf("dailyseries %s\n got %s\nwant %s", ymd(i), got, want)
		}
	}
	if len(series) != active {
		t.Fatalf("dailyseries has %d days, want %d", len(series), active)
	}

	// getevents counts every event, bots included.
	ev := env.MustAPI(map[string]any{"Command": "emailgateway.getevents", "SessionID": u.SessionID, "DomainID": d,
		"StartFrom": 0, "RetrieveCount": 1})
	if n, _ := ev["TotalRecords"].(json.Number).Int64(); n != int64(len(all)) {
		t.Fatalf("getevents TotalRecords %d, want %d", n, len(all))
	}
}

func containsTag(tags []string, t string) bool {
	for _, x := range tags {
		if x == t {
			return true
		}
	}
	return false
}
