// Command report turns bench/run.sh's runs.csv into the Markdown tables of
// bench/results/: per workload the median rate of Dovecot and of
// maildeliver, the ratio ours/dovecot, the disk's ceiling for the same
// concurrency (from bench/fsynclimit) and lmtpd's memory.
//
//	report [-title TEXT] runs.csv > table.md
//
// runs.csv has one row per timed run:
//
//	phase   lmtp | lda | fsync | mem
//	side    dovecot | ours | disk
//	size    4k | 100k | 100m
//	conc    sessions (lmtp), parallel workers (lda), goroutines (fsync)
//	rcpts   recipients per message
//	mode    spread (different mailboxes per session/worker) | same (one mailbox or one 10-mailbox group)
//	        | cold (each message to a mailbox its delivery creates) | mixed10 (every tenth one)
//	variant lmtp: new-conn | keepalive, "+sieve" with Sieve on both sides; fsync: full | file | none; lda: -
//	rep     repetition, 1..R
//	msgs    messages sent; deliv = msgs x rcpts
//	seconds wall clock of the run
//	ok      1 if the files in new/ grew by exactly deliv (and the sender reported no error)
//	rss0_kb lmtpd's VmRSS before the run (ours only; the kernel's peak was reset to it)
//	hwm_kb  lmtpd's VmHWM after the run, i.e. its peak RSS during the run
//	busy_pct the machine's CPU busy share during the run (optional)
//	cpu_us  CPU microseconds per delivery of the agent: each side's control
//	        group in lmtp (every process of the Dovecot instance; lmtpd),
//	        lmtpd's own ticks where there is no group; the agent processes'
//	        (lda, floor), fsynclimit's (fsync) (optional)
//
// Medians are over the runs marked ok; a configuration with a failed run
// says so in the table.
package main

import (
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

type run struct {
	phase, side, size, mode, variant string
	conc, rcpts, rep                 int
	msgs, deliv                      int
	seconds                          float64
	ok                               bool
	rss0, hwm                        int64   // kB; -1 when not measured
	busy, cpuUS                      float64 // -1 when not measured
}

type key struct {
	phase, size, mode, variant string
	conc, rcpts                int
}

// group is one configuration with the runs of every side.
type group struct {
	key
	sides map[string][]run
}

func main() {
	title := flag.String("title", "", "first line of the report")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: report [-title TEXT] runs.csv")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	runs, err := parse(f)
	f.Close()
	if err != nil {
		fail(err)
	}
	if *title != "" {
		fmt.Printf("%s\n\n", *title)
	}
	write(os.Stdout, runs)
}

func parse(r io.Reader) ([]run, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, err
	}
	var out []run
	for i, rec := range recs {
		if i == 0 && len(rec) > 0 && rec[0] == "phase" {
			continue
		}
		if len(rec) < 14 {
			return nil, fmt.Errorf("line %d: %d fields, want 14", i+1, len(rec))
		}
		x := run{phase: rec[0], side: rec[1], size: rec[2], mode: rec[5], variant: rec[6], ok: rec[11] == "1"}
		x.conc, _ = strconv.Atoi(rec[3])
		x.rcpts, _ = strconv.Atoi(rec[4])
		x.rep, _ = strconv.Atoi(rec[7])
		x.msgs, _ = strconv.Atoi(rec[8])
		x.deliv, _ = strconv.Atoi(rec[9])
		x.seconds, _ = strconv.ParseFloat(rec[10], 64)
		x.rss0 = kb(rec[12])
		x.hwm = kb(rec[13])
		x.busy, x.cpuUS = -1, -1
		if len(rec) >= 16 {
			x.busy, x.cpuUS = num(rec[14]), num(rec[15])
		}
		out = append(out, x)
	}
	return out, nil
}

func num(s string) float64 {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return -1
	}
	return v
}

func kb(s string) int64 {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// groups collects the runs of one phase by configuration, in the order
// they first appear.
func groups(runs []run, phase string) []*group {
	var order []*group
	byKey := map[key]*group{}
	for _, r := range runs {
		if r.phase != phase {
			continue
		}
		k := key{phase: r.phase, size: r.size, mode: r.mode, variant: r.variant, conc: r.conc, rcpts: r.rcpts}
		g := byKey[k]
		if g == nil {
			g = &group{key: k, sides: map[string][]run{}}
			byKey[k] = g
			order = append(order, g)
		}
		g.sides[r.side] = append(g.sides[r.side], r)
	}
	return order
}

// stat is the median of one side of one configuration.
type stat struct {
	n, failed      int
	msgs, deliv    float64 // median per second
	lo, hi         float64 // range of msgs/s
	msgsPerRun     int
	peakKB, rss0KB int64
	busy, cpuUS    float64 // medians; -1 when not measured
}

func summarize(rs []run) stat {
	var s stat
	var m, d, busy, cpu []float64
	s.peakKB, s.rss0KB = -1, -1
	s.busy, s.cpuUS = -1, -1
	for _, r := range rs {
		if !r.ok || r.seconds <= 0 {
			s.failed++
			continue
		}
		s.n++
		s.msgsPerRun = r.msgs
		m = append(m, float64(r.msgs)/r.seconds)
		d = append(d, float64(r.deliv)/r.seconds)
		if r.busy >= 0 {
			busy = append(busy, r.busy)
		}
		if r.cpuUS >= 0 {
			cpu = append(cpu, r.cpuUS)
		}
		if r.hwm > s.peakKB {
			s.peakKB = r.hwm
		}
		if r.rss0 >= 0 && (s.rss0KB < 0 || r.rss0 < s.rss0KB) {
			s.rss0KB = r.rss0
		}
	}
	if len(busy) > 0 {
		s.busy = median(busy)
	}
	if len(cpu) > 0 {
		s.cpuUS = median(cpu)
	}
	if s.n > 0 {
		s.msgs, s.deliv = median(m), median(d)
		sort.Float64s(m)
		s.lo, s.hi = m[0], m[len(m)-1]
	}
	return s
}

func median(v []float64) float64 {
	v = append([]float64(nil), v...)
	sort.Float64s(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// rate formats a side's median: "538" or, with several recipients, "96 [960]",
// followed by the range when there is more than one run.
func rate(s stat, rcpts int) string {
	if s.n == 0 {
		if s.failed > 0 {
			return fmt.Sprintf("FAILED (%d runs)", s.failed)
		}
		return "–"
	}
	out := fmt.Sprintf("%.0f", s.msgs)
	if rcpts > 1 {
		out += fmt.Sprintf(" [%.0f]", s.deliv)
	}
	if s.n > 1 {
		out += fmt.Sprintf(" (%.0f..%.0f)", s.lo, s.hi)
	}
	if s.failed > 0 {
		out += fmt.Sprintf(" **%d failed**", s.failed)
	}
	return out
}

// pct is a median busy share, "–" when not measured.
func pct(s stat) string {
	if s.busy < 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", s.busy)
}

// cpuMS is a median CPU time per unit in ms, "–" when not measured.
func cpuMS(s stat) string {
	if s.cpuUS < 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f ms", s.cpuUS/1000)
}

func ratio(ours, theirs stat) string {
	if ours.n == 0 || theirs.n == 0 || theirs.msgs == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", ours.msgs/theirs.msgs)
}

// ceiling is fsynclimit's median deliveries/s for the same size,
// concurrency and mode with full durability.
func ceiling(runs []run, size string, conc int, mode string) string {
	if conc == 1 || mode != "same" {
		mode = "spread" // cold and mixed rows: every message to another mailbox
	}
	var v []float64
	for _, r := range runs {
		if r.phase == "fsync" && r.variant == "full" && r.ok && r.size == size && r.conc == conc && r.mode == mode && r.seconds > 0 {
			v = append(v, float64(r.deliv)/r.seconds)
		}
	}
	if len(v) == 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", median(v))
}

func mib(k int64) string {
	if k < 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f MiB", float64(k)/1024)
}

func write(w io.Writer, runs []run) {
	if gs := groups(runs, "lmtp"); len(gs) > 0 {
		fmt.Fprintln(w, "### LMTP: dovecot-lmtp vs lmtpd (smtp-source -L, unix socket)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "msgs/s median (min..max); [deliveries/s] when r>1. Ceiling: fsynclimit, deliveries/s, same size, c = sessions, same mode (spread for cold and mixed).")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "cold: every message to a mailbox that did not exist (its delivery creates it; Dovecot its index files too); mixed10: every tenth message, the others to existing mailboxes. Both sent by bench/lmtpload over kept sessions, each message to its own recipient (smtp-source cannot).")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "CPU busy: the machine's (2 vCPUs: load generator, agent, PostgreSQL) during dovecot's / lmtpd's runs. CPU/delivery: user+system time per delivery of the Dovecot instance (master, lmtp, auth, stats... from its control group) / of lmtpd; PostgreSQL's is in neither.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| workload | msgs/run | dovecot-lmtp | lmtpd | ours/dovecot | disk ceiling | lmtpd peak RSS | CPU busy d / o | CPU/delivery d / o |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
		for _, g := range gs {
			d, o := summarize(g.sides["dovecot"]), summarize(g.sides["ours"])
			label := fmt.Sprintf("%s s=%d r=%d %s", g.size, g.conc, g.rcpts, g.mode)
			switch g.variant {
			case "keepalive":
				label += " keepalive (-d)"
			case "keepalive+sieve":
				label += " keepalive (-d), **Sieve**"
			}
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s / %s | %s / %s |\n", label, max(d.msgsPerRun, o.msgsPerRun),
				rate(d, g.rcpts), rate(o, g.rcpts), ratio(o, d), ceiling(runs, g.size, g.conc, g.mode), mib(o.peakKB),
				pct(d), pct(o), cpuMS(d), cpuMS(o))
		}
		fmt.Fprintln(w)
	}
	writeSieve(w, groups(runs, "lmtp"))
	if gs := groups(runs, "lda"); len(gs) > 0 {
		fmt.Fprintln(w, "### Pipe mode: dovecot-lda vs deliver (one process per message; mode cold: each message to a mailbox that did not exist, else mailboxes pre-created)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "CPU/msg: the agent processes' own user+system time per message (dovecot-lda with the doveconf it runs; deliver), not the userdb server's. CPU busy: the machine's.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "deliver (nosql): built with -tags maildeliver_nosql, without SQL drivers; it asks lmtpd's userdb socket only (README: Building).")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| workload | msgs/run | dovecot-lda msgs/s | deliver msgs/s | ours/dovecot | deliver (nosql) msgs/s | nosql/dovecot | CPU/msg dovecot-lda / deliver / nosql | CPU busy d / o / n |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
		for _, g := range gs {
			d, o, n := summarize(g.sides["dovecot"]), summarize(g.sides["ours"]), summarize(g.sides["nosql"])
			label := fmt.Sprintf("%s P=%d %s", g.size, g.conc, g.mode)
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s / %s / %s | %s / %s / %s |\n", label, max(d.msgsPerRun, o.msgsPerRun),
				rate(d, 1), rate(o, 1), ratio(o, d), rate(n, 1), ratio(n, d), cpuMS(d), cpuMS(o), cpuMS(n), pct(d), pct(o), pct(n))
		}
		fmt.Fprintln(w)
	}
	if gs := groups(runs, "floor"); len(gs) > 0 {
		writeFloor(w, runs, gs)
	}
	if gs := groups(runs, "fsync"); len(gs) > 0 {
		fmt.Fprintln(w, "### Disk ceiling: bench/fsynclimit (tmp/ O_EXCL, write, fsync, rename into new/, fsync new/)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "CPU/delivery: fsynclimit's own user+system time (nearly all kernel); CPU busy: the machine's.")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| sync | size | concurrency | mode | deliveries/s median (min..max) | runs | CPU/delivery | CPU busy |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
		for _, g := range gs {
			s := summarize(g.sides["disk"])
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %d | %s | %s |\n", g.variant, g.size, g.conc, g.mode, rate(s, 1), s.n, cpuMS(s), pct(s))
		}
		fmt.Fprintln(w)
	}
	if gs := groups(runs, "mem"); len(gs) > 0 {
		fmt.Fprintln(w, "### One large message via LMTP (r=1), lmtpd memory")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| message | side | seconds | RSS before | peak RSS (VmHWM) | growth |")
		fmt.Fprintln(w, "|---|---|---|---|---|---|")
		for _, g := range gs {
			for _, side := range []string{"dovecot", "ours"} {
				for _, r := range g.sides[side] {
					secs := "FAILED"
					if r.ok {
						secs = fmt.Sprintf("%.2f", r.seconds)
					}
					growth := "–"
					if r.rss0 >= 0 && r.hwm >= 0 {
						growth = mib(r.hwm - r.rss0)
					}
					fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", g.size, name(side), secs, mib(r.rss0), mib(r.hwm), growth)
				}
			}
		}
		fmt.Fprintln(w)
	}
}

// writeSieve sets each Sieve row beside the same workload without Sieve:
// the rates and lmtpd's CPU per delivery with and without (issue 12's
// targets: lmtpd >= 2x dovecot-lmtp with Sieve, CPU rise <= 25%).
func writeSieve(w io.Writer, gs []*group) {
	plain := map[key]*group{}
	var with []*group
	for _, g := range gs {
		if strings.HasSuffix(g.variant, "+sieve") {
			with = append(with, g)
		} else {
			plain[g.key] = g
		}
	}
	if len(with) == 0 {
		return
	}
	fmt.Fprintln(w, "### Sieve on both sides: lmtpd CPU per delivery with and without")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | ours/dovecot with Sieve | without | lmtpd CPU/delivery with Sieve | without | rise |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	for _, g := range with {
		k := g.key
		k.variant = strings.TrimSuffix(k.variant, "+sieve")
		d, o := summarize(g.sides["dovecot"]), summarize(g.sides["ours"])
		pr, pc, rise := "–", "–", "–"
		if p := plain[k]; p != nil {
			pd, po := summarize(p.sides["dovecot"]), summarize(p.sides["ours"])
			pr, pc = ratio(po, pd), cpuMS(po)
			if po.cpuUS > 0 && o.cpuUS >= 0 {
				rise = fmt.Sprintf("%+.0f%%", 100*(o.cpuUS/po.cpuUS-1))
			}
		}
		fmt.Fprintf(w, "| %s s=%d r=%d %s %s | %s | %s | %s | %s | %s |\n", g.size, g.conc, g.rcpts, g.mode, k.variant,
			ratio(o, d), pr, cpuMS(o), pc, rise)
	}
	fmt.Fprintln(w)
}

// writeFloor sets the programs that deliver nothing beside deliver and
// dovecot-lda (4k spread, same P): the cost of one message in ms is
// 1000 / (msgs/s), and the differences between columns say where
// deliver's time goes.
func writeFloor(w io.Writer, runs []run, gs []*group) {
	fmt.Fprintln(w, "### Pipe mode: the start-up floor (same workers, programs that deliver nothing)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "msgs/s median (ms per message = 1000 / median; CPU ms per message of the programs themselves).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| P | /bin/true | empty static Go | Go + the 3 SQL drivers | deliver (4k spread) | dovecot-lda (4k spread) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|")
	lda := map[int]*group{}
	for _, g := range groups(runs, "lda") {
		if g.size == "4k" && g.mode == "spread" {
			lda[g.conc] = g
		}
	}
	cell := func(s stat) string {
		if s.n == 0 {
			return rate(s, 1)
		}
		c := ""
		if s.cpuUS >= 0 {
			c = fmt.Sprintf("; CPU %.2f", s.cpuUS/1000)
		}
		return fmt.Sprintf("%.0f (%.2f ms%s)", s.msgs, 1000/s.msgs, c)
	}
	for _, g := range gs {
		row := []string{fmt.Sprint(g.conc)}
		for _, p := range []string{"true", "goempty", "godrivers"} {
			row = append(row, cell(summarize(g.sides[p])))
		}
		if l := lda[g.conc]; l != nil {
			row = append(row, cell(summarize(l.sides["ours"])), cell(summarize(l.sides["dovecot"])))
		} else {
			row = append(row, "–", "–")
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(row, " | "))
	}
	fmt.Fprintln(w)
}

func name(side string) string {
	if side == "ours" {
		return "lmtpd"
	}
	return "dovecot-lmtp"
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "report:", err)
	os.Exit(1)
}
