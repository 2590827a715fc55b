package lookup

import (
	"errors"
	"sync"
	"time"
)

// cacheMax bounds the cache; when it is full of live entries it is
// emptied rather than managed, which is enough for a lookup that is cheap
// to repeat.
const cacheMax = 10000

// cache remembers answers per address for lmtpd ([userdb] cache_ttl and
// negative_cache_ttl). Only answers are cached: a temporary error never is.
type cache struct {
	pos, neg time.Duration
	now      func() time.Time

	mu sync.Mutex
	m  map[string]cacheEntry
}

// cacheEntry is a found user, or "not found" when user is nil.
type cacheEntry struct {
	user    *User
	expires time.Time
}

// answer returns what Lookup returned when the entry was stored; the user
// is a copy, so that callers cannot change the cache.
func (e cacheEntry) answer() (*User, error) {
	if e.user == nil {
		return nil, ErrNotFound
	}
	u := *e.user
	return &u, nil
}

// newCache returns nil (caching off) when both TTLs are zero.
func newCache(pos, neg time.Duration) *cache {
	if pos <= 0 && neg <= 0 {
		return nil
	}
	return &cache{pos: pos, neg: neg, now: time.Now, m: map[string]cacheEntry{}}
}

func (c *cache) get(address string) (cacheEntry, bool) {
	if c == nil {
		return cacheEntry{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[address]
	if !ok {
		return cacheEntry{}, false
	}
	if !c.now().Before(e.expires) {
		delete(c.m, address)
		return cacheEntry{}, false
	}
	return e, true
}

func (c *cache) put(address string, u *User, err error) {
	if c == nil {
		return
	}
	var e cacheEntry
	switch {
	case err == nil && c.pos > 0:
		cp := *u
		e = cacheEntry{user: &cp, expires: c.now().Add(c.pos)}
	case errors.Is(err, ErrNotFound) && c.neg > 0:
		e = cacheEntry{expires: c.now().Add(c.neg)}
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= cacheMax {
		now := c.now()
		for k, v := range c.m {
			if !now.Before(v.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= cacheMax {
			clear(c.m)
		}
	}
	c.m[address] = e
}
