package pipeline

import (
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/store"
)

// EventColumns are the columns of sezim_stats.events, in the order
// EventRow gives their values.
var EventColumns = []string{
	"salt_day", "site", "ts", "visitor", "kind", "name", "path", "ref_host", "channel",
	"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
	"country", "region", "browser", "browser_version", "os", "device", "screen", "language",
	"batch_id",
}

// EventRow gives e's values in EventColumns order. batchID names the insert
// the row belongs to (see pipeline/wal): it makes a replayed insert
// recognisable and says nothing about the visitor.
func EventRow(e *event.Event, batchID string) []any {
	return []any{
		store.DayOf(e.SaltDay.UTC()), e.SiteID, e.Time, e.Visitor, uint8(e.Kind), e.Name, e.Path, e.RefHost, e.Channel,
		e.UTMSource, e.UTMMedium, e.UTMCampaign, e.UTMContent, e.UTMTerm,
		e.Country, e.Region, e.Browser, e.BrowserVersion, e.OS, e.Device, e.Screen, e.Language,
		batchID,
	}
}
