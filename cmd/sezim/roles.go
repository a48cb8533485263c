package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"

	"github.com/sezim-analytics/sezim/collector"
	"github.com/sezim-analytics/sezim/store"
)

// serveRoles are the parts of serve that reach ClickHouse with a user of
// their own, so that the server, not only this code, keeps each part to
// the tables it needs (deploy/clickhouse holds the users and their rights).
// --store stays the owner's: it migrates, and runs the jobs that drop
// partitions and create scratch tables (rollup, retention, compaction).
var serveRoles = []string{"collector", "dashboards", "privacy"}

// roleStoreFlags are one role's --store-ROLE and --store-ROLE-password.
type roleStoreFlags struct {
	role     string
	url      string
	password string
}

func (f *roleStoreFlags) register(fs *flag.FlagSet) {
	what := map[string]string{
		"collector":  "the collector's ClickHouse (write-ahead log and consent log shippers, session-log batch ledger): a user that may insert but not alter or drop",
		"dashboards": "the dashboards' ClickHouse: a user that reads sezim_stats and writes the staff tables",
		"privacy":    "the privacy tools' ClickHouse: a user that reads the identified database, which the others need not",
	}[f.role]
	fs.StringVar(&f.url, "store-"+f.role, "", what+"; empty: --store. Server mode only: the embedded engine keeps one store")
	secretVar(fs, &f.password, "store-"+f.role+"-password", "password of the ClickHouse user named in --store-"+f.role)
}

// roleStores are the stores serve's parts use: each role's own, or the
// owner's where a role has no URL of its own.
type roleStores struct {
	owner                          store.Store
	collector, dashboards, privacy store.Store
	opened                         []store.Store // the role stores that are not owner
}

// checkRoles refuses role flags that cannot work, before anything is
// opened: a password without a URL, and a role URL on the embedded engine,
// which runs one session per process and has no users.
func checkRoles(ownerURL string, flags []roleStoreFlags) error {
	for _, f := range flags {
		switch {
		case f.url == "" && f.password != "":
			return fmt.Errorf("--store-%s-password needs a --store-%s", f.role, f.role)
		case f.url != "" && (!strings.HasPrefix(ownerURL, "clickhouse://") || !strings.HasPrefix(f.url, "clickhouse://")):
			return fmt.Errorf("--store-%s needs a clickhouse:// --store-%s and a clickhouse:// --store: the embedded engine keeps one store and has no users", f.role, f.role)
		}
	}
	return nil
}

// openRoles opens a store for each role that names one (see checkRoles),
// and hands the owner's store to the others. On error it closes what it
// opened.
func openRoles(ctx context.Context, owner store.Store, names store.Names, flags []roleStoreFlags) (*roleStores, error) {
	rs := &roleStores{owner: owner, collector: owner, dashboards: owner, privacy: owner}
	for _, f := range flags {
		if f.url == "" {
			continue
		}
		st, err := openRole(ctx, f, names)
		if err != nil {
			rs.Close()
			return nil, err
		}
		rs.opened = append(rs.opened, st)
		switch f.role {
		case "collector":
			rs.collector = st
		case "dashboards":
			rs.dashboards = st
		case "privacy":
			rs.privacy = st
		}
	}
	return rs, nil
}

func openRole(ctx context.Context, f roleStoreFlags, names store.Names) (store.Store, error) {
	u, err := withPassword(f.url, f.password, "--store-"+f.role)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, u, names)
	if err != nil {
		return nil, fmt.Errorf("cannot open the %s store: %w", f.role, err)
	}
	return st, nil
}

// Close closes the role stores that are not the owner's.
func (rs *roleStores) Close() {
	for _, st := range rs.opened {
		_ = st.Close()
	}
}

// withPassword puts password into a clickhouse:// URL's user part; an empty
// password leaves the URL as it is. Errors never quote the URL, which may
// hold a password.
func withPassword(rawURL, password, flagName string) (string, error) {
	if password == "" {
		return rawURL, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "clickhouse" {
		return "", errors.New(flagName + "-password needs a clickhouse://user@host:port/ " + flagName)
	}
	name := "default"
	if u.User != nil {
		name = u.User.Username()
	}
	u.User = url.UserPassword(name, password)
	return u.String(), nil
}

// checks are readiness checks of the role stores that have their own user
// ("store_collector", …): a wrong password or a missing user shows there.
func (rs *roleStores) checks() []collector.Check {
	var cs []collector.Check
	for _, r := range []struct {
		name string
		st   store.Store
	}{{"collector", rs.collector}, {"dashboards", rs.dashboards}, {"privacy", rs.privacy}} {
		if r.st != rs.owner {
			cs = append(cs, collector.Check{Name: "store_" + r.name, Func: r.st.Ping})
		}
	}
	return cs
}
