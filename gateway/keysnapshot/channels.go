package keysnapshot

import (
	"cmp"
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/oais/oais/ent"
	"github.com/oais/oais/gateway"
	"github.com/oais/oais/gateway/route"
	"github.com/oais/oais/internal/channels"
	"github.com/oais/oais/internal/viewer"
)

var _ gateway.ChannelDirectory = (*Snapshot)(nil)

// SiteChannels implements gateway.ChannelDirectory: the site-wide channels,
// highest priority first, then by name. The slice is shared; it is
// replaced, never changed, when a channel changes.
func (s *Snapshot) SiteChannels() []*route.Channel {
	if p := s.site.Load(); p != nil {
		return *p
	}
	return nil
}

// heldChannel is a channel as last read: its row's version and what the
// gateway gets of it.
type heldChannel struct {
	updatedAt time.Time
	ws        string // "" for site-wide
	ch        *route.Channel
}

// refreshChannelsLocked reads every channel and, when any was created,
// changed or deleted since the last read, rebuilds the site-wide list and
// the lists of the workspaces whose channels changed. Channels are few
// (an admin configures each), so every poll reads them all: a deleted
// one leaves no row to notice, and a count with the latest updated_at
// misses an update that commits late with an older one.
func (s *Snapshot) refreshChannelsLocked(ctx context.Context) (changedWS map[string]bool, err error) {
	rows, err := s.client.Channel.Query().All(viewer.SystemContext(ctx))
	if err != nil {
		return nil, err
	}
	same := len(rows) == len(s.chans)
	if same {
		for _, r := range rows {
			if h := s.chans[r.ID]; h == nil || !h.updatedAt.Equal(r.UpdatedAt) {
				same = false
				break
			}
		}
	}
	if same && s.site.Load() != nil {
		return nil, nil
	}
	changedWS = map[string]bool{}
	next := make(map[string]*heldChannel, len(rows))
	siteChanged := s.site.Load() == nil
	for _, r := range rows {
		ws := ""
		if r.WorkspaceID != nil {
			ws = *r.WorkspaceID
		}
		h := s.chans[r.ID]
		if h == nil || !h.updatedAt.Equal(r.UpdatedAt) {
			h = &heldChannel{updatedAt: r.UpdatedAt, ws: ws, ch: s.openChannel(r, ws)}
			if ws == "" {
				siteChanged = true
			} else {
				changedWS[ws] = true
			}
		}
		next[r.ID] = h
	}
	for id, h := range s.chans {
		if next[id] == nil {
			if h.ws == "" {
				siteChanged = true
			} else {
				changedWS[h.ws] = true
			}
		}
	}
	s.chans = next
	site := []*route.Channel{}
	byWS := map[string][]*route.Channel{}
	for _, h := range next {
		if h.ws == "" {
			site = append(site, h.ch)
		} else {
			byWS[h.ws] = append(byWS[h.ws], h.ch)
		}
	}
	if siteChanged {
		sortChannels(site)
		s.site.Store(&site)
	}
	for ws := range changedWS {
		list := byWS[ws]
		sortChannels(list)
		if len(list) == 0 {
			delete(s.wsChans, ws)
		} else {
			s.wsChans[ws] = list
		}
	}
	return changedWS, nil
}

// applyChannelsLocked gives the workspaces in changed, other than those in
// rebuilt (whose new policies have them already), their new channels.
func (s *Snapshot) applyChannelsLocked(changed, rebuilt map[string]bool) {
	for id := range changed {
		if rebuilt[id] {
			continue
		}
		ws := s.ws[id]
		if ws == nil {
			continue // its row is read later, with its channels
		}
		p := *ws.policy.Load()
		p.Channels = s.wsChans[id]
		ws.policy.Store(&p)
	}
}

// sortChannels orders a list as the router reads it: highest priority
// first, then by name (names are unique within an owner).
func sortChannels(l []*route.Channel) {
	slices.SortFunc(l, func(a, b *route.Channel) int {
		return cmp.Or(cmp.Compare(b.Priority, a.Priority), strings.Compare(a.Name, b.Name))
	})
}

// openChannel turns a row into the gateway's channel, unsealing its key.
// A key that cannot be opened (no OAIS_SECRETS_KEY, another key), or a
// base URL that does not parse, disables the channel (the router then
// skips it) rather than sending requests unauthenticated; the reason is
// logged, once per change of the row.
func (s *Snapshot) openChannel(r *ent.Channel, ws string) *route.Channel {
	ch := &route.Channel{
		ID: r.ID, Name: r.Name, WorkspaceID: ws, Type: route.Type(r.Type), APIVersion: r.APIVersion,
		Models: slices.Clone(r.Models), Priority: r.Priority, Weight: r.Weight, Enabled: r.Enabled, RPM: r.Rpm, TPM: r.Tpm,
	}
	if len(r.ModelMap) > 0 {
		ch.ModelMap = make(map[string]string, len(r.ModelMap))
		for from, to := range r.ModelMap {
			ch.ModelMap[from] = to
		}
	}
	base, err := url.Parse(r.BaseURL)
	if err != nil {
		s.opts.Logger.Error("channel: bad base URL; channel disabled", "channel_id", r.ID, "channel", r.Name)
		ch.Enabled = false
		return ch
	}
	ch.BaseURL = base
	if len(r.APIKeyCiphertext) > 0 {
		key, err := s.opts.Secrets.Open(r.APIKeyCiphertext, channels.AAD(r.ID))
		if err != nil {
			s.opts.Logger.Error("channel: cannot decrypt its API key; channel disabled. Set the same OAIS_SECRETS_KEY on the control plane and every gateway",
				"channel_id", r.ID, "channel", r.Name, "err", err)
			ch.Enabled = false
			return ch
		}
		ch.APIKey = string(key)
	}
	return ch
}
