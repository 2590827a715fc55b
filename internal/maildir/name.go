package maildir

import (
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Namer makes unique Maildir file names in the form Dovecot writes:
//
//	<unix-seconds>.M<usec>P<pid>Q<n>R<random>.<hostname>
//
// to which the delivery appends ",S=<bytes>" once the size is known. The
// host name is escaped as Dovecot and Courier do ('/' -> \057, ':' -> \072)
// so that it can never contain a path separator or the info separator.
type Namer struct {
	host string
	pid  string
	seq  atomic.Uint64
}

// NewNamer returns a Namer for hostname.
func NewNamer(hostname string) *Namer {
	return &Namer{host: EscapeHost(hostname), pid: strconv.Itoa(os.Getpid())}
}

// EscapeHost escapes a host name for use in a Maildir file name.
func EscapeHost(h string) string {
	if h == "" {
		h = "localhost"
	}
	r := strings.NewReplacer("/", `\057`, ":", `\072`)
	return r.Replace(h)
}

// Next returns a new unique base name (without ",S=").
func (n *Namer) Next() string {
	now := time.Now()
	q := n.seq.Add(1)
	b := make([]byte, 0, 80)
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, ".M"...)
	b = strconv.AppendInt(b, int64(now.Nanosecond()/1000), 10)
	b = append(b, 'P')
	b = append(b, n.pid...)
	b = append(b, 'Q')
	b = strconv.AppendUint(b, q, 10)
	b = append(b, 'R')
	b = appendHex(b, rand.Uint32())
	b = append(b, '.')
	b = append(b, n.host...)
	return string(b)
}

func appendHex(b []byte, v uint32) []byte {
	const digits = "0123456789abcdef"
	for i := 28; i >= 0; i -= 4 {
		b = append(b, digits[(v>>uint(i))&0xf])
	}
	return b
}

// WithSize appends the ",S=" size field Dovecot and Courier read.
func WithSize(base string, size int64) string {
	return base + ",S=" + strconv.FormatInt(size, 10)
}
