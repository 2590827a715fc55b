package lmtp

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"

	"maildeliver/internal/config"
)

// ErrConfig marks a listener that cannot be set up because of the
// configuration (an unknown socket_group, a path that is not a socket).
var ErrConfig = errors.New("lmtp: configuration")

// Listen opens every [lmtp] listen entry: "unix:PATH", "tcp:HOST:PORT",
// "systemd" (the sockets systemd passes, see lmtpd.socket), and [userdb]
// socket when set. On error nothing stays open.
func (s *Server) Listen() error {
	var ls []*listener
	fail := func(err error) error {
		for _, l := range ls {
			l.Close()
		}
		return err
	}
	for _, spec := range s.cfg.LMTP.Listen {
		network, addr, err := config.ParseListen(spec)
		if err != nil {
			return fail(fmt.Errorf("%w: %v", ErrConfig, err))
		}
		switch network {
		case "unix":
			l, err := listenUnix(addr, os.FileMode(s.cfg.LMTP.SocketMode), s.cfg.LMTP.SocketGroup)
			if err != nil {
				return fail(fmt.Errorf("listen %s: %w", spec, err))
			}
			ls = append(ls, &listener{Listener: l, srv: s, name: spec})
		case "tcp":
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return fail(fmt.Errorf("listen %s: %w", spec, err))
			}
			ls = append(ls, &listener{Listener: l, srv: s, name: spec})
		case "systemd":
			sl, err := systemdListeners()
			if err != nil {
				return fail(err)
			}
			for _, l := range sl {
				ls = append(ls, &listener{Listener: l, srv: s, name: "systemd:" + l.Addr().String()})
			}
		}
	}
	udb, err := s.listenUserdb()
	if err != nil {
		return fail(err)
	}
	qsl, err := s.listenQuotaStatus()
	ml, err := s.listenMetrics()
	if err != nil {
		if udb != nil {
			udb.Close()
		}
		return fail(err)
	}
	s.mu.Lock()
	s.listeners = append(s.listeners, ls...)
	s.userdbListener = udb
	s.quotaStatusListener = qsl
	s.metricsListener = ml
	s.mu.Unlock()
	return nil
}

// Addrs returns the addresses listened on (tcp:HOST:0 gets its port here).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	var a []net.Addr
	for _, l := range s.listeners {
		a = append(a, l.Addr())
	}
	return a
}

// GroupID resolves [lmtp] socket_group ("" = leave the group alone: -1).
func GroupID(group string) (int, error) {
	if group == "" {
		return -1, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("%w: socket_group %q: %v", ErrConfig, group, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("%w: socket_group %q: gid %q", ErrConfig, group, g.Gid)
	}
	return gid, nil
}

// listenUnix binds a unix socket at path with the given mode and group
// ("" = the process's); its owner is the process's user. A stale socket
// (nobody accepting on it) is removed first; anything that is not a socket
// is never removed, and a live socket means another server is running.
// Both the LMTP and the userdb socket are made here (bindUnix).
func listenUnix(path string, mode os.FileMode, group string) (net.Listener, error) {
	gid, err := GroupID(group)
	if err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	return bindUnix(path, mode, gid)
}

func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%w: %s exists and is not a socket; not removing it", ErrConfig, path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%s: another process is accepting connections on it", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%s: cannot tell whether the socket is stale: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// systemdListeners returns the stream sockets passed by systemd.
func systemdListeners() ([]net.Listener, error) {
	ls, err := activation.Listeners()
	if err != nil {
		return nil, fmt.Errorf("listen systemd: %w", err)
	}
	var out []net.Listener
	for _, l := range ls {
		if l == nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("%w: listen systemd: a passed socket is not a stream socket", ErrConfig)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: listen = systemd, but systemd passed no socket (LISTEN_FDS)", ErrConfig)
	}
	return out, nil
}
