package subject

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// Export is everything held about one subject (policy 4.2, 6.1.1): what,
// from which source, for which purposes, until when, and to which
// countries it may be transferred. It encodes as the JSON a subject is
// given.
type Export struct {
	Request   string    `json:"request"` // the request's id
	Subject   Ref       `json:"subject"`
	Generated time.Time `json:"generated"`
	// Reaches says which rows this kind of reference reaches.
	Reaches string `json:"reaches"`
	// Blocked is true when the subject is blocked: Held still counts
	// what is stored, but no row is shown until the block is lifted.
	Blocked bool `json:"blocked"`
	// Held counts the rows held per table, hidden ones included.
	Held Held `json:"held"`
	// Hidden counts rows left out because a block covers them.
	Hidden   uint64   `json:"hidden,omitempty"`
	Visitors []string `json:"visitors"`
	Receipts []string `json:"receipts"`
	// Events are the consented per-event rows (source: the tracking
	// pixel, web beacon or server session log of a visit the visitor
	// consented to statistics for).
	Events []EventRow `json:"events"`
	// ConsentHistory is every consent-log row of the subject's receipts.
	ConsentHistory []ConsentRow `json:"consent_history"`
	// Purposes are, per site, what the newest decision granted and denied.
	Purposes []Purposes `json:"purposes"`
	// Transfers are the third-party services granted, with the country
	// each sends data to (cross-border transfer, policy 11).
	Transfers []Transfer `json:"transfers"`
	// Retention gives, per kind of row and site, the period and the day
	// the oldest row held will be destroyed.
	Retention []Retention `json:"retention"`
}

// Held counts rows per table.
type Held struct {
	Events     uint64 `json:"events"`
	ConsentLog uint64 `json:"consent_log"`
	Links      uint64 `json:"receipt_links"`
}

// EventRow is one consented event as stored.
type EventRow struct {
	Site      string    `json:"site"`
	Time      time.Time `json:"time"`
	VisitorID string    `json:"visitor_id"`
	UserID    string    `json:"user_id,omitempty"`
	IP        string    `json:"ip_truncated,omitempty"`
	Kind      string    `json:"kind"` // pageview or custom
	Name      string    `json:"name,omitempty"`
	Path      string    `json:"path"`
	RefHost   string    `json:"referrer_host,omitempty"`
	Browser   string    `json:"browser,omitempty"`
	OS        string    `json:"os,omitempty"`
	Device    string    `json:"device,omitempty"`
	Country   string    `json:"country,omitempty"`
	// DeleteFrom is the day from which the retention job destroys it.
	DeleteFrom string `json:"delete_from"`
}

// ConsentRow is one decision of the consent log.
type ConsentRow struct {
	Receipt         string    `json:"receipt"`
	Site            string    `json:"site"`
	Time            time.Time `json:"time"`
	Action          string    `json:"action"`
	PolicyVersion   string    `json:"policy_version"`
	Lang            string    `json:"lang"`
	PurposesGranted []string  `json:"purposes_granted"`
	PurposesDenied  []string  `json:"purposes_denied"`
	Services        []string  `json:"services"` // id:COUNTRY
	GPC             bool      `json:"gpc"`
	DNT             bool      `json:"dnt"`
	IP              string    `json:"ip_truncated,omitempty"`
	Browser         string    `json:"browser,omitempty"`
	DeleteFrom      string    `json:"delete_from"`
}

// Purposes is what a site's newest decision granted and denied.
type Purposes struct {
	Site    string    `json:"site"`
	Receipt string    `json:"receipt"`
	Time    time.Time `json:"time"`
	Granted []string  `json:"granted"`
	Denied  []string  `json:"denied"`
}

// Transfer is a granted third-party service and its country.
type Transfer struct {
	Service string `json:"service"`
	Country string `json:"country"`
}

// Retention is one kind of row's period on one site.
type Retention struct {
	Table string `json:"table"`
	Site  string `json:"site"`
	Rule  string `json:"rule"`
	Days  int    `json:"days"`
	// OldestDeleteFrom is when the oldest row held goes; "" when none.
	OldestDeleteFrom string `json:"oldest_delete_from,omitempty"`
}

// reaches explains a reference kind, for the export's reader.
var reaches = map[Kind]string{
	KindVisitor: "consented events with this visitor id; the receipts of the decisions that set it and their consent-log rows",
	KindReceipt: "this receipt's consent-log rows; through its link to the visitor id it set, that visitor's consented events and other receipts",
	KindUser:    "consented events carrying this user id; the consent history of the visitors seen on them (events before signing in: ask by visitor id)",
}

// Export gathers everything held about the subject and records the
// request. A subject with no rows gets an empty export, which is an
// answer too ("nothing is held"). If the request cannot be recorded, no
// data is returned.
func (s *Service) Export(ctx context.Context, req Request) (*Export, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	out := Outcome{ID: newID(), Kind: "export", Subject: req.Ref.Fingerprint()}
	ex, err := s.export(ctx, req.Ref)
	if err == nil {
		ex.Request = out.ID
		out.Rows = uint64(len(ex.Events) + len(ex.ConsentHistory))
		out.Result = "exported"
		if ex.Blocked {
			out.Result = "blocked: counts only"
		}
	}
	if rerr := s.record(ctx, &req, &out, AuditExport, err); rerr != nil {
		return nil, rerr
	}
	return ex, err
}

func (s *Service) export(ctx context.Context, ref Ref) (*Export, error) {
	sc, err := s.resolve(ctx, ref)
	if err != nil {
		return nil, err
	}
	blocks, err := readBlocks(ctx, s.o.Store)
	if err != nil {
		return nil, err
	}
	bm := blockMap{}
	for _, b := range blocks {
		k := blockKey{b.Kind, b.Value}
		bm[k] = append(bm[k], b.Site)
	}
	ex := &Export{Subject: ref, Generated: s.o.Now().UTC(), Reaches: reaches[ref.Kind],
		Visitors: nonNil(sc.visitors), Receipts: nonNil(sc.receipts),
		Events: []EventRow{}, ConsentHistory: []ConsentRow{}, Purposes: []Purposes{}, Transfers: []Transfer{}, Retention: []Retention{}}
	// The subject is blocked when its reference is, or, for a receipt,
	// when every visitor it leads to is.
	ex.Blocked = bm.has(ref.Kind, ref.Value, ref.Site) || (ref.Kind == KindReceipt && len(sc.visitors) > 0 && all(sc.visitors, func(v string) bool {
		return bm.has(KindVisitor, v, ref.Site)
	}))
	if sc.events != "" {
		if err := s.exportEvents(ctx, sc.events, bm, ex); err != nil {
			return nil, err
		}
	}
	if len(sc.receipts) > 0 {
		if err := s.exportConsent(ctx, sc.receipts, ref.Site, ex); err != nil {
			return nil, err
		}
	}
	if sc.links != "" {
		if ex.Held.Links, err = store.CountWhere(ctx, s.o.Store, s.table("consent_visitors"), sc.links); err != nil {
			return nil, err
		}
	}
	if ex.Blocked {
		ex.Hidden = uint64(len(ex.Events) + len(ex.ConsentHistory))
		ex.Visitors, ex.Receipts = []string{}, []string{}
		ex.Events, ex.ConsentHistory, ex.Purposes, ex.Transfers = []EventRow{}, []ConsentRow{}, []Purposes{}, []Transfer{}
	}
	s.retention(ex)
	return ex, nil
}

func (s *Service) exportEvents(ctx context.Context, where string, bm blockMap, ex *Export) error {
	q := fmt.Sprintf("SELECT site, toUInt32(ts), visitor_id, user_id, ip, kind, name, path, ref_host, browser, os, device, country FROM %s WHERE %s ORDER BY ts, site",
		s.table("events"), where)
	err := s.o.Store.Query(ctx, q, func(r store.Row) error {
		ex.Held.Events++
		e := EventRow{Site: r.String(0), Time: time.Unix(int64(r.Uint64(1)), 0).UTC(), VisitorID: r.String(2), UserID: r.String(3),
			IP: r.String(4), Kind: kindName(r.Uint64(5)), Name: r.String(6), Path: r.String(7), RefHost: r.String(8),
			Browser: r.String(9), OS: r.String(10), Device: r.String(11), Country: r.String(12)}
		if bm.has(KindVisitor, e.VisitorID, e.Site) || bm.has(KindUser, e.UserID, e.Site) {
			ex.Hidden++
			return nil
		}
		e.DeleteFrom = s.deleteFrom(e.Site, e.Time, func(r site.Retention) int { return r.IdentifiedDays })
		ex.Events = append(ex.Events, e)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read the subject's events: %w", err)
	}
	return nil
}

func (s *Service) exportConsent(ctx context.Context, receipts []string, siteID string, ex *Export) error {
	q := fmt.Sprintf("SELECT receipt, site, toUInt32(ts), action, policy_version, lang, purposes_granted, purposes_denied, services, gpc, dnt, ip, browser FROM %s WHERE receipt IN %s%s ORDER BY ts, chain, seq",
		s.table("consent_log"), inList(receipts), siteCond(siteID))
	newest := map[string]*Purposes{}
	transfers := map[Transfer]bool{}
	err := s.o.Store.Query(ctx, q, func(r store.Row) error {
		ex.Held.ConsentLog++
		c := ConsentRow{Receipt: r.String(0), Site: r.String(1), Time: time.Unix(int64(r.Uint64(2)), 0).UTC(), Action: r.String(3),
			PolicyVersion: r.String(4), Lang: r.String(5), PurposesGranted: split(r.String(6)), PurposesDenied: split(r.String(7)),
			Services: split(r.String(8)), GPC: r.Uint64(9) == 1, DNT: r.Uint64(10) == 1, IP: r.String(11), Browser: r.String(12)}
		c.DeleteFrom = s.deleteFrom(c.Site, c.Time, func(r site.Retention) int { return r.ConsentLogDays })
		ex.ConsentHistory = append(ex.ConsentHistory, c)
		if c.Action != "shown" {
			// Rows come oldest first: the last choice per site wins.
			newest[c.Site] = &Purposes{Site: c.Site, Receipt: c.Receipt, Time: c.Time, Granted: c.PurposesGranted, Denied: c.PurposesDenied}
		}
		for _, sv := range c.Services {
			id, country, _ := strings.Cut(sv, ":")
			transfers[Transfer{Service: id, Country: country}] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot read the subject's consent history: %w", err)
	}
	for _, p := range newest {
		ex.Purposes = append(ex.Purposes, *p)
	}
	sort.Slice(ex.Purposes, func(i, j int) bool { return ex.Purposes[i].Site < ex.Purposes[j].Site })
	for t := range transfers {
		ex.Transfers = append(ex.Transfers, t)
	}
	sort.Slice(ex.Transfers, func(i, j int) bool {
		a, b := ex.Transfers[i], ex.Transfers[j]
		return a.Service < b.Service || a.Service == b.Service && a.Country < b.Country
	})
	return nil
}

// retention fills the periods of the kinds of rows the export holds.
func (s *Service) retention(ex *Export) {
	type key struct{ table, site string }
	oldest := map[key]time.Time{}
	note := func(k key, t time.Time) {
		if o, ok := oldest[k]; !ok || t.Before(o) {
			oldest[k] = t
		}
	}
	for _, e := range ex.Events {
		note(key{"events", e.Site}, e.Time)
	}
	for _, c := range ex.ConsentHistory {
		note(key{"consent_log", c.Site}, c.Time)
	}
	sites := map[string]bool{}
	for k := range oldest {
		sites[k.site] = true
	}
	if ex.Subject.Site != "" {
		sites[ex.Subject.Site] = true
	}
	var ids []string
	for id := range sites {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		st := s.site(id)
		if st == nil {
			continue
		}
		for _, r := range []struct {
			table, rule string
			days        int
		}{
			{"events", "identified_days", st.Retention.IdentifiedDays},
			{"consent_visitors", "identified_days", st.Retention.IdentifiedDays},
			{"consent_log", "consent_log_days", st.Retention.ConsentLogDays},
		} {
			rt := Retention{Table: r.table, Site: id, Rule: r.rule, Days: r.days}
			if t, ok := oldest[key{r.table, id}]; ok {
				rt.OldestDeleteFrom = deleteDay(t, st.Location, r.days)
			}
			ex.Retention = append(ex.Retention, rt)
		}
	}
}

func (s *Service) site(id string) *site.Site {
	if s.o.Sites == nil {
		return nil
	}
	return s.o.Sites.Site(id)
}

// deleteFrom is the day the retention job (privacy/retention) destroys a
// row of site stored at t: it deletes rows from before the day that is
// the period before today, so a row of day D goes on day D + days + 1.
func (s *Service) deleteFrom(siteID string, t time.Time, days func(site.Retention) int) string {
	st := s.site(siteID)
	if st == nil {
		return ""
	}
	return deleteDay(t, st.Location, days(st.Retention))
}

func deleteDay(t time.Time, loc *time.Location, days int) string {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d+days+1, 0, 0, 0, 0, loc).Format(time.DateOnly)
}

func kindName(k uint64) string {
	switch k {
	case 1:
		return "pageview"
	case 2:
		return "custom"
	}
	return "unknown"
}

func split(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func all(list []string, f func(string) bool) bool {
	for _, v := range list {
		if !f(v) {
			return false
		}
	}
	return true
}
