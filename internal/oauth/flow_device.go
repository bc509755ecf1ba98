package oauth

import (
	"context"
	"errors"
	"net/http"
	"slices"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/secret"
	"github.com/oauth2d/oauth2d/internal/storage"
)

// deviceCodeGrant answers a device's poll (RFC 8628 §3.4, §3.5). The
// presenter is checked against the authorization before the poll is
// recorded: only the client that asked (not a deleted one of the same
// id) may poll, slow down or use it up. An approval is read and the
// issuance decided before the poll that consumes it, as the code grant
// decides before it redeems, so that a lookup Redis cannot answer leaves
// the approval for the client's next poll; of concurrent polls, one
// consumes it (storage.PollDevice) and the others are told it was used.
func (h *Handler) deviceCodeGrant(ctx context.Context, _ *http.Request, f form, client *storage.Client) (*tokenResponse, *Error) {
	code := f.get("device_code")
	if code == "" {
		return nil, ErrInvalidRequest.WithDescription("device_code is required")
	}
	if len(code) > maxCodeLen {
		return nil, ErrInvalidGrant
	}
	resources, e := f.resources()
	if e != nil {
		return nil, e
	}
	deviceHash := secret.SHA256(code)
	// Twice at most: an approval that lands between the read and the poll
	// is read again once.
	for range 2 {
		st, err := h.devices.GetDevice(ctx, deviceHash)
		if err != nil {
			return nil, storageGrantError(err)
		}
		if st.ClientID != client.ID || !client.OwnsGrant(st.ClientGeneration) {
			return nil, ErrInvalidGrant
		}
		var user *storage.User
		var dec issuance
		prepared := st.Status == storage.DeviceApproved && st.Grant != nil
		if prepared {
			user, err = h.users.GetUser(ctx, st.Grant.UserID)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				return nil, storageGrantError(err)
			}
			if user != nil {
				g := grantClaim{client: client, user: user, held: st.Grant.Scope, resources: resources, heldResources: st.Resources}
				if dec, e = h.decide(ctx, g); e != nil {
					return nil, e
				}
			}
		}
		poll, err := h.devices.PollDevice(ctx, deviceHash, secret.NewToken(16), prepared)
		if err != nil {
			return nil, storageGrantError(err)
		}
		switch poll.Outcome {
		case storage.DeviceNotReady:
			continue
		case storage.DevicePending:
			return nil, ErrAuthorizationPending
		case storage.DeviceSlowDown:
			return nil, ErrSlowDown
		case storage.DeviceDenied:
			return nil, ErrDeviceAccessDenied
		case storage.DeviceExpired:
			return nil, ErrExpiredToken
		case storage.DeviceConsumed:
			if user == nil {
				return nil, ErrInvalidGrant // the user was deleted: the approval is spent for nothing
			}
			return h.issueDevice(ctx, dec, st.Grant)
		default: // used by another poll
			return nil, ErrInvalidGrant
		}
	}
	return nil, ErrAuthorizationPending
}

// issueDevice issues what the policy decided for an approval consumed by
// this poll: as the code grant, a refresh-token family when the grant
// holds offline_access and the client may refresh, an ID token with
// openid.
func (h *Handler) issueDevice(ctx context.Context, dec issuance, g *storage.DeviceGrant) (*tokenResponse, *Error) {
	in := issue{
		issuance: dec, authTime: g.AuthTime, sid: g.SID,
		refresh: slices.Contains(dec.scope, ScopeOfflineAccess) && slices.Contains(dec.client.GrantTypes, account.GrantRefreshToken),
	}
	resp, e := h.issueTokens(ctx, in)
	if e == nil && resp.IDToken != "" && g.SID != "" {
		h.rememberUserClient(ctx, in, g.SessionExpiresAt, h.now())
	}
	return resp, e
}
