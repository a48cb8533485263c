package store

import (
	"context"
	"fmt"
	"strings"
)

// Open connects to the store named by url: chdb://DIR for the embedded
// engine keeping its data in DIR (relative or absolute: chdb://data,
// chdb:///var/lib/sezim), or clickhouse://user:pass@host:port/ for a
// server. Any other scheme is an error that lists the two supported ones.
func Open(ctx context.Context, url string, names Names) (Store, error) {
	scheme, rest, ok := strings.Cut(url, "://")
	switch {
	case ok && scheme == "chdb":
		// Query options are not used by the embedded engine; refuse them
		// rather than create a folder named "data?x=y".
		if strings.ContainsAny(rest, "?#") {
			return nil, fmt.Errorf("cannot open store (chdb://%s): chdb:// URLs take a folder only", rest)
		}
		return OpenEmbedded(rest, names)
	case ok && scheme == "clickhouse":
		return OpenServer(ctx, url, names)
	}
	return nil, fmt.Errorf("cannot open store (%s): unsupported URL; use chdb://DIR or clickhouse://user:pass@host:port/", redactURL(url))
}
