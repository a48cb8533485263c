package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/sezim-analytics/sezim/store"
)

func migrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", "Apply or show the database migrations.\n\n  sezim migrate up      apply every pending migration\n  sezim migrate status  list migrations and when each was applied", stderr)
	var sf storeFlags
	sf.register(fs)
	if len(args) == 0 {
		fs.Usage()
		return fmt.Errorf("missing action: up or status")
	}
	action := args[0]
	if action == "-h" || action == "--help" {
		fs.Usage()
		return nil
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if action != "up" && action != "status" {
		return fmt.Errorf("unknown action %q: use up or status", action)
	}
	st, err := sf.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	m := store.NewMigrator(st, sf.migrateOptions())
	if action == "up" {
		applied, err := m.Up(ctx)
		if err != nil {
			return err
		}
		if len(applied) == 0 {
			fmt.Fprintln(stdout, "nothing to apply: the schema is current")
		}
		for _, name := range applied {
			fmt.Fprintf(stdout, "applied %s\n", name)
		}
		return nil
	}
	list, err := m.Status(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tSTATUS")
	for _, s := range list {
		status := "pending"
		if s.Applied {
			status = "applied " + s.AppliedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%03d\t%s\t%s\n", s.Version, s.Name, status)
	}
	return tw.Flush()
}
