package console

// The privacy console's records: the retention history (what was
// destroyed, when, under which rule) and the audit log's filters and
// export.

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/privacy/retention"
)

// retentionViewRows is how many history rows the console shows.
const retentionViewRows = 500

// retentionView is what the retention tab renders.
type retentionView struct {
	// LastRun is the newest run of the job; zero when none is recorded.
	LastRun time.Time
	Rows    []retention.Destruction
	RunRule string
}

// retentionHistory is the history the console reads: PrivacyOptions.
// Retention, else the privacy store's.
func (s *Console) retentionHistory() *retention.History {
	if s.o.Privacy.Retention != nil {
		return s.o.Privacy.Retention
	}
	return retention.NewHistory(s.privacyStore(), "", nil)
}

// retentionPage shows the retention history, newest first, and when the
// job last ran. It shows counts and rules, nothing about a person, so it
// is not audited as a view of identified data.
func (s *Console) retentionPage(c *fiber.Ctx) error {
	rows, err := s.retentionHistory().Recent(c.UserContext(), retentionViewRows)
	if err != nil {
		s.o.Logger.Error("cannot read the retention history", "err", err)
		return fiber.NewError(fiber.StatusServiceUnavailable, "the retention history could not be read, try again")
	}
	v := retentionView{Rows: rows, RunRule: retention.RunRule}
	for _, r := range rows {
		if r.Rule == retention.RunRule {
			v.LastRun = r.Time
			break
		}
	}
	if c.Query("format") == "json" {
		return c.JSON(rows)
	}
	return s.renderPrivacy(c, fiber.StatusOK, privacyPage{Tab: "retention", Retention: &v})
}

// auditForm is the audit view's filter as typed: times are UTC, as a day
// (2026-11-24) or a minute (2026-11-24T10:30, what a datetime-local
// input sends); a day as "until" includes that day.
type auditForm struct {
	Actor, Action, Since, Until string
}

// maxFilterLen bounds a typed actor or action.
const maxFilterLen = 256

// auditFilter reads the filter from the query; the error is a 400 with a
// short fixed reason.
func auditFilter(c *fiber.Ctx) (auditForm, staff.AuditFilter, error) {
	// Copied: both outlive the handler in the audit row and the page.
	form := auditForm{Actor: strings.Clone(strings.TrimSpace(c.Query("actor"))), Action: strings.Clone(strings.TrimSpace(c.Query("action"))),
		Since: strings.Clone(c.Query("since")), Until: strings.Clone(c.Query("until"))}
	f := staff.AuditFilter{Actor: form.Actor, Action: form.Action}
	if len(form.Actor) > maxFilterLen || len(form.Action) > maxFilterLen {
		return form, f, fiber.NewError(fiber.StatusBadRequest, "invalid_filter: an actor or an action is at most 256 bytes")
	}
	var err error
	if f.Since, err = filterTime(form.Since, false); err != nil {
		return form, f, err
	}
	if f.Until, err = filterTime(form.Until, true); err != nil {
		return form, f, err
	}
	return form, f, nil
}

func filterTime(v string, until bool) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		if until {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fiber.NewError(fiber.StatusBadRequest, "invalid_time: use YYYY-MM-DD or YYYY-MM-DDTHH:MM, in UTC")
}

// describe is the filter as the audit row of an export records it.
func (f auditForm) describe() string {
	var parts []string
	for _, p := range [][2]string{{"actor", f.Actor}, {"action", f.Action}, {"since", f.Since}, {"until", f.Until}} {
		if p[1] != "" {
			parts = append(parts, p[0]+"="+p[1])
		}
	}
	if len(parts) == 0 {
		return "all rows"
	}
	return strings.Join(parts, " ")
}

// auditExport exports the rows the filter selects as CSV or JSON (at most
// MaxAuditRows, newest first). The export is audited first, with its
// format and filter: an export that cannot be audited is not given.
func (s *Console) auditExport(c *fiber.Ctx) error {
	format := c.Query("format")
	if format != staff.ExportCSV && format != staff.ExportJSON {
		return fiber.NewError(fiber.StatusBadRequest, "invalid_format: use csv or json")
	}
	format = strings.Clone(format)
	form, f, err := auditFilter(c)
	if err != nil {
		return err
	}
	f.Limit = staff.MaxAuditRows
	rows, err := s.o.Gate.Auditor().Query(c.UserContext(), f)
	if err != nil {
		s.o.Logger.Error("cannot read the audit log", "err", err)
		return fiber.NewError(fiber.StatusServiceUnavailable, "the audit log could not be read, try again")
	}
	if err := s.o.Gate.Record(c.UserContext(), staff.AuditEntry{Actor: staff.UserOf(c).Name, Action: staff.AuditLogExport, Target: format, Outcome: "ok",
		Client: s.o.Gate.ClientNet(c), Detail: fmt.Sprintf("%d rows; %s", len(rows), form.describe())}); err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "audit log unavailable, try again")
	}
	var b bytes.Buffer
	if err := staff.WriteAudit(&b, format, rows); err != nil {
		return err
	}
	ctype := "text/csv; charset=utf-8"
	if format == staff.ExportJSON {
		ctype = fiber.MIMEApplicationJSONCharsetUTF8
	}
	c.Set(fiber.HeaderContentType, ctype)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="audit-log-`+s.o.Now().UTC().Format("20060102-150405")+"."+format+`"`)
	return c.Send(b.Bytes())
}

var _ = template.Must(privacyTmpl.New("retention").Parse(`
{{with .Retention}}
<section class="pcard" id="retention">
  <h2>Retention history, newest first</h2>
  <p id="retention-last">{{if .LastRun.IsZero}}<span class="fail">NEVER</span> The retention job has not run yet.{{else}}Last run: <b>{{when .LastRun}} UTC</b>.{{end}}</p>
  <p class="note">Each run of the retention job (inside <code>sezim serve</code> every ten minutes, or <code>sezim retention</code>) writes a row, and one more for each table and site that lost rows, with the setting that applied.</p>
  <table class="pt">
    <thead><tr><th>Time (UTC)</th><th>What</th><th>Site</th><th>Rows</th><th>Rule</th><th>Before</th><th>Process</th></tr></thead>
    <tbody>
    {{$run := .RunRule}}{{range .Rows}}<tr{{if eq .Rule $run}} class="run"{{end}}><td>{{when .Time}}</td><td>{{if eq .Rule $run}}run of the job{{else}}<code>{{.DB}}.{{.Table}}</code>{{end}}</td><td>{{.Site}}</td><td>{{if ne .Rule $run}}{{.Rows}}{{end}}</td><td>{{if ne .Rule $run}}{{.Rule}}{{end}}</td><td>{{.Cutoff}}</td><td>{{.Process}}</td></tr>{{end}}
    </tbody>
  </table>
</section>
{{end}}
`))
