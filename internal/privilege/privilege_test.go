package privilege

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

func ownerOf(t *testing.T, p string) (int, int) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return int(st.Uid), int(st.Gid)
}

// Run as root: files are created as the given uid/gid, concurrently for
// different uids, and the process's threads are root again afterwards.
func TestRunAsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("MAILDELIVER_ALLOW_NONROOT") == "1" {
			t.Skip("needs root")
		}
		t.Fatal("needs root (set MAILDELIVER_ALLOW_NONROOT=1 to skip)")
	}
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o777)
	var wg sync.WaitGroup
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			uid := 1001 + i%2
			p := filepath.Join(dir, fmt.Sprintf("%d-%d", uid, i))
			err := Run(uid, uid, func() error {
				f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
				if err != nil {
					return err
				}
				return f.Close()
			})
			if err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	ents, _ := os.ReadDir(dir)
	if len(ents) != 64 {
		t.Fatalf("%d files, want 64", len(ents))
	}
	for _, e := range ents {
		u, g := ownerOf(t, filepath.Join(dir, e.Name()))
		var want, i int
		fmt.Sscanf(e.Name(), "%d-%d", &want, &i)
		if u != want || g != want {
			t.Errorf("%s owned by %d:%d, want %d", e.Name(), u, g, want)
		}
	}
	// This goroutine's thread (and any other) still creates files as root.
	p := filepath.Join(dir, "root")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if u, _ := ownerOf(t, p); u != 0 {
		t.Fatalf("file created after Run owned by %d, want 0", u)
	}
	// A uid that may not write here fails, and nothing is created.
	secret := t.TempDir() // 0700 root
	err := Run(1001, 1001, func() error { return os.WriteFile(filepath.Join(secret, "x"), nil, 0o600) })
	if !errors.Is(err, os.ErrPermission) {
		t.Fatalf("write into root's 0700 dir as 1001: %v", err)
	}
	if err := Run(0, 0, func() error { return nil }); !errors.Is(err, ErrSwitch) {
		t.Fatalf("Run as uid 0: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic in fn not passed on")
			}
		}()
		Run(1001, 1001, func() error { panic("boom") })
	}()
}
