// Command sezim is the Sezim Analytics binary: the collector service, schema
// migrations and operator tools. It only parses flags, builds the parts and
// runs them; all logic lives in the packages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// onSignals returns a context that ends on SIGINT or SIGTERM. Call it after
// the store is open: the embedded engine's library installs its own signal
// handlers when it loads, and a SIGTERM would then be swallowed by it; the
// first signal.Notify after that puts Go's handler back.
func onSignals(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

const usage = `Sezim Analytics: privacy-preserving web analytics and consent collector.

Usage: sezim <command> [flags]

Commands:
  serve       run the collector, the dashboards and stats API, and the operator endpoints
  migrate     apply or show database migrations (migrate up | migrate status)
  retention   run the retention job once: final rollups, salt-day and aggregate expiry
  verify      verify stored evidence: verify consent-log | verify audit-log check the logs' keyed chains
  audit       audit export: the audit log of staff actions as CSV or JSON
  privacy     privacy report: scan the stats database for anything personal (exit 1 on a finding)
  subject     data-subject requests: subject export|block|unblock|erase --visitor|--receipt|--user --reason
  user        staff accounts and API tokens of the dashboards (user --help)
  import      send access logs (combined or NDJSON, plain or .gz) to a collector, or --direct to the store
  health      exit 0 when a running serve is ready (GET /readyz): for container health checks
  bench       load-test a collector (loopback only) and check nothing acknowledged was lost;
              bench rollup times the rollup of one generated salt day

Every flag has an environment twin: --store is SEZIM_STORE, --admin-addr is
SEZIM_ADMIN_ADDR. Run "sezim <command> --help" for a command's flags.
`

func main() {
	// Signals are taken by each command once its store is open (see
	// onSignals), not here.
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = migrate(ctx, args[1:], stdout, stderr)
	case "retention":
		err = retention(ctx, args[1:], stdout, stderr)
	case "verify":
		err = verify(ctx, args[1:], stdout, stderr)
	case "audit":
		err = auditCmd(ctx, args[1:], stdout, stderr)
	case "privacy":
		err = privacyCmd(ctx, args[1:], stdout, stderr)
	case "user":
		err = userCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "import":
		err = importCmd(ctx, args[1:], stdout, stderr)
	case "bench":
		err = bench(ctx, args[1:], stdout, stderr)
	case "subject":
		err = subjectCmd(ctx, args[1:], stdout, stderr)
	case "health":
		err = healthCmd(ctx, args[1:], stdout, stderr)
	case "baseline":
		err = baselineCmd(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "sezim: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "sezim %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
