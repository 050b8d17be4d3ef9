package httpd

import "sync/atomic"

// Requests counts responses by request method and status class, for
// metrics. It is counted where the access log line is made, so that it
// counts exactly the responses the log would show, with or without a log.
type Requests struct {
	n [len(requestMethods) + 1][5]atomic.Int64 // [method][class 1xx..5xx]; the last method is "other"
}

// requestMethods are counted by name; any other method, or a request
// refused before its method was known, counts as "other".
var requestMethods = [...]string{"GET", "HEAD", "POST", "PUT", "OPTIONS", "DELETE"}

func (r *Requests) count(method string, status int) {
	class := status/100 - 1
	if class < 0 || class > 4 {
		return
	}
	i := len(requestMethods)
	for j, m := range requestMethods {
		if m == method {
			i = j
			break
		}
	}
	r.n[i][class].Add(1)
}

// Each calls f for every method and status class ("2xx") counted at least
// once.
func (r *Requests) Each(f func(method, class string, n int64)) {
	for i := range r.n {
		method := "other"
		if i < len(requestMethods) {
			method = requestMethods[i]
		}
		for c := range r.n[i] {
			if n := r.n[i][c].Load(); n > 0 {
				f(method, string(rune('1'+c))+"xx", n)
			}
		}
	}
}
