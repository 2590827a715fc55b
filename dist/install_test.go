package dist

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestInstall runs scripts/install.sh into a DESTDIR, with the default
// PREFIX and with another one, and checks that everything is in place
// and that what the installed units name exists there: ExecStart='s
// binary, every Documentation= page and file.
func TestInstall(t *testing.T) {
	for _, tool := range []string{"go", "man", "install", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("this test needs %s: %v", tool, err)
		}
	}
	bin := t.TempDir()
	build := exec.Command("../scripts/build.sh", bin)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build.sh: %v\n%s", err, out)
	}
	for i, prefix := range []string{"/usr/local", "/opt/maildeliver"} {
		dest := t.TempDir()
		cmd := exec.Command("../scripts/install.sh")
		cmd.Env = append(os.Environ(), "DESTDIR="+dest, "BIN="+bin)
		if i > 0 {
			cmd.Env = append(cmd.Env, "PREFIX="+prefix)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("PREFIX=%s install.sh: %v\n%s", prefix, err, out)
		}
		checkInstalled(t, dest, prefix)
	}
}

func checkInstalled(t *testing.T, dest, prefix string) {
	t.Helper()
	for _, f := range []string{"bin/deliver", "sbin/lmtpd"} {
		out, err := exec.Command(filepath.Join(dest, prefix, f), "-version").Output()
		if err != nil || !strings.HasPrefix(string(out), filepath.Base(f)+" ") {
			t.Errorf("%s -version: %v %q", f, err, out)
		}
	}
	for _, page := range []string{"man8/deliver.8", "man8/lmtpd.8", "man5/maildeliver.toml.5"} {
		p := filepath.Join(dest, prefix, "share/man", page)
		if out, err := exec.Command("man", "-l", "-Tutf8", p).CombinedOutput(); err != nil {
			t.Errorf("man -l %s: %v\n%s", p, err, out)
		}
	}
	units := 0
	for _, u := range []string{"lmtpd.service", "lmtpd.socket"} {
		p := filepath.Join(dest, "etc/systemd/system", u)
		st, err := os.Stat(p)
		if err != nil {
			t.Error(err)
			continue
		}
		if st.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v", p, st.Mode())
		}
		units += checkUnit(t, dest, prefix, p)
	}
	if units < 5 {
		t.Errorf("PREFIX=%s: the units name %d things, want ExecStart= and 4 Documentation= entries", prefix, units)
	}
}

var manRef = regexp.MustCompile(`^man:([a-z.]+)\(([1-8])\)$`)

// checkUnit checks each ExecStart= binary and Documentation= entry of the
// unit p exists under dest; it returns how many it checked.
func checkUnit(t *testing.T, dest, prefix, p string) int {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), "=")
		switch {
		case !ok:
		case key == "ExecStart":
			exe := strings.Fields(val)[0]
			if !strings.HasPrefix(exe, prefix+"/") {
				t.Errorf("%s: ExecStart=%s is not under PREFIX %s", p, exe, prefix)
			}
			if st, err := os.Stat(filepath.Join(dest, exe)); err != nil || st.Mode()&0o111 == 0 {
				t.Errorf("%s: ExecStart=%s not installed: %v", p, exe, err)
			}
			n++
		case key == "Documentation":
			for _, doc := range strings.Fields(val) {
				var path string
				if m := manRef.FindStringSubmatch(doc); m != nil {
					path = filepath.Join(prefix, "share/man", "man"+m[2], m[1]+"."+m[2])
				} else if rest, ok := strings.CutPrefix(doc, "file://"); ok {
					path = rest
				} else {
					t.Errorf("%s: Documentation=%s: neither man: nor file:", p, doc)
					continue
				}
				if _, err := os.Stat(filepath.Join(dest, path)); err != nil {
					t.Errorf("%s: Documentation=%s not installed: %v", p, doc, err)
				}
				n++
			}
		}
	}
	return n
}
