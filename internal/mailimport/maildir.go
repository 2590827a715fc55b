package mailimport

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"maildeliver/internal/message"
	"maildeliver/internal/status"
)

// maildir imports a maildir: its own cur/ and new/, then each Maildir++
// folder's, in name order. A folder whose name could not be one of ours
// (see subfolderDir) is reported as failed and passed over.
func (im *importer) maildir(ctx context.Context, root string) error {
	if err := im.folder(ctx, root, im.target.FolderDir); err != nil {
		return err
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, ".") || name == "." || name == ".." {
			continue
		}
		p := filepath.Join(root, name)
		if !isDir(filepath.Join(p, "cur")) && !isDir(filepath.Join(p, "new")) {
			continue
		}
		if im.sum.Stopped != nil {
			return nil
		}
		dir, ok := subfolderDir(im.target.FolderDir, name)
		if !ok {
			im.fail(p, status.Temp("folder name not usable as a Maildir++ folder"))
			continue
		}
		if err := im.folder(ctx, p, dir); err != nil {
			return err
		}
	}
	return nil
}

// subfolderDir is where the source folder name (".Sent", ".Lists.go", as
// Dovecot stores them, mUTF-7) goes below base ("" for INBOX, ".Archive").
// The name must be printable ASCII without '/' or an empty hierarchy level.
func subfolderDir(base, name string) (string, bool) {
	rest := name[1:]
	if rest == "" || strings.HasSuffix(rest, ".") || strings.Contains(rest, "..") || len(base)+len(name) > 255 {
		return "", false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c < 0x20 || c > 0x7e || c == '/' {
			return "", false
		}
	}
	return base + name, true
}

// folder imports the files of dir's cur/ and new/ into the Maildir++
// directory dest.
func (im *importer) folder(ctx context.Context, dir, dest string) error {
	for _, sub := range []string{"cur", "new"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
		for _, e := range ents {
			if im.sum.Stopped != nil {
				return nil
			}
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			im.where = dir
			im.maildirFile(ctx, filepath.Join(dir, sub, e.Name()), sub, dest)
		}
	}
	return nil
}

// maildirFile imports one message file of a maildir; a file that cannot
// be read fails alone.
func (im *importer) maildirFile(ctx context.Context, path, sub, dest string) {
	f, err := os.Open(path)
	if err != nil {
		im.fail(path, status.Temp("cannot read the message").Wrap(err))
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		im.fail(path, status.Temp("cannot read the message").Wrap(err))
		return
	}
	md, err := scan(message.NewLFReader(f))
	if err == nil {
		_, err = f.Seek(0, 0)
	}
	if err != nil {
		im.fail(path, status.Temp("cannot read the message").Wrap(err))
		return
	}
	im.one(ctx, msg{where: path, dir: dest, meta: md, mtime: st.ModTime(),
		info: infoOf(filepath.Base(path), sub)}, message.NewLFReader(f))
}
