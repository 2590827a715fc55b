// Command lmtpload is bench/run.sh's LMTP load generator for the rows that
// smtp-source cannot drive: every message to its own recipients (cold
// mailboxes, a mix of new and existing ones). smtp-source sends each of
// its messages to the same -t address; here message i goes to line i of
// the recipients file.
//
//	lmtpload -s SESSIONS -F MSGFILE -f SENDER -rcpts FILE unix:SOCKET
//
// SESSIONS connections are opened once and kept (as Postfix's LMTP client
// with connection caching, smtp-source -d); each takes the next line of
// FILE (recipients separated by spaces) until all are sent. The message is
// sent as smtp-source -F sends it (LF turned into CRLF). It exits 1 when
// any recipient did not get a 2xx reply or a session failed, after every
// session has ended.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-smtp"
)

func main() {
	sessions := flag.Int("s", 1, "concurrent sessions (connections kept for all their messages)")
	msgFile := flag.String("F", "", "message file (LF or CRLF)")
	sender := flag.String("f", "sender@example.net", "envelope sender")
	rcptFile := flag.String("rcpts", "", "one message per line: its recipients, separated by spaces")
	helo := flag.String("M", "bench.example", "LHLO name")
	flag.Parse()
	if flag.NArg() != 1 || *msgFile == "" || *rcptFile == "" || *sessions < 1 {
		fmt.Fprintln(os.Stderr, "usage: lmtpload -s N -F MSG -f SENDER -rcpts FILE unix:PATH|HOST:PORT")
		os.Exit(2)
	}
	raw, err := os.ReadFile(*msgFile)
	if err != nil {
		fail(err)
	}
	msg := crlf(raw)
	lines, err := readLines(*rcptFile)
	if err != nil {
		fail(err)
	}
	network, addr := "tcp", flag.Arg(0)
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", p
	}

	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	for s := 0; s < *sessions; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := session(network, addr, *helo, *sender, msg, lines, &next); err != nil {
				fmt.Fprintln(os.Stderr, "lmtpload:", err)
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		os.Exit(1)
	}
}

// session sends messages on one connection until the lines run out.
func session(network, addr, helo, sender string, msg []byte, lines [][]string, next *atomic.Int64) error {
	conn, err := net.Dial(network, addr)
	if err != nil {
		return err
	}
	c := smtp.NewClientLMTP(conn)
	defer c.Close()
	if err := c.Hello(helo); err != nil {
		return err
	}
	for {
		i := int(next.Add(1)) - 1
		if i >= len(lines) {
			return c.Quit()
		}
		if err := send(c, sender, lines[i], msg); err != nil {
			return fmt.Errorf("message %d to %v: %w", i, lines[i], err)
		}
	}
}

// send is one transaction; every recipient must get 2xx after DATA.
func send(c *smtp.Client, sender string, rcpts []string, msg []byte) error {
	if err := c.Mail(sender, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	// an error here (LMTPDataError) names every recipient that failed
	_, err = w.CloseWithLMTPResponse()
	return err
}

// crlf turns bare LF line ends into CRLF, as smtp-source does with -F.
func crlf(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

func readLines(path string) ([][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 0 {
			out = append(out, fs)
		}
	}
	return out, sc.Err()
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "lmtpload:", err)
	os.Exit(2)
}
