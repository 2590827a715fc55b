package dovecotconf

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode"
)

// readV24 reads a Dovecot 2.4 dovecot.conf. Every setting there is global
// and may also stand inside a filter, where its prefix may be left out
// ("userdb sql { query = ... }" is userdb_sql_query); the innermost one
// wins.
func readV24(path string) (*Userdb, error) {
	top, err := parseFile(path, confSyntax, false)
	if err != nil {
		return nil, err
	}
	res, err := readV24Userdb(path, top)
	if err != nil {
		return nil, err
	}
	get, place := func(b *entry, key string) *entry { return lookup(b, top, key, "namespace_"+key) },
		(*entry).where
	res.Separator = inboxSeparator(top, get, place, path)
	res.Prefix = inboxPrefix(top, get, place, path)
	return res, nil
}

// readV24Userdb finds the SQL userdb (or the passdb that stands for a
// static one) of a 2.4 dovecot.conf.
func readV24Userdb(path string, top []*entry) (*Userdb, error) {
	for _, u := range blocks(top, "userdb") {
		switch drv := driverOf(u); drv {
		case "prefetch": // fields of the passdb's login lookup, which deliver never does
			continue
		case "sql":
			return v24SQL(path, top, u, "")
		case "static":
			for _, p := range blocks(top, "passdb") {
				if driverOf(p) == "sql" {
					return v24SQL(path, top, p, "; the userdb is static, so the passdb tells who exists")
				}
			}
			return nil, fmt.Errorf("%s: userdb %s is static and there is no passdb sql to tell which users exist", u.where(), u.name)
		default:
			return nil, fmt.Errorf("%s: userdb %s has driver %q: maildeliver reads only SQL userdbs", u.where(), u.name, drv)
		}
	}
	return nil, fmt.Errorf("%s: no userdb sql { } block", path)
}

// driverOf is a 2.4 passdb/userdb block's driver: its driver setting, or
// else its name.
func driverOf(b *entry) string {
	if d := lookup(b, nil, "driver", b.key+"_driver"); d != nil {
		return d.value
	}
	return b.name
}

// lookup finds the first of keys set inside b, else the last of them (by
// its global name, the last key) at the top level.
func lookup(b *entry, top []*entry, keys ...string) *entry {
	for _, k := range keys {
		if e := find(b.sub, k); e != nil {
			return e
		}
	}
	return find(top, keys[len(keys)-1])
}

// v24SQL reads the SQL settings of passdb/userdb block b.
func v24SQL(path string, top []*entry, b *entry, why string) (*Userdb, error) {
	kind := b.key // passdb or userdb
	label := fmt.Sprintf("%s %s { }", kind, b.name)
	if err := noGroups(b.sub, top); err != nil {
		return nil, err
	}
	u := &Userdb{
		Driver:    Setting{Missing: path + ": no sql_driver (want pgsql, mysql or sqlite)"},
		Connect:   Setting{Missing: path + ": no connection (want a pgsql HOST { } or mysql HOST { } block, or sqlite_path)"},
		UserQuery: Setting{Missing: fmt.Sprintf("%s: %s has no query", path, label)},
	}
	if q := lookup(b, top, "query", "sql_query", kind+"_sql_query"); q != nil && strings.TrimSpace(q.value) != "" {
		v, err := value(q)
		if err != nil {
			return nil, err
		}
		u.UserQuery = Setting{Value: v, From: fmt.Sprintf("%s (%s: %s)%s", q.where(), label, q.key, why)}
	}
	d := lookup(b, top, "sql_driver")
	if d == nil || d.value == "" {
		return u, nil
	}
	drv, err := driverName(d)
	if err != nil {
		return nil, err
	}
	u.Driver = Setting{Value: drv, From: d.where() + " (sql_driver)"}
	var c *Setting
	switch drv {
	case "sqlite":
		c, err = sqlite24(b, top)
	case "pgsql":
		c, err = pgsql24(b, top)
	case "mysql":
		c, err = mysql24(b, top)
	}
	if err != nil {
		return nil, err
	}
	if c != nil {
		u.Connect = *c
	}
	return u, nil
}

// noGroups refuses 2.4's "@label = name" group includes where the SQL
// settings are looked up: their settings would silently be missing.
func noGroups(scopes ...[]*entry) error {
	for _, sc := range scopes {
		for _, e := range sc {
			switch {
			case !e.block && strings.HasPrefix(e.key, "@"):
				return fmt.Errorf("%s: group include %s is not supported: write its settings out", e.where(), e.key)
			case e.block && (e.key == "pgsql" || e.key == "mysql"):
				if err := noGroups(e.sub); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// value is a setting's value; "<path" is that file's whole content.
// $ENV: and $SET: expansions are refused rather than passed on as text.
func value(e *entry) (string, error) {
	for _, x := range []string{"$ENV:", "$SET:"} {
		if strings.HasPrefix(e.value, x) || strings.Contains(e.value, " "+x) {
			return "", fmt.Errorf("%s: %s: %s expansion is not supported here: write the value out", e.where(), e.key, x)
		}
	}
	if !e.fileRef {
		return e.value, nil
	}
	data, err := os.ReadFile(e.value)
	if err != nil {
		return "", fmt.Errorf("%s: %s = <%s: %w", e.where(), e.key, e.value, unwrapPath(err))
	}
	return string(data), nil
}

func sqlite24(b *entry, top []*entry) (*Setting, error) {
	p := lookup(b, top, "sqlite_path")
	if p == nil || p.value == "" {
		return nil, nil
	}
	v, err := value(p)
	if err != nil {
		return nil, err
	}
	return &Setting{Value: v, From: p.where() + " (sqlite_path)"}, nil
}

// hostBlocks are the pgsql/mysql HOST { } blocks that apply: those in b,
// else the global ones. Dovecot balances over several; maildeliver uses
// the first (the rest are named in the provenance).
func hostBlocks(b *entry, top []*entry, kind string) (*entry, string) {
	list := blocks(b.sub, kind)
	if len(list) == 0 {
		list = blocks(top, kind)
	}
	if len(list) == 0 {
		return nil, ""
	}
	note := ""
	if len(list) > 1 {
		note = fmt.Sprintf("; the first of %d %s blocks: maildeliver does not balance over several hosts", len(list), kind)
	}
	return list[0], note
}

// pgsql24 builds a libpq connect string from "pgsql HOST { parameters { } }"
// (and global pgsql_parameters): host=HOST, then every parameter.
func pgsql24(b *entry, top []*entry) (*Setting, error) {
	blk, note := hostBlocks(b, top, "pgsql")
	if blk == nil {
		return nil, nil
	}
	var kvs [][2]string
	set := map[string]int{}
	put := func(k, v string) {
		if i, ok := set[k]; ok {
			kvs[i][1] = v
			return
		}
		set[k] = len(kvs)
		kvs = append(kvs, [2]string{k, v})
	}
	host := blk.name
	if h := lookup(blk, nil, "host", "pgsql_host"); h != nil {
		host = h.value
	}
	put("host", host)
	params := blocks(top, "pgsql_parameters")
	params = append(params, blocks(blk.sub, "pgsql_parameters")...)
	params = append(params, blocks(blk.sub, "parameters")...)
	for _, p := range params {
		for _, e := range p.sub {
			if e.block {
				return nil, fmt.Errorf("%s: a block inside %s { }", e.where(), p.key)
			}
			v, err := value(e)
			if err != nil {
				return nil, err
			}
			put(e.key, v)
		}
	}
	return &Setting{Value: formatKV(kvs), From: fmt.Sprintf("%s (pgsql %s { })%s", blk.where(), blk.name, note)}, nil
}

// mysql24 builds a Dovecot-style MySQL connect string from
// "mysql HOST { user = ... }" and the global mysql_* settings.
func mysql24(b *entry, top []*entry) (*Setting, error) {
	blk, note := hostBlocks(b, top, "mysql")
	if blk == nil {
		return nil, nil
	}
	kvs := [][2]string{{"host", blk.name}}
	for _, k := range []string{"host", "port", "dbname", "user", "password", "connect_timeout", "read_timeout", "write_timeout"} {
		e := lookup(blk, top, k, "mysql_"+k)
		if e == nil {
			continue
		}
		v, err := value(e)
		if err != nil {
			return nil, err
		}
		if strings.HasSuffix(k, "_timeout") {
			if v, err = seconds(v); err != nil {
				return nil, fmt.Errorf("%s: %s: %v", e.where(), e.key, err)
			}
		}
		switch {
		case k == "host":
			kvs[0][1] = v
			continue
		case k == "port" && v == "0": // Dovecot's default: 3306, or the socket for localhost
			continue
		}
		kvs = append(kvs, [2]string{k, v})
	}
	for _, k := range []string{"option_file", "option_group", "client_flags"} {
		if e := lookup(blk, top, k, "mysql_"+k); e != nil && e.value != "" && e.value != "0" {
			return nil, fmt.Errorf("%s: %s is not supported by maildeliver's MySQL driver", e.where(), e.key)
		}
	}
	tls, err := mysqlTLS(blk, top)
	if err != nil {
		return nil, err
	}
	kvs = append(kvs, tls...)
	return &Setting{Value: formatKV(kvs), From: fmt.Sprintf("%s (mysql %s { })%s", blk.where(), blk.name, note)}, nil
}

// mysqlTLS maps mysql_ssl = yes and the ssl_client_* files to ssl_ca,
// ssl_cert, ssl_key and ssl_verify_server_cert.
func mysqlTLS(blk *entry, top []*entry) ([][2]string, error) {
	s := lookup(blk, top, "ssl", "mysql_ssl")
	if s == nil || s.value != "yes" {
		return nil, nil
	}
	kvs := [][2]string{}
	for _, m := range [][2]string{{"ssl_client_ca_file", "ssl_ca"}, {"ssl_client_cert_file", "ssl_cert"}, {"ssl_client_key_file", "ssl_key"}} {
		e := lookup(blk, top, m[0])
		if e == nil || e.value == "" {
			continue
		}
		if !e.fileRef { // 2.4 file settings are "<path" (or inline PEM, which the driver cannot take)
			return nil, fmt.Errorf("%s: %s: want </path/to/file", e.where(), e.key)
		}
		kvs = append(kvs, [2]string{m[1], e.value})
	}
	if len(kvs) == 0 {
		return nil, fmt.Errorf("%s: %s = yes needs ssl_client_ca_file (maildeliver's MySQL driver turns TLS on with a CA file)", s.where(), s.key)
	}
	verify := "yes"
	if e := lookup(blk, top, "ssl_client_require_valid_cert"); e != nil && e.value == "no" {
		verify = "no"
	}
	kvs = append(kvs, [2]string{"ssl_verify_server_cert", verify})
	return kvs, nil
}

// seconds turns a Dovecot time ("5s", "30 secs", "1 min", "2") into whole
// seconds, rounded up, as the connect string's *_timeout keys want.
func seconds(v string) (string, error) {
	v = strings.TrimSpace(v)
	i := strings.IndexFunc(v, func(r rune) bool { return !unicode.IsDigit(r) })
	if i < 0 {
		i = len(v)
	}
	n, err := strconv.ParseInt(v[:i], 10, 64)
	if err != nil {
		return "", fmt.Errorf("%q is not a time", v)
	}
	var ms int64
	switch strings.TrimSpace(v[i:]) {
	case "ms", "msec", "msecs", "millisecond", "milliseconds":
		ms = n
	case "", "s", "sec", "secs", "second", "seconds":
		ms = n * 1000
	case "m", "min", "mins", "minute", "minutes":
		ms = n * 60_000
	case "h", "hour", "hours":
		ms = n * 3_600_000
	default:
		return "", fmt.Errorf("%q is not a time", v)
	}
	return strconv.FormatInt((ms+999)/1000, 10), nil
}

// formatKV writes key=value pairs as Dovecot and libpq read them: values
// with blanks, quotes or backslashes (or empty) in single quotes.
func formatKV(kvs [][2]string) string {
	parts := make([]string, len(kvs))
	for i, kv := range kvs {
		v := kv[1]
		if v == "" || strings.ContainsAny(v, " \t\n'\\") {
			v = "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), `'`, `\'`) + "'"
		}
		parts[i] = kv[0] + "=" + v
	}
	return strings.Join(parts, " ")
}
