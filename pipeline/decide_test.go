package pipeline

import (
	"testing"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/site"
)

func TestDecide(t *testing.T) {
	drop, anon := site.ActionDrop, site.ActionAnonymous
	cases := []struct {
		name string
		f    Facts
		tier event.Tier
		why  event.Drop
	}{
		{"plain visit", Facts{}, event.TierAnonymous, ""},
		{"malformed first", Facts{Malformed: true, Bot: true, Consent: ConsentStatistics}, event.TierDrop, event.DropMalformed},
		{"control character, even with consent", Facts{Unsafe: event.DropControl, Bot: true, Consent: ConsentStatistics}, event.TierDrop, event.DropControl},
		{"markup", Facts{Unsafe: event.DropMarkup, GPC: true}, event.TierDrop, event.DropMarkup},
		{"malformed before markup", Facts{Malformed: true, Unsafe: event.DropMarkup}, event.TierDrop, event.DropMalformed},
		{"unknown site", Facts{UnknownSite: true, Consent: ConsentStatistics}, event.TierDrop, event.DropUnknownSite},
		{"bad origin", Facts{BadOrigin: true}, event.TierDrop, event.DropOrigin},
		{"bot even with consent", Facts{Bot: true, Consent: ConsentStatistics}, event.TierDrop, event.DropBot},
		{"prefetch", Facts{Prefetch: true}, event.TierDrop, event.DropPrefetch},
		{"gpc drop", Facts{GPC: true, OnGPC: drop}, event.TierDrop, event.DropGPC},
		{"gpc anonymous", Facts{GPC: true, OnGPC: anon}, event.TierAnonymous, ""},
		{"gpc default is anonymous", Facts{GPC: true}, event.TierAnonymous, ""},
		{"gpc wins over consent", Facts{GPC: true, Consent: ConsentStatistics}, event.TierAnonymous, ""},
		{"gpc drop wins over consent", Facts{GPC: true, OnGPC: drop, Consent: ConsentStatistics}, event.TierDrop, event.DropGPC},
		{"dnt drop", Facts{DNT: true, OnDNT: drop}, event.TierDrop, event.DropDNT},
		{"dnt anonymous with consent", Facts{DNT: true, Consent: ConsentStatistics}, event.TierAnonymous, ""},
		{"dnt anonymous, gpc drop", Facts{DNT: true, GPC: true, OnGPC: drop}, event.TierDrop, event.DropGPC},
		{"consented", Facts{Consent: ConsentStatistics}, event.TierConsented, ""},
		{"consented with identified", Facts{Consent: ConsentIdentified}, event.TierConsented, ""},
		{"gpc wins over identified", Facts{GPC: true, Consent: ConsentIdentified}, event.TierAnonymous, ""},
		{"refused, site keeps anonymous", Facts{Consent: ConsentRefused}, event.TierAnonymous, ""},
		{"refused, site drops", Facts{Consent: ConsentRefused, OnRefusal: drop}, event.TierDrop, event.DropRefused},
		{"no consent, refusal drop does not apply", Facts{Consent: ConsentNone, OnRefusal: drop}, event.TierAnonymous, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tier, why := Decide(c.f)
			if tier != c.tier || why != c.why {
				t.Fatalf("Decide(%+v) = %v %q, want %v %q", c.f, tier, why, c.tier, c.why)
			}
		})
	}
}
