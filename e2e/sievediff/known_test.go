package sievediff

// The disagreements with Pigeonhole kept on purpose. README's Sieve
// section lists the same, for administrators.

import (
	"regexp"
	"sort"
	"strings"
)

// knownDifferences: rule name → the reason and which cases it covers.
// A case is covered when match says so for the two sides' outcomes; a
// rule that covers nothing in a full run fails the test (stale table),
// except a pending one (work under way elsewhere): that is only logged.
var knownDifferences = map[string]struct {
	why     string
	pending bool
	match   func(key, side string, want, got []string) bool
}{
	"environment-name": {
		why: `environment "name" is "maildeliver", not "Pigeonhole Sieve": RFC 5183 makes it the ` +
			"name of the implementation; a script that tests for Pigeonhole by name is told the truth",
		match: func(key, _ string, want, got []string) bool {
			if !strings.HasPrefix(key, "x27-environment/") {
				return false
			}
			// everything but the folder agrees, and Pigeonhole's is env-name
			return same(anyFolder(want), anyFolder(got)) && strings.Contains(strings.Join(want, "\n"), ": store .env-name ")
		},
	},
	"reject-in-dialogue": {
		why: "reject: Pigeonhole 0.5 (dovecot-lda, even with -e) accepts the message and mails its own " +
			"rejection (an MDN, Auto-Submitted: auto-replied (rejected)) to the sender; SPEC has us refuse " +
			"it in the dialogue instead (deliver: 5.7.1 and exit 77, lmtpd: 550 5.7.1, same reason), " +
			"so the MTA bounces it: the sender learns the same reason, nothing is stored on either side",
		match: func(_, _ string, want, got []string) bool {
			var w []string
			for i := 0; i < len(want); i++ {
				if i+1 < len(want) && strings.HasSuffix(want[i], " ok") {
					if m := reRejection.FindStringSubmatch(want[i+1]); m != nil && m[1] == want[i][:2] {
						w = append(w, m[1]+" reject "+m[2])
						i++
						continue
					}
				}
				w = append(w, want[i])
			}
			return !same(w, want) && same(w, got)
		},
	},
	"envelope-case": {
		why: `envelope "to" (and ${...} made from it) is the canonical recipient, lower-cased as the ` +
			"userdb was asked and Delivered-To says; Pigeonhole keeps the case the MTA passed (Bob@Example.COM)",
		match: func(key, _ string, want, got []string) bool {
			return strings.Contains(key, "→Bob@Example.COM") &&
				same(lower(want), lower(got))
		},
	},
}

var reRejection = regexp.MustCompile(`^(#\d) rejection from=<> rcpt=\S+ reason="(.*)"$`)

func lower(ls []string) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = strings.ToLower(l)
	}
	return out
}

var reStoreFolder = regexp.MustCompile(`: store \S+ `)

// anyFolder is the outcome without the folders: stored files with their
// flags and bytes, the outgoing mail, the answers.
func anyFolder(ls []string) []string {
	var out []string
	for _, l := range ls {
		if strings.Contains(l, ": folder ") || strings.Contains(l, ": subscribed ") {
			continue
		}
		out = append(out, reStoreFolder.ReplaceAllString(l, ": store * "))
	}
	sort.Strings(out[firstStore(out):])
	return out
}

// firstStore is where the snapshot lines (sorted) start.
func firstStore(ls []string) int {
	for i, l := range ls {
		if !strings.HasPrefix(l, "#") {
			return i
		}
	}
	return len(ls)
}

// known says whether the difference is kept on purpose: the reason and
// the rule's name, or "".
func known(key, side string, want, got []string) (string, string) {
	for _, name := range knownKeys() {
		k := knownDifferences[name]
		if k.match(key, side, want, got) {
			return k.why, name
		}
	}
	return "", ""
}

func knownKeys() []string {
	var ks []string
	for k := range knownDifferences {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
