package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// -check compiles the global Sieve scripts: a broken one (a file, or a
// *.sieve in a before directory) fails the check with its file:line:col,
// one line each; good ones and an include :global they use pass.
func TestCheckSieveGlobal(t *testing.T) {
	requireRoot(t)
	dir := checkDir(t)
	global := filepath.Join(dir, "sieve-global")
	beforeDir := filepath.Join(dir, "before.d")
	for _, d := range []string{global, beforeDir} {
		os.MkdirAll(d, 0o755)
	}
	write := func(p, text string) {
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(global, "spam.sieve"), "require \"fileinto\";\nif header :contains \"X-Spam\" \"yes\" { fileinto \"Junk\"; }\n")
	write(filepath.Join(beforeDir, "10-good.sieve"), "require \"include\";\ninclude :global \"spam\";\n")
	write(filepath.Join(beforeDir, "20-bad.sieve"), "keep;\n\nif header :is \"x\" {\n")
	after := filepath.Join(dir, "after.sieve")
	write(after, "require \"fileinto\";\nfileinto :nosuch \"X\";\n")
	def := filepath.Join(dir, "default.sieve")
	write(def, "keep;\n")
	conf := filepath.Join(dir, "sieve.toml")
	base := `[log]
target = "file:` + dir + `/deliver.log"
[userdb]
driver = "sqlite"
connect = "` + dir + `/users.db"
user_query = "SELECT '` + dir + `/mail/'||home AS home, uid, gid FROM users WHERE userid = '%u'"
[sieve]
enabled = true
global = "` + global + `"
default = "` + def + `"
`
	write(conf, base+`before = ["`+beforeDir+`"]
after = ["`+after+`"]
`)
	var out, errb strings.Builder
	code := run([]string{"-c", conf, "-check"}, strings.NewReader(""), &out, &errb)
	lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
	want := []string{
		"4.3.5 configuration error: sieve: before " + filepath.Join(beforeDir, "20-bad.sieve") + ":3:",
		"4.3.5 configuration error: sieve: after " + after + ":2:",
	}
	if code != 75 || len(lines) != 2 || !strings.HasPrefix(lines[0], want[0]) || !strings.HasPrefix(lines[1], want[1]) {
		t.Fatalf("exit %d, stderr:\n%s\nwant exit 75 and lines starting\n%s", code, errb.String(), strings.Join(want, "\n"))
	}
	if !strings.Contains(out.String(), "# sieve before "+filepath.Join(beforeDir, "10-good.sieve")+": compiles") {
		t.Errorf("stdout:\n%s", out.String())
	}

	// Fixed: -check passes.
	write(filepath.Join(beforeDir, "20-bad.sieve"), "keep;\n")
	write(after, "require \"fileinto\";\nfileinto \"X\";\n")
	out.Reset()
	errb.Reset()
	if code := run([]string{"-c", conf, "-check"}, strings.NewReader(""), &out, &errb); code != 0 || errb.Len() > 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, errb.String())
	}
	// A missing global script fails too.
	write(conf, base+`after = ["`+filepath.Join(dir, "missing.sieve")+`"]
`)
	errb.Reset()
	if code := run([]string{"-c", conf, "-check"}, strings.NewReader(""), &out, &errb); code != 75 || !strings.Contains(errb.String(), "missing.sieve: ") {
		t.Fatalf("missing: exit %d, stderr:\n%s", code, errb.String())
	}
}
