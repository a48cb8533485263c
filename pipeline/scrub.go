package pipeline

import (
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline/referrer"
	"github.com/sezim-analytics/sezim/pipeline/scrub"
	"github.com/sezim-analytics/sezim/site"
)

// scrubValues runs every free-form value of an event through pipeline/scrub
// before anything else sees it: the path (with the site's own patterns)
// into out.Path, the UTM values in place (so the channel is classified on
// what is stored), and the event name into out.Name. It returns why a value
// was refused, or DropNone; out then holds nothing worth keeping.
func scrubValues(s *site.Site, path string, utm *referrer.UTM, name string, out *event.Event) event.Drop {
	var why [7]scrub.Reason
	out.Path, why[0] = scrub.Path(path, s.PathRules, MaxPath)
	utm.Source, why[1] = scrub.Value(utm.Source, referrer.MaxUTM)
	utm.Medium, why[2] = scrub.Value(utm.Medium, referrer.MaxUTM)
	utm.Campaign, why[3] = scrub.Value(utm.Campaign, referrer.MaxUTM)
	utm.Content, why[4] = scrub.Value(utm.Content, referrer.MaxUTM)
	utm.Term, why[5] = scrub.Value(utm.Term, referrer.MaxUTM)
	out.Name, why[6] = scrub.Value(name, MaxName)
	for _, w := range why {
		switch w {
		case scrub.ReasonNone:
		case scrub.ReasonControl:
			return event.DropControl
		case scrub.ReasonMarkup:
			return event.DropMarkup
		default:
			return event.DropMalformed
		}
	}
	return event.DropNone
}
