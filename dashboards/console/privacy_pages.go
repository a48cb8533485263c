// Package console is the privacy console under /app/privacy/: pages over
// the privacy package's report, inventory and receipt look-up, the
// data-subject tools of privacy/subject and the retention history. It is a
// package of its own, not part of privacy, so that privacy (run by sezim
// privacy without any web server) stays free of Fiber and staff sign-in.
package console

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/dashboards/statistics"
	"github.com/sezim-analytics/sezim/privacy"
	"github.com/sezim-analytics/sezim/privacy/retention"
	"github.com/sezim-analytics/sezim/privacy/subject"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// Audit actions of the privacy console: each view of identified data, and
// each report run. The names are stored: never rename.
const (
	AuditPrivacyReport = "privacy_report"
	AuditReceiptLookup = "receipt_lookup"
	AuditAuditView     = "audit_view"
)

// PrivacyOptions say where the privacy console's report finds what the
// store does not hold (see privacy.Options); unset sources are shown as
// failed checks, never as passed ones.
type PrivacyOptions struct {
	// SaltDays lists the days whose salts exist (serve: the live salts).
	SaltDays func() ([]time.Time, error)
	// Metrics is the process's registry, with the drop counters.
	Metrics prometheus.Gatherer
	// History reads the retention job's history.
	History privacy.RetentionHistory
	// Store is the privacy tools' connection (a ClickHouse user that may
	// read identified data); nil: the dashboards' own Store.
	Store store.Store
	// Subjects answers the data-subject requests of the console (serve:
	// over the privacy store, audited to the keyed audit log, refreshing
	// the collector's blocks); nil: one over the privacy store, audited
	// to this server's audit log.
	Subjects *subject.Service
	// Retention is the retention history the console lists; nil: the
	// privacy store's.
	Retention *retention.History
}

// privacyStore is the store the console reads identified data with.
func (s *Console) privacyStore() store.Store {
	if s.o.Privacy.Store != nil {
		return s.o.Privacy.Store
	}
	return s.o.Store
}

// auditViewRows is how many audit rows the console shows, newest first.
const auditViewRows = 500

// Options configure the privacy console.
type Options struct {
	Sites *site.Config
	// Store is the dashboards' connection (the stats database); see
	// PrivacyOptions.Store for the one identified data is read with.
	Store   store.Store
	Privacy PrivacyOptions
	// Gate signs staff in and writes the audit log.
	Gate   Gate
	Logger *slog.Logger
	Now    func() time.Time
}

// Gate is what the console needs of staff sign-in (staff.Gate): the
// middleware in front of its pages, the audit log its views are written
// to, and the client network an audit row names.
type Gate interface {
	Authenticate(c *fiber.Ctx) error
	ClientNet(c *fiber.Ctx) string
	Record(ctx context.Context, e staff.AuditEntry) error
	Auditor() *staff.Auditor
}

// Console is the privacy console: the report, the schema inventory,
// receipt look-up, the data-subject tools, the retention history and the
// audit log, each view of identified data audited.
type Console struct {
	o Options
}

// New returns the privacy console; Mount adds its pages to an app.
func New(o Options) *Console {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Console{o: o}
}

// Mount adds the privacy console under /app/privacy/: for the privacy and
// admin roles only; everyone else signed in gets 403.
func (s *Console) Mount(app fiber.Router) {
	g := app.Group("/app/privacy", s.o.Gate.Authenticate, requirePrivacyRole)
	g.Get("/", s.privacyHome)
	g.Get("/report", s.privacyReport)
	g.Get("/inventory", s.privacyInventory)
	g.Get("/receipts", s.receiptLookup)
	g.Get("/audit", s.auditView)
	g.Get("/audit/export", s.auditExport)
	g.Get("/retention", s.retentionPage)
	s.mountSubjects(g)
}

func requirePrivacyRole(c *fiber.Ctx) error {
	if u := staff.UserOf(c); u == nil || !u.Role.AtLeast(staff.RolePrivacy) {
		return fiber.NewError(fiber.StatusForbidden, "privacy role required")
	}
	return c.Next()
}

// privacyPage is what every console page renders from.
type privacyPage struct {
	Tab, User, Role string
	Error           string
	Report          *privacy.Result
	Inventory       []privacy.InventoryTable
	Receipt         string
	Lookup          *privacy.ReceiptLookup
	Audit           []staff.AuditEntry
	AuditForm       auditForm
	Subjects        *subjectsView
	Retention       *retentionView
}

func (s *Console) renderPrivacy(c *fiber.Ctx, status int, p privacyPage) error {
	u := staff.UserOf(c)
	p.User, p.Role = u.Name, string(u.Role)
	var b bytes.Buffer
	if err := privacyTmpl.Execute(&b, p); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Status(status).Send(b.Bytes())
}

func (s *Console) privacyHome(c *fiber.Ctx) error {
	return s.renderPrivacy(c, fiber.StatusOK, privacyPage{Tab: "home"})
}

// audited writes the audit row of a view before the view is shown: a view
// of identified data that cannot be audited is not shown (503).
func (s *Console) audited(c *fiber.Ctx, action, target, outcome string) error {
	err := s.o.Gate.Record(c.UserContext(), staff.AuditEntry{Actor: staff.UserOf(c).Name, Action: action, Target: target, Outcome: outcome, Client: s.o.Gate.ClientNet(c)})
	if err != nil {
		return fiber.NewError(fiber.StatusServiceUnavailable, "audit log unavailable, try again")
	}
	return nil
}

// privacyReport runs the privacy report on demand (the same checks as
// `sezim privacy report`), as a page or, with ?format=json, as JSON.
func (s *Console) privacyReport(c *fiber.Ctx) error {
	o := s.o.Privacy
	r, err := privacy.Run(c.UserContext(), privacy.Options{Store: s.privacyStore(), Sites: s.o.Sites, SaltDays: o.SaltDays,
		Metrics: o.Metrics, History: o.History, Now: s.o.Now,
		Extra: []func(context.Context, time.Time) (privacy.Outcome, error){statistics.CheckDisclosureNow(s.o.Store, s.o.Sites)}})
	outcome := "ok"
	switch {
	case err != nil:
		outcome = "error"
	case !r.OK:
		outcome = "failed"
	}
	if aerr := s.audited(c, AuditPrivacyReport, "", outcome); aerr != nil {
		return aerr
	}
	if err != nil {
		s.o.Logger.Error("cannot run the privacy report", "err", err)
		return fiber.NewError(fiber.StatusServiceUnavailable, "the report could not run, try again")
	}
	if c.Query("format") == "json" {
		return c.JSON(r)
	}
	return s.renderPrivacy(c, fiber.StatusOK, privacyPage{Tab: "report", Report: r})
}

func (s *Console) privacyInventory(c *fiber.Ctx) error {
	inv, err := privacy.Inventory(nil)
	if err != nil {
		return err
	}
	if c.Query("format") == "json" {
		return c.JSON(inv)
	}
	return s.renderPrivacy(c, fiber.StatusOK, privacyPage{Tab: "inventory", Inventory: inv})
}

// receiptLookup shows a consent receipt's rows, their chain and position,
// and whether the chain verifies. Every lookup is audited with the
// receipt, found or not; a malformed id is refused (400) unaudited, as it
// reads nothing.
func (s *Console) receiptLookup(c *fiber.Ctx) error {
	id := c.Query("receipt")
	if id == "" {
		return s.renderPrivacy(c, fiber.StatusOK, privacyPage{Tab: "receipts"})
	}
	id = strings.Clone(id) // kept past the handler by the audit row
	l, err := privacy.LookupReceipt(c.UserContext(), s.privacyStore(), id)
	if errors.Is(err, privacy.ErrBadReceipt) {
		return s.renderPrivacy(c, fiber.StatusBadRequest, privacyPage{Tab: "receipts", Error: "invalid_receipt: a receipt id is 16 letters, digits, - or _"})
	}
	if err != nil {
		s.o.Logger.Error("cannot look up a receipt", "err", err)
		return fiber.NewError(fiber.StatusServiceUnavailable, "the consent log could not be read, try again")
	}
	outcome := "ok"
	if len(l.Rows) == 0 {
		outcome = "not_found"
	}
	if err := s.audited(c, AuditReceiptLookup, id, outcome); err != nil {
		return err
	}
	if c.Query("format") == "json" {
		return c.JSON(l)
	}
	return s.renderPrivacy(c, fiber.StatusOK, privacyPage{Tab: "receipts", Receipt: id, Lookup: l})
}

// auditView shows the newest rows of the audit log the filter selects;
// the view is audited first, so it shows itself.
func (s *Console) auditView(c *fiber.Ctx) error {
	form, f, err := auditFilter(c)
	if err != nil {
		// A filter typed wrong is answered on the page, with the form.
		var fe *fiber.Error
		if errors.As(err, &fe) {
			return s.renderPrivacy(c, fe.Code, privacyPage{Tab: "audit", Error: fe.Message, AuditForm: form})
		}
		return err
	}
	if err := s.audited(c, AuditAuditView, "", "ok"); err != nil {
		return err
	}
	f.Limit = auditViewRows
	rows, err := s.o.Gate.Auditor().Query(c.UserContext(), f)
	if err != nil {
		s.o.Logger.Error("cannot read the audit log", "err", err)
		return fiber.NewError(fiber.StatusServiceUnavailable, "the audit log could not be read, try again")
	}
	if c.Query("format") == "json" {
		return c.JSON(rows)
	}
	return s.renderPrivacy(c, fiber.StatusOK, privacyPage{Tab: "audit", Audit: rows, AuditForm: form})
}

var privacyTmpl = template.Must(template.New("privacy").Funcs(template.FuncMap{
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Privacy console · Sezim Analytics</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/app/assets/app.css">
<style>
.pnav { display: flex; gap: .25rem; flex-wrap: wrap; margin: 0 0 1rem; }
.pnav a { padding: .4rem .8rem; border-radius: 8px; text-decoration: none; color: var(--fg); }
.pnav a[aria-current=page] { background: var(--accent-soft); color: var(--accent); font-weight: 600; }
.pcard { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 1rem 1.25rem; margin-bottom: 1rem; overflow-x: auto; }
.pcard h2 { font-size: 1.05rem; margin: 0 0 .75rem; }
.pass, .fail { display: inline-block; min-width: 3.2rem; text-align: center; font-weight: 700; font-size: .8rem; border-radius: 6px; padding: .1rem .4rem; }
.pass { background: #d3f9d8; color: var(--up); } .fail { background: #ffe3e3; color: var(--down); }
table.pt { border-collapse: collapse; width: 100%; font-size: .9rem; }
.pt th, .pt td { text-align: left; vertical-align: top; padding: .35rem .5rem; border-top: 1px solid var(--line); }
.pt th { color: var(--muted); font-weight: 600; }
.pt td:first-child { white-space: nowrap; }
.ev { margin: .2rem 0 0; padding-left: 1.1rem; color: var(--muted); font-size: .85rem; }
.verdict { font-size: 1.1rem; font-weight: 700; }
.perr { background: #fff0f0; color: #a61e1e; border-radius: 8px; padding: .5rem .75rem; }
code { font-size: .85rem; }
</style>
</head>
<body>
<header class="bar">
  <a class="brand" href="/app/"><b>Sezim</b> Analytics</a>
  <span>Privacy console</span>
  <span class="grow"></span>
  <span class="who" id="who">{{.User}} · {{.Role}}</span>
  <form method="post" action="/app/logout" class="signout"><button type="submit">Sign out</button></form>
</header>
<main>
<nav class="pnav" aria-label="Privacy console">
  <a href="/app/privacy/" {{if eq .Tab "home"}}aria-current="page"{{end}}>Overview</a>
  <a href="/app/privacy/report" {{if eq .Tab "report"}}aria-current="page"{{end}}>Report</a>
  <a href="/app/privacy/inventory" {{if eq .Tab "inventory"}}aria-current="page"{{end}}>Schema inventory</a>
  <a href="/app/privacy/receipts" {{if eq .Tab "receipts"}}aria-current="page"{{end}}>Consent receipts</a>
  <a href="/app/privacy/audit" {{if eq .Tab "audit"}}aria-current="page"{{end}}>Audit log</a>
  <a href="/app/privacy/subjects" {{if eq .Tab "subjects"}}aria-current="page"{{end}}>Subject requests</a>
  <a href="/app/privacy/retention" {{if eq .Tab "retention"}}aria-current="page"{{end}}>Retention history</a>
  <a href="/app/">Dashboards</a>
</nav>
{{if .Error}}<p class="perr" role="alert">{{.Error}}</p>{{end}}

{{if eq .Tab "home"}}
<section class="pcard">
  <h2>What this console proves</h2>
  <p>The <a href="/app/privacy/report">report</a> runs every check on the live stores now (the same checks as <code>sezim privacy report</code>): nothing personal in the statistics database, the salts' ages, the small cells against k, the consent chains, the last retention run and the drops by reason.
  The <a href="/app/privacy/inventory">schema inventory</a> lists every column with its tier, purpose and retention, read from the migrations.
  A <a href="/app/privacy/receipts">receipt</a> a visitor quotes shows their consent decisions and whether their chain verifies.
  <a href="/app/privacy/subjects">Subject requests</a> export, block, unblock or erase what is held about one person, each with its legal reason.
  The <a href="/app/privacy/retention">retention history</a> lists what the retention job destroyed, when and under which rule.
  Looking up a receipt, every subject request, opening or exporting the audit log and running the report are themselves written to the audit log.</p>
  <form method="get" action="/app/privacy/report"><button type="submit" id="run-report">Run the report</button></form>
</section>
{{end}}

{{with .Report}}
<section class="pcard" id="report">
  <h2>Privacy report, {{when .Time}} UTC</h2>
  <p class="verdict" id="verdict">{{if .OK}}<span class="pass">PASS</span> Every check passed.{{else}}<span class="fail">FAIL</span> Failed: {{range $i, $n := .Failed}}{{if $i}}, {{end}}{{$n}}{{end}}{{end}}</p>
  <table class="pt">
    <thead><tr><th>Result</th><th>Check</th><th>What and evidence</th></tr></thead>
    <tbody>
    {{range .Checks}}<tr data-check="{{.Name}}">
      <td>{{if .OK}}<span class="pass">PASS</span>{{else}}<span class="fail">FAIL</span>{{end}}</td>
      <td><code>{{.Name}}</code></td>
      <td>{{.What}}{{if .Evidence}}<ul class="ev">{{range .Evidence}}<li>{{.}}</li>{{end}}</ul>{{end}}</td>
    </tr>{{end}}
    </tbody>
  </table>
  <p class="note">Scanned {{.Scan.Tables}} tables, {{.Scan.Columns}} text columns, {{.Scan.Rows}} rows of {{.Scan.Database}}. Exempt bookkeeping columns:
  {{range $i, $e := .Scan.Exemption}}{{if $i}}; {{end}}{{$e.Table}}.{{$e.Column}}{{end}}.</p>
</section>
{{end}}

{{if eq .Tab "inventory"}}
<section class="pcard" id="inventory">
  <h2>Schema inventory</h2>
  <table class="pt">
    <thead><tr><th>Table</th><th>Column</th><th>Type</th><th>Tier</th><th>Purpose</th><th>Retention</th></tr></thead>
    <tbody>
    {{range $t := .Inventory}}{{range .Columns}}<tr>
      <td><code>{{$t.Database}}.{{$t.Name}}</code></td><td><code>{{.Name}}</code></td><td>{{.Type}}</td><td>{{$t.Tier}}</td><td>{{.Purpose}}</td><td>{{$t.Retention}}</td>
    </tr>{{end}}{{end}}
    </tbody>
  </table>
</section>
{{end}}

{{if eq .Tab "receipts"}}
<section class="pcard" id="receipts">
  <h2>Consent receipt</h2>
  <form method="get" action="/app/privacy/receipts">
    <label for="receipt">Receipt id</label>
    <input id="receipt" name="receipt" value="{{.Receipt}}" size="20" maxlength="32" autocomplete="off" spellcheck="false">
    <button type="submit">Look up</button>
  </form>
  {{with .Lookup}}
  {{if .Rows}}
  <table class="pt" id="receipt-rows">
    <thead><tr><th>Time (UTC)</th><th>Decision</th><th>Site</th><th>Policy</th><th>Granted</th><th>Denied</th><th>Services</th><th>Chain</th><th>Position</th></tr></thead>
    <tbody>
    {{range .Rows}}<tr><td>{{when .Time}}</td><td>{{.Action}}</td><td>{{.Site}}</td><td>{{.PolicyVersion}} ({{.Lang}})</td><td>{{.PurposesGranted}}</td><td>{{.PurposesDenied}}</td><td>{{.Services}}</td><td><code>{{.Chain}}</code></td><td>{{.Seq}}</td></tr>{{end}}
    </tbody>
  </table>
  <ul id="receipt-chains">
    {{range .Chains}}<li>Chain <code>{{.Chain}}</code> ({{.Rows}} rows): {{if .Intact}}<span class="pass">VERIFIES</span>{{else}}<span class="fail">BROKEN</span> at seq {{.Broken.Seq}}: {{.Broken.Reason}}{{end}}</li>{{end}}
  </ul>
  {{else}}<p id="receipt-none">No consent decision has this receipt.</p>{{end}}
  {{end}}
</section>
{{end}}

{{template "subjects" .}}
{{template "retention" .}}

{{if eq .Tab "audit"}}
<section class="pcard" id="audit">
  <h2>Audit log, newest first</h2>
  <form method="get" action="/app/privacy/audit" id="audit-filter">
    <label for="f-actor">Who</label> <input id="f-actor" name="actor" value="{{.AuditForm.Actor}}" size="12" maxlength="256">
    <label for="f-action">Action</label> <input id="f-action" name="action" value="{{.AuditForm.Action}}" size="16" maxlength="256">
    <label for="f-since">From</label> <input id="f-since" name="since" value="{{.AuditForm.Since}}" size="16" placeholder="YYYY-MM-DD">
    <label for="f-until">until</label> <input id="f-until" name="until" value="{{.AuditForm.Until}}" size="16" placeholder="YYYY-MM-DD"> (UTC)
    <button type="submit">Filter</button>
  </form>
  <p>Export these rows: <a id="export-csv" href="/app/privacy/audit/export?format=csv&actor={{.AuditForm.Actor}}&action={{.AuditForm.Action}}&since={{.AuditForm.Since}}&until={{.AuditForm.Until}}">CSV</a>
  · <a id="export-json" href="/app/privacy/audit/export?format=json&actor={{.AuditForm.Actor}}&action={{.AuditForm.Action}}&since={{.AuditForm.Since}}&until={{.AuditForm.Until}}">JSON</a> (each export is audited)</p>
  <table class="pt">
    <thead><tr><th>Time (UTC)</th><th>Who</th><th>Action</th><th>Target</th><th>Outcome</th><th>Network</th><th>Attempts</th></tr></thead>
    <tbody>
    {{range .Audit}}<tr><td>{{when .Time}}</td><td>{{.Actor}}</td><td>{{.Action}}</td><td>{{.Target}}</td><td>{{.Outcome}}</td><td>{{.Client}}</td><td>{{.Attempts}}</td></tr>{{end}}
    </tbody>
  </table>
</section>
{{end}}
</main>
</body>
</html>
`))
