package consent

import (
	"sync"
	"time"
)

// State is what a visitor's stored preference allows, as far as the tier
// rules need to know. The zero value is "no valid consent".
type State uint8

const (
	// StateNone: no cookie, or one that is unsigned, tampered, expired,
	// for another site or for another policy version. Fail closed: it
	// counts as no consent.
	StateNone State = iota
	// StateRefused: a valid cookie that grants no statistics.
	StateRefused
	// StateStatistics: a valid cookie that grants statistics.
	StateStatistics
	// StateIdentified: a valid cookie that grants statistics and the
	// identified purpose, so the site's user id may be kept too.
	StateIdentified
)

// State is what c allows. Identified without statistics allows nothing
// more than a refusal: there is no per-event row to link an account to.
func (c *Cookie) State() State {
	switch {
	case c.Grants(Statistics) && c.Grants(Identified):
		return StateIdentified
	case c.Grants(Statistics):
		return StateStatistics
	}
	return StateRefused
}

// cookies recycles the Cookie that State decodes into: a Cookie's strings
// point into its own buffer, so the compiler cannot keep it on the stack,
// and State runs for every event that carries a cookie.
var cookies = sync.Pool{New: func() any { return new(Cookie) }}

// State is what the cookie value allows on site, whose consent settings
// are cs (nil: the site has no consent, so nothing can be granted), at
// now. Anything but a valid, signed, unexpired cookie for this site and
// its current policy version is StateNone; so are nil keys. It does not
// allocate.
func (k *Keys) State(value, site string, cs *Settings, now time.Time) State {
	if k == nil || cs == nil || value == "" {
		return StateNone
	}
	c := cookies.Get().(*Cookie)
	defer func() {
		*c = Cookie{} // no receipt lingers in the pool
		cookies.Put(c)
	}()
	if k.Check(value, site, cs.PolicyVersion, now, c) != nil {
		return StateNone
	}
	return c.State()
}
