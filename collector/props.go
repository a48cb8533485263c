package collector

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"

	"github.com/sezim-analytics/sezim/event"
)

// maxProps bounds the properties one event may send; the site keeps far
// fewer (site.MaxProperties), so a body with more is not a tracker's.
const maxProps = 30

// reasonTooManyProps refuses an event with more than maxProps properties.
const reasonTooManyProps reason = "too_many_properties"

// decodeProps reads a custom event's properties (the tracker's p,
// Plausible's props, Umami's data): a JSON object whose values are
// strings, numbers or booleans, or a string holding such an object (as
// Plausible's older scripts send). Keys come out sorted, so the same
// object is always stored the same way. A nested value is passed on
// empty, for the pipeline to count as a bad value; which keys are kept is
// the pipeline's decision (it knows the site's list). Not an object: no
// properties.
func decodeProps(raw json.RawMessage, h *event.Hit) reason {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		raw = []byte(s)
	}
	if !hasValue(raw) || raw[0] != '{' {
		return ""
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return reasonBadJSON
	}
	if len(m) > maxProps {
		return reasonTooManyProps
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := bytes.TrimSpace(m[k])
		val := ""
		switch {
		case len(v) > 0 && v[0] == '"':
			_ = json.Unmarshal(v, &val)
		case string(v) == "true", string(v) == "false":
			val = string(v)
		case len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9'):
			if f, err := strconv.ParseFloat(string(v), 64); err == nil {
				val = strconv.FormatFloat(f, 'f', -1, 64)
			}
		}
		if len(k) > maxField || len(val) > maxField {
			return reasonFieldTooLong
		}
		h.PropKeys = append(h.PropKeys, k)
		h.PropValues = append(h.PropValues, val)
	}
	return ""
}
