# Sezim Analytics. The two commands a newcomer needs:
#   make run    fetch libchdb and the CC0 geo database, build, serve on the embedded store
#   make test   every test (installs and starts ClickHouse, Chromium, ...)

CHDB_LIB_PATH ?= $(CURDIR)/.cache/chdb/libchdb.so
export CHDB_LIB_PATH
GEO_DB ?= $(CURDIR)/.cache/geo/country.mmdb
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: run build chdb geo test test-under-load check bench fmt

build:
	go build -o bin/sezim ./cmd/sezim

chdb:
	scripts/fetch-chdb.sh .cache/chdb

geo:
	scripts/fetch-geo.sh .cache/geo

run: chdb geo build
	./bin/sezim serve --automigrate --store chdb://data/chdb --config config/example.yaml --geoip $(GEO_DB) --data data

test:
	scripts/test.sh

# The Go suite under -race three times in a row beside a busy process.
test-under-load:
	scripts/test-under-load.sh

bench: chdb
	go test -run '^$$' -bench . -benchmem ./pipeline/... ./collector/...

fmt:
	gofmt -w $$(git ls-files '*.go')

check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: run make fmt"; exit 1; }
	go vet ./...
	go run $(STATICCHECK) ./...
	git diff --exit-code
