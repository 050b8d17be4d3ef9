// Package http1 is portside's HTTP/1.1 request parser and response encoder
// (RFC 9112). It does no I/O and reads no clock: bytes go in, events and
// bytes come out, so it runs unchanged under every engine and is tested with
// plain byte slices.
//
// # Parsing
//
// A Parser serves one connection. A handler's Data method hands it all
// unread input and acts on one event per call:
//
//	for off := 0; ; {
//		n, ev, err := p.Next(in[off:])
//		off += n
//		if err != nil { // *http1.Error: answer e.Status, then close
//			c.Write(http1.AppendError(buf[:0], err.(*http1.Error).Status, now, ""))
//			c.Close()
//			return off, nil
//		}
//		switch ev {
//		case http1.Head: // p.Request() is complete: route it, answer 100 Continue, ...
//		case http1.Body: // p.Body() is the next piece of the decoded body
//		case http1.End: // request done; respond, then loop for a pipelined one
//		case http1.NeedMore:
//			return off, nil // all of in was consumed
//		}
//	}
//
// Next consumes everything it is given up to the end of the current
// request, so input left over always starts the next pipelined request. It
// keeps a copy of the request head, so the Request stays valid from Head to
// End however many calls the body takes, though the input it came from is
// gone; it is reused once Next is called after End. Body bytes are handed out
// as subslices of the input, valid for that call only: a body of any size
// passes through in bounded memory, with no allocation. Chunked bodies are
// decoded; their trailers are in Request.Trailer at End.
// Head always comes before End, which comes even when there is no body.
//
// A typical GET is parsed without allocating once the Parser has warmed its
// buffers (see BenchmarkParse); only an unknown method costs a string.
//
// # Strictness
//
// The parser refuses anything two HTTP implementations could read
// differently, since that disagreement is what request smuggling exploits.
// An Error carries the status to answer with; after any Error the framing of
// the connection can no longer be trusted, so the caller answers and closes
// (RFC 9112 §6.3, §11.2). Refused with 400 unless noted:
//
//   - Lines not ending in CRLF: a bare LF or a bare CR anywhere (§2.2).
//     Empty lines before the request line are skipped (§2.2).
//   - A request line that is not exactly method SP target SP version (§3);
//     a method that is not a token; a target with a byte outside VCHAR, a
//     '#', or bad percent-encoding; a target not in origin form, absolute
//     form (no userinfo, §3.2.2), authority form for CONNECT or asterisk
//     form for OPTIONS (§3.2). A version other than HTTP/1.0 and HTTP/1.1
//     is 505, which includes the HTTP/2 preface "PRI * HTTP/2.0".
//   - A request line longer than Limits.MaxRequestLine: 414.
//   - Whitespace before a colon (§5.1), obs-fold or whitespace before the
//     first field (§5.2, §2.2), a field name that is not a token, a field
//     value with a control character (NUL, DEL, ...).
//   - More than Limits.MaxHeaderBytes of header fields or more than
//     Limits.MaxHeaders of them: 431. The same limits bound trailers.
//   - A missing Host in HTTP/1.1, more than one Host, or a Host that is not
//     host[:port] (§3.2). An absolute-form target's authority overrides the
//     Host field (§3.2.2).
//   - Content-Length with Transfer-Encoding (§6.1, §6.3), a Content-Length
//     that is not 1*DIGIT (no sign, list or space) or that differs between
//     lines, Transfer-Encoding in HTTP/1.0 (§6.1), a coding list with empty
//     elements or not ending in chunked (§6.3), chunked twice. A coding
//     other than chunked is 501 (§6.1). A Content-Length above
//     Limits.MaxBody is 413 before the head is returned; a chunked body
//     that grows past it is 413 when it does.
//   - Chunk sizes that are not 1*HEXDIG (signs, "0x", empty, whitespace) or
//     overflow 63 bits, malformed chunk extensions, a chunk line above 4 KiB,
//     chunk data not followed by CRLF (§7.1).
//
// Known methods are listed by KnownMethod; the parser accepts any token, and
// a server answers methods it does not implement with 501 and methods a
// resource does not allow with 405 and an Allow field (AppendError).
//
// # Encoding
//
// The Append functions write a response head into a caller's buffer
// without allocating: AppendStatusLine, AppendHeader, AppendContentLength,
// AppendDate (the caller passes the time, and should format it once a
// second), AppendETag and ETagMatch, ParseHTTPDate for If-Modified-Since,
// ParseRange and AppendContentRange for byte ranges, AppendContinue for
// Expect: 100-continue, AppendError for a refusal. Bodies
// of unknown length are framed with AppendChunk and AppendLastChunk, or with
// a ChunkWriter under a compressor.
package http1
