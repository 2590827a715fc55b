package sieve

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	gosieve "github.com/migadu/go-sieve"
	"github.com/migadu/go-sieve/interp"
)

// Script is a compiled script.
type Script struct {
	Path     string
	compiled *gosieve.Script
	deps     []fileStamp // the script and every file it includes
}

// fileStamp identifies one version of a file for the cache: the file
// the path resolves to (device and inode: ManageSieve re-points
// ~/.dovecot.sieve, an editor or ManageSieve's PUTSCRIPT replaces the
// file by rename) and its content's version (mtime and size as
// Pigeonhole's cache; ctime too, which no one can set back, for a
// rewrite that keeps both). One stat(2) of the path: the kernel follows
// the links, where walking every component (filepath.EvalSymlinks) to
// name the target cost a syscall per component on every delivery.
type fileStamp struct {
	path     string
	dev, ino uint64
	mtime    time.Time
	ctime    time.Time
	size     int64
}

func stamp(path string) (fileStamp, error) {
	var st syscall.Stat_t
	for {
		err := syscall.Stat(path, &st)
		if err == nil {
			break
		}
		if err != syscall.EINTR {
			return fileStamp{}, &fs.PathError{Op: "stat", Path: path, Err: err}
		}
	}
	return fileStamp{path: path, dev: uint64(st.Dev), ino: uint64(st.Ino), // widths differ by arch
		mtime: time.Unix(st.Mtim.Unix()), ctime: time.Unix(st.Ctim.Unix()), size: st.Size}, nil
}

// cache holds compiled scripts by path; an entry is used while the script
// and all its includes are the same files (fileStamp) as when compiled.
type cache struct {
	mu sync.Mutex
	m  map[string]*Script
}

func newCache() *cache { return &cache{m: map[string]*Script{}} }

// get returns the entry for key if it is fresh; known, if not nil, is
// the script's own stamp taken just before (deps[0]).
func (c *cache) get(key string, known *fileStamp) *Script {
	c.mu.Lock()
	s := c.m[key]
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	for i, d := range s.deps {
		var now fileStamp
		var err error
		if i == 0 && known != nil {
			now = *known
		} else {
			now, err = stamp(d.path)
		}
		if err != nil || now != d {
			return nil
		}
	}
	return s
}

// maxCached bounds the cache (lmtpd serves many users): past it the
// cache starts over, which costs one compile per user.
const maxCached = 4096

func (c *cache) put(key string, s *Script) {
	c.mu.Lock()
	if len(c.m) >= maxCached {
		c.m = make(map[string]*Script, maxCached)
	}
	c.m[key] = s
	c.mu.Unlock()
}

// CompileFile compiles the script at path (symlinks followed, as
// ManageSieve leaves ~/.dovecot.sieve), resolving include :personal in
// personalDir and include :global in globalDir. A missing file is
// reported with an error matching fs.ErrNotExist.
func (e *Engine) CompileFile(path, personalDir, globalDir string) (*Script, error) {
	return e.compileFile(path, personalDir, globalDir, nil)
}

// compileFile is CompileFile with path's stamp if the caller has just
// taken it (nil: not).
func (e *Engine) compileFile(path, personalDir, globalDir string, known *fileStamp) (*Script, error) {
	key := path + "\x00" + personalDir + "\x00" + globalDir
	if s := e.cache.get(key, known); s != nil {
		return s, nil
	}
	var st fileStamp
	var err error
	if known != nil {
		st = *known
	} else if st, err = stamp(path); err != nil {
		return nil, err
	}
	src, err := e.readScript(path)
	if err != nil {
		return nil, err
	}
	s := &Script{Path: path, deps: []fileStamp{st}}
	s.compiled, err = e.compile(src, func(global bool, name string) (string, []byte, error) {
		dir := personalDir
		if global {
			dir = globalDir
		}
		if dir == "" {
			return "", nil, interp.ErrIncludeNotFound
		}
		p := filepath.Join(dir, name+".sieve")
		st, err := stamp(p)
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, interp.ErrIncludeNotFound
		}
		if err != nil {
			return "", nil, err
		}
		b, err := e.readScript(p)
		if err != nil {
			return "", nil, err
		}
		s.deps = append(s.deps, st)
		return p, b, nil
	})
	if err != nil {
		return nil, err
	}
	e.cache.put(key, s)
	return s, nil
}

// Compile compiles a script from memory; include is not available.
func (e *Engine) Compile(name string, src []byte) (*Script, error) {
	if int64(len(src)) > e.opts.Limits.MaxScriptSize {
		return nil, fmt.Errorf("script is %d bytes, over the limit of %d", len(src), e.opts.Limits.MaxScriptSize)
	}
	c, err := e.compile(src, nil)
	if err != nil {
		return nil, err
	}
	return &Script{Path: name, compiled: c}, nil
}

func (e *Engine) readScript(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(f, e.opts.Limits.MaxScriptSize+1))
	if err != nil {
		return nil, err
	}
	if n > e.opts.Limits.MaxScriptSize {
		return nil, fmt.Errorf("script is over the size limit of %d bytes", e.opts.Limits.MaxScriptSize)
	}
	return buf.Bytes(), nil
}

// maxTokens is the token limit of one script: far above any real filter
// set (1,000 rules are about 5,000 tokens), and an upper bound on the
// memory a script of MaxScriptSize can make the lexer use.
const maxTokens = 200_000

func (e *Engine) compile(src []byte, include interp.IncludeResolver) (*gosieve.Script, error) {
	opts := gosieve.DefaultOptions()
	opts.EnabledExtensions = e.exts
	opts.Interp.MaxRedirects = e.opts.Limits.MaxRedirects
	opts.Interp.MaxActions = e.opts.Limits.MaxActions
	opts.Interp.Include = include
	// go-sieve's default of 5000 tokens refuses a Roundcube filter set of
	// a few hundred rules, which Pigeonhole (no token limit, only
	// sieve_max_script_size) runs. The size limit bounds the work.
	opts.Lexer.MaxTokens = maxTokens
	opts.Interp.IncludeMaxTokens = maxTokens
	s, err := gosieve.Load(bytes.NewReader(src), opts)
	if err != nil {
		return nil, fmt.Errorf("compile: %s", strings.TrimPrefix(err.Error(), "LoadBlock: "))
	}
	return s, nil
}

// Located is a CompileFile error as compilers report one: "path:line:col:
// message" when it has a position (go-sieve's "compile: line:col: ..."),
// else "path: message".
func Located(path string, err error) string {
	msg := strings.TrimPrefix(err.Error(), "compile: ")
	if pos, rest, ok := strings.Cut(msg, ": "); ok && isPosition(pos) {
		return path + ":" + pos + ": " + strings.TrimPrefix(strings.TrimPrefix(rest, "LoadBlock: "), "LoadSpec: ")
	}
	return path + ": " + msg
}

// isPosition reports whether s is "line:col".
func isPosition(s string) bool {
	l, c, ok := strings.Cut(s, ":")
	return ok && l != "" && c != "" && strings.Trim(l, "0123456789") == "" && strings.Trim(c, "0123456789") == ""
}
