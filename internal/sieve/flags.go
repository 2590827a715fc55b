package sieve

import (
	"sort"
	"strings"
)

// maildirLetters are the Maildir info letters of the IMAP system flags.
var maildirLetters = map[string]byte{
	`\draft`: 'D', `\flagged`: 'F', `\answered`: 'R', `\seen`: 'S', `\deleted`: 'T',
}

// MaildirFlags splits a store action's flags into the Maildir info letters
// of the system flags, sorted as Maildir requires ("DFRST" order), and the
// keywords in their order. Dovecot stores such a message in cur/ as
// "<name>:2,<letters><keyword letters>", the keyword letters a, b, ...
// being the keywords' indexes in the folder's dovecot-keywords file (new
// keywords appended): keep :flags ["\\Seen", "\\Flagged", "$Label1"]
// gives ":2,FSa" with "0 $Label1" in dovecot-keywords (checked against
// dovecot-lda 2.3 via sieve-test -e). \Recent cannot be stored and is
// dropped.
func MaildirFlags(flags []string) (letters string, keywords []string) {
	var b []byte
	seen := map[string]bool{}
	for _, f := range flags {
		k := strings.ToLower(f)
		if seen[k] || k == `\recent` {
			continue
		}
		seen[k] = true
		if l, ok := maildirLetters[k]; ok {
			b = append(b, l)
			continue
		}
		if strings.HasPrefix(k, `\`) {
			continue // an unknown system flag cannot be stored
		}
		keywords = append(keywords, f)
	}
	sort.Slice(b, func(i, j int) bool { return b[i] < b[j] })
	return string(b), keywords
}
