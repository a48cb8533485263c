package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
)

// envName is a flag's environment twin: --admin-addr → SEZIM_ADMIN_ADDR.
func envName(flagName string) string {
	return "SEZIM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newFlagSet returns a FlagSet whose usage lists every flag with its
// environment twin.
func newFlagSet(name, summary string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: sezim %s [flags]\n\n%s\n\nFlags (each also read from its environment variable):\n", name, summary)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "false" {
				def = fmt.Sprintf(" (default %q)", f.DefValue)
			}
			fmt.Fprintf(out, "  --%s  [%s]%s\n      %s\n", f.Name, envName(f.Name), def, f.Usage)
		})
	}
	return fs
}

// secretVar registers a flag that carries a secret, with its twin
// --NAME-file (the file's first line) and the environment variables of
// both. A secret given as --NAME on the command line works but warns: every
// user of the machine can read a command line (ps, /proc/PID/cmdline).
// parseFlags recognises a secret flag by its -file twin.
func secretVar(fs *flag.FlagSet, dst *string, name, usage string) {
	fs.StringVar(dst, name, "", usage+"; a secret: prefer --"+name+"-file or "+envName(name))
	fs.Func(name+"-file", "read --"+name+" from this file (its first line)", func(path string) error {
		v, err := readSecretFile(path)
		if err != nil {
			return err
		}
		*dst = v
		return nil
	})
}

// readSecretFile returns the first line of path, without its line end. An
// empty secret is an error: it would silently turn a feature off.
func readSecretFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("cannot read secret file %q: %w", path, err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	line = strings.TrimRight(line, "\r \t")
	if line == "" {
		return "", fmt.Errorf("secret file %q is empty", path)
	}
	return line, nil
}

// isSecret reports whether name is a secret flag of fs (it has a -file twin).
func isSecret(fs *flag.FlagSet, name string) bool {
	return fs.Lookup(name+"-file") != nil
}

// isStoreURL reports whether flag name is a store URL: --store, or a
// role's --store-ROLE (which has a --store-ROLE-password).
func isStoreURL(fs *flag.FlagSet, name string) bool {
	return name == "store" || (strings.HasPrefix(name, "store-") && isSecret(fs, name+"-password"))
}

// secretInCommandLine reports whether flag f, given on the command line,
// put a secret there: a secret flag, or a store URL with a password.
func secretInCommandLine(fs *flag.FlagSet, f *flag.Flag) bool {
	if isSecret(fs, f.Name) {
		return true
	}
	if isStoreURL(fs, f.Name) {
		if u, err := url.Parse(f.Value.String()); err == nil && u.User != nil {
			pw, _ := u.User.Password()
			return pw != ""
		}
	}
	return false
}

// parseFlags parses args, then fills every flag not given on the command
// line from its SEZIM_* environment variable. The command line wins, and a
// secret and its -file twin count as one flag: either on the command line
// wins over both variables, and giving both in one place is an error.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || !isSecret(fs, f.Name) {
			return
		}
		file := f.Name + "-file"
		switch {
		case given[f.Name] && given[file]:
			err = fmt.Errorf("give --%s or --%s, not both", f.Name, file)
		case given[f.Name] || given[file]:
			given[f.Name], given[file] = true, true // the environment must not override either
		default:
			_, v := os.LookupEnv(envName(f.Name))
			_, vf := os.LookupEnv(envName(file))
			if v && vf {
				err = fmt.Errorf("set %s or %s, not both", envName(f.Name), envName(file))
			}
		}
	})
	if err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) {
		if secretInCommandLine(fs, f) {
			fmt.Fprintf(fs.Output(), "warning: --%s on the command line is visible to every user of this machine (ps); use %s instead\n",
				f.Name, secretAlternative(f.Name))
		}
	})
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok {
			if e := fs.Set(f.Name, v); e != nil {
				if isSecret(fs, f.Name) {
					err = fmt.Errorf("invalid value for %s: %w", envName(f.Name), e)
				} else {
					err = fmt.Errorf("invalid value %q for %s: %w", v, envName(f.Name), e)
				}
			}
		}
	})
	return err
}

// secretAlternative names what to use instead of a secret on the command line.
func secretAlternative(name string) string {
	if name == "store" || strings.HasPrefix(name, "store-") {
		return envName(name) + ", or --" + name + "-password-file with a URL without password"
	}
	return "--" + name + "-file or " + envName(name)
}
