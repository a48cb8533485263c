package pipeline

import (
	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/site"
)

// ConsentState is what the visitor's stored preference allows, as far as the
// decision needs to know; the consent package owns its rules
// (consent.State). The zero value is "no valid consent".
type ConsentState = consent.State

// The consent states, named for the tier table.
const (
	ConsentNone       = consent.StateNone
	ConsentRefused    = consent.StateRefused
	ConsentStatistics = consent.StateStatistics
	ConsentIdentified = consent.StateIdentified
)

// Facts are everything the tier decision depends on, gathered by the
// collector and the earlier pipeline steps.
type Facts struct {
	Malformed bool
	// Unsafe is why a free-form value was refused (DropControl,
	// DropMarkup); DropNone when every value was kept.
	Unsafe      event.Drop
	UnknownSite bool
	BadOrigin   bool
	Bot         bool
	Prefetch    bool
	DNT         bool
	GPC         bool
	Consent     ConsentState
	// The site's settings; the zero value means "anonymous".
	OnDNT, OnGPC, OnRefusal site.Action
}

// Decide is the one place that says what may be kept of an event: the tier
// table of ARCHITECTURE.md. The order matters and is tested as one table:
//
//  1. input we cannot trust or do not serve is dropped (malformed, a value
//     with control characters or markup, unknown site, wrong origin), then
//     robots and prefetches;
//  2. a browser signal (GPC, DNT) is honoured as the site says, and it wins
//     over a stored consent: the signal may be newer than the choice, and
//     honouring it errs on the side of collecting less;
//  3. a valid consent that grants statistics makes the event consented;
//  4. a refusal is dropped or kept anonymous as the site says;
//  5. everything else (no cookie, or an invalid one) is anonymous.
func Decide(f Facts) (event.Tier, event.Drop) {
	switch {
	case f.Malformed:
		return event.TierDrop, event.DropMalformed
	case f.Unsafe != event.DropNone:
		return event.TierDrop, f.Unsafe
	case f.UnknownSite:
		return event.TierDrop, event.DropUnknownSite
	case f.BadOrigin:
		return event.TierDrop, event.DropOrigin
	case f.Bot:
		return event.TierDrop, event.DropBot
	case f.Prefetch:
		return event.TierDrop, event.DropPrefetch
	case f.GPC && f.OnGPC == site.ActionDrop:
		return event.TierDrop, event.DropGPC
	case f.DNT && f.OnDNT == site.ActionDrop:
		return event.TierDrop, event.DropDNT
	case f.GPC || f.DNT:
		return event.TierAnonymous, event.DropNone
	case f.Consent == ConsentStatistics || f.Consent == ConsentIdentified:
		return event.TierConsented, event.DropNone
	case f.Consent == ConsentRefused && f.OnRefusal == site.ActionDrop:
		return event.TierDrop, event.DropRefused
	default:
		return event.TierAnonymous, event.DropNone
	}
}
