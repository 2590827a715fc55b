package lookup

import (
	"errors"
	"fmt"

	"maildeliver/internal/uservars"
)

// The variables of user_query and alias_query are package uservars'
// (address scope: %u %n %d with %L/%U, %{user|...}; no %h before the
// lookup). This file adapts them to the query scanner.

// parseVar reads the %-sequence at s[i]; messages name the offset.
func parseVar(s string, i int) (uservars.Piece, int, error) {
	p, end, err := uservars.ParseVar(s, i, uservars.Address)
	if err != nil {
		return p, 0, fmt.Errorf("offset %d: %w", i, err)
	}
	return p, end, nil
}

// parseTemplate splits a literal's raw content into text and variables.
// %% becomes a literal %; text pieces stay raw (still escaped) so that the
// caller can copy a literal without variables unchanged. off is the
// content's offset in the query, for messages.
func parseTemplate(raw string, off int) ([]uservars.Piece, error) {
	ps, err := uservars.Pieces(raw, uservars.Address)
	var se *uservars.SyntaxError
	if errors.As(err, &se) {
		return nil, fmt.Errorf("offset %d: %w", off+se.Offset, se.Err)
	}
	return ps, err
}

// splitAddress splits at the last '@'; see uservars.SplitAddress.
func splitAddress(a string) (local, domain string) { return uservars.SplitAddress(a) }
