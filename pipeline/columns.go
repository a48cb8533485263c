package pipeline

import (
	"time"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/store"
)

// EventColumns are the columns of sezim_stats.events, in the order
// EventRow gives their values.
var EventColumns = []string{
	"salt_day", "site", "ts", "visitor", "kind", "name", "path", "ref_host", "channel",
	"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
	"country", "region", "browser", "browser_version", "os", "device", "screen", "language",
	"batch_id", "inserted", "prop_keys", "prop_values",
}

// EventRow gives e's values in EventColumns order. batchID names the insert
// the row belongs to (see pipeline/wal): it makes a replayed insert
// recognisable and says nothing about the visitor. The row is stamped with
// the time it is built, just before its insert: the rollup reads only the
// events inserted since its last run (pipeline/rollup).
func EventRow(e *event.Event, batchID string) []any {
	return EventRowAt(e, batchID, time.Now())
}

// EventRowAt is EventRow stamped with inserted instead of now.
func EventRowAt(e *event.Event, batchID string, inserted time.Time) []any {
	return []any{
		store.DayOf(e.SaltDay.UTC()), e.SiteID, e.Time, e.Visitor, uint8(e.Kind), e.Name, e.Path, e.RefHost, e.Channel,
		e.UTMSource, e.UTMMedium, e.UTMCampaign, e.UTMContent, e.UTMTerm,
		e.Country, e.Region, e.Browser, e.BrowserVersion, e.OS, e.Device, e.Screen, e.Language,
		batchID, inserted.UTC().Truncate(time.Second), nonNil(e.PropKeys), nonNil(e.PropValues),
	}
}

// nonNil is s, or an empty slice: an Array column takes no NULL.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
