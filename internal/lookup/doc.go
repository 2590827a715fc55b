// Package lookup owns the SQL userdb: it turns a recipient address into a
// User by running [userdb] user_query (and alias_query) on PostgreSQL,
// MySQL/MariaDB or SQLite. It owns the drivers, the connect strings, the
// rewriting of Dovecot-style query variables into bind parameters, and the
// rule that only "no row" means "no such user".
//
// # Drivers and connect strings
//
//	pgsql   libpq keyword/value ("host=/run/postgresql dbname=mails user=mailreader
//	        password=secret") or a postgres:// URI, via pgx. Environment variables
//	        and ~/.pgpass apply as with libpq; pgx's default_query_exec_mode=exec
//	        turns off the per-connection statement cache (for PgBouncer in
//	        transaction mode).
//	mysql   Dovecot's keyword/value form ("host=127.0.0.1 dbname=mail user=mail_admin
//	        password=x port=3306"; a host starting with "/" is a unix socket; host
//	        "localhost" means the local server's socket if one exists, as with
//	        libmysqlclient; also ssl_ca, ssl_cert, ssl_key, ssl_verify_server_cert and
//	        connect/read/write_timeout in seconds), or a go-sql-driver DSN
//	        ("user:pass@tcp(127.0.0.1:3306)/mail"). MySQL's default sql_mode is
//	        assumed (backslash escapes in literals, "..." is a string).
//	sqlite  a file path or a file: URI, opened read-only unless the URI sets
//	        mode; the file is never created.
//
// Each driver registers itself from its own file (driver_*.go). A build
// with -tags maildeliver_nosql has none: Open then fails for every driver,
// and deliver, built so, only asks lmtpd's userdb socket.
//
// Dovecot's maxconns= key is accepted and ignored: the pool size is
// [userdb] max_connections. Nothing connects until the first Lookup or
// Ping, so a database that is down makes each lookup fail temporarily
// instead of keeping the program from starting.
//
// # Query variables
//
// Queries use Dovecot's variables:
//
//	%u  %{user}                  the whole address
//	%n  %{username} %{user|username}  the local part (the whole address when it has no @)
//	%d  %{domain}   %{user|domain}    the domain ("" when the address has no @)
//	%Lu %Ln %Ld  %Uu %Un %Ud     lowercase / uppercase; also %{user|lower}, |upper
//	%%                           a literal %
//
// The address is split at its last '@'. Filters in %{...} apply left to
// right. Any other %-sequence is an error at Open, as in Dovecot, so
// a LIKE pattern or the modulo operator needs %%. %s (Postfix's syntax) is
// an error too.
//
// Variables are never spliced into SQL. At Open each quoted string literal
// that holds a variable ('%u', '%n@%d', "..." in MySQL, E'...' and $$...$$
// in PostgreSQL) becomes one bind parameter whose value is the literal's
// content, unescaped by the dialect's rules, with the variables expanded;
// a bare variable becomes a parameter of its own. Literals without
// variables stay in the SQL (with %% turned into %). Placeholders are
// $1..$N for pgsql and ? for mysql and sqlite, so a query must not contain
// placeholders of its own. A variable cannot form part of a name ("users_%d"
// or "%u" in a quoted identifier is an error), nor sit in a literal with
// a prefix other than E or N (U&'...', B'...', _utf8mb4'...'). Trailing
// semicolons are dropped: a prepared statement is a single statement.
//
// # Result columns
//
// The first row wins. Columns are read by name, case-insensitively, with or
// without Dovecot's "userdb_" prefix: home, mail, uid, gid, quota_rule,
// quota_bytes, quota_messages, sieve (the user's active Sieve script), and
// user; other columns are ignored and NULL
// counts as absent, so a row with none of them still means "the user
// exists". As in Dovecot, a non-empty user column renames the user: it
// becomes User.Address, which lets a query matching '%Lu' return the
// address as stored ("SELECT email AS user ...", as seed 002's
// password_query does) so that mail for Bob@EXAMPLE.org and bob@example.org
// lands in one mailbox.
// Numbers may come back as integers, numerics or text; a uid or gid that
// is not a number from 0 to 4294967294 is a temporary error. A negative
// quota counts as absent; quota_bytes text may carry a unit ("1G").
//
// # Lookup order
//
//  1. user_query with the address as given;
//  2. if the local part holds a character of the recipient delimiter
//     (each character of [mail] recipient_delimiter is one, as in Postfix
//     and Dovecot), user_query with the local part cut at the first of them;
//     User.Detail is the rest after that character;
//  3. alias_query with the address, then with the address without the
//     detail (the detail then carries over to the final user, as Postfix's
//     propagate_unmatched_extensions does); its first column is the next
//     address, resolved from step 1, for at most 8 hops. An address
//     aliased to itself is final: not found (user_query has no such user).
//     A cycle through other addresses, and more than 8 hops, are mistakes
//     in the alias table: a temporary error naming the chain, so that
//     mail is deferred (and logged as an error), never bounced.
//
// User.Address is the address user_query matched (or its user column). An
// address that cannot
// be stored in a text column (NUL byte, invalid UTF-8) is not found without
// asking the database.
//
// # Errors
//
// Each Lookup runs under its own [userdb] timeout. ErrNotFound means the
// database answered "no row"; everything else (connection refused,
// timeout, SQL error, unusable column value) is a plain error the caller
// must treat as temporary. Error texts never contain the connect string or
// the password.
//
// # Cache
//
// With [userdb] cache_ttl / negative_cache_ttl above zero, answers (found,
// not found) are remembered per address as given; errors never are.
package lookup
