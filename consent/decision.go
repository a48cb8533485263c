package consent

import (
	"errors"
	"time"
)

// Actions a decision can be. They are stored in the consent log: never
// rename.
const (
	ActionShown     = "shown"
	ActionAcceptAll = "accept_all"
	ActionRejectAll = "reject_all"
	ActionCustom    = "custom"
	ActionWithdraw  = "withdraw"
)

// Actions lists every action, for counters that must show zero.
var Actions = []string{ActionShown, ActionAcceptAll, ActionRejectAll, ActionCustom, ActionWithdraw}

// ValidAction reports whether a is one of Actions.
func ValidAction(a string) bool {
	for _, x := range Actions {
		if a == x {
			return true
		}
	}
	return false
}

// Errors of Settings.Grant: the decision names something the site does
// not offer.
var (
	ErrUnknownPurpose = errors.New("the decision names a purpose the site does not offer")
	ErrUnknownService = errors.New("the decision names a service the site does not offer")
)

// Grant works out what a decision grants on a site with these settings:
// the purposes (necessary always among them) and the services mask.
// Accept all grants every purpose and service the site offers; reject
// all, withdraw and shown grant only necessary; custom grants exactly what
// is listed, and third_party is granted when at least one service is
// (each service is a choice of its own, with its country shown, so the
// purpose alone grants nothing). Names the site does not offer are an
// error whatever the action, so a broken banner shows.
func (s *Settings) Grant(action string, purposes, services []string) (Purposes, uint32, error) {
	granted := Purposes(Necessary)
	var mask uint32
	for _, id := range purposes {
		p, ok := PurposeByID(id)
		if !ok || !s.Enabled().Has(p) {
			return 0, 0, ErrUnknownPurpose
		}
		if p != ThirdParty {
			granted = granted.With(p)
		}
	}
	for _, id := range services {
		sv := s.Service(id)
		if sv == nil {
			return 0, 0, ErrUnknownService
		}
		mask |= 1 << sv.Bit
	}
	switch action {
	case ActionAcceptAll:
		return s.Enabled(), s.AllServices(), nil
	case ActionRejectAll, ActionWithdraw, ActionShown:
		return Purposes(Necessary), 0, nil
	}
	if mask != 0 {
		granted = granted.With(ThirdParty)
	}
	return granted, mask, nil
}

// Decision is one decision as it is recorded: what the visitor did and
// what that grants (Settings.Grant), with the context the consent log
// keeps as evidence. It holds no full address and no raw user agent.
type Decision struct {
	Site     string
	Time     time.Time // server time
	Action   string
	Lang     string // banner language
	TextHash string // SHA-256 (hex) of the banner text shown
	Granted  Purposes
	Services uint32
	GPC, DNT bool
	// IP is the truncated address (IPv4 /24, IPv6 /48), Browser the
	// browser family: all the log keeps of who decided.
	IP, Browser string
	Receipt     [ReceiptBytes]byte
}

// Choice reports whether d is a choice, i.e. anything but "shown": only a
// choice lists purposes in the log and sets the cookies.
func (d *Decision) Choice() bool { return d.Action != ActionShown }

// KeepsVisitorID reports whether the visitor id cookie (sezim_vid) may
// exist after d: only while statistics is granted; every other choice
// deletes it.
func (d *Decision) KeepsVisitorID() bool { return d.Granted.Has(Statistics) }

// Lifetime is how long a preference cookie lasts.
func (s *Settings) Lifetime() time.Duration {
	return time.Duration(s.LifetimeDays) * 24 * time.Hour
}

// CookieFor is the preference cookie that records choice d for the
// site's lifetime from d.Time. A refusal (necessary alone, no service) is
// remembered without any identifier: it carries no receipt.
func (s *Settings) CookieFor(d *Decision) Cookie {
	issued := d.Time.Truncate(time.Second)
	c := Cookie{Purposes: d.Granted, Services: d.Services, Issued: issued.Unix(), Expires: issued.Add(s.Lifetime()).Unix()}
	if d.Granted&^Purposes(Necessary) != 0 || d.Services != 0 {
		c.Receipt, c.HasReceipt = d.Receipt, true
	}
	return c
}
