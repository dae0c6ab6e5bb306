package web

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/jumpkv/jumpkv/store"
	"github.com/jumpkv/jumpkv/wire"
)

// Entity tags (RFC 9110 section 8.8.3). The node's tags are "<version>";
// to a client they are opaque, so If-Match with any well-formed tag that
// is not the key's current version fails the precondition (412), and only
// a header that is not entity-tag syntax is a 400. If-Match uses strong
// comparison: a weak tag (W/"...") never matches.

// entityTag is one parsed tag.
type entityTag struct {
	weak   bool
	opaque string // between the quotes
}

// parseIfMatch parses If-Match: "*" or a comma-separated list of entity
// tags (empty list elements allowed, as in any #list).
func parseIfMatch(h string) (star bool, tags []entityTag, err error) {
	if strings.TrimSpace(h) == "*" {
		return true, nil, nil
	}
	s := h
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		if s[0] == ',' {
			s = s[1:]
			continue
		}
		var t entityTag
		if strings.HasPrefix(s, "W/") {
			t.weak, s = true, s[2:]
		}
		if s == "" || s[0] != '"' {
			return false, nil, fmt.Errorf("want * or entity tags such as \"3.14\", got %q", h)
		}
		end := 1
		for end < len(s) && s[end] != '"' {
			if c := s[end]; c < 0x21 || c == 0x7f { // etagc: %x21 / %x23-7E / obs-text
				return false, nil, fmt.Errorf("an entity tag may not hold %q: got %q", c, h)
			}
			end++
		}
		if end == len(s) {
			return false, nil, fmt.Errorf("unterminated entity tag in %q", h)
		}
		t.opaque, s = s[1:end], strings.TrimLeft(s[end+1:], " \t")
		tags = append(tags, t)
		if s != "" && s[0] != ',' {
			return false, nil, fmt.Errorf("entity tags must be separated by commas: got %q", h)
		}
	}
	if len(tags) == 0 {
		return false, nil, fmt.Errorf("want * or entity tags, got %q", h)
	}
	return false, tags, nil
}

// matchVersion returns the version an If-Match of tags requires of key:
// the one strong tag that is a version, or, when several are, the key's
// current version if it is among them. An If-Match that no version can
// satisfy is a wire.ErrPrecondition.
func (a *api) matchVersion(c *gin.Context, key string, tags []entityTag) (store.Version, error) {
	var cands []store.Version
	for _, t := range tags {
		if t.weak {
			continue // strong comparison: a weak tag never matches
		}
		if v, err := store.ParseVersion(t.opaque); err == nil && !slices.Contains(cands, v) {
			cands = append(cands, v)
		}
	}
	switch len(cands) {
	case 0:
		return store.Version{}, fmt.Errorf("%w: If-Match names no version this key can have (weak tags and tags that are not versions never match)",
			wire.ErrPrecondition)
	case 1:
		return cands[0], nil
	}
	// Several: the write is conditional on the current one, if listed.
	e, err := a.b.Get(c.Request.Context(), key)
	switch {
	case errors.Is(err, wire.ErrNotFound):
		return store.Version{}, fmt.Errorf("%w: the key does not exist", wire.ErrPrecondition)
	case err != nil:
		return store.Version{}, err
	case !slices.Contains(cands, e.Version):
		return store.Version{}, fmt.Errorf("%w: the key's version is %s", wire.ErrPrecondition, e.Version)
	}
	return e.Version, nil
}
