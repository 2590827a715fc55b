package delivery

import (
	"fmt"
	"strings"

	"maildeliver/internal/config"
	"maildeliver/internal/lookup"
	"maildeliver/internal/quota"
)

// The userdb's quota columns become a quota.Limit here, not in package
// quota, which knows maildirsize and limits but not SQL rows or config.

// limitFor returns the limit of u: its quota_rule column when set, else its
// quota_bytes and quota_messages columns (or 2.4's quota_storage_size and
// quota_message_count) when either is present (an absent one is
// unlimited), else def, the quota.default size ("" = unlimited). A nil u
// gets def. u's quota_storage_grace, when set, becomes the limit's Grace.
func limitFor(u *lookup.User, def string) (quota.Limit, error) {
	l, err := userLimit(u, def)
	if err != nil || u == nil || u.QuotaGrace == "" {
		return l, err
	}
	g, err := config.ParseGrace(u.QuotaGrace)
	if err != nil {
		return quota.Limit{}, fmt.Errorf("quota_storage_grace: %w", err)
	}
	l.Grace = &g
	return l, nil
}

func userLimit(u *lookup.User, def string) (quota.Limit, error) {
	if u != nil {
		if strings.TrimSpace(u.QuotaRule) != "" {
			return quota.ParseRule(u.QuotaRule)
		}
		if u.QuotaBytes != -1 || u.QuotaMessages != -1 {
			if u.QuotaBytes < -1 || u.QuotaMessages < -1 {
				return quota.Limit{}, fmt.Errorf("quota_bytes %d, quota_messages %d: negative limit", u.QuotaBytes, u.QuotaMessages)
			}
			return quota.Limit{Bytes: max(u.QuotaBytes, 0), Messages: max(u.QuotaMessages, 0)}, nil
		}
	}
	n, err := config.ParseSize(def)
	if err != nil {
		return quota.Limit{}, fmt.Errorf("quota default: %w", err)
	}
	return quota.Limit{Bytes: n}, nil
}
