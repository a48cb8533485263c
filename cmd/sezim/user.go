package main

import (
	"bufio"
	"context"
	"errors"

	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/sezim-analytics/sezim/dashboards/staff"
	"github.com/sezim-analytics/sezim/site"
	"github.com/sezim-analytics/sezim/store"
)

const userUsage = `Usage: sezim user <command> [flags] NAME

Staff accounts of the dashboards (stored in the identified database).

Commands:
  add NAME       create an account: --role viewer|privacy|admin, --sites a,b
  passwd NAME    set a new password
  set NAME       change --role and/or --sites
  disable NAME   disable the account (its sessions and tokens stop working)
  enable NAME    enable it again
  list           list accounts
  token add NAME     make an API token (printed once): --label, --role (default: the user's)
  token list         list tokens
  token revoke ID    revoke a token

Passwords are read from standard input (the first line) or --password-file,
never from a flag value. With the embedded store, while "sezim serve" runs on
it, the command is carried out by the running service (through the socket
sezim.sock in the store's folder, open to the folder's owner only).
`

// userCmd manages staff accounts; stdin gives passwords.
func userCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return userCmdIn(ctx, userEnv{}, args, stdin, stdout, stderr)
}

// userEnv is where a user command runs: in its own process (zero value),
// or inside a running serve for a command that came through its control
// socket.
type userEnv struct {
	st      store.Store      // serve's open store; nil: open --store
	dir     *staff.Directory // serve's directory, so that changes show at once
	audit   *staff.Auditor   // serve's keyed audit log; nil: open one from --data
	cfg     *site.Config     // serve's sites; nil: load --config
	actor   string           // who asked, as the audit log names them
	forward func(ctx context.Context, dir string, args []string, password *string, stdout, stderr io.Writer) error
}

func userCmdIn(ctx context.Context, env userEnv, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, userUsage)
		if len(args) == 0 {
			return errors.New("a command is required")
		}
		return nil
	}
	sub := args[0]
	if sub == "token" {
		if len(args) < 2 {
			return errors.New("token add|list|revoke")
		}
		sub = "token " + args[1]
		args = args[1:]
	}
	fs := newFlagSet("user "+sub, "Manage staff accounts; see sezim user --help.", stderr)
	var sf storeFlags
	sf.register(fs)
	role := fs.String("role", "", "role: viewer, privacy or admin")
	sites := fs.String("sites", "", "comma-separated site ids the account may see (admins see all)")
	pwFile := fs.String("password-file", "", "read the password from this file instead of standard input")
	label := fs.String("label", "", "what an API token is for")
	dataDir := fs.String("data", "data", "folder for local state: the chain key and checkpoints of the audit log")
	var cf chainFlags
	cf.register(fs, dataDir)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	arg := fs.Arg(0)
	needArg := sub != "list" && sub != "token list"
	if needArg && arg == "" {
		return fmt.Errorf("%s needs a name", sub)
	}
	cfg := env.cfg
	var err error
	if cfg == nil {
		if cfg, err = site.Load(sf.config); err != nil {
			return err
		}
	}
	var siteList []string
	if *sites != "" {
		for _, s := range strings.Split(*sites, ",") {
			s = strings.TrimSpace(s)
			if cfg.Site(s) == nil {
				return fmt.Errorf("no site %q in %s", s, sf.config)
			}
			siteList = append(siteList, s)
		}
	}
	st, dir, actor := env.st, env.dir, env.actor
	if st == nil {
		st, err = sf.open(ctx)
		if folder, ok := strings.CutPrefix(sf.url, "chdb://"); ok && errors.Is(err, store.ErrEmbeddedLocked) {
			// serve has the folder: it carries the command out.
			var pw *string
			if sub == "add" || sub == "passwd" {
				p, err := readPasswordLine(stdin, *pwFile)
				if err != nil {
					return err
				}
				pw = &p
			}
			forward := env.forward
			if forward == nil {
				forward = forwardUserCmd
			}
			return forward(ctx, folder, args, pw, stdout, stderr)
		}
		if err != nil {
			return err
		}
		defer st.Close()
		actor = cliActor()
	} else {
		*pwFile = "" // the password came with the request, as stdin
	}
	if dir == nil {
		dir = staff.NewDirectory(staff.DirectoryOptions{Store: st})
	}
	audit := env.audit
	if audit == nil {
		a, closeAudit, err := cf.auditor(st)
		if err != nil {
			return err
		}
		defer closeAudit()
		audit = a
	}
	record := func(action, target, detail string) error {
		return audit.Record(ctx, staff.AuditEntry{Actor: actor, Action: action, Target: target, Outcome: "ok", Detail: detail})
	}
	readPassword := func() (string, error) {
		pw, err := readPasswordLine(stdin, *pwFile)
		if err != nil {
			return "", err
		}
		return staff.HashPassword(pw, staff.DefaultHashParams)
	}
	name := strings.ToLower(arg)
	switch sub {
	case "add":
		if _, err := dir.User(ctx, name); err == nil {
			return staff.ErrUserExist
		}
		r, err := staff.ParseRole(*role)
		if err != nil {
			return err
		}
		hash, err := readPassword()
		if err != nil {
			return err
		}
		if err := dir.PutUser(ctx, &staff.User{Name: name, Role: r, Sites: siteList}, hash); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s (%s)\n", name, r)
		return record(staff.AuditUserChanged, name, "added as "+string(r)+" for sites "+strings.Join(siteList, ","))
	case "passwd", "set", "disable", "enable":
		u, err := dir.User(ctx, name)
		if err != nil {
			return fmt.Errorf("%w: %s", err, name)
		}
		c := *u
		hash, detail := "", sub
		switch sub {
		case "passwd":
			if hash, err = readPassword(); err != nil {
				return err
			}
		case "set":
			if *role != "" {
				if c.Role, err = staff.ParseRole(*role); err != nil {
					return err
				}
			}
			if *sites != "" {
				c.Sites = siteList
			}
			detail = "role " + string(c.Role) + ", sites " + strings.Join(c.Sites, ",")
		case "disable":
			c.Disabled = true
		case "enable":
			c.Disabled = false
		}
		if err := dir.PutUser(ctx, &c, hash); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s done\n", name, sub)
		return record(staff.AuditUserChanged, name, detail)
	case "list":
		users, err := dir.Users(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tSITES\tSTATE\tUPDATED")
		for _, u := range users {
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			s := strings.Join(u.Sites, ",")
			if u.Role == staff.RoleAdmin {
				s = "(all)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, s, state, u.UpdatedAt.Format("2006-01-02 15:04"))
		}
		return tw.Flush()
	case "token add":
		u, err := dir.User(ctx, name)
		if err != nil {
			return fmt.Errorf("%w: %s", err, name)
		}
		r := u.Role
		if *role != "" {
			if r, err = staff.ParseRole(*role); err != nil {
				return err
			}
		}
		raw, t, err := dir.AddToken(ctx, name, r, *label)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, raw)
		fmt.Fprintf(stderr, "token %s for %s (%s): shown once, keep it secret\n", t.ID, name, r)
		return record(staff.AuditTokenAdded, t.ID, "for "+name+" as "+string(r))
	case "token list":
		tokens, err := dir.Tokens(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSER\tROLE\tLABEL\tCREATED\tSTATE")
		for _, t := range tokens {
			state := "active"
			if t.Revoked {
				state = "revoked"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, t.Role, t.Label, t.Created.Format("2006-01-02 15:04"), state)
		}
		return tw.Flush()
	case "token revoke":
		if err := dir.RevokeToken(ctx, arg); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %s\n", arg)
		return record(staff.AuditTokenRevoked, arg, "")
	}
	return fmt.Errorf("unknown user command %q", sub)
}

// readPasswordLine reads a password: the first line of file, or of stdin
// when file is "".
func readPasswordLine(stdin io.Reader, file string) (string, error) {
	r := stdin
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("cannot read the password file: %w", err)
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("cannot read the password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
