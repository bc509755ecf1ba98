package httpserver

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/oauth2d/oauth2d/internal/account"
	"github.com/oauth2d/oauth2d/internal/admin"
	"github.com/oauth2d/oauth2d/internal/api"
	"github.com/oauth2d/oauth2d/internal/audit"
	"github.com/oauth2d/oauth2d/internal/oauth"
	"github.com/oauth2d/oauth2d/internal/resource"
	"github.com/oauth2d/oauth2d/internal/web"
)

// Handlers are the parts that serve the routes; every one is required.
type Handlers struct {
	Discovery  *oauth.Discovery
	Resources  *oauth.ProtectedResources // the built-in resources' metadata (RFC 9728)
	Tokens     *oauth.Handler            // token, revocation, introspection, revocation feed
	Authorizer *oauth.Authorizer
	Pusher     *oauth.Pusher           // pushed authorization requests (RFC 9126)
	Device     *oauth.DeviceAuthorizer // device authorization requests (RFC 8628)
	Userinfo   *oauth.Userinfo
	Pages      *web.Handler // login, consent, logout, account pages
	Bearer     *resource.Authenticator
	API        *api.API
	Admin      *admin.API
	// Registrar serves dynamic client registration (RFC 7591, 7592); nil
	// when registration.mode is off: the paths are not served.
	Registrar *oauth.Registrar
	// Audiences are the resource identifiers each protected part takes
	// tokens for (RFC 8707): a token for one is refused by the others.
	Audiences Audiences
	// AdminACR, when set, are the authentication context classes a
	// user's token needs at the admin API (mfa.required_roles names
	// admin): RFC 9470 step-up.
	AdminACR []string
	// Audit receives the audit events of every route's requests; nil:
	// none are recorded (tests of the route table alone).
	Audit *audit.Log
}

// Audiences are the built-in resources' identifiers.
type Audiences struct {
	API      []string // the comments API: tokens.audience
	Admin    []string // the admin API: tokens.admin_audience
	Userinfo []string // the UserInfo endpoint's own, and the comments API's (tokens from before it had one)
	// APIMetadata and AdminMetadata are the two APIs' metadata documents
	// (RFC 9728), named in their 401 challenges; "": none.
	APIMetadata, AdminMetadata string
}

func (h Handlers) check() error {
	if h.Discovery == nil || h.Resources == nil || h.Tokens == nil || h.Authorizer == nil || h.Pusher == nil || h.Device == nil || h.Userinfo == nil ||
		h.Pages == nil || h.Bearer == nil || h.API == nil || h.Admin == nil {
		return errors.New("httpserver: every handler is required")
	}
	if len(h.Audiences.API) == 0 || len(h.Audiences.Admin) == 0 || len(h.Audiences.Userinfo) == 0 {
		return errors.New("httpserver: every protected part needs its audience")
	}
	return nil
}

// routes is the one route table: every path the server serves beyond the
// built-in /healthz, /readyz and /metrics (see newEngine), with the
// middleware each needs. Reading this function tells what is served.
func routes(r gin.IRouter, h Handlers) {
	if h.Audit != nil {
		r.Use(auditContext(h.Audit))
	}
	// Discovery (RFC 8414, OpenID Connect Discovery) and keys.
	r.GET(oauth.OAuthMetadataPath, h.Discovery.ServeMetadata)
	r.GET(oauth.OpenIDMetadataPath, h.Discovery.ServeMetadata)
	r.GET(oauth.JWKSPath, h.Discovery.ServeJWKS)
	// Protected resource metadata (RFC 9728): the default resource's at
	// the bare path, each built-in resource's below it.
	resourceMetadata := h.Resources.Serve(notFound)
	r.GET(oauth.ResourceMetadataPath, resourceMetadata)
	r.GET(oauth.ResourceMetadataPath+"/*resource", resourceMetadata)

	// Token endpoint and its companions (RFC 6749 §3.2, RFC 7009, RFC
	// 7662): client-authenticated, rate limited by client address.
	r.POST(oauth.TokenPath, oauth.RecordClientIP, gin.WrapF(h.Tokens.Token))
	r.POST(oauth.RevocationPath, oauth.RecordClientIP, gin.WrapF(h.Tokens.Revoke))
	r.POST(oauth.IntrospectionPath, oauth.RecordClientIP, gin.WrapF(h.Tokens.Introspect))
	// First-party apps' browserless sign-in (draft-ietf-oauth-first-party-apps-04).
	r.POST(oauth.AuthorizationChallengePath, oauth.RecordClientIP, gin.WrapF(h.Tokens.AuthorizationChallenge))
	// The revocation feed resource servers long-poll (README): Basic
	// client authentication, resource servers only.
	r.GET(oauth.RevocationFeedPath, oauth.RecordClientIP, gin.WrapF(h.Tokens.ServeRevocationFeed))

	// Authorization endpoint (RFC 6749 §3.1) and its return from the pages.
	// Every route that may look a client up records the caller's address:
	// a URL client id's document is fetched within that address's budget
	// (package clientmeta).
	r.GET(oauth.AuthorizePath, oauth.RecordClientIP, gin.WrapF(h.Authorizer.Authorize))
	r.POST(oauth.AuthorizePath, oauth.RecordClientIP, gin.WrapF(h.Authorizer.Authorize))
	r.GET(oauth.AuthorizeResumePath, oauth.RecordClientIP, gin.WrapF(h.Authorizer.Resume))
	// Pushed authorization requests (RFC 9126): client-authenticated like
	// the token endpoint; public clients' pushes are bounded per address.
	r.POST(oauth.PushedAuthorizationPath, oauth.RecordClientIP, gin.WrapF(h.Pusher.Push))
	// Device authorization requests (RFC 8628 §3.1): likewise.
	r.POST(oauth.DeviceAuthorizationPath, oauth.RecordClientIP, gin.WrapF(h.Device.Authorize))
	// Dynamic client registration (RFC 7591) and each registration's
	// management with its registration access token (RFC 7592), when
	// registration.mode is not off; registrations are bounded per address.
	if h.Registrar != nil {
		r.POST(oauth.RegistrationPath, oauth.RecordClientIP, h.Registrar.Register)
		r.GET(oauth.RegistrationPath+"/:client_id", h.Registrar.Read)
		r.PUT(oauth.RegistrationPath+"/:client_id", h.Registrar.Update)
		r.DELETE(oauth.RegistrationPath+"/:client_id", h.Registrar.Delete)
	}

	// UserInfo (OIDC Core §5.3): a protected resource whose revocation is
	// checked in Redis on every call.
	userinfo := []gin.HandlerFunc{h.Bearer.RequireAudience(true, "", h.Audiences.Userinfo...),
		h.Bearer.RequireScopes(oauth.ScopeOpenID), h.Userinfo.Serve}
	r.GET(oauth.UserinfoPath, userinfo...)
	r.POST(oauth.UserinfoPath, userinfo...)

	// The pages a person sees: login, consent, their consents and security, sign-out
	// (also OIDC RP-Initiated Logout at EndSessionPath).
	r.GET(web.StylesheetPath, h.Pages.Stylesheet)
	r.GET(web.FaviconPath, h.Pages.Favicon)
	r.GET(web.LoginPath, oauth.RecordClientIP, h.Pages.LoginPage)
	r.POST(web.LoginPath, oauth.RecordClientIP, h.Pages.Login)
	r.GET(web.ConsentPath, oauth.RecordClientIP, h.Pages.ConsentPage)
	r.POST(web.ConsentPath, oauth.RecordClientIP, h.Pages.Consent)
	r.GET(web.SecondFactorPath, oauth.RecordClientIP, h.Pages.SecondFactorPage)
	r.POST(web.SecondFactorPath, oauth.RecordClientIP, h.Pages.SecondFactor)
	r.POST(web.SecondFactorPasskeyPath, oauth.RecordClientIP, h.Pages.SecondFactorPasskey)
	r.GET(web.DevicePath, oauth.RecordClientIP, h.Pages.DevicePage)
	r.POST(web.DevicePath, oauth.RecordClientIP, h.Pages.Device)
	r.GET(web.DeviceDonePath, oauth.RecordClientIP, h.Pages.DeviceDone)
	r.GET(web.AccountPath, oauth.RecordClientIP, h.Pages.Account)
	r.GET(web.AccountSessionsPath, oauth.RecordClientIP, h.Pages.AccountSessions)
	r.POST(web.AccountSessionEndPath, oauth.RecordClientIP, h.Pages.EndAccountSession)
	r.POST(web.AccountSessionsEndOthersPath, oauth.RecordClientIP, h.Pages.EndOtherAccountSessions)
	r.GET(web.AccountPasswordPath, oauth.RecordClientIP, h.Pages.AccountPasswordPage)
	r.POST(web.AccountPasswordPath, oauth.RecordClientIP, h.Pages.ChangePassword)
	r.GET(web.AccountSecurityPath, oauth.RecordClientIP, h.Pages.AccountSecurity)
	r.POST(web.AccountSecurityTOTPPath, oauth.RecordClientIP, h.Pages.BeginTOTP)
	r.POST(web.AccountSecurityConfirmPath, oauth.RecordClientIP, h.Pages.ConfirmTOTP)
	r.POST(web.AccountSecurityRemovePath, oauth.RecordClientIP, h.Pages.RemoveTOTP)
	r.POST(web.AccountSecurityRecoveryPath, oauth.RecordClientIP, h.Pages.RegenerateRecoveryCodes)
	r.GET(web.AccountConsentPath, oauth.RecordClientIP, h.Pages.AccountConsents)
	r.POST(web.AccountConsentRevokePath, oauth.RecordClientIP, h.Pages.RevokeConsent)
	// Passkeys (WebAuthn): sign-in, and the account's security page.
	r.GET(web.PasskeyScriptPath, h.Pages.PasskeyScript)
	r.POST(web.PasskeyLoginPath, oauth.RecordClientIP, h.Pages.PasskeyLogin)
	r.POST(web.AccountPasskeyAddPath, oauth.RecordClientIP, h.Pages.AddPasskey)
	r.POST(web.AccountPasskeyRenamePath, oauth.RecordClientIP, h.Pages.RenamePasskey)
	r.POST(web.AccountPasskeyRemovePath, oauth.RecordClientIP, h.Pages.RemovePasskey)
	for _, p := range []string{web.LogoutPath, web.EndSessionPath} {
		r.GET(p, oauth.RecordClientIP, h.Pages.EndSession)
		r.POST(p, oauth.RecordClientIP, h.Pages.EndSession)
	}

	// The protected comments API (DESIGN.md §5), RFC 6750 bearer tokens.
	v1 := r.Group("/api/v1", h.Bearer.RequireAudience(false, h.Audiences.APIMetadata, h.Audiences.API...))
	v1.GET("/me", h.Bearer.RequireScopes(api.ScopeProfile), h.API.Me)
	v1.GET("/comments", h.Bearer.RequireScopes(api.ScopeCommentsRead), h.API.ListComments)
	v1.POST("/comments", h.Bearer.RequireScopes(api.ScopeCommentsWrite), h.API.PostComment)
	v1.DELETE("/comments/:id", h.Bearer.RequireScopes(api.ScopeCommentsWrite), h.API.DeleteComment)
	v1.POST("/logout", h.Bearer.RequireScopes(), h.API.Logout)

	// The admin API: scope admin, every change audited.
	admin := []gin.HandlerFunc{h.Bearer.RequireAudience(false, h.Audiences.AdminMetadata, h.Audiences.Admin...),
		h.Bearer.RequireScopes(account.ScopeAdmin)}
	if len(h.AdminACR) > 0 {
		admin = append(admin, h.Bearer.RequireUserACR(h.AdminACR...))
	}
	adm := r.Group("/admin/v1", append(admin, h.Admin.RequireAdmin, h.Admin.Audit)...)
	adm.GET("/clients", h.Admin.ListClients)
	adm.POST("/clients", h.Admin.CreateClient)
	adm.GET("/clients/:id", h.Admin.GetClient)
	adm.PUT("/clients/:id", h.Admin.UpdateClient)
	adm.DELETE("/clients/:id", h.Admin.DeleteClient)
	adm.POST("/clients/:id/secret", h.Admin.RotateSecret)
	// A resource's id is a URI: sent percent-encoded, its slashes would
	// split a :id segment, so the rest of the path is the id.
	adm.GET("/resources", h.Admin.ListResources)
	adm.POST("/resources", h.Admin.CreateResource)
	adm.GET("/resources/*id", h.Admin.GetResource)
	adm.PUT("/resources/*id", h.Admin.UpdateResource)
	adm.DELETE("/resources/*id", h.Admin.DeleteResource)
	adm.GET("/users", h.Admin.ListUsers)
	adm.POST("/users", h.Admin.CreateUser)
	adm.GET("/users/:id", h.Admin.GetUser)
	adm.PATCH("/users/:id", h.Admin.UpdateUser)
	adm.DELETE("/users/:id", h.Admin.DeleteUser)
	adm.POST("/users/:id/revoke-tokens", h.Admin.RevokeUserTokens)
	adm.GET("/users/:id/factors", h.Admin.GetFactors)
	adm.DELETE("/users/:id/factors", h.Admin.ResetFactors)
	adm.DELETE("/users/:id/factors/passkeys/:credential_id", h.Admin.DeletePasskey)
}

// notFound answers every unrouted path.
func notFound(c *gin.Context) {
	c.JSON(http.StatusNotFound, gin.H{"error": "not_found"})
}

// auditContext lets the handlers' audit.Emit find the audit log and
// stamp each event with the request id and the client address.
func auditContext(l *audit.Log) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := audit.With(audit.NewContext(c.Request.Context(), l), audit.Event{RequestID: RequestID(c.Request.Context()), IP: c.ClientIP()})
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}
