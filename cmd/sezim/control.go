package main

// The control socket: how `sezim user` reaches an embedded store that a
// running serve holds.
//
// The embedded engine keeps its view of a folder's tables in memory, so one
// process at a time may open the folder (store.ErrEmbeddedLocked). Rather
// than make the operator stop the service to add an account, serve listens
// on a Unix socket in the store's folder and carries out `sezim user`
// commands itself, with its open store, its sites and its directory of
// accounts (so a change is seen at once). The socket is the folder owner's
// only: its mode is 0600, and serve checks the peer's user id (SO_PEERCRED)
// against its own, so another local user cannot use it even where the
// mode would let them. Nothing but user commands is taken.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// controlSocket is the socket's name in the embedded store's folder.
const controlSocket = "sezim.sock"

// maxControlRequest bounds one request: arguments and a password.
const maxControlRequest = 64 << 10

type controlRequest struct {
	Args     []string `json:"args"`
	Password *string  `json:"password,omitempty"`
}

type controlReply struct {
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	Error  string `json:"error,omitempty"`
}

// serveControl listens on the folder's control socket and runs the user
// commands that come through it in env (its actor is set per request),
// until ctx ends. The returned function waits for the listener to close.
func serveControl(ctx context.Context, folder string, env userEnv, log *slog.Logger) (func(), error) {
	path := filepath.Join(folder, controlSocket)
	// This process holds the folder's lock: a socket file left there is
	// from a process that died.
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on the control socket (%s): %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("cannot restrict the control socket (%s): %w", path, err)
	}
	done := make(chan struct{})
	go func() {
		<-ctx.Done()
		_ = ln.Close()
	}()
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				if ctx.Err() == nil {
					log.Error("control socket stopped", "err", err)
				}
				return
			}
			go handleControl(ctx, conn.(*net.UnixConn), env, log)
		}
	}()
	return func() { <-done; _ = os.Remove(path) }, nil
}

// handleControl serves one request on conn.
func handleControl(ctx context.Context, conn *net.UnixConn, env userEnv, log *slog.Logger) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	reply := func(r controlReply) { _ = json.NewEncoder(conn).Encode(r) }
	uid, err := peerUID(conn)
	if err != nil || (uid != uint32(os.Getuid()) && uid != 0) {
		log.Warn("control socket: refused a process of another user", "uid", uid)
		reply(controlReply{Error: "refused: only the store folder's owner may use this socket"})
		return
	}
	var req controlRequest
	if err := json.NewDecoder(io.LimitReader(conn, maxControlRequest)).Decode(&req); err != nil {
		reply(controlReply{Error: "bad request"})
		return
	}
	env.actor = "cli:" + strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		env.actor = "cli:" + u.Username
	}
	var stdin io.Reader = strings.NewReader("")
	if req.Password != nil {
		stdin = strings.NewReader(*req.Password + "\n")
	}
	var out, errOut strings.Builder
	if err := userCmdIn(ctx, env, req.Args, stdin, &out, &errOut); err != nil {
		reply(controlReply{Stdout: out.String(), Stderr: errOut.String(), Error: err.Error()})
		return
	}
	reply(controlReply{Stdout: out.String(), Stderr: errOut.String()})
}

// peerUID is the user id of the process at the other end of conn.
func peerUID(conn *net.UnixConn) (uint32, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, credErr
	}
	return cred.Uid, nil
}

// forwardUserCmd sends a user command to the serve holding the embedded
// store in folder, and prints what it answered.
func forwardUserCmd(ctx context.Context, folder string, args []string, password *string, stdout, stderr io.Writer) error {
	path := filepath.Join(folder, controlSocket)
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return fmt.Errorf("the embedded store (%s) is open in another process, and no sezim serve answers on %s (%v): stop that process, or run this command on the machine and as the user that runs sezim serve", folder, path, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Minute))
	if err := json.NewEncoder(conn).Encode(controlRequest{Args: args, Password: password}); err != nil {
		return fmt.Errorf("cannot send the command to sezim serve (%s): %w", path, err)
	}
	var r controlReply
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&r); err != nil {
		return fmt.Errorf("no answer from sezim serve (%s): %w", path, err)
	}
	fmt.Fprint(stdout, r.Stdout)
	fmt.Fprint(stderr, r.Stderr)
	if r.Error != "" {
		return errors.New(r.Error)
	}
	return nil
}
