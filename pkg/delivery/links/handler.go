package links

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// MaxBodySize bounds an unsubscribe request's body: RFC 8058's is a single short field.
const MaxBodySize = 4 << 10

// Callbacks record what recipients do; they keep the handler apart from the store. An error
// answers the request with 500, and the recipient can try again.
type Callbacks struct {
	// Unsubscribe stops marketing messages to the recipient of c. It may be called more than
	// once for one link (a mail client's one-click POST, then the page's button).
	Unsubscribe func(ctx context.Context, c Claims) error
	// Click records that the recipient of c followed the link to target.
	Click func(ctx context.Context, c Claims, target string) error
	// Open records that the message of c was displayed.
	Open func(ctx context.Context, c Claims) error
}

type handler struct {
	signer    *Signer
	callbacks Callbacks
}

// NewHandler serves the links s signs, at the paths of its URLs (mount it under the base URL's
// path, if it has one):
//
//   - GET /u/{token} shows a confirmation page with a button, and unsubscribes nobody: link
//     scanners and previews fetch every link of a message;
//   - POST /u/{token} with List-Unsubscribe=One-Click, as a mail client sends it (RFC 8058) or
//     the page's button, unsubscribes and shows that it did;
//   - GET /c/{token} records a click and redirects to the target the token binds;
//   - GET /o/{token}.gif records an open and returns a transparent 1x1 GIF.
//
// A token that does not verify, or is of another kind than the path's, is answered with 404.
func NewHandler(s *Signer, cb Callbacks) (http.Handler, error) {
	if s == nil || cb.Unsubscribe == nil || cb.Click == nil || cb.Open == nil {
		return nil, errors.New("links: the handler needs a signer and the Unsubscribe, Click and Open callbacks")
	}
	h := &handler{signer: s, callbacks: cb}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /u/{token}", h.confirm)
	mux.HandleFunc("POST /u/{token}", h.unsubscribe)
	mux.HandleFunc("GET /c/{token}", h.click)
	mux.HandleFunc("GET /o/{pixel}", h.open)
	return mux, nil
}

func (h *handler) confirm(w http.ResponseWriter, r *http.Request) {
	t, ok := h.verify(w, r.PathValue("token"), KindUnsubscribe)
	if !ok {
		return
	}
	writePage(w, confirmPage, t.Claims)
}

func (h *handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	t, ok := h.verify(w, r.PathValue("token"), KindUnsubscribe)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodySize)
	// RFC 8058 asks for multipart/form-data and allows application/x-www-form-urlencoded.
	var err error
	if mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mediaType == "multipart/form-data" {
		err = r.ParseMultipartForm(MaxBodySize)
		if r.MultipartForm != nil {
			defer func() { _ = r.MultipartForm.RemoveAll() }()
		}
	} else {
		err = r.ParseForm()
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writePlain(w, http.StatusRequestEntityTooLarge, "リクエストが大きすぎます。\nThe request body is larger than 4 KiB.")
		return
	case err != nil:
		writePlain(w, http.StatusBadRequest, "リクエストを読めませんでした。\nThe request body is not a form.")
		return
	case r.PostForm.Get("List-Unsubscribe") != "One-Click":
		writePlain(w, http.StatusBadRequest, "配信停止の指示がありません。\nThe request body must be List-Unsubscribe=One-Click (RFC 8058).")
		return
	}
	if err := h.callbacks.Unsubscribe(r.Context(), t.Claims); err != nil {
		writePlain(w, http.StatusInternalServerError, "配信停止を処理できませんでした。しばらくしてからもう一度お試しください。\nThe unsubscribe could not be recorded; please try again later.")
		return
	}
	writePage(w, donePage, t.Claims)
}

func (h *handler) click(w http.ResponseWriter, r *http.Request) {
	t, ok := h.verify(w, r.PathValue("token"), KindClick)
	if !ok {
		return
	}
	// Only a target the token binds is followed, and only to the web: a link signed with
	// another scheme by mistake must not become a javascript: or data: redirect.
	if u, err := url.Parse(t.Target); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		writePlain(w, http.StatusBadRequest, "このリンクの行き先は開けません。\nThe link's target is not an http or https URL.")
		return
	}
	if err := h.callbacks.Click(r.Context(), t.Claims, t.Target); err != nil {
		writePlain(w, http.StatusInternalServerError, "一時的なエラーが発生しました。しばらくしてからもう一度お試しください。\nThe click could not be recorded; please try again later.")
		return
	}
	setCommonHeaders(w)
	w.Header().Set("Location", t.Target)
	w.WriteHeader(http.StatusFound)
}

func (h *handler) open(w http.ResponseWriter, r *http.Request) {
	token, isGIF := strings.CutSuffix(r.PathValue("pixel"), ".gif")
	if !isGIF {
		writePlain(w, http.StatusNotFound, invalidLink)
		return
	}
	t, ok := h.verify(w, token, KindOpen)
	if !ok {
		return
	}
	if err := h.callbacks.Open(r.Context(), t.Claims); err != nil {
		writePlain(w, http.StatusInternalServerError, "The open could not be recorded.")
		return
	}
	setCommonHeaders(w)
	w.Header().Set("Content-Type", "image/gif")
	_, _ = w.Write(transparentGIF)
}

const invalidLink = "このリンクは無効です。メッセージに記載されたリンクをそのままお使いください。\nThis link is not valid."

// verify answers 404 for a token that does not verify or is of another kind.
func (h *handler) verify(w http.ResponseWriter, token string, kind Kind) (Token, bool) {
	t, err := h.signer.Verify(token)
	if err != nil || t.Kind != kind {
		writePlain(w, http.StatusNotFound, invalidLink)
		return Token{}, false
	}
	return t, true
}

// transparentGIF is a 1x1 transparent GIF89a.
var transparentGIF = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff" +
	"!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// setCommonHeaders keeps every answer out of caches, so that each click and open reaches the
// server, and keeps the token out of Referer headers.
func setCommonHeaders(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

func writePlain(w http.ResponseWriter, status int, message string) {
	setCommonHeaders(w)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = fmt.Fprintln(w, message)
}

// pageStyle is the pages' only style; the Content-Security-Policy allows it by its hash and
// allows nothing else but posting the form back.
const pageStyle = "body{font-family:sans-serif;max-width:32em;margin:3em auto;padding:0 1em;line-height:1.7;color:#222}" +
	"button{font-size:1em;padding:.6em 1.6em;border:0;border-radius:4px;background:#c0392b;color:#fff;cursor:pointer}" +
	"small{color:#666}"

var contentSecurityPolicy = func() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) +
		"'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

const pageHead = `<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ block "title" . }}{{ end }}</title>
<style>{{ style }}</style>
</head>
<body>
<main>
`

const pageFoot = `<p><small>{{ with .Campaign }}キャンペーン: {{ . }}{{ end }}</small></p>
</main>
</body>
</html>
`

var pageFuncs = template.FuncMap{
	"style": func() template.CSS { return template.CSS(pageStyle) },
	"channel": func(channelType string) string {
		switch channelType {
		case "SMTP":
			return "メール"
		case "Push":
			return "プッシュ通知"
		case "SMS", "LINE":
			return channelType
		}
		return "メッセージ"
	},
}

var (
	confirmPage = template.Must(template.New("confirm").Funcs(pageFuncs).Parse(pageHead +
		`{{ define "title" }}配信停止{{ end }}<h1>配信停止</h1>
<p>{{ channel .ChannelType }}でのお知らせの配信を停止します。よろしければ、下のボタンを押してください。</p>
<form method="post">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">配信を停止する</button>
</form>
` + pageFoot))
	donePage = template.Must(template.New("done").Funcs(pageFuncs).Parse(pageHead +
		`{{ define "title" }}配信を停止しました{{ end }}<h1>配信を停止しました</h1>
<p>{{ channel .ChannelType }}でのお知らせの配信を停止しました。</p>
` + pageFoot))
)

func writePage(w http.ResponseWriter, page *template.Template, c Claims) {
	var buf bytes.Buffer
	if err := page.Execute(&buf, c); err != nil {
		writePlain(w, http.StatusInternalServerError, "The page could not be shown.")
		return
	}
	setCommonHeaders(w)
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}
