package lmtp

import (
	"context"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"maildeliver/internal/config"
)

// pgCluster is a private PostgreSQL cluster under t.TempDir(), run as the
// postgres user on a free port.
type pgCluster struct {
	t          *testing.T
	bin, data  string
	port       int
	running    bool
	runAsOwner func(name string, args ...string) *exec.Cmd
}

func newPGCluster(t *testing.T, dir string) *pgCluster {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		requireDB(t, "PostgreSQL server binaries (/usr/lib/postgresql/*/bin/initdb) not installed")
	}
	requireRoot(t, "to run a private PostgreSQL cluster as user postgres")
	pg, err := user.Lookup("postgres")
	if err != nil {
		requireDB(t, "no postgres user: %v", err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	c := &pgCluster{t: t, bin: filepath.Dir(bins[len(bins)-1]), data: filepath.Join(dir, "pgdata")}
	if err := os.Mkdir(c.data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(c.data, uid, gid); err != nil {
		t.Fatal(err)
	}
	c.runAsOwner = func(name string, args ...string) *exec.Cmd {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(c.bin, name)}, args...)...)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	c.run("initdb", "-D", c.data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
	c.start()
	t.Cleanup(func() {
		if c.running {
			c.runAsOwner("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop").Run()
		}
	})
	return c
}

func (c *pgCluster) run(name string, args ...string) {
	c.t.Helper()
	if out, err := c.runAsOwner(name, args...).CombinedOutput(); err != nil {
		c.t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// start starts the cluster and returns once it accepts connections (-w).
func (c *pgCluster) start() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-w", "-l", filepath.Join(c.data, "log"),
		"-o", "-p "+strconv.Itoa(c.port)+" -k "+c.data+" -c listen_addresses=127.0.0.1 -c fsync=off", "start")
	c.running = true
}

func (c *pgCluster) stop() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-m", "fast", "-w", "stop")
	c.running = false
}

func (c *pgCluster) connect() string {
	return "host=127.0.0.1 port=" + strconv.Itoa(c.port) + " dbname=postgres user=postgres"
}

// TestPostgresRestart: deliveries run while the userdb's PostgreSQL is
// stopped and started again. While it is down every RCPT is 451 4.3.0
// (never a 5xx); once it is back, deliveries resume on the same server.
func TestPostgresRestart(t *testing.T) {
	e := newEnv(t, envOptions{noStart: true})
	pg := newPGCluster(t, e.dir)
	ctx := context.Background()
	db, err := pgx.Connect(ctx, pg.connect())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `CREATE TABLE users (userid VARCHAR(128) PRIMARY KEY, password VARCHAR(128),
		realname VARCHAR(128), uid INTEGER NOT NULL, gid INTEGER NOT NULL, home VARCHAR(128), mail VARCHAR(255))`); err != nil {
		t.Fatal(err)
	}
	for addr, u := range e.users {
		home := strings.TrimPrefix(filepath.Dir(u.maildir), e.dir+"/")
		if _, err := db.Exec(ctx, `INSERT INTO users (userid, uid, gid, home) VALUES ($1, $2, $2, $3)`, addr, u.uid, home); err != nil {
			t.Fatal(err)
		}
	}
	db.Close(ctx)
	e.cfg.Userdb = config.Userdb{Driver: "pgsql", Connect: pg.connect(),
		UserQuery: "SELECT '" + e.dir + "/'||home AS home, uid, gid FROM users WHERE userid = '%u'",
		Timeout:   config.Duration(3 * time.Second), MaxConnections: 2}
	e.start(nil)

	// send runs one transaction for alice and returns the RCPT reply.
	c := e.raw("unix")
	c.send("LHLO client.test\r\n")
	c.expect("250-")
	delivered := 0
	send := func() string {
		t.Helper()
		c.send("MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@domain.org>\r\n")
		c.expect("250 ")
		r := c.reply()
		if !strings.HasPrefix(r, "250 ") {
			c.send("RSET\r\n")
			c.expect("250 ")
			return r
		}
		c.send("DATA\r\n")
		c.expect("354 ")
		c.send(msg("pg"+strconv.Itoa(delivered), "x") + ".\r\n")
		savedID(t, c.reply(), "alice@domain.org")
		delivered++
		return r
	}
	for range 3 {
		if r := send(); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("before the stop: %q", r)
		}
	}

	pg.stop()
	for range 3 {
		if r := send(); !strings.HasPrefix(r, "451 4.3.0 ") {
			t.Errorf("userdb stopped: RCPT got %q, want 451 4.3.0", r)
		}
	}

	pg.start()
	// The pool may hold a connection the restart broke: allow one
	// temporary failure, never a permanent one, then it must work.
	ok := false
	for i := range 3 {
		r := send()
		if strings.HasPrefix(r, "250 ") {
			ok = true
			break
		}
		t.Logf("first RCPT after the restart: %q", r)
		if !strings.HasPrefix(r, "451 4.3.0 ") || i > 0 {
			t.Errorf("userdb restarted, attempt %d: RCPT got %q", i+1, r)
		}
	}
	if !ok {
		t.Fatal("deliveries did not resume after the restart")
	}
	for range 3 {
		if r := send(); !strings.HasPrefix(r, "250 ") {
			t.Errorf("after the restart: %q", r)
		}
	}
	e.stop()
	if n := len(e.files("alice@domain.org", "new")); n != delivered {
		t.Errorf("%d files, %d replies 250", n, delivered)
	}
}
