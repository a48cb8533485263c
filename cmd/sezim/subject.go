package main

// The subject command: data-subject requests from the command line. The
// logic is privacy/subject's; this file parses flags and prints.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/privacy/subject"
	"github.com/sezim-analytics/sezim/site"
)

const subjectUsage = `Answer a data-subject request about one person.

  sezim subject export  --visitor V | --receipt R | --user U --reason TEXT [--out FILE]
      everything held about the subject, as JSON: consented events, consent
      history, receipts, purposes, retention dates, countries of transfer
  sezim subject block   ... --reason TEXT
      stop keeping the subject's identified events and hide what is held
      (reversible); serving collectors follow within 30 seconds
  sezim subject unblock ... --reason TEXT
      lift a block made with the same reference
  sezim subject erase   ... --reason TEXT
      destroy the subject's identified events and receipt links for good,
      then count them again: the request succeeds only with 0 rows left

A visitor is the sezim_vid cookie value; a receipt is what the banner shows
after a decision (it reaches the visitor it set); a user is the site's
account id. Every request is recorded with --actor, the time, --reason and
the outcome (sezim_identified.subject_requests and the audit log). Exit
status 0: done and recorded; 1: not done, or done but not recorded (the
message says which).`

// subjectCmd runs `sezim subject <export|block|unblock|erase>`.
func subjectCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "Usage: sezim subject <export|block|unblock|erase> [flags]\n\n"+subjectUsage)
		if len(args) == 0 {
			return errors.New("missing the request: export, block, unblock or erase")
		}
		return flag.ErrHelp
	}
	kind := args[0]
	switch kind {
	case "export", "block", "unblock", "erase":
	default:
		return fmt.Errorf("unknown request %q: use export, block, unblock or erase", kind)
	}
	fs := newFlagSet("subject "+kind, subjectUsage, stderr)
	var sf storeFlags
	sf.register(fs)
	visitor := fs.String("visitor", "", "the subject's visitor id (the sezim_vid cookie)")
	receipt := fs.String("receipt", "", "a consent receipt the subject quotes")
	userID := fs.String("user", "", "the subject's user id on the site")
	siteID := fs.String("site", "", "only this site's rows (default: every site)")
	reason := fs.String("reason", "", "the legal reason, recorded as given: the request and its date, a court decision, a confirmed breach (required)")
	actor := fs.String("actor", cliActor(), "who makes the request, recorded with it")
	dataDir := fs.String("data", "data", "folder for local state: the chain key and checkpoints of the audit log")
	var cf chainFlags
	cf.register(fs, dataDir)
	outPath := ""
	if kind == "export" {
		fs.StringVar(&outPath, "out", "", "write the export to this file (mode 0600) instead of stdout")
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	ref, err := subjectRef(*visitor, *receipt, *userID)
	if err != nil {
		return err
	}
	ref.Site = *siteID
	req := subject.Request{Ref: ref, Actor: *actor, Reason: *reason}
	if err := ref.Validate(); err != nil {
		return err
	}
	if req.Reason == "" {
		return errors.New("--reason is required: every request is recorded with its legal reason")
	}
	cfg, err := site.Load(sf.config)
	if err != nil {
		return err
	}
	if ref.Site != "" && cfg.Site(ref.Site) == nil {
		return fmt.Errorf("no site %q in %s", ref.Site, sf.config)
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	audit, closeAudit, err := cf.auditor(st)
	if err != nil {
		return err
	}
	defer closeAudit()
	svc := subject.New(subject.Options{Store: st, Sites: cfg, Audit: staff.SubjectAudit(audit)})

	if kind == "export" {
		ex, err := svc.Export(ctx, req)
		if err != nil {
			return err
		}
		if err := writeExport(ex, outPath, stdout); err != nil {
			return err
		}
		state := ""
		if ex.Blocked {
			state = " (the subject is blocked: counts only, no rows)"
		}
		fmt.Fprintf(stderr, "exported %d events and %d consent-log rows of %s%s; request %s recorded\n",
			len(ex.Events), len(ex.ConsentHistory), ref.Fingerprint(), state, ex.Request)
		return nil
	}
	var out subject.Outcome
	switch kind {
	case "block":
		out, err = svc.Block(ctx, req)
	case "unblock":
		out, err = svc.Unblock(ctx, req)
	case "erase":
		out, err = svc.Erase(ctx, req)
	}
	if err != nil {
		if errors.Is(err, subject.ErrUnresolved) {
			return fmt.Errorf("%w: the receipt is recorded but leads to no visitor (a refusal, or already erased); ask for the visitor id or user id", err)
		}
		return err
	}
	fmt.Fprintf(stdout, "%s: %s; %d rows; request %s recorded\n", ref.Fingerprint(), out.Result, out.Rows, out.ID)
	if out.Detail != "" {
		fmt.Fprintln(stdout, out.Detail)
	}
	return nil
}

// subjectRef takes exactly one of the three references.
func subjectRef(visitor, receipt, user string) (subject.Ref, error) {
	var refs []subject.Ref
	for _, r := range []subject.Ref{{Kind: subject.KindVisitor, Value: visitor}, {Kind: subject.KindReceipt, Value: receipt}, {Kind: subject.KindUser, Value: user}} {
		if r.Value != "" {
			refs = append(refs, r)
		}
	}
	if len(refs) != 1 {
		return subject.Ref{}, errors.New("name the subject with exactly one of --visitor, --receipt or --user")
	}
	return refs[0], nil
}

func writeExport(ex *subject.Export, path string, stdout io.Writer) error {
	data, err := json.MarshalIndent(ex, "", "  ")
	if err != nil {
		return fmt.Errorf("cannot encode the export: %w", err)
	}
	data = append(data, '\n')
	if path == "" {
		_, err = stdout.Write(data)
	} else {
		err = os.WriteFile(path, data, 0o600)
	}
	if err != nil {
		return fmt.Errorf("cannot write the export: %w", err)
	}
	return nil
}
