package rollup

// Event properties as breakdowns.
//
// A kept property (pipeline/props.go) is a dimension of its own, named
// PropDimPrefix + key ("prop:plan"), whose values are the property's
// values. Like an event name, a property value counts: the pageviews and
// events that carried it (in the period they happened), the visits that
// contain it once (in the period the visit started) and their distinct
// visitors. Properties are breakdowns, not filters of other breakdowns.
// Only sites that list properties read them: the others' runs stay as
// they were.

import (
	"fmt"
	"strings"

	"github.com/sezim-analytics/sezim/event"
)

// PropDimPrefix starts the dimension of an event property: "prop:" + key.
const PropDimPrefix = "prop:"

// propsOfEventsSQL is, per visit, each event's properties as (dimension,
// value) pairs; the visit's events are sess, whose tuples end with
// prop_keys and prop_values (elements 20 and 21).
var propsOfEventsSQL = fmt.Sprintf("arrayMap(e -> arrayMap((k, v) -> (concat('%s', k), v), e.20, e.21), sess)", PropDimPrefix)

// propValsSQL is a visit's distinct property pairs (18.16 has no
// arrayFlatten: the -Array combinator flattens).
const propValsSQL = "arrayDistinct(arrayReduce('groupArrayArray', eprops))"

// propContribSQL is, per visit, what each event's properties add to their
// keys (visitContribSQL's tuples): its pageview or event, in the period
// pt of its time t. 18.16 has no arrayFlatten: the -Array combinator
// flattens.
func propContribSQL(pt string) string {
	return fmt.Sprintf(`arrayReduce('groupArrayArray', arrayMap((t, k, ps) -> arrayMap(x -> (%s, x.1, x.2,
   toUInt64(0), toUInt64(k = 1), toUInt64(0), toUInt64(0), toUInt64(k != 1)), ps), et, ek, eprops))`, pt)
}

// The Go path reads an event's properties as one string: pairs separated
// by propPairSep, key and value by propKVSep. Neither can be in a key
// (a-z, 0-9, _) or a value (pipeline/scrub refuses control characters).
const (
	propPairSep = "\x1e"
	propKVSep   = "\x1f"
)

// propsColumnSQL is the Go path's column of an event's properties.
const propsColumnSQL = `arrayStringConcat(arrayMap((k, v) -> concat(k, '\x1f', v), prop_keys, prop_values), '\x1e')`

// parseProps fills e's properties from propsColumnSQL's text.
func parseProps(s string, e *event.Event) {
	if s == "" {
		return
	}
	for _, kv := range strings.Split(s, propPairSep) {
		k, v, _ := strings.Cut(kv, propKVSep)
		e.PropKeys = append(e.PropKeys, k)
		e.PropValues = append(e.PropValues, v)
	}
}

// addProps adds a visit's properties to the accumulator: each event's to
// its period's rows, and each distinct pair once to the visit's start.
func (a *accumulator) addProps(evs []event.Event, startP [2]int64) {
	for g := range 2 {
		gr := granularity(g)
		seen := map[dimValue]bool{}
		for i := range evs {
			ev := &evs[i]
			p := a.periodsOf(ev)
			for j, k := range ev.PropKeys {
				dv := dimValue{PropDimPrefix + k, ev.PropValues[j]}
				c := a.get(gr, p[g], dv.dim, dv.value)
				if ev.Kind == event.KindPageview {
					c.pageviews++
				} else {
					c.events++
				}
				if !seen[dv] {
					seen[dv] = true
					a.get(gr, startP[g], dv.dim, dv.value).visits++
				}
			}
		}
	}
}
