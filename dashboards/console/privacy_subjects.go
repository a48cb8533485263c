package console

// The privacy console's data-subject tools: export, block, unblock and
// erase one person's identified data (policy 4.2, 6.1, 6.2.4, 6.2.5).
// Every request goes through privacy/subject's Service, which records it
// and audits it with the signed-in staff member as the actor; these
// handlers only read the form, ask for the erasure's confirmation, and
// show the outcome.

import (
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/privacy/subject"
)

// AuditSubjectRequests is a view of the list of data-subject requests
// (their reasons are identified data in their own right). The name is
// stored: never rename.
const AuditSubjectRequests = "subject_requests_view"

// subjectRequestRows is how many past requests the console lists.
const subjectRequestRows = 100

// subjects is the console's Service (see mountSubjects).
func (s *Console) subjects() *subject.Service { return s.o.Privacy.Subjects }

// mountSubjects adds the subject tools to the console's group. Without
// PrivacyOptions.Subjects, the Service is one over the privacy store that
// writes to this server's audit log.
func (s *Console) mountSubjects(g fiber.Router) {
	if s.o.Privacy.Subjects == nil {
		s.o.Privacy.Subjects = subject.New(subject.Options{Store: s.privacyStore(), Sites: s.o.Sites, Audit: staff.SubjectAudit(s.o.Gate.Auditor()),
			Now: s.o.Now, Logger: s.o.Logger})
	}
	g.Get("/subjects", s.subjectsPage)
	g.Post("/subjects/export", s.subjectExport)
	g.Post("/subjects/block", s.subjectBlock)
	g.Post("/subjects/unblock", s.subjectUnblock)
	g.Post("/subjects/erase", s.subjectErase)
}

// subjectsView is what the subjects tab renders.
type subjectsView struct {
	// Form is the request as submitted, to fill the form again.
	Form subjectForm
	// Sites are the configured sites, for the form's choice.
	Sites []string
	// Confirm is set on the erasure's confirmation step.
	Confirm bool
	// Export is the JSON of an export, indented.
	Export string
	// Outcome is the result of a block, unblock or erase.
	Outcome  *subject.Outcome
	Requests []subject.RequestRecord
	// RequestsError says the list could not be read (the page still works).
	RequestsError string
}

// subjectForm is the form of every subject request.
type subjectForm struct {
	Kind, Value, Site, Reason string
	// Confirm repeats Value on the erasure's second step.
	Confirm string
}

func (f subjectForm) request(actor string) subject.Request {
	return subject.Request{Ref: subject.Ref{Kind: subject.Kind(f.Kind), Value: f.Value, Site: f.Site}, Actor: actor, Reason: f.Reason}
}

// readSubjectForm reads and checks the form: the reference must name
// someone and a legal reason must be given, before anything is read or
// asked. The Service checks both again; this check gives the page its
// message.
func (s *Console) readSubjectForm(c *fiber.Ctx) (subjectForm, error) {
	vals, err := staff.ReadForm(c)
	if err != nil {
		return subjectForm{}, err
	}
	f := subjectForm{Kind: vals.Get("kind"), Value: strings.TrimSpace(vals.Get("value")), Site: vals.Get("site"),
		Reason: vals.Get("reason"), Confirm: strings.TrimSpace(vals.Get("confirm"))}
	if err := f.request("").Ref.Validate(); err != nil {
		return f, err
	}
	if f.Site != "" && s.o.Sites.Site(f.Site) == nil {
		return f, fiber.NewError(fiber.StatusBadRequest, "unknown_site: choose a configured site, or every site")
	}
	if strings.TrimSpace(f.Reason) == "" {
		return f, subject.ErrNoReason
	}
	return f, nil
}

// subjectRefusal maps the Service's errors to a status and the page's
// message: a short fixed reason, then what to do. Store failures are
// logged and answered 503.
func (s *Console) subjectRefusal(err error) (int, string) {
	var fe *fiber.Error
	switch {
	case errors.As(err, &fe):
		return fe.Code, fe.Message
	case errors.Is(err, subject.ErrNoReason):
		return fiber.StatusBadRequest, "missing_reason: give the legal reason of the request (the subject's request and its date, a court decision, a confirmed breach), at most 1000 bytes"
	case errors.Is(err, subject.ErrBadRef):
		// The wrapped text says what the reference must look like; it
		// never repeats the value.
		return fiber.StatusBadRequest, "invalid_subject: " + err.Error()
	case errors.Is(err, subject.ErrUnresolved):
		return fiber.StatusNotFound, "unresolved: the receipt leads to no visitor (a refusal, or a visitor already erased)"
	case errors.Is(err, subject.ErrNotErased):
		s.o.Logger.Error("an erasure left rows", "err", err)
		return fiber.StatusInternalServerError, "not_erased: rows are left after the erasure; it is recorded as failed, try again"
	}
	s.o.Logger.Error("cannot answer a subject request", "err", err)
	return fiber.StatusServiceUnavailable, "store_error: the request could not be completed, try again"
}

// renderSubjects renders the subjects tab with the past requests.
func (s *Console) renderSubjects(c *fiber.Ctx, status int, v subjectsView, msg string) error {
	for _, st := range s.o.Sites.Sites {
		v.Sites = append(v.Sites, st.ID)
	}
	reqs, err := s.subjects().Requests(c.UserContext(), subjectRequestRows)
	if err != nil {
		s.o.Logger.Error("cannot read the subject requests", "err", err)
		v.RequestsError = "the list of requests could not be read, try again"
	}
	v.Requests = reqs
	return s.renderPrivacy(c, status, privacyPage{Tab: "subjects", Error: msg, Subjects: &v})
}

// subjectsPage shows the request form and the past requests; the list
// (who asked what, and why) is audited as a view.
func (s *Console) subjectsPage(c *fiber.Ctx) error {
	if err := s.audited(c, AuditSubjectRequests, "", "ok"); err != nil {
		return err
	}
	return s.renderSubjects(c, fiber.StatusOK, subjectsView{Form: subjectForm{Kind: string(subject.KindReceipt)}}, "")
}

// subjectFailed answers a refused or failed request on the subjects tab,
// with the form as it was sent.
func (s *Console) subjectFailed(c *fiber.Ctx, f subjectForm, err error) error {
	status, msg := s.subjectRefusal(err)
	f.Confirm = ""
	return s.renderSubjects(c, status, subjectsView{Form: f}, msg)
}

// subjectExport answers an export: the JSON on the page, or with
// download=1 as a file. Each is a request of its own, recorded and
// audited, since each hands the data out.
func (s *Console) subjectExport(c *fiber.Ctx) error {
	f, err := s.readSubjectForm(c)
	if err != nil {
		return s.subjectFailed(c, f, err)
	}
	ex, err := s.subjects().Export(c.UserContext(), f.request(staff.UserOf(c).Name))
	if err != nil {
		return s.subjectFailed(c, f, err)
	}
	b, err := json.MarshalIndent(ex, "", "  ")
	if err != nil {
		return err
	}
	if c.Query("download") == "1" {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="subject-export-`+url.PathEscape(ex.Request)+`.json"`)
		return c.Send(append(b, '\n'))
	}
	return s.renderSubjects(c, fiber.StatusOK, subjectsView{Form: f, Export: string(b)}, "")
}

func (s *Console) subjectBlock(c *fiber.Ctx) error {
	f, err := s.readSubjectForm(c)
	if err != nil {
		return s.subjectFailed(c, f, err)
	}
	return s.subjectAct(c, f, s.subjects().Block)
}

func (s *Console) subjectUnblock(c *fiber.Ctx) error {
	f, err := s.readSubjectForm(c)
	if err != nil {
		return s.subjectFailed(c, f, err)
	}
	return s.subjectAct(c, f, s.subjects().Unblock)
}

// subjectErase asks first: the page repeats the request and wants the
// reference typed again; only a second POST whose confirmation matches
// erases. The outcome shows the verification ("0 rows left").
func (s *Console) subjectErase(c *fiber.Ctx) error {
	f, err := s.readSubjectForm(c)
	if err != nil {
		return s.subjectFailed(c, f, err)
	}
	if f.Confirm == "" {
		return s.renderSubjects(c, fiber.StatusOK, subjectsView{Form: f, Confirm: true}, "")
	}
	if f.Confirm != f.Value {
		f.Confirm = ""
		return s.renderSubjects(c, fiber.StatusBadRequest, subjectsView{Form: f, Confirm: true},
			"confirmation_mismatch: type the reference exactly as above to erase; nothing was erased")
	}
	return s.subjectAct(c, f, s.subjects().Erase)
}

// subjectAct runs a block, unblock or erase and shows its outcome; a
// failed one shows the outcome it recorded, if any, with the refusal.
func (s *Console) subjectAct(c *fiber.Ctx, f subjectForm, act func(context.Context, subject.Request) (subject.Outcome, error)) error {
	out, err := act(c.UserContext(), f.request(staff.UserOf(c).Name))
	f.Confirm = ""
	if err != nil {
		status, msg := s.subjectRefusal(err)
		v := subjectsView{Form: f}
		if out.ID != "" && out.Result != "" {
			v.Outcome = &out
		}
		return s.renderSubjects(c, status, v, msg)
	}
	return s.renderSubjects(c, fiber.StatusOK, subjectsView{Form: f, Outcome: &out}, "")
}

var _ = template.Must(privacyTmpl.New("subjects").Parse(`
{{with .Subjects}}
<section class="pcard" id="subjects">
  <h2>Data-subject requests</h2>
  <p class="note">Find a person by the receipt they quote, their visitor id (the <code>sezim_vid</code> cookie) or their user id, optionally on one site.
  Export gives everything held about them as JSON; block hides it and stops keeping new rows until it is unblocked; erase destroys it for good and then counts what is left.
  Each request needs its legal reason and is recorded with your name.</p>
  {{if .Confirm}}
  <form method="post" action="/app/privacy/subjects/erase" id="erase-confirm">
    <p class="perr">Erase everything the {{.Form.Kind}} <code>{{.Form.Value}}</code>{{if .Form.Site}} reaches on site {{.Form.Site}}{{else}} reaches on every site{{end}}? This cannot be undone. Reason: {{.Form.Reason}}</p>
    <input type="hidden" name="kind" value="{{.Form.Kind}}">
    <input type="hidden" name="value" value="{{.Form.Value}}">
    <input type="hidden" name="site" value="{{.Form.Site}}">
    <input type="hidden" name="reason" value="{{.Form.Reason}}">
    <label for="confirm">Type the {{.Form.Kind}} again to confirm</label>
    <input id="confirm" name="confirm" size="40" autocomplete="off" spellcheck="false" required>
    <button type="submit" id="erase-now">Erase for good</button>
    <a href="/app/privacy/subjects">Cancel</a>
  </form>
  {{else}}
  <form method="post" action="/app/privacy/subjects/export" id="subject-form">
    <label for="kind">Find by</label>
    <select id="kind" name="kind">
      <option value="receipt" {{if eq .Form.Kind "receipt"}}selected{{end}}>receipt</option>
      <option value="visitor" {{if eq .Form.Kind "visitor"}}selected{{end}}>visitor id</option>
      <option value="user" {{if eq .Form.Kind "user"}}selected{{end}}>user id</option>
    </select>
    <input id="value" name="value" value="{{.Form.Value}}" size="30" maxlength="256" autocomplete="off" spellcheck="false" required>
    <label for="site">Site</label>
    <select id="site" name="site"><option value="">every site</option>{{$site := .Form.Site}}{{range .Sites}}<option value="{{.}}" {{if eq . $site}}selected{{end}}>{{.}}</option>{{end}}</select>
    <p><label for="reason">Legal reason</label><br>
    <textarea id="reason" name="reason" rows="2" cols="70" maxlength="1000" placeholder="the subject's request of 2026-11-21; a court decision; a confirmed breach">{{.Form.Reason}}</textarea></p>
    <button type="submit" id="do-export">Export</button>
    <button type="submit" id="do-download" formaction="/app/privacy/subjects/export?download=1">Download JSON</button>
    <button type="submit" id="do-block" formaction="/app/privacy/subjects/block">Block</button>
    <button type="submit" id="do-unblock" formaction="/app/privacy/subjects/unblock">Unblock</button>
    <button type="submit" id="do-erase" formaction="/app/privacy/subjects/erase">Erase…</button>
  </form>
  {{end}}
  {{with .Outcome}}
  <p id="subject-outcome"><b>{{.Kind}}</b> of <code>{{.Subject}}</code>: <span id="subject-result">{{.Result}}</span> ({{.Rows}} rows; request {{.ID}}){{if .Detail}}. {{.Detail}}{{end}}</p>
  {{end}}
  {{if .Export}}
  <h2>Export</h2>
  <form method="post" action="/app/privacy/subjects/export?download=1">
    <input type="hidden" name="kind" value="{{.Form.Kind}}"><input type="hidden" name="value" value="{{.Form.Value}}">
    <input type="hidden" name="site" value="{{.Form.Site}}"><input type="hidden" name="reason" value="{{.Form.Reason}}">
    <button type="submit" id="export-download">Download this export as a file</button> (recorded as another export)
  </form>
  <pre id="export-json">{{.Export}}</pre>
  {{end}}
</section>
<section class="pcard" id="subject-requests">
  <h2>Past requests, newest first</h2>
  {{if .RequestsError}}<p class="perr">{{.RequestsError}}</p>{{end}}
  <table class="pt">
    <thead><tr><th>Time (UTC)</th><th>Who</th><th>Request</th><th>Subject</th><th>Site</th><th>Reason</th><th>Outcome</th><th>Rows</th></tr></thead>
    <tbody>
    {{range .Requests}}<tr><td>{{when .Time}}</td><td>{{.Actor}}</td><td>{{.Kind}}</td><td><code>{{.Ref}}</code></td><td>{{.Site}}</td><td>{{.Reason}}</td><td>{{.Outcome}}{{if .Detail}}; {{.Detail}}{{end}}</td><td>{{.Rows}}</td></tr>{{end}}
    </tbody>
  </table>
</section>
{{end}}
`))
