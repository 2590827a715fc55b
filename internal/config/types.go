package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"maildeliver/internal/quota"
)

// Duration is a time.Duration written as "5s", "10m" in TOML.
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Size is a byte count written with Dovecot's units: "50M", "1G", "512k",
// a plain number is bytes.
type Size int64

func (s *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*s = Size(v)
	return nil
}

func (s Size) MarshalText() ([]byte, error) { return []byte(FormatSize(int64(s))), nil }

// ParseSize reads a size the way Dovecot's quota settings do: a number with
// an optional unit B, k/K, M, G, T (powers of 1024, optional trailing "B"),
// "" and "0" mean 0.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, nil
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("size %q: want a number with optional unit k, M, G, T", s)
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	unit := strings.TrimSpace(t[i:])
	if len(unit) == 2 && (unit[1] == 'B' || unit[1] == 'b') {
		unit = unit[:1]
	}
	var mul int64
	switch unit {
	case "", "B", "b":
		mul = 1
	case "k", "K":
		mul = 1 << 10
	case "m", "M":
		mul = 1 << 20
	case "g", "G":
		mul = 1 << 30
	case "t", "T":
		mul = 1 << 40
	default:
		return 0, fmt.Errorf("size %q: unknown unit %q", s, unit)
	}
	if n > math.MaxInt64/mul {
		return 0, fmt.Errorf("size %q: too large", s)
	}
	return n * mul, nil
}

// FormatSize writes n with the largest exact unit.
func FormatSize(n int64) string {
	for _, u := range []struct {
		sh   uint
		name string
	}{{40, "T"}, {30, "G"}, {20, "M"}, {10, "k"}} {
		if n != 0 && n%(1<<u.sh) == 0 {
			return strconv.FormatInt(n>>u.sh, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// Grace is [quota] grace: either a percentage of the limit or a size. The
// type is quota's (it applies the grace); config parses it.
type Grace = quota.Grace

// ParseGrace reads "10%" or a size such as "10M".
func ParseGrace(s string) (Grace, error) {
	t := strings.TrimSpace(s)
	if strings.HasSuffix(t, "%") {
		p, err := strconv.ParseInt(strings.TrimSpace(t[:len(t)-1]), 10, 64)
		if err != nil || p < 0 || p > 1000 {
			return Grace{}, fmt.Errorf("grace %q: bad percentage", s)
		}
		return Grace{Percent: p}, nil
	}
	n, err := ParseSize(t)
	if err != nil {
		return Grace{}, err
	}
	return Grace{Bytes: n}, nil
}

// Mode is a file permission written as an octal string, "0660".
type Mode uint32

func (m *Mode) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 8, 32)
	if err != nil {
		return fmt.Errorf("mode %q: want octal such as \"0660\"", b)
	}
	*m = Mode(v)
	return nil
}

func (m Mode) MarshalText() ([]byte, error) { return []byte(fmt.Sprintf("%04o", uint32(m))), nil }
