package lmtp

import (
	"context"
	"fmt"
	"net"
	"os"

	"maildeliver/internal/lookup"
)

// listenUserdb creates [userdb] socket, when set, as the LMTP socket is
// created: stale socket replaced, [userdb] socket_mode and socket_group.
func (s *Server) listenUserdb() (net.Listener, error) {
	if s.userdb == nil {
		return nil, nil
	}
	u := s.cfg.Userdb
	l, err := listenUnix(u.Socket, os.FileMode(u.SocketMode), u.SocketGroup)
	if err != nil {
		return nil, fmt.Errorf("listen [userdb] socket %s: %w", u.Socket, err)
	}
	return l, nil
}

// currentUserdb answers userdb socket lookups with the current agent's
// userdb, so that a reload switches them to the new one; the agent stays
// pinned (its userdb open) until the lookup is answered.
type currentUserdb struct{ s *Server }

func (c currentUserdb) Lookup(ctx context.Context, address string) (*lookup.User, error) {
	a := c.s.pin()
	defer c.s.release(a)
	return a.db.Lookup(ctx, address)
}

// Close does nothing: each agent's userdb is closed by the server when the
// agent is no longer pinned.
func (currentUserdb) Close() error { return nil }
