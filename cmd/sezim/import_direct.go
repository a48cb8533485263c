package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sezim-analytics/sezim/consent"
	"github.com/sezim-analytics/sezim/pipeline"
	"github.com/sezim-analytics/sezim/pipeline/anon"
	"github.com/sezim-analytics/sezim/pipeline/geo"
	"github.com/sezim-analytics/sezim/sessionlog/importer"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

// directImport is what `import --direct` opens: the store, the geo
// database and the sender built on them; close releases them.
type directImport struct {
	st   store.Store
	geo  *geo.DB
	send *importer.DirectSender
}

func newDirectImport(ctx context.Context, o *importOptions, stderr io.Writer) (*directImport, error) {
	cfg, err := site.Load(o.sf.config)
	if err != nil {
		return nil, err
	}
	st, err := o.sf.open(ctx)
	if err != nil {
		return nil, err
	}
	d := &directImport{st: st}
	if d.send, err = d.wire(ctx, cfg, o, stderr); err != nil {
		d.close()
		return nil, err
	}
	return d, nil
}

// wire checks the store's schema and builds the in-process pipeline's
// parts from the flags.
func (d *directImport) wire(ctx context.Context, cfg *site.Config, o *importOptions, stderr io.Writer) (*importer.DirectSender, error) {
	var s *site.Site
	switch {
	case o.siteID != "":
		if s = cfg.Site(o.siteID); s == nil {
			return nil, fmt.Errorf("--site %q is not in %s", o.siteID, o.sf.config)
		}
	case len(cfg.Sites) == 1:
		s = cfg.Sites[0]
	default:
		return nil, fmt.Errorf("--site is required: %s has %d sites", o.sf.config, len(cfg.Sites))
	}
	if o.sf.cluster != "" {
		// --direct rolls its days up itself, and on a cluster that is the
		// shards' collectors' work (serve --store-shard).
		return nil, fmt.Errorf("--direct cannot run on a --cluster: import through a collector")
	}
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create data folder %q: %w", o.dataDir, err)
	}
	pending, err := store.NewMigrator(d.st, o.sf.migrateOptions()).Pending(ctx)
	if err != nil {
		return nil, err
	}
	if pending > 0 {
		return nil, fmt.Errorf("%d migration(s) pending: run \"sezim migrate up\" first", pending)
	}
	if o.geoPath != "" {
		if d.geo, err = geo.Open(o.geoPath); err != nil {
			return nil, err
		}
	}
	salts, err := anon.NewSalts(filepath.Join(o.dataDir, "salts.json"), time.Now())
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	do := importer.DirectOptions{Store: d.st, Site: s, Logger: log, Stderr: stderr,
		Pipeline: pipeline.Options{Sites: cfg, Salts: salts, Geo: d.geo, Reg: reg}}
	if o.consentKey != "" {
		key, err := consent.ParseKey(o.consentKey)
		if err != nil {
			return nil, fmt.Errorf("invalid --consent-key: %w", err)
		}
		keys, err := consent.NewKeys(key, nil)
		if err != nil {
			return nil, err
		}
		do.Identified = pipeline.NewIdentifiedWriter(pipeline.IdentifiedOptions{Store: d.st, Logger: log, Reg: reg})
		do.Pipeline.Consent = pipeline.ConsentFromCookie(keys)
	}
	return importer.NewDirectSender(do)
}

func (d *directImport) close() {
	if d.geo != nil {
		d.geo.Close()
	}
	if d.st != nil {
		_ = d.st.Close()
	}
}
