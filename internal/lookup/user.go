package lookup

import "errors"

// NoID marks a uid or gid the query did not return (no such column, or NULL).
const NoID int64 = -1

// User is what the userdb says about one recipient. Columns are read by
// name; any other column is ignored.
type User struct {
	// Address is the address the user_query matched (after alias
	// resolution and, if needed, with the +detail removed).
	Address string
	// Detail is the part after the recipient delimiter when the user was
	// found only under the address without it ("" otherwise).
	Detail string

	Home string // column "home"; "" when absent or NULL
	Mail string // column "mail" (maildir path, may be "maildir:..."); "" when absent
	UID  int64  // column "uid"; NoID when absent or NULL
	GID  int64  // column "gid"; NoID when absent or NULL

	QuotaRule string // column "quota_rule" (Dovecot 2.3 form "*:storage=1G"); "" when absent
	// QuotaBytes is column "quota_bytes" or Dovecot 2.4's
	// "quota_storage_size" (bytes, or a size with unit "1G"; "unlimited"
	// is 0); -1 when absent or NULL. The first of the two in the row wins.
	QuotaBytes int64
	// QuotaMessages is column "quota_messages" or 2.4's
	// "quota_message_count" ("unlimited" is 0); -1 when absent or NULL.
	QuotaMessages int64
	// QuotaGrace is 2.4's "quota_storage_grace" (a size such as "10M", or
	// a percentage); "" when absent: [quota] grace applies.
	QuotaGrace string

	// Sieve is column "sieve": the user's active Sieve script, overriding
	// [sieve] script (Pigeonhole's userdb field "sieve"); "" when absent.
	Sieve string

	// Dovecot's proxy fields, as the row gives them (text, trimmed; ""
	// when absent or NULL): columns "host", "port", "proxy" and
	// "proxy_maybe". They mean something only to lmtpd with [lmtp] proxy
	// = true, and are validated there (package lmtpproxy), in one place.
	Host, Port, Proxy, ProxyMaybe string
}

// ErrNotFound means the userdb answered and has no such user. It is the only
// lookup error that may lead to a bounce; every other error is temporary.
var ErrNotFound = errors.New("lookup: user not found")
