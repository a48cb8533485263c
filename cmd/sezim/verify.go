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
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/collector"
	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/consent/consentlog"
	"github.com/sezim-analytics/sezim/event"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// verify runs `sezim verify consent-log`: it checks every chain of the
// consent log and returns an error (exit 1) when one does not verify.
func verify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", "Verify stored evidence.\n\n  sezim verify consent-log  check every hash chain of the consent log; exit 1 and name the first broken row of each broken chain", stderr)
	var sf storeFlags
	sf.register(fs)
	if err := parseSubcommand(fs, args, "consent-log"); err != nil {
		return err
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	reports, err := consentlog.Verify(ctx, st)
	if err != nil {
		return err
	}
	broken := 0
	var rows uint64
	for _, r := range reports {
		rows += r.Rows
		if r.Broken == nil {
			fmt.Fprintf(stdout, "chain %s: %d rows, intact\n", r.Chain, r.Rows)
			continue
		}
		broken++
		fmt.Fprintf(stdout, "chain %s: BROKEN at seq %d (receipt %s): %s\n", r.Chain, r.Broken.Seq, r.Broken.Receipt, r.Broken.Reason)
	}
	if broken > 0 {
		return fmt.Errorf("%d of %d chain(s) broken: %w", broken, len(reports), consentlog.ErrBroken)
	}
	fmt.Fprintf(stdout, "consent log verified: %d chain(s), %d rows\n", len(reports), rows)
	return nil
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
func (f *consentFlags) setup(cfg *site.Config, st store.Store, dataDir string, log *slog.Logger, reg prometheus.Registerer) (*consentParts, error) {
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
	if p.log, err = consentlog.OpenOptions(st, dataDir, consentlog.Options{Logger: log, Reg: reg}); err != nil {
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
