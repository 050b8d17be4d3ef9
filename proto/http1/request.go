package http1

import "iter"

// Fields are the header (or trailer) field lines of a request, in the order
// received. Names are as sent; lookups ignore ASCII case. Values have
// surrounding whitespace removed. Nothing here allocates.
type Fields struct {
	buf   []byte
	spans []span
}

// Len returns the number of field lines.
func (f *Fields) Len() int { return len(f.spans) }

// At returns the name and value of field line i, 0 <= i < Len().
func (f *Fields) At(i int) (name, value []byte) {
	sp := f.spans[i]
	return f.buf[sp.ns:sp.ne:sp.ne], f.buf[sp.vs:sp.ve:sp.ve]
}

// Get returns the value of the first field named name, or nil.
func (f *Fields) Get(name string) []byte {
	v, _ := f.Lookup(name)
	return v
}

// Lookup is Get that also reports whether the field is present, for fields
// that may be empty.
func (f *Fields) Lookup(name string) ([]byte, bool) {
	for _, sp := range f.spans {
		if int(sp.ne-sp.ns) == len(name) && equalFold(f.buf[sp.ns:sp.ne], name) {
			return f.buf[sp.vs:sp.ve:sp.ve], true
		}
	}
	return nil, false
}

// All iterates over the field lines in order.
func (f *Fields) All() iter.Seq2[[]byte, []byte] {
	return func(yield func(name, value []byte) bool) {
		for i := range f.spans {
			if !yield(f.At(i)) {
				return
			}
		}
	}
}

// Request is a parsed request head. It and its byte slices point into
// buffers owned by the Parser: they stay valid, unchanged, from the Head
// event through the End event of the request, over as many calls to Next as
// its body takes, until the first call to Next after End (or Reset). Copy
// what must live longer.
type Request struct {
	// Method is the request method. Known methods (see KnownMethod) are
	// the package's constant strings; any other token method costs one
	// allocation.
	Method string
	// Target is the request-target as sent (RFC 9112 §3.2).
	Target []byte
	// Path is the path of an origin-form or absolute-form target ("/" when
	// an absolute-form target has none), "*" for the asterisk form and
	// empty for the authority form of CONNECT. It is not percent-decoded.
	Path []byte
	// Query is what follows '?' in the target, without the '?'; nil if
	// there is none.
	Query []byte
	// Scheme is the scheme of an absolute-form target, else nil.
	Scheme []byte
	// Host is the target's authority for the absolute and authority forms
	// (which take precedence over the Host field, RFC 9112 §3.2.2), else
	// the Host field's value, possibly empty.
	Host []byte
	// Proto is "HTTP/1.0" or "HTTP/1.1"; ProtoMinor is 0 or 1.
	Proto      string
	ProtoMinor int
	// Header holds the header field lines.
	Header Fields
	// Trailer holds the trailer fields of a chunked body, set when the
	// parser returns End.
	Trailer Fields
	// ContentLength is the body length, 0 without a body and -1 for a
	// chunked body.
	ContentLength int64
	// Chunked reports a chunked body (Transfer-Encoding: chunked).
	Chunked bool

	keepAlive bool
	expect100 bool
}

// KeepAlive reports whether the connection may carry another request after
// this one (RFC 9112 §9.3): HTTP/1.1 unless "Connection: close", HTTP/1.0 only
// with "Connection: keep-alive", in which case the response must carry
// "Connection: keep-alive" too. When it reports false the caller closes the
// connection after the response and reads no further requests.
func (r *Request) KeepAlive() bool { return r.keepAlive }

// Expect100 reports an HTTP/1.1 request with "Expect: 100-continue" (RFC 9110
// §10.1.1): the client waits for an interim "100 Continue" (AppendContinue)
// or a final status before it sends the body. A server that will read the
// body sends 100 Continue before reading it; one that refuses the request
// answers with the final status and then reads and discards the body or
// closes the connection. It is false for HTTP/1.0, whose expectations a
// server must ignore.
func (r *Request) Expect100() bool { return r.expect100 }

// Methods the package knows (RFC 9110 §9 and RFC 5789).
const (
	MethodGet     = "GET"
	MethodHead    = "HEAD"
	MethodPost    = "POST"
	MethodPut     = "PUT"
	MethodDelete  = "DELETE"
	MethodConnect = "CONNECT"
	MethodOptions = "OPTIONS"
	MethodTrace   = "TRACE"
	MethodPatch   = "PATCH"
)

// KnownMethod reports whether m is one of the Method constants. The parser
// accepts any token as a method; a server answers one it does not implement
// with 501 and one it implements but not for this resource with 405 and an
// Allow field (RFC 9110 §15.5.6, §15.6.2).
func KnownMethod(m string) bool {
	return internMethod([]byte(m)) != ""
}

func internMethod(b []byte) string {
	switch string(b) {
	case MethodGet:
		return MethodGet
	case MethodHead:
		return MethodHead
	case MethodPost:
		return MethodPost
	case MethodPut:
		return MethodPut
	case MethodDelete:
		return MethodDelete
	case MethodConnect:
		return MethodConnect
	case MethodOptions:
		return MethodOptions
	case MethodTrace:
		return MethodTrace
	case MethodPatch:
		return MethodPatch
	}
	return ""
}
