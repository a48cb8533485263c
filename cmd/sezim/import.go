package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sezim-analytics/sezim/sessionlog"
	"github.com/sezim-analytics/sezim/sessionlog/importer"
)

// importOptions are import's flags.
type importOptions struct {
	sf          storeFlags
	collector   string
	key         string
	siteID      string
	direct      bool
	dataDir     string
	geoPath     string
	consentKey  string
	format      string
	batchLines  int
	statePath   string
	gzipBody    bool
	progress    string
	progressInt time.Duration
	retries     int
	timeout     time.Duration
}

func (o *importOptions) register(fs *flag.FlagSet) {
	o.sf.register(fs)
	fs.StringVar(&o.collector, "collector", "", "collector to send to, e.g. https://stats.example.com (not with --direct)")
	secretVar(fs, &o.key, "key", "the site's ingest key (sent as a bearer token; never printed)")
	fs.StringVar(&o.siteID, "site", "", "site id (required with --direct when the config has several sites)")
	fs.BoolVar(&o.direct, "direct", false, "write straight into the store with the pipeline in this process (--store, --config, --data, --geoip)")
	fs.StringVar(&o.dataDir, "data", "data", "--direct: folder of the salts file (share it with the collector to share the day's visitor hash)")
	fs.StringVar(&o.geoPath, "geoip", "", "--direct: geo database (.mmdb); empty: no countries")
	secretVar(fs, &o.consentKey, "consent-key", "--direct: key that signs consent cookies, to honour sezim_consent in the log; empty: every line anonymous")
	fs.StringVar(&o.format, "format", "auto", "line format: combined, ndjson or auto (by the first line)")
	fs.IntVar(&o.batchLines, "batch-lines", importer.DefaultBatchLines, "lines per batch (one request, or one insert with --direct)")
	fs.StringVar(&o.statePath, "state", "", "resume state file (default: FIRST_INPUT.sezim-import; none for stdin unless given)")
	fs.BoolVar(&o.gzipBody, "gzip", true, "gzip request bodies")
	fs.StringVar(&o.progress, "progress", "auto", "progress display: auto (a bar on a terminal, periodic lines otherwise), bar, lines or none")
	fs.DurationVar(&o.progressInt, "progress-interval", 10*time.Second, "how often a progress line is printed when not on a terminal")
	fs.IntVar(&o.retries, "retries", 8, "attempts per batch on network errors, 409 and 5xx answers")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "time limit of one request")
}

const importSummary = `Import access logs: nginx/Apache "combined" lines (optionally with the Cookie
header appended as a quoted field) or NDJSON records, plain or gzipped, from
files or "-" (stdin). Lines go through the same pipeline as the pixel, via a
collector's POST /sessionlog or straight into the store (--direct).

Runs are resumable: the state file records how far each input was
acknowledged; run the same command again to continue. Every batch has an
idempotency key made of the input's identity and its byte range, so a batch
that was processed but not acknowledged still counts once.

  sezim import --collector https://stats.example.com --key KEY --site example access.log.1.gz access.log
  sezim import --direct --store clickhouse://… --config sites.yaml --site example access.log`

func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", importSummary, stderr)
	var o importOptions
	o.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	inputs := fs.Args()
	if len(inputs) == 0 {
		return errors.New("name at least one input file, or - for stdin")
	}
	if o.batchLines < 1 || o.batchLines > importer.MaxBatchLines {
		return fmt.Errorf("--batch-lines %d must be between 1 and %d", o.batchLines, importer.MaxBatchLines)
	}
	ro := importer.Options{BatchLines: o.batchLines, StatePath: o.statePath, Progress: o.progress,
		ProgressInterval: o.progressInt, Stdout: stdout, Stderr: stderr}
	switch o.format {
	case "combined":
		ro.Format = sessionlog.FormatCombined
	case "ndjson":
		ro.Format = sessionlog.FormatNDJSON
	case "auto":
	default:
		return fmt.Errorf("--format %q: use combined, ndjson or auto", o.format)
	}
	if ro.StatePath == "" && inputs[0] != "-" {
		ro.StatePath = inputs[0] + ".sezim-import"
	}
	if o.direct {
		if o.collector != "" {
			return errors.New("--direct writes to the store: leave out --collector")
		}
		d, err := newDirectImport(ctx, &o, stderr)
		if err != nil {
			return err
		}
		defer d.close()
		ctx, stop := onSignals(ctx)
		defer stop()
		err = importer.Run(ctx, inputs, d.send, ro)
		if ferr := d.send.Finish(context.WithoutCancel(ctx)); err == nil {
			err = ferr
		}
		return err
	}
	if o.collector == "" || o.key == "" || o.siteID == "" {
		return errors.New("--collector, --key and --site are required (or use --direct)")
	}
	send, err := importer.NewHTTPSender(importer.HTTPOptions{Collector: o.collector, Key: o.key, Site: o.siteID,
		Plain: !o.gzipBody, Retries: max(1, o.retries), Timeout: o.timeout})
	if err != nil {
		return err
	}
	ctx, stop := onSignals(ctx)
	defer stop()
	return importer.Run(ctx, inputs, send, ro)
}
