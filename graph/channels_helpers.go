package graph

import (
	"github.com/oais/oais/graph/model"
	"github.com/oais/oais/internal/channels"
)

// channels is the channel service with the resolver's sealing key and
// network rules.
func (r *Resolver) channels() *channels.Service {
	return &channels.Service{Box: r.Secrets, Egress: r.Egress}
}

// channelParams turns a ChannelInput into internal/channels' Params.
func channelParams(in model.ChannelInput) channels.Params {
	p := channels.Params{
		WorkspaceID: in.WorkspaceID, Name: in.Name, Type: string(in.Type), BaseURL: in.BaseURL,
		APIKey: in.APIKey, APIVersion: in.APIVersion, Models: in.Models,
		Priority: in.Priority, Weight: in.Weight, Enabled: in.Enabled,
	}
	if p.WorkspaceID != nil && *p.WorkspaceID == "" {
		p.WorkspaceID = nil
	}
	for _, m := range in.ModelMap {
		if m != nil {
			p.ModelMap = append(p.ModelMap, channels.Mapping{From: m.From, To: m.To})
		}
	}
	if in.Rpm != nil {
		v := int64(*in.Rpm)
		p.RPM = &v
	}
	if in.Tpm != nil {
		v := int64(*in.Tpm)
		p.TPM = &v
	}
	return p
}
