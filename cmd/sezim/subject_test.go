package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/rollup"
	"github.com/sezim-analytics/sezim/privacy/subject"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
	"github.com/sezim-analytics/sezim/store/storetest"
)

// TestSubjectCommand runs `sezim subject` as a privacy officer would on a
// ClickHouse server: export prints the subject's rows as JSON, erase by
// receipt says 0 rows are left, and mistakes exit 1 with a message that
// says what to give.
func TestSubjectCommand(t *testing.T) {
	st := storetest.Server(t)
	names := st.DB()
	const vid, other, rcpt = "AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBA", "RaRaRaRaRaRaRaRa"
	now := time.Now().UTC().Truncate(time.Second)
	var rows [][]any
	for _, v := range []string{vid, vid, other} {
		rows = append(rows, []any{"sez", now, v, "", "203.0.113.0", uint8(1), "", "/p", "", "Chrome", "Linux", "desktop", "KZ", ""})
	}
	if err := st.Insert(t.Context(), names.Identified+".events", pipeline.IdentifiedColumns, rows); err != nil {
		t.Fatal(err)
	}
	if err := st.Insert(t.Context(), names.Identified+".consent_visitors", []string{"site", "receipt", "visitor_id", "ts"}, [][]any{{"sez", rcpt, vid, now}}); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "sites.yaml")
	if err := os.WriteFile(cfg, []byte("sites:\n  - id: sez\n    domains: [sez.im]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	sezim := func(args ...string) (int, string, string) {
		t.Helper()
		args = append(args, "--store", os.Getenv(storetest.EnvServer), "--stats-db", names.Stats, "--identified-db", names.Identified, "--staff-db", names.Staff, "--config", cfg, "--data", data)
		var out, errOut bytes.Buffer
		code := run(t.Context(), args, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, errOut := sezim("subject", "export", "--visitor", vid, "--reason", "request of 2026-11-21", "--actor", "officer")
	var ex subject.Export
	if err := json.Unmarshal([]byte(out), &ex); code != 0 || err != nil || len(ex.Events) != 2 || !strings.Contains(errOut, "exported 2 events") {
		t.Fatalf("export: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	code, out, errOut = sezim("subject", "erase", "--receipt", rcpt, "--reason", "request of 2026-11-21")
	if code != 0 || !strings.Contains(out, "erased, 0 rows left; 3 rows") {
		t.Fatalf("erase: exit %d\n%s%s", code, out, errOut)
	}
	if n, err := store.CountWhere(t.Context(), st, names.Identified+".events", "visitor_id = "+store.Quote(other)); err != nil || n != 1 {
		t.Fatalf("the other visitor has %d rows (%v)", n, err)
	}
	code, _, errOut = sezim("subject", "block", "--receipt", rcpt, "--reason", "breach report 7")
	if code != 1 || !strings.Contains(errOut, "leads to no visitor") {
		t.Fatalf("block of an erased receipt: exit %d\n%s", code, errOut)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"subject", "erase", "--visitor", vid}, "--reason is required"},
		{[]string{"subject", "erase", "--visitor", vid, "--user", "u1", "--reason", "r"}, "exactly one of --visitor, --receipt or --user"},
		{[]string{"subject", "erase", "--visitor", "not-a-cookie", "--reason", "r"}, "sezim_vid cookie"},
		{[]string{"subject", "forget", "--visitor", vid, "--reason", "r"}, "use export, block, unblock or erase"},
	} {
		code, _, errOut := sezim(c.args...)
		if code != 1 || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "not-a-cookie") {
			t.Fatalf("%v: exit %d, want 1 and %q\n%s", c.args, code, c.want, errOut)
		}
	}
}

// TestRetentionRunIsRecorded: the retention job as serve and `sezim
// retention` run it writes the salt-day drop of the stats database and the
// identified rows past their period to the retention history, with the
// process that did it.
func TestRetentionRunIsRecorded(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st store.Store) {
		ctx := t.Context()
		cfg, err := site.Parse([]byte("sites:\n  - id: sez\n    domains: [sez.im]\n    retention: {identified_days: 7}\n"))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		old := now.AddDate(0, 0, -5)
		e := event.Event{SaltDay: old, SiteID: "sez", Time: old, Visitor: 1, Kind: event.KindPageview, Path: "/"}
		if err := st.Insert(ctx, st.DB().Stats+".events", pipeline.EventColumns, [][]any{pipeline.EventRow(&e, "b1"), pipeline.EventRow(&e, "b1")}); err != nil {
			t.Fatal(err)
		}
		idRow := func(at time.Time) []any {
			return []any{"sez", at, "AAAAAAAAAAAAAAAAAAAAAA", "", "", uint8(1), "", "/", "", "", "", "", "", ""}
		}
		if err := st.Insert(ctx, st.DB().Identified+".events", pipeline.IdentifiedColumns, [][]any{idRow(now.AddDate(0, 0, -9)), idRow(now)}); err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.DiscardHandler)
		salts, err := anon.NewSalts("", now)
		if err != nil {
			t.Fatal(err)
		}
		rp := newRetentionParts(st, cfg, "sezim retention (test)", nil, log)
		r := rollup.New(rollup.Options{Store: st, Sites: cfg, Logger: log, Settle: -1, Destroyed: rp.statsDestroyed})
		if !runRetention(ctx, r, salts, rp, log, true) {
			t.Fatal("a retention step failed")
		}
		hist, err := rp.history.Recent(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var saltDay, identified bool
		for _, d := range hist {
			switch {
			case d.DB == st.DB().Stats && d.Table == "events" && d.Rows == 2 && d.Rule == "salt lifetime (48h)" && d.Cutoff == store.DayOf(old).String():
				saltDay = true
			case d.DB == st.DB().Identified && d.Table == "events" && d.Site == "sez" && d.Rows == 1 && d.Rule == "identified_days=7":
				identified = true
			}
			if d.Process != "sezim retention (test)" {
				t.Fatalf("process %q", d.Process)
			}
		}
		if !saltDay || !identified {
			t.Fatalf("history lacks the salt-day drop (%v) or the identified delete (%v): %+v", saltDay, identified, hist)
		}
	})
}
