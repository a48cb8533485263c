package pipeline

import (
	"time"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/site"
)

// ConsentFromCookie is the Consent hook of Options that reads the visitor's
// sezim_consent cookie with keys (consent.Keys.State: fail closed, no
// allocation). nil keys make every event "no consent".
func ConsentFromCookie(keys *consent.Keys) func(h *event.Hit, s *site.Site, now time.Time) ConsentState {
	return func(h *event.Hit, s *site.Site, now time.Time) ConsentState {
		return keys.State(h.ConsentCookie, s.ID, s.Consent, now)
	}
}
