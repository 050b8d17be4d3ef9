package mime

import "testing"

func TestTypeByName(t *testing.T) {
	tests := []struct {
		name     string
		typ      string
		compress bool
	}{
		{"index.html", "text/html; charset=utf-8", true},
		{"INDEX.HTML", "text/html; charset=utf-8", true},
		{"a/b.c/app.js", "text/javascript; charset=utf-8", true},
		{"photo.JPG", "image/jpeg", false},
		{"font.woff2", "font/woff2", false},
		{"data.json", "application/json", true},
		{"logo.svg", "image/svg+xml", true},
		{"archive.tar.gz", "application/gzip", false},
		{"README", Default, false},
		{"trailing.", Default, false},
		{"dir.d/file", Default, false},
		{"x.unknownext", Default, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, c := TypeByName(tt.name)
			if typ != tt.typ || c != tt.compress {
				t.Errorf("TypeByName(%q) = %q, %t; want %q, %t", tt.name, typ, c, tt.typ, tt.compress)
			}
		})
	}
}

func TestTableWellFormed(t *testing.T) {
	if len(byExt) < 50 {
		t.Fatalf("table has %d entries; want at least 50", len(byExt))
	}
	for ext, e := range byExt {
		if e.typ == "" || ext == "" {
			t.Errorf("entry %q: empty type", ext)
		}
	}
}
