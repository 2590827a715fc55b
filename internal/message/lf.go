package message

import "io"

// LFReader converts CRLF line endings to LF while streaming. A CR not
// followed by LF is kept. It never buffers more than one byte of state.
type LFReader struct {
	r   io.Reader
	cr  bool // the previous chunk ended in CR, not yet emitted
	err error
	// N counts the bytes read from the underlying reader.
	N int64
	// pend holds the second byte produced for a 1-byte Read.
	pend    byte
	hasPend bool
}

// NewLFReader wraps r.
func NewLFReader(r io.Reader) *LFReader { return &LFReader{r: r} }

func (l *LFReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if l.hasPend {
		p[0], l.hasPend = l.pend, false
		return 1, nil
	}
	for {
		if l.err != nil {
			if l.cr && len(p) > 0 {
				p[0] = '\r'
				l.cr = false
				return 1, nil
			}
			return 0, l.err
		}
		if len(p) < 2 {
			// Keep room to emit a held CR together with the next byte.
			var two [2]byte
			n, err := l.Read(two[:])
			if n == 2 {
				// Never report more than len(p) (bufio.Writer.ReadFrom
				// panics): keep the second byte for the next call.
				l.pend, l.hasPend, n = two[1], true, 1
			}
			copy(p, two[:n])
			return n, err
		}
		// Read into p after reserving a byte for a held CR.
		off := 0
		if l.cr {
			off = 1
		}
		n, err := l.r.Read(p[off:])
		l.N += int64(n)
		l.err = err
		if n == 0 && err == nil {
			continue
		}
		buf := p[:off+n]
		if l.cr {
			buf[0] = '\r'
			l.cr = false
		}
		// Compact in place: drop each CR immediately followed by LF.
		w := 0
		for i := 0; i < len(buf); i++ {
			c := buf[i]
			if c == '\r' {
				if i+1 < len(buf) {
					if buf[i+1] == '\n' {
						continue
					}
				} else if l.err == nil {
					l.cr = true // decide when the next byte arrives
					continue
				}
			}
			buf[w] = c
			w++
		}
		if w > 0 || l.err != nil {
			if w == 0 && l.cr {
				continue
			}
			return w, nil
		}
	}
}
