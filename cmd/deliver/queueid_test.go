package main

import (
	"os"
	"strings"
	"testing"
)

// TestQueueIDLogged: deliver -q puts Postfix's queue id on the delivery's
// log line, for a delivery and for a refusal alike (SPEC "Operator tools").
func TestQueueIDLogged(t *testing.T) {
	requireRoot(t)
	e := sqliteEnv(t, "")
	checkOutcome(t, e.deliver(testMsg, "-q", "4ZfQ1x2AbCdz9", "-f", "a@b", "-d", "user@domain.org"), 0, "")
	checkOutcome(t, e.deliver(testMsg, "-q", "3CF6B2AAE8", "-f", "a@b", "-d", "nobody@domain.org"), 67, "5.1.1 ")
	log, err := os.ReadFile(e.log)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	want := map[string]string{"4ZfQ1x2AbCdz9": "result=delivered", "3CF6B2AAE8": "result=bounced"}
	for q, res := range want {
		found := false
		for _, l := range lines {
			if strings.Contains(l, "msg=delivery") && strings.Contains(l, " queue_id="+q+" ") {
				found = true
				if !strings.Contains(l, res) {
					t.Errorf("queue id %s on %q, want %s", q, l, res)
				}
			}
		}
		if !found {
			t.Errorf("no delivery line with queue_id=%s in:\n%s", q, log)
		}
	}
}
