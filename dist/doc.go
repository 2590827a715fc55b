// Package dist holds no code: the directory ships lmtpd's systemd units
// (lmtpd.service, lmtpd.socket) and their README. Its test installs the
// whole project with scripts/install.sh into a staging directory and
// checks what the units point at.
package dist
