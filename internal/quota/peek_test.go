package quota

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestPeekAgreesWithCheck: for each state of maildirsize (trusted, stale,
// missing, written for another limit, over quota), Peek finds the usage
// and verdict Check then finds, and leaves maildirsize, tmp/ and the lock
// as they were.
func TestPeekAgreesWithCheck(t *testing.T) {
	l := Limit{Bytes: 1000}
	tests := []struct {
		name    string
		file    string // "" = none
		age     time.Duration
		size    int64
		recount bool
		over    bool
	}{
		{name: "missing", size: 10, recount: true},
		{name: "trusted", file: "1000S\n100 1\n", size: 10},
		{name: "trusted, message does not fit", file: "1000S\n950 1\n", size: 100, over: true},
		{name: "other limit", file: "2000S\n100 1\n", size: 10, recount: true},
		{name: "over, two lines: recounted, fits", file: "1000S\n900 9\n200 2\n", size: 10, recount: true},
		{name: "over, one line, fresh: trusted", file: "1000S\n1200 3\n", size: 1, over: true},
		{name: "over, one line, stale: recounted", file: "1000S\n1200 3\n", age: 16 * time.Minute, size: 1, recount: true},
		{name: "recount says over", size: 800, recount: true, over: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMaildir(t)
			m.msg("new/1.host,S=100", 100)
			m.msg("cur/2.host,S=200:2,S", 200)
			if tt.file != "" {
				m.write(fileName, tt.file)
				if tt.age > 0 {
					m.age(tt.age)
				}
			}
			root := m.open()
			p, err := Peek(root, l, Grace{}, tt.size)
			if errors.Is(err, ErrOverQuota) != tt.over || (err != nil && !tt.over) {
				t.Fatalf("Peek = %v, want over quota %v", err, tt.over)
			}
			if p.Recounted != tt.recount {
				t.Errorf("Recounted = %v, want %v", p.Recounted, tt.recount)
			}
			if tt.file == "" && m.hasMaildirsize() || tt.file != "" && m.maildirsize() != tt.file {
				t.Fatalf("Peek changed maildirsize")
			}
			m.tmpEmpty()
			if busy(t, root) {
				t.Fatal("Peek left the maildir locked")
			}
			res, u, cerr := Reserve(context.Background(), root, l, Grace{}, tt.size)
			if errors.Is(cerr, ErrOverQuota) != tt.over || u != p.Usage {
				t.Fatalf("Reserve = %+v %v after Peek = %+v %v", u, cerr, p.Usage, err)
			}
			res.Release()
		})
	}
}

func TestPeekUnlimitedDoesNoIO(t *testing.T) {
	p, err := Peek(nil, Limit{}, Grace{}, 1<<40)
	if err != nil || p != (Peeked{}) {
		t.Fatalf("Peek = %+v %v", p, err)
	}
}
