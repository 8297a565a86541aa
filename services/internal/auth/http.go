package auth

import (
	"net/http"
	"net/url"
	"strings"
)

// HTTP names of the key for pages a browser opens.
const (
	// QueryKey is the URL query parameter a person adds once
	// (http://host:port/?key=...); the server answers with CookieName set
	// and a redirect to the same URL without the key.
	QueryKey = "key"
	// CookieName carries the key on the browser's later requests.
	CookieName = "alpcrun_api_key"
	// HeaderName carries the key for scripts (curl -H "X-API-Key: ...").
	HeaderName = "X-API-Key"
)

// HTTP guards h with the API keys: a request must carry a key in header
// HeaderName, header Authorization as a bearer token, cookie CookieName or
// query parameter QueryKey, or come over mutual TLS with a client
// certificate the key file names. Without one it gets 401, with another
// 403. With no key configured h is served as is.
func (a *Authenticator) HTTP(h http.Handler) http.Handler {
	if len(a.keys) == 0 && len(a.certs) == 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query(); q.Has(QueryKey) {
			if !a.valid(q.Get(QueryKey)) {
				http.Error(w, "auth: invalid key", http.StatusForbidden)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: CookieName, Value: url.QueryEscape(q.Get(QueryKey)), Path: "/",
				HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			q.Del(QueryKey)
			u := *r.URL
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
			return
		}
		key := r.Header.Get(HeaderName)
		if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); key == "" && ok {
			key = v // what a Prometheus scrape sends (authorization: credentials)
		}
		if c, err := r.Cookie(CookieName); key == "" && err == nil {
			key, _ = url.QueryUnescape(c.Value)
		}
		_, byCert := a.certOf(r.TLS)
		switch {
		case key == "" && byCert:
			h.ServeHTTP(w, r)
		case key == "":
			http.Error(w, "auth: this page needs the API key: open it once as /?"+QueryKey+"=KEY (it is then kept in a cookie), or send header "+HeaderName, http.StatusUnauthorized)
		case !a.valid(key):
			http.Error(w, "auth: invalid key", http.StatusForbidden)
		default:
			h.ServeHTTP(w, r)
		}
	})
}
