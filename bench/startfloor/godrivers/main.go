// Command godrivers does nothing but link the three SQL drivers deliver
// carries (internal/lookup imports them), so that bench/run.sh's "floor"
// phase shows what their package initialisation and size add to every
// process start, beside goempty and deliver itself.
package main

import (
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/pgconn"
	_ "modernc.org/sqlite"
)

func main() {}
