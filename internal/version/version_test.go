package version

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionFromGit builds both binaries as a release would be built: from
// a git checkout at a tag, the go command recording the VCS state. -version
// must print the module version (the tag) and the commit. The checkout is a
// copy of this tree in a fresh repository, so that the test sees the code
// as it is now and knows the revision and tag to expect (and because the
// go command does not stamp builds in a linked worktree).
func TestVersionFromGit(t *testing.T) {
	for _, tool := range []string{"git", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("this test needs %s: %v", tool, err)
		}
	}
	src := t.TempDir()
	for _, p := range []string{"go.mod", "go.sum", "cmd", "internal", "third_party", "scripts"} {
		copyTree(t, filepath.Join("..", "..", p), filepath.Join(src, p))
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.org",
			"-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
		cmd.Dir = src
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "release")
	git("tag", "v1.2.3")
	rev := git("rev-parse", "HEAD")

	bin := t.TempDir()
	build := exec.Command("scripts/build.sh", bin) // as shipped
	build.Dir = src
	// The machine's GOFLAGS may say -buildvcs=false; a release build stamps.
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build.sh: %v\n%s", err, out)
	}
	for _, name := range []string{"deliver", "lmtpd"} {
		out, err := exec.Command(filepath.Join(bin, name), "-version").Output()
		if err != nil {
			t.Fatalf("%s -version: %v", name, err)
		}
		lines := strings.Split(string(out), "\n")
		if lines[0] != name+" v1.2.3" {
			t.Errorf("%s -version first line %q, want %q", name, lines[0], name+" v1.2.3")
		}
		for _, want := range []string{"module   maildeliver\n", "revision " + rev + "\n", "modified false\n", "cgo      0\n"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("%s -version lacks %q:\n%s", name, want, out)
			}
		}
		if !strings.Contains(string(out), "\ntime     20") || !strings.Contains(string(out), "\ngo       go1.") {
			t.Errorf("%s -version lacks the commit time or the Go version:\n%s", name, out)
		}
	}
}

// copyTree copies the regular files under from to to.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}
