package main

// The consent parts of the binary: the verify command, and serve's consent
// wiring (signing keys, the consent log, the consented-rows writer).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/collector"
	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/hashchain"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// verify runs `sezim verify consent-log|audit-log`: it checks every chain
// of the log against the chain key and the checkpoints, and returns an
// error (exit 1) when one does not verify.
func verify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", "Verify stored evidence.\n\n"+
		"  sezim verify consent-log  check every chain of the consent log\n"+
		"  sezim verify audit-log    check every chain of the audit log\n\n"+
		"Each chain is checked row by row under the chain key (--log-key) and against the\n"+
		"checkpoints of its head (--checkpoints): an altered, removed or inserted row, removed\n"+
		"newest rows, a removed chain and a chain rewritten without the key are named; exit 1.", stderr)
	var sf storeFlags
	sf.register(fs)
	dataDir := fs.String("data", "data", "folder for local state: the chain key and checkpoints")
	var cf chainFlags
	cf.register(fs, dataDir)
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fs.Usage()
		if len(args) == 0 {
			return errors.New("missing the command: consent-log or audit-log")
		}
		return flag.ErrHelp
	}
	what := args[0]
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if what != "consent-log" && what != "audit-log" {
		return fmt.Errorf("unknown command %q: use consent-log or audit-log", what)
	}
	k, err := hashchain.LoadKey(cf.keyPath())
	if err != nil {
		return err
	}
	heads, err := hashchain.ReadHeads(k, cf.checkpointPaths()...)
	if err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	var chains []hashchain.Report
	var unchained uint64
	if what == "consent-log" {
		reports, err := consentlog.VerifyWith(ctx, st, consentlog.VerifyOptions{Key: k, Heads: heads})
		if err != nil {
			return err
		}
		for _, r := range reports {
			c := hashchain.Report{Chain: r.Chain, Rows: r.Rows, Keyed: r.Keyed, Unkeyed: r.Unkeyed, Checkpoint: r.Checkpoint, Pruned: r.Pruned}
			if r.Broken != nil {
				c.Broken = &hashchain.Broken{Seq: r.Broken.Seq, ID: "receipt " + r.Broken.Receipt, Reason: r.Broken.Reason, Detail: r.Broken.Detail}
			}
			chains = append(chains, c)
		}
	} else {
		v, err := staff.VerifyAudit(ctx, st, k, heads)
		if err != nil {
			return err
		}
		for _, c := range v.Chains {
			if c.Broken != nil && c.Broken.ID != "" {
				c.Broken.ID = "action " + c.Broken.ID
			}
			chains = append(chains, c)
		}
		unchained = v.Unchained
	}
	failures := printChains(stdout, chains, heads)
	if unchained > 0 {
		fmt.Fprintf(stdout, "%d row(s) written before the audit log had chains: not verifiable\n", unchained)
	}
	name := strings.Replace(what, "-", " ", 1)
	outcome := "ok"
	if len(failures) > 0 {
		outcome = "broken"
	}
	// A wrong key must not start a chain of its own in the audit log:
	// record the verification only when the key is the checkpoints' key.
	if heads.Bad == 0 {
		if a, closeAudit, err := cf.auditor(st); err == nil {
			log, _ := newLogger(stderr, "info")
			recordAudit(ctx, a, log, staff.AuditEntry{Actor: cliActor(), Action: staff.AuditVerify, Target: what,
				Outcome: outcome, Detail: strings.Join(failures, "; ")})
			closeAudit()
		}
	}
	if len(failures) > 0 {
		return fmt.Errorf("%s: %s: %w", name, strings.Join(failures, "; "), errLogBroken(what))
	}
	var rows uint64
	for _, c := range chains {
		rows += c.Rows
	}
	fmt.Fprintf(stdout, "%s verified: %d chain(s), %d rows\n", name, len(chains), rows)
	return nil
}

// errLogBroken is the sentinel of a log that does not verify.
func errLogBroken(what string) error {
	if what == "consent-log" {
		return consentlog.ErrBroken
	}
	return errAuditBroken
}

var errAuditBroken = errors.New("the audit log does not verify")

// printChains prints one line per chain and returns the failures, each a
// short phrase: broken chains, checkpoints that do not verify under the
// key, a missing checkpoint file.
func printChains(w io.Writer, chains []hashchain.Report, heads *hashchain.Heads) []string {
	var failures []string
	keyed := false
	for _, c := range chains {
		keyed = keyed || c.Keyed > 0
		cp := "no checkpoint here"
		if c.Checkpoint != nil {
			cp = fmt.Sprintf("checkpointed at seq %d", c.Checkpoint.Seq)
		}
		if c.Pruned > 0 {
			cp += fmt.Sprintf(", rows up to %d destroyed by retention", c.Pruned)
		}
		if c.Broken == nil {
			fmt.Fprintf(w, "chain %s: %d rows (%d keyed, %d unkeyed), %s: intact\n", c.Chain, c.Rows, c.Keyed, c.Unkeyed, cp)
			continue
		}
		id := ""
		if c.Broken.ID != "" {
			id = " (" + c.Broken.ID + ")"
		}
		fmt.Fprintf(w, "chain %s: BROKEN at seq %d%s: %s: %s\n", c.Chain, c.Broken.Seq, id, c.Broken.Reason, c.Broken.Detail)
		failures = append(failures, fmt.Sprintf("chain %s: %s", c.Chain, c.Broken.Reason))
	}
	if heads.Bad > 0 {
		fmt.Fprintf(w, "CHECKPOINTS: %d of %d do not verify under this key (first at %s): the wrong key, or the file was altered\n", heads.Bad, heads.Lines, heads.BadLine)
		failures = append(failures, fmt.Sprintf("%d checkpoint(s) do not verify under this key", heads.Bad))
	}
	if heads.Files == 0 && keyed {
		fmt.Fprintln(w, "CHECKPOINTS: no checkpoint file: removed newest rows and removed chains cannot be ruled out")
		failures = append(failures, "no checkpoint file")
	}
	return failures
}

// consentFlags are serve's consent flags.
type consentFlags struct {
	key, previousKey, secure string
	publicURL                publicURL
}

// publicURL is --public-url: checked when it is set, so a typo stops the
// start before anything is opened.
type publicURL struct{ u *url.URL }

func (p *publicURL) String() string {
	if p == nil || p.u == nil {
		return ""
	}
	return p.u.String()
}

func (p *publicURL) Set(v string) error {
	if v == "" {
		p.u = nil
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return errors.New("want http(s)://host[:port][/path], the collector's address as visitors reach it")
	}
	p.u = u
	return nil
}

func (f *consentFlags) register(fs *flag.FlagSet) {
	secretVar(fs, &f.key, "consent-key", "key that signs consent cookies: at least 32 bytes as hex or base64; required when a site has a consent block")
	secretVar(fs, &f.previousKey, "consent-previous-key", "the key before the last rotation: cookies it signed are still accepted (new ones get --consent-key)")
	fs.Var(&f.publicURL, "public-url", "the collector's address as visitors reach it, such as https://stats.example.com: with https the consent cookies are Secure, with http they are not")
	fs.StringVar(&f.secure, "consent-cookie-secure", string(collector.SecureAuto), "Secure attribute of the consent cookies: auto (by --public-url; without it Secure unless a trusted proxy sends X-Forwarded-Proto: http; never by the Host header), always or never")
}

// consentParts are what serve wires in for consent; the zero value (no
// site has consent) treats every event as having no consent.
type consentParts struct {
	state     func(h *event.Hit, s *site.Site, now time.Time) pipeline.ConsentState
	collector *collector.ConsentOptions
	log       *consentlog.Log
	logger    *slog.Logger
}

// setup checks the keys and opens the consent log. Consented rows need no
// writer of their own: they go through the write-ahead log with their
// events. Key errors name the flag, never the key.
func (f *consentFlags) setup(cfg *site.Config, st store.Store, dataDir string, key *hashchain.Key, cps *hashchain.Checkpoints, log *slog.Logger, reg prometheus.Registerer) (*consentParts, error) {
	p := &consentParts{}
	if f.key == "" {
		if cfg.ConsentConfigured() {
			return nil, errors.New("--consent-key (SEZIM_CONSENT_KEY) is required: a site has a consent block")
		}
		return p, nil
	}
	cur, err := consent.ParseKey(f.key)
	if err != nil {
		return nil, fmt.Errorf("invalid --consent-key: %w", err)
	}
	var prev []byte
	if f.previousKey != "" {
		if prev, err = consent.ParseKey(f.previousKey); err != nil {
			return nil, fmt.Errorf("invalid --consent-previous-key: %w", err)
		}
	}
	keys, err := consent.NewKeys(cur, prev)
	if err != nil {
		return nil, err
	}
	mode := collector.SecureMode(f.secure)
	if !collector.ValidSecureMode(mode) {
		return nil, fmt.Errorf("invalid --consent-cookie-secure %q: use auto, always or never", f.secure)
	}
	p.logger = log
	if p.log, err = consentlog.OpenOptions(st, dataDir, consentlog.Options{Key: key, Checkpoints: cps, Logger: log, Reg: reg}); err != nil {
		return nil, err
	}
	p.state = pipeline.ConsentFromCookie(keys)
	p.collector = &collector.ConsentOptions{Keys: keys, Log: p.log, Secure: mode, PublicURL: f.publicURL.u}
	return p, nil
}

// close ships what the consent journal holds and releases its lock on
// the data folder. Rows it could not ship stay in the journal for the next
// start, so a failure here loses nothing, but it is worth a line.
func (p *consentParts) close() {
	if p.log != nil {
		if err := p.log.Close(); err != nil {
			p.logger.Error("consent log: not everything was shipped at shutdown; the rest stays in the journal", "error", err)
		}
	}
}

// parseSubcommand checks that args name the one subcommand want and parses
// the flags after it; -h prints the usage.
func parseSubcommand(fs *flag.FlagSet, args []string, want string) error {
	if len(args) == 0 {
		fs.Usage()
		return fmt.Errorf("missing the command: %s", want)
	}
	if args[0] == "-h" || args[0] == "--help" {
		fs.Usage()
		return flag.ErrHelp
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if args[0] != want {
		return fmt.Errorf("unknown command %q: use %s", args[0], want)
	}
	return nil
}
