package collector

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/sezim-analytics/sezim/event"
)

func TestDecodeProps(t *testing.T) {
	f := func(raw, want string, wantWhy reason) {
		t.Helper()
		var h event.Hit
		why := decodeProps(json.RawMessage(raw), &h)
		if why != wantWhy {
			t.Fatalf("decodeProps(%s): reason %q, want %q", raw, why, wantWhy)
		}
		var got []string
		for i := range h.PropKeys {
			got = append(got, h.PropKeys[i]+"="+h.PropValues[i])
		}
		if s := strings.Join(got, " "); why == "" && s != want {
			t.Fatalf("decodeProps(%s) = %q, want %q", raw, s, want)
		}
	}
	f(``, "", "")
	f(`null`, "", "")
	f(`{}`, "", "")
	f(`[1,2]`, "", "")
	f(`"text"`, "", "")
	f(`{"plan":"pro","seats":5,"trial":true,"ratio":0.5}`, "plan=pro ratio=0.5 seats=5 trial=true", "")
	f(`{"b":"2","a":"1"}`, "a=1 b=2", "")                                     // sorted: one object, one way to store it
	f(`"{\"plan\":\"team\"}"`, "plan=team", "")                               // Plausible's older scripts
	f(`{"nested":{"a":1},"list":[1],"none":null}`, "list= nested= none=", "") // passed on empty: counted as bad values
	f(`{"plan":`, "", reasonBadJSON)
	many := map[string]int{}
	for i := range maxProps + 1 {
		many[strings.Repeat("k", i+1)] = i
	}
	b, _ := json.Marshal(many)
	f(string(b), "", reasonTooManyProps)
	f(`{"plan":"`+strings.Repeat("x", maxField+1)+`"}`, "", reasonFieldTooLong)
}

func FuzzDecodeProps(f *testing.F) {
	for _, s := range []string{`{"plan":"pro"}`, `"{\"a\":1}"`, `{"a":{"b":1}}`, `{"a":-1e9}`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var h event.Hit
		why := decodeProps(json.RawMessage(raw), &h)
		if len(h.PropKeys) != len(h.PropValues) {
			t.Fatalf("%d keys, %d values", len(h.PropKeys), len(h.PropValues))
		}
		if why == "" && len(h.PropKeys) > maxProps {
			t.Fatalf("%d properties kept", len(h.PropKeys))
		}
	})
}
