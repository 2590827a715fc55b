package maildir_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"maildeliver/internal/maildir"
)

// BenchmarkNamerNext: one unique file name (time, pid, counter, random).
func BenchmarkNamerNext(b *testing.B) {
	b.ReportAllocs()
	n := maildir.NewNamer("mx.example.org")
	for b.Loop() {
		_ = n.Next()
	}
}

func benchBody(size int) []byte {
	const line = "Lorem ipsum dolor sit amet, consectetur adipiscing elit 0123456789 abcdefghij\n"
	p := make([]byte, size)
	for i := range p {
		p[i] = line[i%len(line)]
	}
	return p
}

// BenchmarkDeliverDurable is one whole durable delivery as deliver does it
// per message: maildir.Open + Folder("") + Deliver + Close into a maildir
// in b.TempDir(). IT MEASURES THE DISK: two fsyncs per delivery (the file
// and new/), so the figure depends on the file system under $TMPDIR and on
// what else the machine writes. Compare with bench/fsynclimit, not with the
// CPU-only benchmarks.
//
// The skip-newdir-fsync case replaces the fsync of new/ by nothing: NOT
// durable, only there to show what that fsync costs (lmtpd shares it
// between concurrent deliveries by group commit).
func BenchmarkDeliverDurable(b *testing.B) {
	for _, c := range []struct {
		name     string
		size     int
		skipSync bool
	}{
		{"4k", 4096, false}, {"100k", 102400, false},
		{"4k-skip-newdir-fsync", 4096, true},
	} {
		body := benchBody(c.size)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			path := filepath.Join(b.TempDir(), "Maildir")
			namer := maildir.NewNamer("mx.example.org")
			var sync maildir.Syncer = maildir.FsyncDir
			if c.skipSync {
				sync = noSync{}
			}
			for b.Loop() {
				d, err := maildir.Open(path, os.Getuid())
				if err != nil {
					b.Fatal(err)
				}
				f, err := d.Folder("", true)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := put(f, namer, sync, body); err != nil {
					b.Fatal(err)
				}
				f.Close()
				d.Close()
			}
		})
	}
}

// BenchmarkDeliverDurableParallel: 8 goroutines per CPU deliver at once,
// each into its own maildir (spread) or all into one (same), each
// delivery with its own fsync of new/. Measures the disk, as above.
func BenchmarkDeliverDurableParallel(b *testing.B) {
	body := benchBody(4096)
	for _, mode := range []string{"spread", "same"} {
		b.Run("4k-"+mode, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			b.SetParallelism(8)
			root := b.TempDir()
			namer := maildir.NewNamer("mx.example.org")
			var next atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				box := "same"
				if mode == "spread" {
					box = strconv.FormatInt(next.Add(1), 10)
				}
				path := filepath.Join(root, box, "Maildir")
				for pb.Next() {
					d, err := maildir.Open(path, os.Getuid())
					if err != nil {
						b.Error(err)
						return
					}
					f, err := d.Folder("", true)
					if err == nil {
						_, err = put(f, namer, maildir.FsyncDir, body)
						f.Close()
					}
					d.Close()
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// put is one message in the two phases a delivery uses.
func put(f *maildir.Folder, n *maildir.Namer, sync maildir.Syncer, body []byte) (maildir.Written, error) {
	d, err := f.Create(n, 0o600)
	if err != nil {
		return maildir.Written{}, err
	}
	defer d.Abort()
	if _, err := d.Write(body); err != nil {
		return maildir.Written{}, err
	}
	if _, err := d.Finish(time.Time{}); err != nil {
		return maildir.Written{}, err
	}
	return d.Commit("", sync)
}

// noSync skips the directory fsync (to measure the rest).
type noSync struct{}

func (noSync) Sync(*os.File) error { return nil }

// BenchmarkDeliverCold is the first delivery into a mailbox that does not
// exist yet, as lmtpd and deliver make it: OpenOwn of <domain>/mails/uN/Maildir
// (uN and Maildir created; the domain's mails/ exists), Folder("") (cur new
// tmp created), one message, Close. IT MEASURES THE DISK (the directory
// fsyncs that make the new mailbox durable, the file's and new/'s), like
// BenchmarkDeliverDurable.
func BenchmarkDeliverCold(b *testing.B) {
	body := benchBody(4096)
	b.ReportAllocs()
	mails := filepath.Join(b.TempDir(), "d0.example", "mails")
	if err := os.MkdirAll(mails, 0o700); err != nil {
		b.Fatal(err)
	}
	namer := maildir.NewNamer("mx.example.org")
	i := 0
	for b.Loop() {
		i++
		home := filepath.Join(mails, "u"+strconv.Itoa(i))
		d, err := maildir.OpenOwn(filepath.Join(home, "Maildir"), home, os.Getuid())
		if err != nil {
			b.Fatal(err)
		}
		f, err := d.Folder("", true)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := put(f, namer, maildir.FsyncDir, body); err != nil {
			b.Fatal(err)
		}
		f.Close()
		d.Close()
	}
}

// BenchmarkDraftIOCopy writes the body as delivery does, io.Copy from a
// reader without WriteTo (the message's body reader), then Finish and
// Commit without the new/ fsync (not durable; the file's fsync stays).
// Its B/op and allocs/op are the figures to watch: they do not depend on
// the disk.
func BenchmarkDraftIOCopy(b *testing.B) {
	for _, size := range []int{4096, 102400} {
		body := benchBody(size)
		b.Run(strconv.Itoa(size/1024)+"k", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			d, err := maildir.Open(filepath.Join(b.TempDir(), "Maildir"), os.Getuid())
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			f, err := d.Folder("", true)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			namer := maildir.NewNamer("mx.example.org")
			for b.Loop() {
				dr, err := f.Create(namer, 0o600)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(dr, struct{ io.Reader }{bytes.NewReader(body)}); err != nil {
					b.Fatal(err)
				}
				if _, err := dr.Finish(time.Time{}); err != nil {
					b.Fatal(err)
				}
				if _, err := dr.Commit("", noSync{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
