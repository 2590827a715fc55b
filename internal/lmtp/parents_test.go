package lmtp

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"maildeliver/internal/config"
)

// TestSharedDomainDirUIDPerUser is issue 15 item 2 through lmtpd: one
// transaction for three users of a domain whose directory does not exist
// yet, each user with its own uid and all with one gid, below a setgid
// group-writable base. lmtpd writes each as the user (file-system identity,
// no capabilities): the first creates the domain directory with the base's
// mode and group, so the others can create theirs in it.
func TestSharedDomainDirUIDPerUser(t *testing.T) {
	requireRoot(t, "to deliver as several uids")
	const gid = 61200
	users := map[string]int{"a@new.example": 61201, "b@new.example": 61202, "c@new.example": 61203}
	var vmail string
	e := newEnv(t, envOptions{users: users, config: func(c *config.Config) {
		vmail = filepath.Join(filepath.Dir(c.LMTP.SpoolDir), "vmail")
		c.Mail.Location = "maildir:" + vmail + "/%d/%n/Maildir"
		c.Userdb.UserQuery = "SELECT uid, 61200 AS gid FROM users WHERE userid = '%u'"
		c.Mail.MinUID = 1000
	}})
	if err := os.Mkdir(vmail, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(vmail, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Chmod(vmail, 0o2770); err != nil {
		t.Fatal(err)
	}
	c := e.client("unix")
	if err := c.SendMail("s@example.net", []string{"a@new.example", "b@new.example", "c@new.example"},
		strings.NewReader(msg("shared", "x"))); err != nil {
		t.Fatal(err)
	}
	for addr, uid := range users {
		local, _, _ := strings.Cut(addr, "@")
		newDir := filepath.Join(vmail, "new.example", local, "Maildir", "new")
		ents, err := os.ReadDir(newDir)
		if err != nil || len(ents) != 1 {
			t.Fatalf("%s: %v %v", addr, ents, err)
		}
		if got := owner(t, filepath.Join(newDir, ents[0].Name())); got != uid {
			t.Errorf("%s: file owned by %d, want %d", addr, got, uid)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(vmail, "new.example"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Gid != gid || st.Mode&0o7777 != 0o2770 {
		t.Errorf("domain directory group %d mode %04o, want %d 2770", st.Gid, st.Mode&0o7777, gid)
	}
}
