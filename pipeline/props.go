package pipeline

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline/scrub"
	"github.com/sezim-analytics/sezim/site"
)

// Event properties: the step that decides which of a hit's properties an
// event keeps.
//
// A property is kept when the site lists its key (site.Site.Properties);
// its value is normalised by pipeline/scrub like an event name (an e-mail,
// a phone number, a token become placeholders; control characters and
// markup refuse the property, not the event) and cut to
// site.MaxPropertyValue bytes. A key's distinct values per site and UTC
// day are capped at MaxPropertyValues: a value past the cap is stored as
// OtherProperty, so that a property that carries something unique per
// visitor (an order number the scrubber does not recognise) cannot turn
// into one row per visitor. The cap is per process: with n collectors a
// key has at most n × MaxPropertyValues values a day.

// MaxPropertyValues is how many distinct values one property key of one
// site keeps per UTC day.
const MaxPropertyValues = 100

// OtherProperty is the value a property past its day's cap is stored as.
const OtherProperty = "(other)"

// Why a property was not kept: bounded metric label values.
const (
	propUnknownKey = "unknown_key"
	propBadValue   = "bad_value"
	propDuplicate  = "duplicate_key"
)

// propValues remembers each (site, key)'s distinct values of the current
// UTC day.
type propValues struct {
	mu   sync.Mutex
	day  int64
	seen map[[2]string]map[string]struct{}
}

// admit returns v, or OtherProperty when the key already has its day's
// MaxPropertyValues other values.
func (p *propValues) admit(at time.Time, siteID, key, v string) string {
	day := at.Unix() / 86400
	p.mu.Lock()
	defer p.mu.Unlock()
	if day != p.day || p.seen == nil {
		p.day, p.seen = day, map[[2]string]map[string]struct{}{}
	}
	k := [2]string{siteID, key}
	vals := p.seen[k]
	if vals == nil {
		vals = map[string]struct{}{}
		p.seen[k] = vals
	}
	if _, ok := vals[v]; ok {
		return v
	}
	if len(vals) >= MaxPropertyValues {
		return OtherProperty
	}
	vals[v] = struct{}{}
	return v
}

// keepProps fills out's properties from h's: the site's keys only, values
// scrubbed, bounded and capped. Every property not kept is counted by why.
func (p *Pipeline) keepProps(h *event.Hit, s *site.Site, out *event.Event) {
	out.PropKeys, out.PropValues = out.PropKeys[:0], out.PropValues[:0]
	n := min(len(h.PropKeys), len(h.PropValues))
	for i := range n {
		key := h.PropKeys[i]
		if !s.AcceptsProperty(key) {
			p.propsDropped.WithLabelValues(propUnknownKey).Inc()
			continue
		}
		if slices.Contains(out.PropKeys, key) {
			p.propsDropped.WithLabelValues(propDuplicate).Inc()
			continue
		}
		v, why := scrub.Value(h.PropValues[i], site.MaxPropertyValue)
		if why != scrub.ReasonNone || v == "" {
			p.propsDropped.WithLabelValues(propBadValue).Inc()
			continue
		}
		out.PropKeys = append(out.PropKeys, key)
		out.PropValues = append(out.PropValues, p.propSeen.admit(out.Time, s.ID, key, v))
	}
}

// newPropsDropped is the counter of properties not kept.
func newPropsDropped(f interface {
	NewCounterVec(prometheus.CounterOpts, []string) *prometheus.CounterVec
}) *prometheus.CounterVec {
	return f.NewCounterVec(prometheus.CounterOpts{
		Name: "sezim_pipeline_properties_dropped_total",
		Help: "Event properties not kept, by reason: a key the site does not list, a refused or empty value, a key sent twice.",
	}, []string{"reason"})
}
