// Package pipeline is the event path: every event a collector receives goes
// through Process, which decides its tier once, anonymises and enriches what
// may be kept, and hands the result to a Sink (the batch writer, later the
// write-ahead log). The steps are listed in order in Process; each lives in
// its own package with its own tests (bots, useragent, geo, referrer, anon).
package pipeline

import (
	"errors"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/bots"
	"github.com/sezim-analytics/sezim/pipeline/geo"
	"github.com/sezim-analytics/sezim/pipeline/referrer"
	"github.com/sezim-analytics/sezim/pipeline/scrub"
	"github.com/sezim-analytics/sezim/pipeline/useragent"
	"github.com/sezim-analytics/sezim/site"
)

// MaxPath caps the stored page path, in bytes.
const MaxPath = 512

// MaxName caps a custom event's name, in bytes; a longer one is refused as
// malformed (a sender's bug shows instead of a cut name).
const MaxName = 200

// ErrBackpressure is returned when the sink cannot take more events now;
// the collector answers 503 with Retry-After.
var ErrBackpressure = errors.New("event buffer is full")

// Sink receives kept events. Write must copy what it keeps: the Event is
// reused after it returns.
type Sink interface {
	Write(e *event.Event) error
}

// Options configure a Pipeline.
type Options struct {
	Sites *site.Config
	Salts *anon.Salts
	Geo   *geo.DB // nil: no geo database
	Sink  Sink
	// Consent reads the consent cookie; nil treats every event as having
	// no consent (fail closed).
	Consent func(h *event.Hit, s *site.Site, now time.Time) ConsentState
	// Identified receives the per-event row of each consented event when
	// Sink is not a ConsentedSink (see identified.go); nil: none.
	Identified IdentifiedSink
	// Blocked lists the subjects whose identified rows are not kept
	// (privacy/subject.BlockSet); nil: none.
	Blocked BlockList
	Reg     prometheus.Registerer
	// Now is the clock (default time.Now). The visitor hash always uses
	// the salt of the day the event is received, not of the event's own
	// time: an imported log line from last month is hashed with today's
	// salt, since last month's salt is long destroyed.
	Now func() time.Time
}

// Pipeline processes hits. It is safe for concurrent use.
type Pipeline struct {
	o        Options
	received *prometheus.CounterVec
	accepted *prometheus.CounterVec
	dropped  *prometheus.CounterVec
	// propsDropped and propSeen belong to the properties step (props.go).
	propsDropped *prometheus.CounterVec
	propSeen     propValues
	// The counters of the hot path, resolved once: a label lookup per
	// event hashes the label values every time.
	hot [numSources]struct {
		received prometheus.Counter
		accepted [3]prometheus.Counter // by tier
	}
}

const numSources = int(event.SourceSessionLog) + 1

// New returns a Pipeline and registers its metrics.
func New(o Options) *Pipeline {
	if o.Reg == nil {
		o.Reg = prometheus.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	f := promauto.With(o.Reg)
	useragent.Init()
	p := &Pipeline{
		o: o,
		received: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sezim_pipeline_events_received_total", Help: "Events received, by source."}, []string{"source"}),
		accepted: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sezim_pipeline_events_accepted_total", Help: "Events kept, by source and tier."}, []string{"source", "tier"}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "sezim_pipeline_events_dropped_total", Help: "Events not kept, by source and reason."}, []string{"source", "reason"}),
		propsDropped: newPropsDropped(f),
	}
	for src := event.Source(0); int(src) < numSources; src++ {
		h := &p.hot[src]
		h.received = p.received.WithLabelValues(src.String())
		for _, tier := range []event.Tier{event.TierAnonymous, event.TierConsented} {
			h.accepted[tier] = p.accepted.WithLabelValues(src.String(), tier.String())
		}
	}
	return p
}

// Reject counts an event the collector could not even decode.
func (p *Pipeline) Reject(src event.Source, why event.Drop) {
	p.received.WithLabelValues(src.String()).Inc()
	p.dropped.WithLabelValues(src.String(), string(why)).Inc()
}

// Process decides, anonymises and enriches one hit, filling out, and writes
// what may be kept to the sink. The hit's IP address and user agent are
// cleared before it returns, whatever the outcome. The returned error is
// the sink's (ErrBackpressure when full); the event then counts as not kept.
func (p *Pipeline) Process(h *event.Hit, out *event.Event) (event.Tier, event.Drop, error) {
	defer func() { h.IP, h.UserAgent = netip.Addr{}, "" }()
	if int(h.Source) >= numSources {
		h.Source = 0
	}
	p.hot[h.Source].received.Inc()
	src := h.Source.String()
	tier, why, s, consent, bot := p.decide(h, out)
	if tier == event.TierDrop {
		p.dropped.WithLabelValues(src, dropLabel(why, bot)).Inc()
		return tier, why, nil
	}
	p.enrich(h, s, out)
	out.Tier = tier
	if err := p.write(h, out, consent); err != nil {
		p.dropped.WithLabelValues(src, "backpressure").Inc()
		return event.TierDrop, "", err
	}
	// write may have kept a blocked subject's event as anonymous.
	tier = out.Tier
	p.hot[h.Source].accepted[tier].Inc()
	return tier, "", nil
}

// decide runs the steps that can drop an event: site and origin, page URL,
// bots, prefetch, then the tier table. It fills out's page fields, and
// returns the bot detector's reason for the drop counter.
func (p *Pipeline) decide(h *event.Hit, out *event.Event) (event.Tier, event.Drop, *site.Site, ConsentState, bots.Reason) {
	var f Facts
	s := p.o.Sites.Site(h.SiteID)
	if s == nil {
		f.UnknownSite = true
		tier, why := Decide(f)
		return tier, why, nil, ConsentNone, bots.ReasonNone
	}
	f.OnDNT, f.OnGPC, f.OnRefusal = s.OnDNT, s.OnGPC, s.OnRefusal

	// Step: page URL → path and UTM; a page on another host is refused.
	// The path is cut only once scrubbed: cut first, it could keep half of
	// an e-mail address.
	host, path, utm, ok := referrer.ParsePage(h.URL, max(len(h.URL), 1))
	f.Malformed = !ok || (h.Source != event.SourceSessionLog && host == "") || len(h.Name) > MaxName
	// A browser's Origin, when sent, must be one the site configured; a
	// request without one (the pixel, a session log, a server) is judged
	// by its page URL alone.
	f.BadOrigin = ok && ((host != "" && !s.AllowsHost(host)) || (h.Origin != "" && !s.AllowsOrigin(h.Origin)))
	out.SiteID = s.ID
	// Step: free-form values lose what is personal, or are refused.
	f.Unsafe = scrubValues(s, path, &utm, h.Name, out)
	out.UTMSource, out.UTMMedium, out.UTMCampaign, out.UTMContent, out.UTMTerm = utm.Source, utm.Medium, utm.Campaign, utm.Content, utm.Term
	var refHost string
	refHost, out.Channel = referrer.Classify(h.Referrer, host, utm)
	out.RefHost = scrub.Host(refHost)

	// Step: robots, by user agent and headers.
	var bot bots.Reason
	f.Bot, bot = bots.Detect(h.UserAgent, h.HasAccept, h.HasAcceptLang)
	f.Prefetch = h.Purpose != ""
	f.DNT, f.GPC = h.DNT, h.GPC

	// Step: the stored consent.
	if p.o.Consent != nil {
		f.Consent = p.o.Consent(h, s, h.Time)
	}
	tier, why := Decide(f)
	return tier, why, s, f.Consent, bot
}

// botLabels are the drop counter's reasons for robots, one per detector
// reason ("bot_headless", "bot_http_client", …): a closed set, built once
// so that counting a robot does not concatenate strings.
var botLabels = func() map[bots.Reason]string {
	m := make(map[bots.Reason]string, len(bots.Reasons()))
	for _, r := range bots.Reasons() {
		m[r] = string(event.DropBot) + "_" + string(r)
	}
	return m
}()

// dropLabel is the reason label of a dropped event: the tier table's
// reason, refined by the bot detector's for robots.
func dropLabel(why event.Drop, bot bots.Reason) string {
	if why == event.DropBot {
		if l, ok := botLabels[bot]; ok {
			return l
		}
	}
	return string(why)
}

// enrich runs the steps that describe a kept event, then anonymises it: the
// full address is used for the geo lookup only, and the visitor hash is made
// from the truncated one.
func (p *Pipeline) enrich(h *event.Hit, s *site.Site, out *event.Event) {
	out.Time = h.Time.UTC().Truncate(time.Second)
	out.Kind = event.KindPageview
	if h.Name != "" {
		out.Kind = event.KindCustom // out.Name is the scrubbed name
	}
	ua := useragent.Parse(h.UserAgent)
	out.Browser, out.BrowserVersion, out.OS, out.Device = ua.Browser, ua.Version, ua.OS, string(ua.Device)
	out.Country, out.Region = p.o.Geo.Lookup(h.IP)
	out.Screen = referrer.ScreenClass(h.Screen)
	out.Language = referrer.Language(h.Language, h.AcceptLanguage)
	ip := anon.TruncateIP(h.IP)
	out.SaltDay, out.Visitor = p.o.Salts.Hash(p.o.Now(), s.ID, ip, h.UserAgent)
	p.keepProps(h, s, out)
}
